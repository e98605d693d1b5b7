"""Training speed and memory of each method: steps per second and peak memory.

    python benchmarks/bench_training.py --dataset-dir ../shared/dreambench/dataset
    python benchmarks/bench_training.py --profile sd15-random --device cuda --steps 20   # on a GPU

`tiny` runs anywhere in seconds; `sd15-random` is SD-1.5's architecture with random
weights (same cost per step as the real model) and is meant for a GPU. Class images
are generated before timing so only training is measured. Peak memory is CUDA's
max allocated on a GPU and the process's max RSS on CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch

DEFAULT_METHODS = "dreambooth,dreambooth-no-prior,dreambooth-lora,textual-inversion"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--subject", default="dog")
    parser.add_argument("--steps", type=int, default=None, help="Training steps per method (default: the profile's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dataset-dir", default=os.environ.get("DREAMBENCH_DIR"))
    parser.add_argument("--set", dest="assignments", action="append", default=[], help="Extra config key=value")
    args = parser.parse_args()

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
    from methods.registry import get_method_class, resolve_options

    try:
        config = build_config(assignments=args.assignments, overrides={"profile": args.profile})
        profile = get_profile(args.profile)
        device = resolve_device(args.device)
        dataset_dir = resolve_dataset_dir(args.dataset_dir)
        locations = require_models(profile, config.model_sources(), ["base"])
    except BenchError as exc:
        sys.exit(f"bench_training: error: {exc}")
    quiet_library_progress_bars()
    subject = load_protocol().subject(args.subject)
    subject_input = SubjectInput(
        subject.name, subject.class_noun, subject.live, tuple(instance_images(dataset_dir, subject))
    )
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        context = MethodContext(
            config=config, profile=profile, generation=config.resolved_generation(), device=device,
            model_locations=locations, cache_dir=Path(tmp) / "cache",
        )  # fmt: skip
        gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, GPU: {gpu}; torch {torch.__version__}")
        print(f"profile: {args.profile} (random weights: timings only), subject: {subject.name}")
        print(f"{'method':<24} {'steps':>6} {'steps/s':>9} {'peak MB':>9}  notes")
        for name in args.methods.split(","):
            cls = get_method_class(name)
            overrides = {"steps": args.steps} if args.steps else {}
            options = resolve_options(cls, {**overrides, "checkpoint_every": 0}, args.profile)
            method = cls(context, options)
            if options.get("prior_preservation"):  # warm the class-image cache so it is not timed
                from methods.class_images import ensure_class_images

                prompt = options["class_prompt"].format(method.class_noun_for(subject_input))
                ensure_class_images(context, prompt, options["num_class_images"], sampler=options["class_sampler"],
                                    seed=options["seed"])  # fmt: skip
            workdir, scratch = Path(tmp) / name / "out", Path(tmp) / name / "scratch"
            workdir.mkdir(parents=True)
            scratch.mkdir(parents=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            info = method.personalize(subject_input, workdir, scratch)
            rate = info["steps"] / info["train_seconds"]
            notes = f"text encoder {'trained' if options['train_text_encoder'] else 'frozen'}"
            notes += ", prior" if options.get("prior_preservation") else ""
            print(f"{name:<24} {info['steps']:>6} {rate:>9.2f} {info['peak_memory_mb'] or float('nan'):>9.0f}  {notes}")


if __name__ == "__main__":
    main()
