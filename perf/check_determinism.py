"""Does this machine repeat a run's bytes? Train and sample one cell twice, with and without `--deterministic`.

    python perf/check_determinism.py --dataset-dir ../shared/dreambench/dataset
    python perf/check_determinism.py --device cuda ...                        # the question that matters
    python perf/check_determinism.py --device cuda --profile sd15-random --set options.dreambooth.steps=20
    python perf/check_determinism.py --include my_method.py --method my-method  # a plug-in, before a sweep

Each run is a fresh `bench run` process with its own empty cache (so class images are
sampled again, not reused) and its own output directory; the script compares the
trained weights' files and every image's SHA-256 between the two runs of each
setting, and prints the time a run took. On a CPU both settings must repeat (the
harness pins the thread count); on CUDA the default kernels may not, and
`--deterministic` must. A setting that does not repeat where it should exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# the sibling scripts, when run from elsewhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import machine_line  # noqa: E402


def run_once(args, work: Path, deterministic: bool) -> tuple[float, dict[str, str], dict[str, str]]:
    """One `bench run` in a fresh process and cache; returns its seconds, image hashes and weight-file hashes."""
    out = work / "run"
    command = [
        sys.executable,
        "-m",
        "benchmark.cli",
        "run",
        "--method",
        args.method,
        "--subjects",
        args.subject,
        "--profile",
        args.profile,
        "--device",
        args.device,
        "--limit-prompts",
        str(args.limit_prompts),
        "--images-per-prompt",
        str(args.images_per_prompt),
        "--no-score",
        "--quiet",
        "--output-dir",
        str(out),
    ]
    if args.dataset_dir:
        command += ["--dataset-dir", args.dataset_dir]
    for assignment in args.set:
        command += ["--set", assignment]
    for plugin in args.include:
        command += ["--include", plugin]
    if deterministic:
        command.append("--deterministic")
    environment = {**os.environ, "BENCH_CACHE_DIR": str(work / "cache")}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        sys.exit(f"check_determinism: bench run failed ({done.returncode}): {lines[-1]}")
    method_dir = next(p for p in out.iterdir() if (p / "generations.jsonl").exists())
    images = {}
    for line in (method_dir / "generations.jsonl").read_text().splitlines():
        record = json.loads(line)
        images[record["file"]] = record["sha256"]
    # every file a training saved but its records (artifact.json, a loss log: timings) and locks
    weights = {
        path.relative_to(method_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((method_dir / "artifacts").rglob("*"))
        if path.is_file()
        and path.name != "artifact.json"
        and path.suffix not in (".jsonl", ".log")
        and not any(part.startswith(".") for part in path.relative_to(method_dir).parts)
    }
    return seconds, images, weights


def same(first: dict[str, str], second: dict[str, str]) -> str:
    if not first:
        return "none made"
    equal = sum(first[key] == second.get(key) for key in first)
    return f"{equal}/{len(first)} identical"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", default="dreambooth")
    parser.add_argument("--subject", default="dog")
    parser.add_argument("--limit-prompts", type=int, default=2)
    parser.add_argument("--images-per-prompt", type=int, default=2)
    parser.add_argument("--dataset-dir")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to bench run")
    parser.add_argument("--include", action="append", default=[], metavar="FILE", help="a plug-in file to load")
    args = parser.parse_args()

    # the runs pin their own threads
    print(machine_line(torch.device(args.device)).rsplit(", ", 1)[0])
    print(
        f"profile: {args.profile}, method: {args.method}, subject: {args.subject}, "
        f"{args.limit_prompts} prompts x {args.images_per_prompt} images (+ PRES), settings: {args.set or 'defaults'}"
    )
    print("\n| kernels | run 1 s | run 2 s | trained weight files | images |")
    print("| --- | --- | --- | --- | --- |")
    failed = False
    for deterministic in (False, True):
        results = []
        for _ in range(2):
            with tempfile.TemporaryDirectory(prefix="check-determinism-") as tmp:
                results.append(run_once(args, Path(tmp), deterministic))
        (first_s, first_images, first_weights), (second_s, second_images, second_weights) = results
        repeated = first_images == second_images and first_weights == second_weights
        label = "deterministic (--deterministic)" if deterministic else "default"
        print(
            f"| {label} | {first_s:.1f} | {second_s:.1f} | {same(first_weights, second_weights)} "
            f"| {same(first_images, second_images)} |"
        )
        if not repeated and (deterministic or args.device == "cpu"):
            failed = True
    if failed:
        sys.exit("check_determinism: a setting that must repeat its bytes did not")


if __name__ == "__main__":
    main()
