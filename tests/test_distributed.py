"""The same seeds give the same images and scores, locally, on Ray and as shards; dead workers are retried."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FAKE_METHOD, image_hashes, tiny_run

pytest.importorskip("ray")

TWO_METHODS = {"methods": ["base", "dreambooth-lora"], "generate_pres": True, "score": True,
               "assignments": ["metrics=[dino,clip-t,pres]"]}  # fmt: skip


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


def test_ray_and_shards_reproduce_a_local_run(local_run, tmp_path, dreambench_dir):
    expected_images, expected_scores = image_hashes(local_run), scores(local_run)
    assert len(expected_images) == 2 * 2 * (2 + 1) * 2  # methods x subjects x (prompts + PRES) x images

    on_ray = tmp_path / "ray"
    summary = tiny_run(on_ray, dreambench_dir, executor="ray", workers=2, **TWO_METHODS)
    assert not summary.failures
    assert image_hashes(on_ray) == expected_images
    assert scores(on_ray) == expected_scores

    sharded = tmp_path / "shards"
    first = tiny_run(sharded, dreambench_dir, shard="0/2", **TWO_METHODS)
    assert first.scores is None  # one shard alone is not a complete run: it scores nothing
    tiny_run(sharded, dreambench_dir, shard="1/2", **TWO_METHODS)
    tiny_run(sharded, dreambench_dir, **TWO_METHODS)  # the full run finds everything done, then scores
    assert image_hashes(sharded) == expected_images
    assert scores(sharded) == expected_scores


def test_a_dead_ray_worker_is_retried(tmp_path, dreambench_dir):
    marker = tmp_path / "died-once"
    summary = tiny_run(
        tmp_path / "run", dreambench_dir, methods=["fake"], include=[str(FAKE_METHOD)], executor="ray", workers=2,
        assignments=[f"options.fake.die_once={marker}"],
    )  # fmt: skip
    assert marker.exists()  # a worker did die mid-cell
    assert not summary.failures and summary.generated == 8


def test_a_ray_worker_keeps_its_runner_between_cells(monkeypatch):
    """Loading SD-1.5 (and compiling it) per cell would cost a sweep minutes per cell; a changed spec gets a new one."""
    import dataclasses

    from benchmark import executors
    from benchmark.generation import CellSpec

    built = []

    class Runner:
        def __init__(self, spec):
            self.spec = spec
            built.append(spec)

        def run_cell(self, cell):
            return (len(built), cell)

    monkeypatch.setattr(executors, "CellRunner", Runner)
    monkeypatch.setattr(executors, "_ray_runner", None)
    spec = CellSpec(run_dir="r", config={}, dataset_dir="d", model_locations={}, method_keys={}, method_options={},
                    method_names={}, device="cpu", cache_dir="c")  # fmt: skip
    assert executors._run_cell_on_ray(spec, "cell-1") == (1, "cell-1")
    assert executors._run_cell_on_ray(dataclasses.replace(spec), "cell-2") == (1, "cell-2")  # an equal spec
    assert executors._run_cell_on_ray(dataclasses.replace(spec, run_dir="other"), "cell-3") == (2, "cell-3")
