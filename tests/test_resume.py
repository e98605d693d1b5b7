"""A run killed at any moment resumes to exactly the bytes of an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import FAKE_METHOD, image_hashes, tiny_run

RUN = {"subjects": ["backpack", "dog"], "limit_prompts": 3, "images_per_prompt": 2, "generate_pres": True}
ARGS = ["--subjects", "backpack,dog", "--limit-prompts", "3", "--images-per-prompt", "2", "--no-score", "--quiet"]
# The run that is killed holds itself open after `base` with the fake plug-in asleep in its first batch: however
# late the signal comes (a loaded machine), it finds the run still working, never finished. The resume then
# completes `base` alone; the fake never finished a batch, so it left no image.
HELD_OPEN = ["--method", "base,fake", "--include", str(FAKE_METHOD), "--set", "options.fake.sleep=600"]


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
    tiny_run(run_dir, dreambench_dir, **RUN)
    return image_hashes(run_dir)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_killed_run_resumes_to_identical_bytes(sig, tmp_path, dreambench_dir, uninterrupted):
    """Killed wherever it happens to be once three images exist (mid-`base`, or asleep in the fake plug-in when
    the test is slow to react), the run keeps only whole images and its resume completes the exact bytes.

    The resume runs in this process (`bench run` is `execute_run` behind its options): the bytes the killed
    process left and those this one adds must agree across processes, and a second `bench run` would only
    import torch again."""
    run_dir = tmp_path / "run"
    args = ["run", *ARGS, "--output-dir", str(run_dir), "--dataset-dir", str(dreambench_dir)]
    process = bench(*args, *HELD_OPEN)
    try:
        wait_for_images(run_dir, 3, process)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        # a failed wait or communicate: never leave the held-open run behind
        if process.poll() is None:
            process.kill()
            process.communicate()
    if sig == signal.SIGINT:
        assert process.returncode == 130
        assert "interrupted; finished work is kept" in stderr and "Traceback" not in stderr
    elif sig == signal.SIGTERM:
        # a scheduler's time limit or preemption: said, not a silent exit
        assert process.returncode == 143
        assert "terminated (SIGTERM); finished work is kept" in stderr and "Traceback" not in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    partial = image_hashes(run_dir)
    assert 3 <= len(partial) <= len(uninterrupted) and all(name.startswith("base/") for name in partial)
    # no half-written image
    assert all(uninterrupted[name] == digest for name, digest in partial.items())

    resumed = tiny_run(run_dir, dreambench_dir, **RUN)
    assert not resumed.failures and resumed.reused == len(partial)
    assert image_hashes(run_dir) == uninterrupted
    records = [json.loads(x) for x in (run_dir / "base" / "generations.jsonl").read_text().splitlines()]
    assert {r["file"]: r["sha256"] for r in records} == uninterrupted


BATCHED = {"subjects": ["dog"], "limit_prompts": 3, "generate_pres": True, "assignments": ["generation.batch_size=3"]}


def test_batches_across_prompts_resume_to_identical_bytes_and_follow_their_companions(
    tmp_path, dreambench_dir, monkeypatch
):
    """Batches larger than a group span prompts (full GPU batches); a resume or a changed plan must not mix layouts."""
    from methods.base_model import BaseModel

    tiny_run(tmp_path / "full", dreambench_dir, **BATCHED)
    expected = image_hashes(tmp_path / "full")
    # 3 prompts + PRES, 2 images each: batches (g0 g0 g1) (g1 g2 g2) (P P)
    assert len(expected) == 4 * 2

    real, calls = BaseModel.generate, []

    def generate(self, subject, artifact_dir, prompts, seeds, stop_at=None):
        calls.append(list(prompts))
        if len(calls) == stop_at:
            raise KeyboardInterrupt
        return real(self, subject, artifact_dir, prompts, seeds)

    run = tmp_path / "run"
    monkeypatch.setattr(BaseModel, "generate", lambda *a: generate(*a, stop_at=2))
    with pytest.raises(KeyboardInterrupt):
        tiny_run(run, dreambench_dir, **BATCHED)
    first_batch = calls[0]
    # the first batch held two prompts
    assert len(set(first_batch)) == 2
    # and completed only the first group, which was kept
    assert len(image_hashes(run)) == 2

    calls.clear()
    monkeypatch.setattr(BaseModel, "generate", lambda *a: generate(*a))
    tiny_run(run, dreambench_dir, **BATCHED)
    # every batch with an unfinished image, the first one again whole
    assert len(calls) == 3
    assert image_hashes(run) == expected

    calls.clear()
    tiny_run(run, dreambench_dir, **BATCHED)
    # all done
    assert calls == []

    # Two prompts instead of three: batches become (g0 g0 g1) (g1) (P P). Prompt 1 has new companions,
    # so it is sampled again, and with it prompt 0's batch; PRES always opens its own batch: kept.
    tiny_run(run, dreambench_dir, **{**BATCHED, "limit_prompts": 2})
    assert calls == [first_batch, first_batch[2:]]


def test_a_batch_log_gets_a_line_per_cell_and_hears_that_a_training_resumed(tmp_path, dreambench_dir, monkeypatch):
    """A SLURM log has no progress bar: it needs each cell's outcome, and the re-run of a killed job must say
    that the training went on from its checkpoint rather than silently (or seemingly) starting over."""
    from methods import training as T

    run_dir, lines = tmp_path / "run", []
    small = {"methods": ["dreambooth"], "subjects": ["dog"], "limit_prompts": 1, "images_per_prompt": 1}
    real_record = T.StepLog.record

    def killed_after_step_4(log, step, *args):
        real_record(log, step, *args)
        # tiny checkpoints every 3 steps: step 3's checkpoint is on disk
        if step == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(T.StepLog, "record", killed_after_step_4)
    with pytest.raises(KeyboardInterrupt):
        tiny_run(run_dir, dreambench_dir, **small)
    monkeypatch.setattr(T.StepLog, "record", real_record)
    from benchmark.config import build_config
    from benchmark.runner import execute_run

    config = build_config(
        overrides={
            **small,
            "generate_pres": False,
            "score": False,
            "output_dir": str(run_dir),
            "dataset_dir": str(dreambench_dir),
        }
    )
    execute_run(config, progress=False, log=lines.append, cell_lines=True)
    # a batch log says first what this job does
    starts = [line for line in lines if " cells of " in line]
    assert len(starts) == 1 and re.fullmatch(
        rf"bench: \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d 1 cells of dreambooth into {run_dir} on cpu, local executor x1",
        starts[0],
    )
    assert lines.index(starts[0]) < min(i for i, line in enumerate(lines) if line.startswith("bench: ["))
    cell_lines = [line for line in lines if line.startswith("bench: [")]
    assert len(cell_lines) == 1 and re.match(r"bench: \[1/1 \d\d:\d\d:\d\d\] dreambooth/dog done in ", cell_lines[0])
    assert cell_lines[0].endswith("trained (resumed from step 3), 1 images generated, 0 reused")
    lines.clear()
    # a terminal: the bar shows progress
    execute_run(config, progress=False, log=lines.append, cell_lines=False)
    assert not [line for line in lines if line.startswith("bench: [")]
    base = build_config(
        overrides={
            **small,
            "methods": ["base"],
            "generate_pres": False,
            "score": False,
            "output_dir": str(run_dir),
            "dataset_dir": str(dreambench_dir),
        }
    )
    lines.clear()
    execute_run(base, progress=False, log=lines.append, cell_lines=True)
    cells = [line.split(": ", 2)[-1] for line in lines if line.startswith("bench: [")]
    # `base` trains nothing, and says so by not saying "trained"
    assert cells == ["1 images generated, 0 reused"]


def test_a_run_stopped_midway_leaves_its_failures_and_finished_records_where_reports_read_them(
    tmp_path, dreambench_dir, monkeypatch
):
    """Preempted after a failed cell and a finished one: `bench report` must see both before any re-run."""
    from benchmark.generation import CellRunner

    real_run_cell = CellRunner.run_cell

    def preempted_at_dog(self, cell, on_group=None):
        if cell.subject == "dog":
            # SIGTERM raises the same way
            raise KeyboardInterrupt
        return real_run_cell(self, cell, on_group)

    monkeypatch.setattr(CellRunner, "run_cell", preempted_at_dog)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        tiny_run(
            run,
            dreambench_dir,
            methods=["fake"],
            include=[str(FAKE_METHOD)],
            subjects=["backpack", "cat", "dog"],
            assignments=["options.fake.fail_on=backpack"],
        )
    label = "fake[fail_on=backpack]"
    failure = json.loads((run / label / "failures" / "backpack.json").read_text())
    assert "deliberate failure for backpack" in failure["error"]
    records = [json.loads(line) for line in (run / label / "generations.jsonl").read_text().splitlines()]
    # 2 prompts x 2 images
    assert {r["subject"] for r in records} == {"cat"} and len(records) == 4
    from reports.loading import load_runs

    status = load_runs([run]).methods[label].status
    assert "failed: backpack (re-run the same `bench run` to retry)" in status and "not scored" in status


def test_a_method_stopped_before_its_first_image_is_told_to_re_run_not_to_score(tmp_path, dreambench_dir, monkeypatch):
    from benchmark.generation import CellRunner
    from reports.loading import load_runs

    real_run_cell = CellRunner.run_cell

    def preempted_at_base(self, cell, on_group=None):
        if cell.method == "base":
            raise KeyboardInterrupt
        return real_run_cell(self, cell, on_group)

    monkeypatch.setattr(CellRunner, "run_cell", preempted_at_base)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        tiny_run(run, dreambench_dir, methods=["fake", "base"], include=[str(FAKE_METHOD)], subjects=["dog"])
    status = load_runs([run]).methods["base"].status
    assert "nothing generated yet; re-run the same `bench run`" in status and "bench score" not in status
