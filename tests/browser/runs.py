"""The scored tiny runs every reports test reads, made once per test session.

Scoring and training even the tiny models take seconds, so the reports tests share
two runs (and one report built from them) instead of each making its own:

- `main`: base, dreambooth, dreambooth-no-prior (PRES images, so the prior-preservation
  ablation has its numbers) and the test plug-in `fake` told to fail on `dog`, on
  backpack and dog, 2 prompts x 2 images;
- `other`: a second run holding only `fake[size=64]`, to merge two runs of different
  methods into one leaderboard.

Both are made in a private temporary folder with a private cache and no hub access,
and removed when the Python process exits. Tests that modify a run must copy it first.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import FAKE_METHOD, SHARED_DATASET, tiny_run

SUBJECTS = ["backpack", "dog"]
MAIN_METHODS = ["base", "dreambooth", "dreambooth-no-prior", "fake"]
# LPIPS needs images larger than the fake's default 16 px
FAILING = "fake[fail_on=dog,size=64]"
OTHER = "fake[size=64]"


@dataclass(frozen=True)
class ReportRuns:
    main: Path
    other: Path
    # write_report([main, other], report, baseline="base")
    report: Path
    root: Path


def _env(root: Path):
    saved = {key: os.environ.get(key) for key in ("BENCH_CACHE_DIR", "HF_HUB_OFFLINE")}
    os.environ["BENCH_CACHE_DIR"] = str(root / "cache")
    os.environ["HF_HUB_OFFLINE"] = "1"
    return saved


def _restore(saved: dict) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@functools.cache
def report_runs() -> ReportRuns:
    """Make (once) the two runs and the merged report; see the module docstring."""
    from reports.html import write_report

    if not SHARED_DATASET.is_dir():
        raise RuntimeError(f"the DreamBench copy is expected at {SHARED_DATASET} (see README: Dataset)")
    root = Path(tempfile.mkdtemp(prefix="reports-tests-"))
    atexit.register(shutil.rmtree, root, True)
    saved = _env(root)
    try:
        common = {"subjects": SUBJECTS, "score": True, "generate_pres": True, "include": [str(FAKE_METHOD)]}
        tiny_run(
            root / "main",
            SHARED_DATASET,
            methods=MAIN_METHODS,
            assignments=["options.fake.fail_on=dog", "options.fake.size=64"],
            **common,
        )
        tiny_run(root / "other", SHARED_DATASET, methods=["fake"], assignments=["options.fake.size=64"], **common)
        write_report([root / "main", root / "other"], root / "report", baseline="base")
    finally:
        _restore(saved)
    return ReportRuns(main=root / "main", other=root / "other", report=root / "report", root=root)


WIDE_METHODS = [
    "base",
    "dreambooth",
    "dreambooth-no-prior",
    "dreambooth-wrong-class",
    "dreambooth-no-class",
    "dreambooth-lora",
    "textual-inversion",
]


@functools.cache
def wide_report() -> Path:
    """(Once) a report of seven methods on one subject, 4 images per prompt: an image grid far wider than a screen,
    a scatter plot with seven legend entries, and every warning a smoke run on a subset gets."""
    from reports.html import write_report

    root = Path(tempfile.mkdtemp(prefix="reports-wide-"))
    atexit.register(shutil.rmtree, root, True)
    saved = _env(root)
    try:
        tiny_run(
            root / "run",
            SHARED_DATASET,
            methods=WIDE_METHODS,
            subjects=["dog"],
            score=True,
            generate_pres=True,
            limit_prompts=1,
            images_per_prompt=4,
        )
        write_report([root / "run"], root / "report", baseline="base")
    finally:
        _restore(saved)
    return root / "report"
