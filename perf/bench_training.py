"""Training speed and memory of each method: steps per second and peak memory.

    python perf/bench_training.py --dataset-dir ../shared/dreambench/dataset
    python perf/bench_training.py --profile sd15-random --device cuda --steps 20   # on a GPU

`tiny` runs anywhere in seconds; `sd15-random` is SD-1.5's architecture with random
weights (same cost per step as the real model) and is meant for a GPU. Class images
are generated before timing so only training is measured, and the first `--warmup`
steps (allocator warm-up, compilation) are left out of the rate. Peak memory is
CUDA's max allocated on a GPU and the process's peak resident memory during the
training on CPU. On CPU, torch uses the run's pinned thread count
(`generation.cpu_threads`), as `bench run` does.
`bench_speedups.py` compares these defaults with the plain path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

DEFAULT_METHODS = "dreambooth,dreambooth-no-prior,dreambooth-lora,textual-inversion"


@dataclass
class TrainingBench:
    """Everything a measured `personalize` call needs, built once per process."""

    context: object
    subject: object
    profile: str

    @classmethod
    def build(
        cls,
        profile: str,
        subject: str,
        device: str,
        dataset_dir: str | None,
        cache_dir: Path,
        assignments: list[str] = (),
    ) -> TrainingBench:
        from benchmark.config import build_config
        from benchmark.devices import resolve_device
        from benchmark.errors import BenchError
        from benchmark.generation import quiet_library_progress_bars
        from benchmark.models.loading import require_models
        from benchmark.profiles import get_profile
        from dataset.locate import resolve_dataset_dir
        from dataset.protocol import load_protocol
        from dataset.validate import instance_images
        from methods.interface import MethodContext, SubjectInput

        try:
            config = build_config(assignments=list(assignments), overrides={"profile": profile})
            resolved_profile = get_profile(profile)
            resolved = resolve_device(device)
            # the profile's own dataset: the pocket world's subjects are not DreamBench's photos
            folder = resolve_dataset_dir(dataset_dir, resolved_profile.dataset)
            entry = load_protocol(resolved_profile.dataset).subject(subject)
            locations = require_models(resolved_profile, config.model_sources(), ["base"])
        except BenchError as exc:
            sys.exit(f"{Path(sys.argv[0]).name}: error: {exc}")
        quiet_library_progress_bars()
        # now, so that import time is not counted as warm-up
        import diffusers

        # diffusers imports these lazily
        _ = diffusers.DDPMScheduler, diffusers.StableDiffusionPipeline
        generation = config.resolved_generation()
        if resolved.type == "cpu":
            # as `bench run` pins it
            torch.set_num_threads(generation.cpu_threads)
        subject_input = SubjectInput(entry.name, entry.class_noun, entry.live, tuple(instance_images(folder, entry)))
        context = MethodContext(
            config=config,
            profile=resolved_profile,
            generation=generation,
            device=resolved,
            model_locations=locations,
            cache_dir=cache_dir,
        )
        return cls(context, subject_input, profile)

    def options(self, method: str, overrides: dict) -> dict:
        from methods.registry import get_method_class, resolve_options

        return resolve_options(get_method_class(method), overrides, self.profile)

    def train(self, method: str, overrides: dict, workdir: Path, warmup: int, class_images: int = 4) -> dict:
        """One subject's training; returns steps, steady steps/s, first-steps seconds and peak memory.

        Only `class_images` prior images are drawn (a step's cost does not depend on
        how many there are to pick from; SD's 200 would take minutes before the clock).
        """
        from methods.class_images import ensure_class_images
        from methods.registry import get_method_class
        from methods.training import LOG_FILE

        extra = {"checkpoint_every": 0}
        if "num_class_images" in get_method_class(method).default_options:
            extra["num_class_images"] = class_images
        options = self.options(method, {**overrides, **extra})
        instance = get_method_class(method)(self.context, options)
        # warm the class-image cache so it is not timed
        if options.get("prior_preservation"):
            prompt = options["class_prompt"].format(instance.class_noun_for(self.subject))
            ensure_class_images(
                self.context,
                prompt,
                options["num_class_images"],
                sampler=options["class_sampler"],
                seed=options["seed"],
            )
        out, scratch = workdir / "out", workdir / "scratch"
        out.mkdir(parents=True)
        scratch.mkdir(parents=True)
        info = instance.personalize(self.subject, out, scratch)
        seconds = [json.loads(line)["seconds"] for line in (out / LOG_FILE).read_text().splitlines()]
        # Rate over the steps after the warm-up (at least the first step is left out: the log's clock
        # starts with the subject, before data and modules are ready).
        warmup = max(1, min(warmup, len(seconds) - 1))
        steady = (len(seconds) - warmup) / (seconds[-1] - seconds[warmup - 1]) if len(seconds) > 1 else float("nan")
        return {
            "steps": info["steps"],
            "steps_per_s": steady,
            "first_steps_s": seconds[warmup - 1],
            "peak_memory_mb": info["peak_memory_mb"],
            "text_encoder_trained": options["train_text_encoder"],
            "prior": bool(options.get("prior_preservation")),
        }


def machine_line(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, GPU: {gpu}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads"
    )


def weights_label(bench: TrainingBench) -> str:
    """What every benchmark header says of the weights: a random-weight timing must never pass for a result."""
    return "real weights" if bench.context.profile.meaningful else "random weights: timings only"


def add_bench_arguments(parser: argparse.ArgumentParser, warmup: int) -> None:
    """What every training measurement takes: profile, subject, warm-up steps, device, dataset."""
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--subject", default="dog")
    parser.add_argument("--warmup", type=int, default=warmup, help="First steps left out of each rate (at least 1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dataset-dir", default=os.environ.get("DREAMBENCH_DIR"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser, warmup=2)
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--steps", type=int, default=None, help="Training steps per method (default: the profile's)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], help="Extra config key=value")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        bench = TrainingBench.build(
            args.profile, args.subject, args.device, args.dataset_dir, Path(tmp) / "cache", args.assignments
        )
        print(machine_line(bench.context.device))
        print(f"profile: {args.profile} ({weights_label(bench)}), subject: {args.subject}")
        print(f"{'method':<24} {'steps':>6} {'steps/s':>9} {'peak MB':>9}  notes")
        for name in args.methods.split(","):
            overrides = {"steps": args.steps} if args.steps else {}
            result = bench.train(name, overrides, Path(tmp) / name, args.warmup)
            notes = f"text encoder {'trained' if result['text_encoder_trained'] else 'frozen'}"
            notes += ", prior" if result["prior"] else ""
            peak = result["peak_memory_mb"] or float("nan")
            print(f"{name:<24} {result['steps']:>6} {result['steps_per_s']:>9.2f} {peak:>9.0f}  {notes}")


if __name__ == "__main__":
    main()
