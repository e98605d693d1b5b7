"""Running one cell: personalize the subject (cached), then generate its images (cached).

`CellRunner` is built from plain, picklable arguments so that every executor (in
process, a process pool, later Ray or a SLURM shard) constructs the very same
thing in its worker and produces the same bytes.
"""

from __future__ import annotations

import shutil
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from benchmark.config import config_from_dict, stable_hash
from benchmark.errors import BenchError, DiskFull, raise_if_disk_full
from benchmark.images import png_bytes
from benchmark.planning import Cell, batches, plan_groups
from benchmark.profiles import get_profile
from benchmark.store.run_dir import RunStore
from dataset.protocol import load_protocol
from dataset.validate import instance_images
from methods.interface import MethodContext, SubjectInput
from methods.registry import get_method_class


@dataclass
class CellResult:
    cell: Cell
    generated: int = 0  # images written by this run
    reused: int = 0  # images already on disk with the right bytes
    error: str | None = None
    detail: str | None = None  # traceback of an unexpected error, kept in the failure record


@dataclass
class CellSpec:
    """Everything a worker needs, as plain data."""

    run_dir: str
    config: dict
    dataset_dir: str
    model_locations: dict[str, str]
    method_keys: dict[str, str]  # by label: the folder name of a method (plus changed options)
    method_options: dict[str, dict]  # by label
    method_names: dict[str, str]  # label -> registered method name
    device: str
    cache_dir: str
    meaningful: bool = True


def quiet_library_progress_bars() -> None:
    """Per-load bars of diffusers/transformers would drown the harness's own progress bar."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


class CellRunner:
    def __init__(self, spec: CellSpec):
        self.spec = spec
        self.config = config_from_dict(spec.config)
        self.store = RunStore(Path(spec.run_dir))
        self.protocol = load_protocol()
        self._methods: dict = {}

    @cached_property
    def context(self) -> MethodContext:
        device = torch.device(self.spec.device)
        generation = self.config.resolved_generation()
        quiet_library_progress_bars()
        if device.type == "cpu":
            # CPU kernels round differently with different thread counts, so the
            # count is pinned (part of the run identity) for byte-identical images.
            torch.set_num_threads(generation.cpu_threads)
        return MethodContext(
            config=self.config,
            profile=get_profile(self.config.profile),
            generation=generation,
            device=device,
            model_locations=self.spec.model_locations,
            cache_dir=Path(self.spec.cache_dir),
        )

    def method(self, label: str):
        for other, instance in self._methods.items():
            if other != label:
                instance.release()  # one method's models in memory at a time
        if label not in self._methods:
            cls = get_method_class(self.spec.method_names[label], self.config.include)
            self._methods[label] = cls(self.context, self.spec.method_options[label])
        return self._methods[label]

    def subject_input(self, name: str) -> SubjectInput:
        subject = self.protocol.subject(name)
        images = tuple(instance_images(Path(self.spec.dataset_dir), subject))
        return SubjectInput(subject.name, subject.class_noun, subject.live, images)

    def run_cell(self, cell: Cell, on_group=None) -> CellResult:
        """Run one cell; an error is returned in the result so that the other cells go on."""
        result = CellResult(cell)
        try:
            self._run_cell(cell, result, on_group)
        except DiskFull:
            raise
        except BenchError as exc:
            result.error = str(exc)
        except Exception as exc:
            raise_if_disk_full(exc, f"{cell.method}/{cell.subject}")
            result.error = f"{type(exc).__name__}: {exc}"
            result.detail = traceback.format_exc()
        return result

    def _artifact(self, cell: Cell, method, subject: SubjectInput) -> dict:
        with self.store.cell_lock(cell.method, cell.subject):  # overlapping runs never train one cell twice
            info = self.store.artifact_info(cell.method, cell.subject)
            if info is not None:
                self.store.remove_leftovers(cell.method, cell.subject, keep_scratch=False)
                return info
            self.store.remove_leftovers(cell.method, cell.subject, keep_scratch=True)
            return self._personalize(cell, method, subject)

    def _personalize(self, cell: Cell, method, subject: SubjectInput) -> dict:
        staging = self.store.staging_dir(cell.method, cell.subject)
        scratch = self.store.scratch_dir(cell.method, cell.subject)
        try:
            metadata = method.personalize(subject, staging, scratch)
            info = {
                "method": cell.method,
                "subject": cell.subject,
                "subject_phrase": method.subject_phrase(subject),
                "method_key": self.spec.method_keys[cell.method],
                **(metadata or {}),
            }
            published = self.store.publish_artifact(cell.method, cell.subject, staging, info)
            shutil.rmtree(scratch, ignore_errors=True)
            return published
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _run_cell(self, cell: Cell, result: CellResult, on_group) -> None:
        method = self.method(cell.method)
        subject = self.subject_input(cell.subject)
        artifact = self._artifact(cell, method, subject)
        phrase = artifact["subject_phrase"]
        artifact_dir = self.store.artifact_dir(cell.method, cell.subject)
        protocol_subject = self.protocol.subject(cell.subject)
        generation = self.context.generation
        config = self.config
        for group in plan_groups(
            self.protocol,
            protocol_subject,
            config.seed,
            config.images_per_prompt,
            config.limit_prompts,
            pres=config.generate_pres,
        ):
            group_phrase = group.fixed_phrase or phrase
            prompt_text = group.prompt.render(group_phrase)
            group_key = stable_hash(
                {
                    "method_key": self.spec.method_keys[cell.method],
                    "artifact_id": artifact["artifact_id"],
                    "subject": cell.subject,
                    "prompt": prompt_text,
                    "seeds": group.seeds,
                    "batch_size": generation.batch_size,
                }
            )
            index = group.prompt.index
            if self.store.finished_group(cell.method, cell.subject, index, group_key) is not None:
                result.reused += len(group.seeds)
                if on_group:
                    on_group()
                continue
            images = []
            for chunk in batches(group.seeds, generation.batch_size):
                produced = method.generate(subject, artifact_dir, [prompt_text] * len(chunk), list(chunk))
                if len(produced) != len(chunk):
                    raise RuntimeError(f"method returned {len(produced)} images for {len(chunk)} seeds")
                images.extend(produced)
            records = []
            for image_index, (seed, image) in enumerate(zip(group.seeds, images, strict=True)):
                path = self.store.image_path(cell.method, cell.subject, index, image_index)
                digest, written = self.store.write_image(path, png_bytes(image))
                result.generated += written
                result.reused += not written
                records.append(
                    {
                        "method": cell.method,
                        "method_name": self.spec.method_names[cell.method],
                        "subject": cell.subject,
                        "class_noun": protocol_subject.class_noun,
                        "kind": protocol_subject.kind,
                        "prompt_index": index,
                        "category": group.prompt.category,
                        "template": group.prompt.template,
                        "prompt": prompt_text,
                        "subject_phrase": group_phrase,
                        "image_index": image_index,
                        "seed": seed,
                        "file": path.relative_to(self.store.root).as_posix(),
                        "sha256": digest,
                        "profile": config.profile,
                        "meaningful": self.spec.meaningful,
                    }
                )
            self.store.write_group(cell.method, cell.subject, index, group_key, records)
            if on_group:
                on_group()
