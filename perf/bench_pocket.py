"""How long the pocket world takes on this machine, from nothing: the README's main command, or every method.

    python perf/bench_pocket.py                          # bench run --method dreambooth --subjects all --profile pocket
    python perf/bench_pocket.py --methods all            # all 8 methods (base included), what the findings need
    python perf/bench_pocket.py --subjects dog,can       # a part, for a quick look

Each run starts cold, as on a fresh clone: an empty run directory and an empty harness
cache (so the class images are sampled, not found). Prints the wall time with its
target (issue #18: the main command within 10 minutes on 2 CPU cores, all methods
within 60), the images made, and where the time went, read from the run's own
records. `--output-dir` keeps the run (its report is `RUN_DIR/report/index.html`), so
`bench pocket findings RUN_DIR` can be run on it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS_S = {"dreambooth": 600, "all": 3600}


def timed_run(args: list[str], cache: Path) -> float:
    env = {**os.environ, "BENCH_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "run", *args], capture_output=True, text=True, env=env
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        last = (completed.stderr.strip() or completed.stdout.strip() or "no output").splitlines()[-1]
        sys.exit(f"bench run failed ({completed.returncode}): {last}")
    return elapsed


def method_names(spec: str) -> list[str]:
    if spec != "all":
        return spec.split(",")
    from methods.registry import available_methods

    return list(available_methods())


def training_seconds(run_dir: Path) -> float:
    """Training time summed over every trained cell, from each artifact's own record."""
    artifacts = (json.loads(path.read_text()) for path in run_dir.glob("*/artifacts/*/artifact.json"))
    return sum(float(info.get("train_seconds") or 0.0) for info in artifacts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="dreambooth", help="comma-separated, or all")
    parser.add_argument("--subjects", default="all")
    parser.add_argument("--output-dir", type=Path, help="Keep the run here (default: a temporary folder).")
    # models.base=DIR times a base made some other way (weights do not change the time); sampling settings
    # (generation.steps=10) try what the profile's defaults could be
    parser.add_argument("--set", dest="assignments", action="append", default=[], help="bench run --set key=value")
    args = parser.parse_args()

    import torch

    methods = method_names(args.methods)
    with tempfile.TemporaryDirectory(prefix="bench-pocket-") as tmp:
        run_dir = args.output_dir or Path(tmp) / "run"
        run_args = ["--method", ",".join(methods), "--subjects", args.subjects, "--profile", "pocket"]
        run_args += ["--output-dir", str(run_dir), "--quiet"]
        run_args += [word for text in args.assignments for word in ("--set", text)]
        cold = timed_run(run_args, Path(tmp) / "cache")
        images = len(list(run_dir.glob("*/images/*/*.png")))
        trained = training_seconds(run_dir)

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    target = TARGETS_S["dreambooth" if methods == ["dreambooth"] else "all"] if args.subjects == "all" else None
    print(f"machine:  {platform.machine()}, {os.cpu_count()} CPU cores, GPU: {gpu}; torch {torch.__version__}")
    settings = "".join(f" --set {text}" for text in args.assignments)
    print(
        f"run:      bench run --method {','.join(methods)} --subjects {args.subjects} --profile pocket{settings} (cold)"
    )
    verdict = "" if target is None else f" (target <= {target} s: {'met' if cold <= target else 'MISSED'})"
    print(f"wall:     {cold:.0f} s = {cold / 60:.1f} min{verdict}, {images} images, scoring and report included")
    print(f"training: {trained:.0f} s summed over cells and workers (the rest: class images, sampling, scoring)")


if __name__ == "__main__":
    main()
