"""How long the full protocol's generation takes: `bench run --method base --subjects all`.

Prints wall time and images per second for a cold run (3000 protocol images plus
120 PRES images on the tiny profile by default; scoring is off, it has its own
benchmark), then for the re-run that must find everything done, so the README's
numbers come from a command anyone can repeat:

    python perf/bench_generation.py --dataset-dir ../shared/dreambench/dataset
    python perf/bench_generation.py --executor process --workers 2 ...

Target on 2 CPU cores with the tiny profile: cold run under 10 minutes, re-run in seconds.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(args: list[str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "benchmark.cli", "run", *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"bench run failed ({completed.returncode}): {completed.stderr.strip().splitlines()[-1]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--subjects", default="all")
    parser.add_argument("--images-per-prompt", type=int, default=4)
    parser.add_argument("--executor", default="local", choices=["local", "process"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--dataset-dir", default=os.environ.get("DREAMBENCH_DIR"))
    parser.add_argument("--output-dir", help="Keep the run here (default: a temporary folder).")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory(prefix="bench-generation-") as tmp:
        run_dir = Path(args.output_dir or Path(tmp) / "run")
        run_args = [
            "--method",
            "base",
            "--subjects",
            args.subjects,
            "--profile",
            args.profile,
            "--images-per-prompt",
            str(args.images_per_prompt),
            "--output-dir",
            str(run_dir),
            "--executor",
            args.executor,
            "--workers",
            str(args.workers),
            "--quiet",
            "--no-score",
        ]
        if args.dataset_dir:
            run_args += ["--dataset-dir", args.dataset_dir]
        cold = timed_run(run_args)
        images = len(list(run_dir.glob("base/images/*/*.png")))
        warm = timed_run(run_args)

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"machine:   {platform.machine()}, {os.cpu_count()} CPU cores, GPU: {gpu}; torch {torch.__version__}")
    print(f"run:       base on {args.subjects} subjects, profile {args.profile}, {args.executor} x{args.workers}")
    print(f"cold run:  {images} images in {cold:.1f} s = {images / cold:.2f} images/s (incl. start-up)")
    print(f"re-run:    {warm:.1f} s (finds every image done, generates nothing)")


if __name__ == "__main__":
    main()
