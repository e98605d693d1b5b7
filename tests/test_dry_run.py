"""`bench run --dry-run`: the real run's checks and the work left, and not one byte written."""

from __future__ import annotations

import os

import pytest

from benchmark.dry_run import plan_run
from benchmark.errors import BenchError
from tests.conftest import bench_run_args, tiny_config, tiny_run


def dry(output_dir, dataset_dir, **overrides):
    """The plan of `tiny_config`'s run, as `bench run --dry-run` makes it."""
    return plan_run(tiny_config(output_dir, dataset_dir, **overrides))


def snapshot(root) -> dict:
    return {
        os.path.relpath(os.path.join(folder, name), root): os.stat(os.path.join(folder, name)).st_mtime_ns
        for folder, _, names in os.walk(root)
        for name in names
    }


def test_a_new_run_is_planned_whole_and_its_directory_is_not_created(tmp_path, dreambench_dir):
    plan = dry(tmp_path / "run", dreambench_dir, methods=["base", "dreambooth"])
    assert not (tmp_path / "run").exists()
    assert [(c.method, c.subject) for c in plan.cells] == [
        ("base", "backpack"),
        ("base", "dog"),
        ("dreambooth", "backpack"),
        ("dreambooth", "dog"),
    ]
    assert all(c.planned == 4 and c.on_disk == 0 and not c.personalized for c in plan.cells)
    assert "| dreambooth | 2 | 0/2 | 8 | 0 | 8 |" in plan.table()
    assert "would be created" in plan.summary() and "16 of 16 images left" in plan.summary()


def test_a_resumed_run_shows_what_is_left_and_stays_untouched(tmp_path, dreambench_dir):
    run = tmp_path / "run"
    tiny_run(run, dreambench_dir, limit_prompts=1)
    # a lost image is work left
    (run / "base/images/dog/p00_i1.png").unlink()
    before = snapshot(run)
    plan = dry(run, dreambench_dir, limit_prompts=3, shard="1/2")
    # no lock, no invocation line, no method.json rewritten
    assert snapshot(run) == before
    # shard 1/2 of two cells
    (cell,) = plan.cells
    assert (cell.subject, cell.planned, cell.personalized) == ("dog", 6, True)
    # its only finished group lost an image: it will be sampled again
    assert cell.on_disk == 0
    other = dry(run, dreambench_dir, limit_prompts=3, shard="0/2").cells[0]
    assert (other.subject, other.on_disk) == ("backpack", 2)
    assert "exists, its configuration matches" in plan.summary()


def test_it_refuses_what_the_real_run_refuses(tmp_path, dreambench_dir):
    run = tmp_path / "run"
    tiny_run(run, dreambench_dir)
    with pytest.raises(BenchError, match=r"seed: 0 -> 5"):
        dry(run, dreambench_dir, seed=5)
    with pytest.raises(BenchError, match="unknown subject|no subject|not a DreamBench subject"):
        dry(run, dreambench_dir, subjects=["dgo"])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(BenchError, match="not a bench run directory"):
        dry(foreign, dreambench_dir)


def test_it_plans_for_a_gpu_this_machine_lacks_which_the_real_run_refuses(tmp_path, dreambench_dir):
    """A login node plans the cluster's jobs; the jobs themselves must not start without their GPU."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    assert dry(tmp_path / "run", dreambench_dir, device="cuda").device == "cuda"
    with pytest.raises(BenchError, match="CUDA is not available"):
        tiny_run(tmp_path / "run", dreambench_dir, device="cuda")


def test_the_cli_prints_the_plan_and_writes_nothing(cli, tmp_path, dreambench_dir):
    options = "--method base --subjects dog --limit-prompts 1 --dry-run"
    result = cli(*bench_run_args(options, dataset_dir=dreambench_dir, output_dir=tmp_path / "r"))
    assert result.exit_code == 0, result.output
    # 1 prompt x 4 images + 4 PRES images
    assert "| base | 1 | 0/1 | 8 | 0 | 8 |" in result.output
    assert "Nothing was written" in result.output and not (tmp_path / "r").exists()


def test_auto_on_a_machine_without_a_gpu_plans_a_run_started_on_one(tmp_path, dreambench_dir):
    """A login node resumes a GPU sweep's plan (submit.sh re-run): `auto` means the device the run was started on."""
    import json

    run = tmp_path / "run"
    tiny_run(run, dreambench_dir)
    manifest = json.loads((run / "run.json").read_text())
    manifest.update(device_type="cuda", deterministic_kernels=True)
    (run / "run.json").write_text(json.dumps(manifest))
    plan = dry(run, dreambench_dir, deterministic=True)
    assert plan.device == "cuda (auto: the run was started on cuda)" and plan.cells
    # checked as on the GPU node
    with pytest.raises(BenchError, match="started with --deterministic"):
        dry(run, dreambench_dir)
    assert "auto: cpu on this machine" in dry(tmp_path / "new", dreambench_dir).device


def test_options_set_for_a_method_do_not_silently_miss_its_presets(tmp_path, dreambench_dir):
    """A preset keeps its own defaults: an ablation whose arms ran at different steps is said up front."""
    both = {"methods": ["dreambooth", "dreambooth-no-prior"], "options": {"dreambooth": {"steps": 2}}}
    (note,) = dry(tmp_path / "run", dreambench_dir, **both).warnings()
    assert note.startswith("options.dreambooth.steps does not reach dreambooth-no-prior")
    assert note.endswith("add --set options.dreambooth-no-prior.steps=2 if the two are to be compared as an ablation")
    # What the preset ablates, what changes no output, and what it runs with anyway need no advice
    quiet = {
        # tiny's steps: 6
        "dreambooth": {"prior_preservation": False, "checkpoint_every": 5, "steps": 6, "learning_rate": 2e-4},
        "dreambooth-no-prior": {"learning_rate": 2e-4},
    }
    assert dry(tmp_path / "run", dreambench_dir, methods=both["methods"], options=quiet).warnings() == []
    alike = {**both, "options": {"dreambooth": {"steps": 2}, "dreambooth-no-prior": {"steps": 2}}}
    assert dry(tmp_path / "run", dreambench_dir, **alike).warnings() == []
    with pytest.raises(
        BenchError, match=r"its preset dreambooth-no-prior is a method of its own: options\.dreambooth-no"
    ):
        dry(tmp_path / "run", dreambench_dir, methods=["dreambooth-no-prior"], options={"dreambooth": {"steps": 2}})


def test_options_that_make_a_preset_point_to_it(tmp_path, dreambench_dir):
    """Set by hand, a preset's options train the preset's model under a label no ablation table looks for."""
    (note,) = dry(
        tmp_path / "run", dreambench_dir, methods=["dreambooth"], options={"dreambooth": {"prior_preservation": False}}
    ).warnings()
    assert note.startswith("dreambooth[prior_preservation=False] trains what dreambooth-no-prior trains")
    other = dry(tmp_path / "run", dreambench_dir, methods=["dreambooth"], options={"dreambooth": {"steps": 3}})
    # no preset has these options
    assert other.warnings() == []
