"""What a newcomer meets in the first hour: the cores a CPU run uses, typos that suggest the right name, progress
bars in a terminal, the compact board at the end (the long blocks behind --verbose), `bench doctor`'s version floors
and torch build, and the reports package without an import circle."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.config import build_config
from benchmark.executors import resolve_executor
from benchmark.runner import execute_run
from tests.conftest import REPO, bench_run_args, tiny_config

CPU, GPU = SimpleNamespace(type="cpu"), SimpleNamespace(type="cuda")


@pytest.mark.parametrize(
    ("given", "device", "cores", "cells", "expected"),
    [
        # every core of a CPU
        ({}, CPU, 4, 30, ("process", 4)),
        # never more workers than cells: each pays its start-up
        ({}, CPU, 4, 3, ("process", 3)),
        # one cell: no worker to start
        ({}, CPU, 4, 1, ("local", 1)),
        # one core
        ({}, CPU, 1, 30, ("local", 1)),
        # one GPU, this process
        ({}, GPU, 8, 30, ("local", 1)),
        # asked for: a process per GPU
        ({"workers": 2}, GPU, 8, 30, ("process", 2)),
        # named: as named
        ({"executor": "local"}, CPU, 4, 30, ("local", 1)),
        ({"executor": "process", "workers": 3}, CPU, 8, 30, ("process", 3)),
        ({"executor": "ray"}, CPU, 8, 30, ("ray", 1)),
    ],
)
def test_auto_executor_uses_the_cores_of_a_cpu(monkeypatch, given, device, cores, cells, expected):
    from benchmark import executors

    monkeypatch.setattr(executors, "usable_cores", lambda: cores)
    config = resolve_executor(build_config(overrides=given), device, cells)
    assert (config.executor, config.workers) == expected


def test_the_default_config_is_auto_and_local_still_refuses_workers():
    from benchmark.errors import BenchError

    config = build_config()
    assert (config.executor, config.workers) == ("auto", None)
    with pytest.raises(BenchError, match="workers=2 needs --executor process or ray"):
        build_config(overrides={"executor": "local", "workers": 2})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--method", "dreambooht", "--subjects", "dog"], "method 'dreambooht'; did you mean 'dreambooth'?"),
        (["run", "--method", "base", "--subjects", "dgo"], "unknown subject 'dgo'; did you mean 'dog'?"),
        (["run", "--method", "base", "--subjects", "dog,backpak", "--dry-run"], "did you mean 'backpack'?"),
        (["ls", "options", "textual-inversoin"], "unknown method 'textual-inversoin'; did you mean 'textual-inv"),
        (["ls", "prompts", "Dog"], "unknown subject 'Dog'; did you mean 'dog'?"),
    ],
)
def test_a_misspelled_method_or_subject_suggests_the_closest_name(cli, args, message):
    result = cli(*args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("bench: error: unknown "), lines
    assert message in lines[0] and lines[0].endswith("lists them)"), lines


def test_a_name_far_from_any_keeps_the_list_of_names(cli):
    result = cli("run", "--method", "zzzzzz", "--subjects", "dog")
    assert result.exit_code == 2 and "unknown method 'zzzzzz'; available: base" in result.stderr


def test_training_and_class_images_show_progress_in_a_terminal_only(tmp_path, dreambench_dir, capsys):
    """With bars on (a terminal), DreamBooth's steps and its class images each get a bar with a rate; off (a batch
    job's log, --quiet), neither prints a thing."""
    config = tiny_config(tmp_path / "on", dreambench_dir, methods=["dreambooth"], subjects=["dog"], limit_prompts=1)
    execute_run(config, progress=True, log=lambda message: None)
    shown = capsys.readouterr().err
    assert "train dreambooth/dog" in shown and ("step/s" in shown or "s/step" in shown), shown[-2000:]
    assert "class images 'a dog'" in shown and ("image/s" in shown or "s/image" in shown), shown[-2000:]
    config = tiny_config(tmp_path / "off", dreambench_dir, methods=["dreambooth"], subjects=["dog"], limit_prompts=1)
    execute_run(config, progress=False, log=lambda message: None)
    assert capsys.readouterr().err == ""


def test_a_run_ends_in_the_compact_board_and_verbose_adds_the_blocks(cli, tmp_path, dreambench_dir):
    options = "--method base --subjects dog --limit-prompts 1 --images-per-prompt 2 --executor local"
    args = bench_run_args(options, dataset_dir=dreambench_dir)
    short = cli(*args, "--output-dir", tmp_path / "a")
    assert short.exit_code == 0, short.output
    assert "## base" not in short.stdout and "image records in" not in short.stdout
    assert short.stdout.count("| base |") == 1 and "| real images (oracle) |" in short.stdout
    assert f"report: {tmp_path / 'a' / 'report' / 'index.html'}" in short.stdout
    long = cli(*args, "--output-dir", tmp_path / "b", "--verbose")
    assert long.exit_code == 0, long.output
    assert "## base" in long.stdout and "image records in" in long.stdout
    invocation = json.loads((tmp_path / "a" / "invocations.jsonl").read_text().splitlines()[0])
    assert (invocation["executor"], invocation["workers"]) == ("local", 1)


def test_doctor_checks_each_version_against_its_floor(monkeypatch):
    from benchmark import doctor

    declared = dict((name, spec) for name, spec, extra in doctor.declared_requirements() if extra is None)
    assert declared["open_clip_torch"] == ">=3.0" and declared["torch"].startswith(">=")
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version", lambda name: "2.32.0" if name == "open_clip_torch" else real(name))
    checks = {check.topic: check for check in doctor.package_checks()}
    assert checks["open_clip_torch"].problem and "2.32.0 is outside >=3.0" in checks["open_clip_torch"].text
    assert not checks["torch"].problem and "(ok: >=" in checks["torch"].text
    monkeypatch.setattr(doctor, "installed_version", lambda name: None if name == "ray" else real(name))
    ray = {check.topic: check for check in doctor.package_checks()}["ray"]
    # optional: said, never a problem
    assert not ray.problem and "not installed" in ray.text


def test_doctor_says_which_torch_build_is_installed(monkeypatch):
    import torch

    from benchmark import doctor

    monkeypatch.setattr(torch.version, "cuda", None)
    assert doctor.torch_build_check().text.endswith(": CPU-only build")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    text = doctor.torch_build_check().text
    assert ": CUDA 13.0 build with no usable GPU here" in text and "CPU-only build saves" in text


def test_the_banners_and_the_comparisons_do_not_import_each_other():
    """reports.comparisons builds on the banners; the banners must not reach back (a circle that only worked because
    one side imported inside a function)."""
    tree = ast.parse((REPO / "reports" / "banner.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "reports.comparisons" not in imported and "reports.scoring_match" in imported


def test_the_random_weights_wording_comes_from_one_place():
    from benchmark.weights_notice import WEIGHT_WARNINGS
    from reports.banner import not_meaningful_banner

    assert not_meaningful_banner("tiny") == WEIGHT_WARNINGS["random"]["line"].format(profile="tiny")
    for path in [*(REPO / "reports").rglob("*"), *(REPO / "benchmark").rglob("*")]:
        if path.is_file() and path.name != "weights_notice.py" and path.suffix in (".py", ".j2"):
            text = path.read_text()
            assert "RANDOM WEIGHTS\\n" not in text and "random-weight test models" not in text, path


def test_perf_scripts_folder_is_not_mistaken_for_the_package():
    assert (REPO / "perf").is_dir() and not (REPO / "benchmarks").exists()
    names = Path(REPO / "README.md").read_text() + "".join(p.read_text() for p in (REPO / "docs").glob("*.md"))
    assert "benchmarks/" not in names
