"""Running one cell: personalize the subject (cached), then generate its images (cached).

`CellRunner` is built from plain, picklable arguments so that every executor (in
process, a process pool, later Ray or a SLURM shard) constructs the very same
thing in its worker and produces the same bytes.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path

import torch

from benchmark import determinism
from benchmark.artifact_metadata import json_safe_metadata
from benchmark.background import BackgroundWriter
from benchmark.config import config_from_dict, stable_hash
from benchmark.devices import device_name
from benchmark.errors import BenchError, StorageFailure, raise_if_storage_failure
from benchmark.images import check_method_output, check_subject_phrase, png_bytes
from benchmark.planning import PRES_PROMPT, Cell, plan_groups, sampling_batches
from benchmark.profiles import get_profile
from benchmark.seeds import image_seed, seeded_global_rngs
from benchmark.store.containment import remove_tree
from benchmark.store.run_dir import RunStore
from dataset.protocol import load_protocol
from dataset.validate import instance_images
from methods.interface import MethodContext, SubjectInput
from methods.registry import get_method_class


@dataclass
class CellResult:
    cell: Cell
    # images written by this run
    generated: int = 0
    # images already on disk with the right bytes
    reused: int = 0
    error: str | None = None
    # traceback of an unexpected error, kept in the failure record
    detail: str | None = None
    # wall time of the cell in its worker
    seconds: float = 0.0
    # personalized in this run (not an artifact found on disk)
    trained: bool = False
    # the training continued from this checkpoint of a killed run (0: from scratch)
    resumed_from_step: int = 0
    # warnings a user must see whatever the log (terminal or batch)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a log that is not a terminal (a SLURM job's, a CI's): what the cell did."""
        what = f"{self.cell.method}/{self.cell.subject}"
        if self.error:
            return f"{what} FAILED after {self.seconds:.0f}s: {self.error}"
        training = ""
        if self.trained:
            training = (
                f"trained (resumed from step {self.resumed_from_step}), " if self.resumed_from_step else "trained, "
            )
        return f"{what} done in {self.seconds:.0f}s: {training}{self.generated} images generated, {self.reused} reused"


def _where_raised(exc: BaseException) -> str:
    """' (at my_method.py:42 in personalize)': the line that raised, so a plug-in's bug is found from the one
    line a run prints (the whole traceback is in the failure record)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    import sysconfig

    libraries = tuple(str(Path(sysconfig.get_paths()[key]).resolve()) for key in ("stdlib", "purelib", "platlib"))
    ours = [f for f in frames if not str(Path(f.filename).resolve()).startswith(libraries)]
    # the innermost line of the method's (or harness's) own code, not torch's
    frame = (ours or frames)[-1]
    return f" (at {Path(frame.filename).name}:{frame.lineno} in {frame.name})"


@dataclass
class CellSpec:
    """Everything a worker needs, as plain data."""

    run_dir: str
    config: dict
    dataset_dir: str
    model_locations: dict[str, str]
    # by label: the folder name of a method (plus changed options)
    method_keys: dict[str, str]
    # by label
    method_options: dict[str, dict]
    # label -> registered method name
    method_names: dict[str, str]
    device: str
    cache_dir: str
    meaningful: bool = True
    # bars for training steps and class images (a terminal, not --quiet)
    progress: bool = False


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
        # the one lookup of the profile's name in a worker
        self.profile = get_profile(self.config.profile)
        self.protocol = load_protocol(self.profile.dataset)
        self._methods: dict = {}
        # method label -> the subject its last cell ran
        self._subject_of: dict[str, str] = {}

    @cached_property
    def context(self) -> MethodContext:
        device = torch.device(self.spec.device)
        generation = self.config.resolved_generation()
        quiet_library_progress_bars()
        if device.type == "cpu":
            # CPU kernels round differently with different thread counts, so the
            # count is pinned (part of the run identity) for byte-identical images.
            torch.set_num_threads(generation.cpu_threads)
        # in every worker (process pool, Ray actor) before it loads a model
        if self.config.deterministic:
            determinism.use_deterministic_kernels(device)
        return MethodContext(
            config=self.config,
            profile=self.profile,
            generation=generation,
            device=device,
            model_locations=self.spec.model_locations,
            cache_dir=Path(self.spec.cache_dir),
        )

    def method(self, label: str):
        for other, instance in self._methods.items():
            if other != label:
                # one method's models in memory at a time
                instance.release()
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
        started = time.monotonic()
        try:
            self._run_cell(cell, result, on_group)
        except StorageFailure:
            raise
        except BenchError as exc:
            result.error = str(exc)
        except Exception as exc:
            raise_if_storage_failure(exc, f"{cell.method}/{cell.subject}")
            result.error = f"{type(exc).__name__}: {exc}{_where_raised(exc)}"
            if self.config.deterministic and "deterministic" in str(exc):
                result.error += " (an operation without a deterministic CUDA kernel: run without --deterministic)"
            result.detail = traceback.format_exc()
        result.seconds = time.monotonic() - started
        return result

    def _artifact(self, cell: Cell, method, subject: SubjectInput, result: CellResult) -> dict:
        # overlapping runs never train one cell twice
        with self.store.cell_lock(cell.method, cell.subject):
            info = self.store.artifact_info(cell.method, cell.subject)
            damage = self.store.damaged_artifact(cell.method, cell.subject, info) if info is not None else None
            if info is not None and damage is None:
                self.store.remove_leftovers(cell.method, cell.subject, keep_scratch=False)
                return info
            # never used: trained again, and its images made again from the new weights
            if damage is not None:
                self.store.discard_artifact(cell.method, cell.subject)
                what = f"{cell.method}/{cell.subject}: its trained artifact is damaged ({damage})"
                result.notes.append(f"{what}: trained again, and its images made again")
            self.store.remove_leftovers(cell.method, cell.subject, keep_scratch=True)
            info = self._personalize(cell, method, subject, result)
            # `base` records that it trains nothing
            result.trained = info.get("trained") is not False
            result.resumed_from_step = int(info.get("resumed_from_step") or 0)
            return info

    def _personalize(self, cell: Cell, method, subject: SubjectInput, result: CellResult) -> dict:
        staging = self.store.staging_dir(cell.method, cell.subject)
        scratch = self.store.scratch_dir(cell.method, cell.subject)
        try:
            context = self.context
            loaded_before = "base_components" in context.__dict__
            started = time.monotonic()
            seed = image_seed(self.config.seed, subject.name, "personalize", 0)
            with seeded_global_rngs(seed, context.device), context.base_as_loaded():
                metadata = dict(method.personalize(subject, staging, scratch) or {})
            if metadata.get("trained") is not False and "train_seconds" not in metadata:
                # A plug-in that does not time itself is timed here, so its cost shows beside the built-ins',
                # less the loading of the base model when it was the first to ask for it.
                seconds = time.monotonic() - started
                if not loaded_before and "base_load_seconds" in context.__dict__:
                    seconds -= context.base_load_seconds
                metadata["train_seconds"] = round(max(seconds, 0.0), 3)
                metadata.setdefault("device", str(context.device))
            metadata, notes = json_safe_metadata(metadata, self.spec.method_names[cell.method])
            result.notes.extend(notes)
            info = {
                "method": cell.method,
                "subject": cell.subject,
                "subject_phrase": check_subject_phrase(
                    method.subject_phrase(subject), self.spec.method_names[cell.method]
                ),
                "method_key": self.spec.method_keys[cell.method],
                # The GPU model (or CPU) that trained it: a report's training hours name it, and a run trained on
                # several models shows it. Recorded here, in the worker, since a Ray cluster may mix them.
                "hardware": device_name(self.context.device),
                **metadata,
            }
            published = self.store.publish_artifact(cell.method, cell.subject, staging, info)
            self.store.remove_scratch(cell.method, cell.subject)
            return published
        finally:
            remove_tree(self.store.root, staging)

    def _run_cell(self, cell: Cell, result: CellResult, on_group) -> None:
        method = self.method(cell.method)
        if self._subject_of.get(cell.method, cell.subject) != cell.subject and method.release_between_subjects:
            # a pipeline kept between `generate` calls holds the previous subject's weights
            method.release()
        self._subject_of[cell.method] = cell.subject
        subject = self.subject_input(cell.subject)
        artifact = self._artifact(cell, method, subject, result)
        artifact_dir = self.store.artifact_dir(cell.method, cell.subject)
        config = self.config
        groups = plan_groups(
            self.protocol,
            self.protocol.subject(cell.subject),
            config.seed,
            config.images_per_prompt,
            config.limit_prompts,
            pres=config.generate_pres,
        )
        phrases = [group.fixed_phrase or artifact["subject_phrase"] for group in groups]
        texts = [group.prompt.render(phrase) for group, phrase in zip(groups, phrases, strict=True)]
        pres = tuple(number for number, group in enumerate(groups) if group.prompt == PRES_PROMPT)
        plan = sampling_batches([len(group.seeds) for group in groups], self.context.generation.batch_size, pres)
        keys = self._group_keys(cell, artifact, groups, texts, plan)
        planned = [self._planned_records(cell, *args) for args in zip(groups, texts, phrases, strict=True)]
        done = [
            self.store.finished_group(cell.method, cell.subject, group.prompt.index, key, records) is not None
            for group, key, records in zip(groups, keys, planned, strict=True)
        ]
        for number, group in enumerate(groups):
            if done[number]:
                result.reused += len(group.seeds)
                if on_group:
                    on_group()
        # group -> image index -> image, until the group is complete
        images: dict[int, dict[int, object]] = {}
        # a group is encoded and written while the next batch samples
        with BackgroundWriter() as writer:
            for batch in plan:
                if all(done[number] for number, _ in batch):
                    # a batch is sampled whole or not at all: its companions decide every image's rounding
                    continue
                prompts = [texts[number] for number, _ in batch]
                seeds = [groups[number].seeds[image] for number, image in batch]
                # a plug-in's global draws repeat too
                with seeded_global_rngs(seeds[0], self.context.device):
                    produced = method.generate(subject, artifact_dir, prompts, seeds)
                check_method_output(produced, len(batch), self.spec.method_names[cell.method])
                self._note_other_size(cell, produced, result)
                for (number, image_index), image in zip(batch, produced, strict=True):
                    if not done[number]:
                        images.setdefault(number, {})[image_index] = image
                for number in dict.fromkeys(number for number, _ in batch):
                    if not done[number] and len(images.get(number, {})) == len(groups[number].seeds):
                        parts = (groups[number], planned[number], keys[number], images.pop(number))
                        writer.submit(partial(self._write_group, cell, *parts, result), done=on_group)
                        done[number] = True

    def _note_other_size(self, cell: Cell, images: list, result: CellResult) -> None:
        """Once per cell: images of another size than the run's resolution are kept, and said, since DIV is
        measured at native resolution and a method sampled at another size compares with the others on it."""
        resolution = self.context.generation.resolution
        sizes = sorted({image.size for image in images} - {(resolution, resolution)})
        if sizes and not any("generation.resolution" in note for note in result.notes):
            shown = ", ".join(f"{w}x{h}" for w, h in sizes)
            result.notes.append(
                f"{cell.method}/{cell.subject}: generate() returned {shown} images; this run generates at "
                f"{resolution}x{resolution} (generation.resolution), which a plug-in reads from "
                "self.context.generation.resolution"
            )

    def _note_identical_images(self, cell: Cell, group, records: list[dict], result: CellResult) -> None:
        """Once per cell: byte-identical images drawn from different seeds mean `generate` ignores its seeds;
        DIV would read 0 and every image of the prompt would count as one sample four times."""
        digests = [record["sha256"] for record in records]
        if len(set(digests)) == len(digests) or len(set(group.seeds)) < len(group.seeds):
            return
        if not any("byte-identical" in note for note in result.notes):
            result.notes.append(
                f"{cell.method}/{cell.subject}: prompt {group.prompt.index}'s images are byte-identical though their "
                "seeds differ: generate() does not draw image i from seed i (methods.image_generators(seeds) does); "
                "DIV reads 0 for it"
            )

    def _group_keys(self, cell: Cell, artifact: dict, groups: list, texts: list[str], plan: list) -> list[str]:
        """What decides each group's bytes; a finished group whose key still matches is kept on a re-run.

        A batch that spans groups makes an image's rounding depend on its companions,
        so those groups' keys also name every (prompt, seed) they were sampled with.
        """
        batches_of: dict[int, list[int]] = {}
        for number, batch in enumerate(plan):
            for group in dict.fromkeys(group for group, _ in batch):
                batches_of.setdefault(group, []).append(number)
        keys = []
        for number, (group, text) in enumerate(zip(groups, texts, strict=True)):
            key = {
                "method_key": self.spec.method_keys[cell.method],
                "artifact_id": artifact["artifact_id"],
                "subject": cell.subject,
                "prompt": text,
                "seeds": group.seeds,
                "batch_size": self.context.generation.batch_size,
            }
            if {g for b in batches_of[number] for g, _ in plan[b]} != {number}:
                key["sampled_with"] = [[(texts[g], groups[g].seeds[i]) for g, i in plan[b]] for b in batches_of[number]]
            keys.append(stable_hash(key))
        return keys

    def _planned_records(self, cell: Cell, group, text: str, phrase: str) -> list[dict]:
        """What the group's records must say, image by image, less each image's SHA-256: a records file that says
        anything else (another file, seed or field, a record missing or twice) is not this group's."""
        protocol_subject = self.protocol.subject(cell.subject)
        return [
            {
                "method": cell.method,
                "method_name": self.spec.method_names[cell.method],
                "subject": cell.subject,
                "class_noun": protocol_subject.class_noun,
                "kind": protocol_subject.kind,
                "prompt_index": group.prompt.index,
                "category": group.prompt.category,
                "template": group.prompt.template,
                "prompt": text,
                "subject_phrase": phrase,
                "image_index": image_index,
                "seed": seed,
                "file": self.store.image_path(cell.method, cell.subject, group.prompt.index, image_index)
                .relative_to(self.store.root)
                .as_posix(),
                "profile": self.config.profile,
                "meaningful": self.spec.meaningful,
            }
            for image_index, seed in enumerate(group.seeds)
        ]

    def _write_group(self, cell: Cell, group, planned: list[dict], key: str, images: dict, result: CellResult) -> None:
        intact = self.store.intact_images(cell.method, cell.subject, group.prompt.index, key, planned)
        records, changed = [], []
        for image_index, expected in enumerate(planned):
            path = self.store.image_path(cell.method, cell.subject, group.prompt.index, image_index)
            png = png_bytes(images[image_index])
            if image_index in intact and hashlib.sha256(png).hexdigest() != intact[image_index]:
                # Sampled again with the same seeds and companions, yet other bytes: the first image stays, since
                # it may be scored already and is as valid a sample as the new one; the user hears of it.
                changed.append(image_index)
                digest, written = intact[image_index], False
            else:
                digest, written = self.store.write_image(path, png)
            result.generated += written
            result.reused += not written
            records.append({**expected, "sha256": digest})
        self.store.write_group(cell.method, cell.subject, group.prompt.index, key, records)
        self._note_identical_images(cell, group, records, result)
        if changed:
            result.notes.append(
                f"{cell.method}/{cell.subject}: resampling prompt {group.prompt.index}'s images (one was missing or "
                f"broken) gave other bytes for image(s) {', '.join(map(str, changed))} from the same seeds; the "
                "images already there are kept. Either CUDA kernels varied (run with --deterministic) or the "
                "method's images are not a function of their seeds (README: Adding a method)"
            )
