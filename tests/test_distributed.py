"""The same seeds give the same images and scores, locally, on Ray and as shards; dead workers are retried."""

from __future__ import annotations

import json
import logging

import pytest
import ray  # noqa: F401  (in the [test] extra: without it these tests fail, they never skip)

from tests.conftest import FAKE_METHOD, image_hashes, tiny_run

TWO_METHODS = {
    "methods": ["base", "dreambooth-lora"],
    "generate_pres": True,
    "score": True,
    "assignments": ["metrics=[dino,clip-t,pres]"],
}


def scores(run_dir):
    rows = {}
    for method in ("base", "dreambooth-lora"):
        for line in (run_dir / method / "scores.jsonl").read_text().splitlines():
            row = json.loads(line)
            rows[row["file"]] = {k: row.get(k) for k in ("dino", "clip-t", "pres")}
    return rows


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, dreambench_dir):
    run_dir = tmp_path_factory.mktemp("local") / "run"
    tiny_run(run_dir, dreambench_dir, **TWO_METHODS)
    return run_dir


def test_ray_and_shards_reproduce_a_local_run(local_run, tmp_path, dreambench_dir, monkeypatch):
    expected_images, expected_scores = image_hashes(local_run), scores(local_run)
    # methods x subjects x (prompts + PRES) x images
    assert len(expected_images) == 2 * 2 * (2 + 1) * 2

    on_ray = tmp_path / "ray"
    import signal

    # as `bench`'s entry point installs: SIGTERM says what happened (exit 143)
    def ours(signum, frame):
        raise KeyboardInterrupt

    # Ray's default: token auth on, and a notice saying so
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    said: list[str] = []
    notices = logging.Handler()
    notices.emit = lambda record: said.append(record.getMessage())
    token_setup = logging.getLogger("ray._private.authentication.authentication_token_setup")
    token_setup.addHandler(notices)
    before = signal.signal(signal.SIGTERM, ours)
    try:
        summary = tiny_run(on_ray, dreambench_dir, executor="ray", workers=2, **TWO_METHODS)
        # ray.init's own handler would exit without a word
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, before)
        token_setup.removeHandler(notices)
    assert not summary.failures
    # the local instance we start needs nothing from the user: no notice on how to switch its security off
    assert not [line for line in said if "Token authentication" in line]
    assert image_hashes(on_ray) == expected_images
    assert scores(on_ray) == expected_scores

    sharded = tmp_path / "shards"
    first = tiny_run(sharded, dreambench_dir, shard="0/2", **TWO_METHODS)
    # one shard alone is not a complete run: it scores nothing
    assert first.scores is None
    tiny_run(sharded, dreambench_dir, shard="1/2", **TWO_METHODS)
    # the full run finds everything done, then scores
    tiny_run(sharded, dreambench_dir, **TWO_METHODS)
    assert image_hashes(sharded) == expected_images
    assert scores(sharded) == expected_scores


def test_a_dead_ray_worker_is_retried_and_a_worker_keeps_its_models(tmp_path, dreambench_dir):
    """One worker, two cells: it dies in the first, is restarted, and the restarted one serves both cells."""
    marker, instances = tmp_path / "died-once", tmp_path / "instances"
    instances.mkdir()
    lines = []
    summary = tiny_run(
        tmp_path / "run",
        dreambench_dir,
        methods=["fake"],
        include=[str(FAKE_METHOD)],
        executor="ray",
        workers=1,
        assignments=[f"options.fake.die_once={marker}", f"options.fake.count_in={instances}"],
        log=lines.append,
    )
    # a worker did die mid-cell
    assert marker.exists()
    assert not summary.failures and summary.generated == 8
    restarts = [line for line in lines if "Ray worker process died and Ray restarted it" in line]
    # the rerun cell, said once
    assert len(restarts) == 1 and restarts[0].startswith("bench: warning: fake[")
    # The first worker and its restart: not one method (and base model) per cell, as a task per cell would be.
    assert len(list(instances.iterdir())) == 2


def test_scoring_after_local_cells_runs_at_the_threads_it_would_run_at_after_any_executor(
    tmp_path, dreambench_dir, monkeypatch
):
    """The local executor pins CPU threads for its cells; scoring in the same process must not inherit it."""
    import torch

    import benchmark.metrics

    seen = []
    real = benchmark.metrics.score_run
    monkeypatch.setattr(
        benchmark.metrics, "score_run", lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k)
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tiny_run(tmp_path / "run", dreambench_dir, subjects=["dog"], score=True, assignments=["metrics=[dino]"])
        assert seen == [2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_dead_pool_worker_costs_a_restart_not_the_other_cells(tmp_path, dreambench_dir):
    """A worker killed mid-cell breaks the whole pool; every cell is rerun on a fresh one and finishes as locally."""
    plugin = {"methods": ["fake"], "include": [str(FAKE_METHOD)], "subjects": ["backpack", "dog", "cat"]}
    local = tmp_path / "local"
    tiny_run(local, dreambench_dir, **plugin)
    marker, lines = tmp_path / "died-once", []
    summary = tiny_run(
        tmp_path / "pool",
        dreambench_dir,
        executor="process",
        workers=2,
        **plugin,
        assignments=[f"options.fake.die_once={marker}"],
        log=lines.append,
    )
    assert marker.exists() and not summary.failures
    retries = [line for line in lines if "its worker process died; retrying" in line]
    # the log says why it took longer
    assert len(retries) == 1 and retries[0].endswith("(attempt 2 of 3)")
    strip = lambda hashes: {k.split("/", 1)[1]: v for k, v in hashes.items()}  # noqa: E731  (folder names differ)
    assert strip(image_hashes(tmp_path / "pool")) == strip(image_hashes(local))


def test_a_cell_that_kills_its_worker_every_time_fails_alone(tmp_path, dreambench_dir):
    """Cells queued behind it when the pool breaks were never run: they must not share its retries."""
    subjects = ["backpack", "dog", "cat", "clock", "duck_toy"]
    summary = tiny_run(
        tmp_path / "run",
        dreambench_dir,
        methods=["fake"],
        include=[str(FAKE_METHOD)],
        subjects=subjects,
        executor="process",
        workers=2,
        limit_prompts=1,
        assignments=["options.fake.die_on=dog"],
    )
    failed = {f.cell.subject: f.error for f in summary.failures}
    assert list(failed) == ["dog"] and "worker process died (3 times)" in failed["dog"]
    assert len(summary.results) == len(subjects)


def test_a_cell_ray_gave_up_on_is_one_line():
    from types import SimpleNamespace

    from benchmark.executors import RAY_RETRIES, _ray_failure

    class RayActorError(Exception):
        pass

    fake_ray = SimpleNamespace(exceptions=SimpleNamespace(RayActorError=RayActorError))
    dump = RayActorError("The actor died unexpectedly before finishing this task.\n\tclass_name: RayCellWorker")
    assert _ray_failure(fake_ray, dump) == f"Ray worker process died ({RAY_RETRIES + 1} times, or its start failed)"
    other = ValueError("\n  first line of the cause\n  second line")
    assert _ray_failure(fake_ray, other) == "Ray worker failed: ValueError: first line of the cause"


def test_killing_the_run_ends_its_pool_workers(tmp_path, dreambench_dir):
    """A scheduler's SIGKILL of `bench run` must not leave workers generating on (and holding a GPU)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    instances = tmp_path / "instances"
    instances.mkdir()
    parent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmark.cli",
            "run",
            "--method",
            "fake",
            "--include",
            str(FAKE_METHOD),
            "--subjects",
            "backpack,dog,cat",
            "--limit-prompts",
            "1",
            "--no-score",
            "--quiet",
            "--executor",
            "process",
            "--workers",
            "2",
            "--dataset-dir",
            str(dreambench_dir),
            "--output-dir",
            str(tmp_path / "run"),
            "--set",
            "options.fake.sleep=60",
            "--set",
            f"options.fake.count_in={instances}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(list(instances.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    workers = [int(p.name.split("-")[0]) for p in instances.iterdir()]
    assert len(workers) == 2, "the workers did not start"
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def alive(pid: int) -> bool:
        try:
            status = open(f"/proc/{pid}/status").read() if os.path.exists(f"/proc/{pid}") else None
        except OSError:
            return False
        if status is None:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            return True
        # a zombie has ended; only its exit status waits to be read
        return "\nState:\tZ" not in status

    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in workers if alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


def test_a_ray_cluster_that_cannot_be_reached_is_one_line(tmp_path, dreambench_dir, monkeypatch):
    """`ray job submit` passes the cluster in RAY_ADDRESS: it is joined, and when it is not there, one line."""
    from benchmark.errors import BenchError

    # no cluster runs here
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    with pytest.raises(BenchError, match="cannot connect to the Ray cluster at auto: Could not find any running Ray"):
        tiny_run(tmp_path / "run", dreambench_dir, executor="ray", subjects=["dog"])


def test_a_cluster_address_nothing_answers_on_is_refused_before_anything_is_made(tmp_path, dreambench_dir):
    """Ray would retry for 20 s, print its own lines, and leave a run directory behind; --dry-run saw nothing."""
    import socket

    from benchmark.errors import BenchError

    # a port nothing listens on: bound, then closed
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(BenchError, match=rf"cannot reach the Ray cluster at {address}: Connection refused"):
            tiny_run(tmp_path / "run", dreambench_dir, executor="ray", subjects=["dog"], ray_address=address)
    assert not (tmp_path / "run").exists()
