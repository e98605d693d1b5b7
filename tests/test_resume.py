"""A run killed at any moment resumes to exactly the bytes of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import image_hashes, tiny_run

ARGS = ["--subjects", "backpack,dog", "--limit-prompts", "6", "--images-per-prompt", "2", "--quiet"]


def bench(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "benchmark.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for_images(run_dir, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(list(run_dir.glob("base/images/*/*.png"))) < count:
        if process.poll() is not None:
            pytest.fail(f"run ended before it could be interrupted: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("run produced no images in time")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, dreambench_dir):
    run_dir = tmp_path_factory.mktemp("full") / "run"
    tiny_run(run_dir, dreambench_dir, limit_prompts=6, generate_pres=True)
    return image_hashes(run_dir)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_to_identical_bytes(sig, tmp_path, dreambench_dir, uninterrupted):
    run_dir = tmp_path / "run"
    args = ["run", *ARGS, "--output-dir", str(run_dir), "--dataset-dir", str(dreambench_dir)]
    process = bench(*args)
    wait_for_images(run_dir, 3, process)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert process.returncode == 130
        assert "interrupted; finished work is kept" in stderr and "Traceback" not in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    partial = image_hashes(run_dir)
    assert 3 <= len(partial) < len(uninterrupted)
    assert all(uninterrupted[name] == digest for name, digest in partial.items())  # no half-written image

    resumed = bench(*args)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert image_hashes(run_dir) == uninterrupted
    records = [json.loads(x) for x in (run_dir / "base" / "generations.jsonl").read_text().splitlines()]
    assert {r["file"]: r["sha256"] for r in records} == uninterrupted
