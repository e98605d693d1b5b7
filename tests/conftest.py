"""Shared fixtures: the DreamBench copy in ../shared, tiny runs, and the CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli import main as bench_main
from benchmark.config import build_config
from benchmark.runner import execute_run

REPO = Path(__file__).resolve().parents[1]
# CI and the team keep a copy beside the checkout; anyone else points $DREAMBENCH_DIR at theirs.
SHARED_DATASET = Path(os.environ.get("DREAMBENCH_DIR") or REPO.parent / "shared" / "dreambench" / "dataset")
FAKE_METHOD = Path(__file__).with_name("plugins") / "fake_method.py"


@pytest.fixture(scope="session")
def dreambench_dir() -> Path:
    if not SHARED_DATASET.is_dir():
        pytest.fail(f"the DreamBench copy is expected at {SHARED_DATASET} (see README: Dataset)")
    return SHARED_DATASET


def _isolate(patch: pytest.MonkeyPatch, cache: Path) -> None:
    import benchmark.environment

    patch.setenv("BENCH_CACHE_DIR", str(cache))
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.delenv("DREAMBENCH_DIR", raising=False)
    # A developer's uncommitted edits would add UNCOMMITTED CODE warnings and banners to every run and report:
    # tests see one clean revision whatever the checkout's state (tests of that warning set their own).
    patch.setattr(benchmark.environment, "git_revision", lambda: TEST_REVISION)


TEST_REVISION = "0000000000000000000000000000000000000000"


@pytest.fixture(scope="session", autouse=True)
def isolated_session_cache(tmp_path_factory):
    """Module- and session-scoped fixtures are set up before function-scoped ones: isolate them too.

    Without this, a module fixture's run would read and write the user's real
    cache, and reuse class images some older version of the code left there.
    """
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, tmp_path_factory.mktemp("bench-cache-session"))
        yield


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's real cache or hub, whatever a test does; each test starts with an empty cache."""
    _isolate(monkeypatch, tmp_path_factory.mktemp("bench-cache"))


@pytest.fixture
def dataset_copy(tmp_path, dreambench_dir) -> Path:
    """A writable copy of a few subjects, for tests that damage the dataset."""
    root = tmp_path / "dataset"
    for name in ("backpack", "dog", "cat"):
        shutil.copytree(dreambench_dir / name, root / name)
    return root


def tiny_config(output_dir: Path, dataset_dir: Path, **overrides):
    """The config of a small `bench run`: 2 prompts x 2 images per subject, no PRES images, no scoring."""
    values = {
        # In this process, so a test's monkeypatches reach the cells (`executor: auto` would start a worker per core;
        # tests of the executors and of the default name theirs).
        "executor": "local",
        "generate_pres": False,
        "score": False,
        "methods": ["base"],
        "subjects": ["backpack", "dog"],
        "limit_prompts": 2,
        "images_per_prompt": 2,
        "output_dir": str(output_dir),
        "dataset_dir": str(dataset_dir),
    }
    values.update(overrides)
    assignments = values.pop("assignments", [])
    return build_config(assignments=assignments, overrides=values)


def tiny_run(output_dir: Path, dataset_dir: Path, **overrides):
    """A small in-process `bench run` (see `tiny_config`)."""
    log = overrides.pop("log", lambda message: None)
    return execute_run(tiny_config(output_dir, dataset_dir, **overrides), progress=False, log=log)


def bench_run_args(words: str, **paths: Path) -> list[str]:
    """`bench run` arguments: the options in `words`, then each path as `--name PATH` (`dataset_dir` ->
    `--dataset-dir`). One line per call reads better than the formatter's one argument per line."""
    options = [item for name, path in paths.items() for item in (f"--{name.replace('_', '-')}", str(path))]
    return ["run", *words.split(), *options]


def image_hashes(run_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(run_dir).glob("*/images/*/*.png"))
    }


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(bench_main, [str(a) for a in args], prog_name="bench", catch_exceptions=False)

    return invoke


@pytest.fixture
def own_registry(monkeypatch):
    """Each test's plug-in is registered in a copy of the registry: the other tests never see it."""
    from methods import registry

    # the built-ins first, so the copy has them whichever test runs first
    registry.available_methods()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
