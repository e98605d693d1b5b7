"""`write_report`: one or more runs -> a self-contained HTML report directory.

The report must be something a reviewer can open from an e-mail attachment or a
laptop with no network: `index.html` carries its CSS and JavaScript inline, loads
no font, script or stylesheet from anywhere, and links only to files written beside
it (thumbnails under images/, plots under plots/, CSV/LaTeX/Markdown exports).
Everything it shows comes from the tidy tables and the leaderboard object, so it
cannot disagree with the exports written in the same call.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from benchmark.errors import BenchError
from benchmark.metrics.registry import METRICS
from benchmark.store.run_dir import recorded_includes
from benchmark.weights_notice import WEIGHT_WARNINGS
from dataset.protocol import ATTRIBUTION
from reports import formatting, ownership
from reports.ablations import build_ablations
from reports.banner import (
    mixed_scoring_banners,
    pocket_banners,
    report_banners,
    smoke_run_banners,
    subset_banners,
    uncommitted_code_banners,
)
from reports.exports import PUBLISHED_CAVEAT, board_markdown, write_exports
from reports.gallery import IMAGES_DIR, THUMBNAIL_PX, build_grids
from reports.leaderboard import LEADERBOARD_METRICS, Leaderboard, build_leaderboard
from reports.loading import ReportData, load_runs
from reports.plots import fidelity_scatter, subject_bars
from reports.tables import failures_table, per_category_table, per_subject_table

PLOTS_DIR = "plots"
INDEX = "index.html"
# a report being built inside out_dir (see write_report)
STAGING_PREFIX = ".bench-report-partial-"
# in every index.html we write
GENERATOR = '<meta name="generator" content="dreambench-harness report">'


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        fmt=formatting.fmt,
        fmt_ci=formatting.fmt_ci,
        fmt_signed=formatting.fmt_signed,
        fmt_p=formatting.fmt_p,
        fmt_training_time=formatting.fmt_training_time,
        fmt_memory=formatting.fmt_memory,
        sortvalue=_sort_value,
        tojson_pretty=lambda value: json.dumps(value, indent=2, sort_keys=True, default=str),
    )
    env.globals.update(
        METRICS=METRICS,
        NA=formatting.NA,
        arrow=formatting.arrow,
        metric_header=formatting.metric_header,
        missing=formatting.missing,
        memory_unit=formatting.memory_unit,
        ci_text=formatting.ci_text,
        marks=formatting.SIGNIFICANCE_MARKS,
    )
    return env


def _sort_value(value) -> str:
    """The data-value a sortable cell carries: full precision, empty for 'not measured' (sorted last)."""
    return "" if formatting.missing(value) else repr(float(value))


def _run_metadata(data: ReportData) -> list[dict]:
    """What each run was: profile, models, protocol, seeds, versions, git revision, metric definitions."""
    out = []
    for run in data.runs:
        manifest = run.manifest
        scored = [data.methods[k].scores for k in run.method_keys if data.methods[k].scores]
        first = scored[0] if scored else {}
        env = manifest.get("environment", {})
        out.append(
            {
                "name": run.name,
                "path": str(run.path),
                "profile": run.profile,
                "meaningful": run.meaningful,
                "external": run.external,
                "protocol": manifest.get("protocol"),
                "dataset_sha256": manifest.get("dataset_sha256"),
                "dataset_dir": manifest.get("dataset_dir"),
                "created": manifest.get("created"),
                "models": manifest.get("models", {}),
                "seeds": _seeds(manifest),
                "identity": manifest.get("identity", {}),
                "packages": {**env.get("packages", {}), **{k: v for k, v in first.get("versions", {}).items()}},
                "git_revision": ", ".join(run.revisions) or "not a git checkout",
                "python": env.get("python"),
                "platform": env.get("platform"),
                "device": _device_line(manifest),
                "subjects": run.subjects,
                "methods": [
                    {
                        "key": key,
                        "description": data.methods[key].info.get("description", ""),
                        "options": data.methods[key].info.get("options", {}),
                        "version": data.methods[key].info.get("version", ""),
                        "imported_from": data.methods[key].info.get("imported_from"),
                        "plugin_code": data.methods[key].info.get("plugin_code"),
                        "plugin_files": recorded_includes(run.path),
                    }
                    for key in run.method_keys
                ],
                "metric_definitions": {m: first["metrics"][m] for m in METRICS if m in first.get("metrics", {})},
                "scoring_profile": first.get("scoring_profile"),
                "clip_t_text": _clip_t_texts(data, run.method_keys),
                "statistics": first.get("statistics", {}),
                "attribution": manifest.get("attribution"),
            }
        )
    return out


def _clip_t_texts(data: ReportData, keys: list[str]) -> str | None:
    """The run's CLIP-T text, or each method's when a re-scoring (`--keep-identifier`) made them differ."""
    texts = {key: data.methods[key].scores.get("clip_t_text") for key in keys if data.methods[key].scores}
    texts = {key: text for key, text in texts.items() if text}
    if len(set(texts.values())) <= 1:
        return next(iter(texts.values()), None)
    return "; ".join(f"{key}: {text}" for key, text in texts.items())


def _seeds(manifest: dict) -> dict:
    """The run's seeds; a scheme an earlier version described loosely is shown as the computation it was."""
    from benchmark.seeds import LEGACY_SEED_SCHEMES, SEED_SCHEME

    seeds = dict(manifest.get("seeds", {}))
    if seeds.get("scheme") in LEGACY_SEED_SCHEMES:
        seeds["scheme"] = SEED_SCHEME
    return seeds


def _device_line(manifest: dict) -> str:
    """The kind of device and, on CUDA, whether kernels were deterministic: what a reader needs to reproduce bytes."""
    kind = manifest.get("device_type", "not recorded")
    if kind != "cuda":
        return kind
    if manifest.get("deterministic_kernels"):
        return "cuda, deterministic kernels (--deterministic): the same GPU model and software repeat its bytes"
    return "cuda, default kernels: a rerun may differ in the last bits (--deterministic makes it repeat)"


def _differences(data: ReportData) -> list[str]:
    """Settings that differ between runs and make their numbers less comparable."""
    notes = []
    for key, label in (("protocol", "protocol"), ("dataset_sha256", "dataset"), ("profile", "model profile")):
        values = {str(run.manifest.get(key)) for run in data.runs}
        if len(values) > 1:
            notes.append(f"The runs differ in {label} ({', '.join(sorted(values))}): their numbers are not comparable.")
    subjects = {tuple(run.subjects) for run in data.runs}
    if len(subjects) > 1:
        notes.append("The runs cover different subjects: paired comparisons use the subjects both have.")
    runs = [run for run in data.runs if not run.external]
    seeds = {json.dumps(run.manifest.get("seeds", {}).get("base_seed")) for run in runs}
    if len(seeds) > 1:
        notes.append("The runs use different base seeds: paired cells are not the same noise.")
    external = [run.name for run in data.runs if run.external]
    if external and len(data.runs) > 1:
        notes.append(
            f"{', '.join(external)} holds another tool's images (bench score --folder): its pairs with the other "
            "runs share subject, prompt and image index, not the noise, and its training cost is not known."
        )
    return notes


def _pivot_per_subject(data: ReportData) -> list[dict]:
    """For each metric, subjects x methods (value, n) plus the oracle column, for the per-subject tables."""
    entries, kinds = {}, {}
    # methods in load order
    for r in per_subject_table(data).itertuples(index=False):
        entries[r.metric, r.subject, r.method] = r
        kinds.setdefault((r.metric, r.subject), r.kind)
    subjects = list(dict.fromkeys(s for run in data.runs for s in run.subjects))
    out = []
    for metric in data.metrics:
        rows = []
        for subject in subjects:
            cells, oracle = {}, math.nan
            for key, method in data.methods.items():
                hit = entries.get((metric, subject, key))
                if hit is not None:
                    cells[key] = {"value": float(hit.value), "n": int(hit.n)}
                    if math.isnan(oracle):
                        oracle = float(hit.oracle)
                elif subject in method.failures:
                    cells[key] = {"failed": str(method.failures[subject].get("error", ""))}
            kind = kinds.get((metric, subject), "")
            rows.append({"subject": subject, "kind": kind, "cells": cells, "oracle": oracle})
        out.append({"metric": metric, "rows": rows})
    return out


def _per_category(data: ReportData) -> list[dict]:
    """Per axis (kind, category), one row per (group, method) with its metrics, groups in table order."""
    table = per_category_table(data)
    out = []
    for axis, title in (("kind", "Live subjects vs objects"), ("category", "Prompt category")):
        cells: dict[tuple, dict] = {}
        for r in table[table["axis"] == axis].itertuples():
            cells.setdefault((r.group, r.method), {})[r.metric] = r
        groups = list(dict.fromkeys(group for group, _ in cells))
        rows = [
            {"group": group, "method": key, "cells": cells[group, key]}
            for group in groups
            for key in data.methods
            if (group, key) in cells
        ]
        out.append({"axis": axis, "title": title, "rows": rows})
    return out


@dataclass(frozen=True)
class WrittenReport:
    """What `write_report` wrote, with the leaderboard it built.

    The leaderboard's bootstrap comparisons are the costly part of a report, so a caller
    that also wants the board (`bench report` prints it) takes it from here instead of
    building it a second time.
    """

    # out_dir/index.html
    index: Path
    board: Leaderboard
    # the leaderboard as Markdown: leaderboard.md up to its ablations
    markdown: str


def write_report(
    runs: ReportData | Sequence[Path],
    out_dir: Path,
    *,
    baseline: str | None = None,
    thumbnail_px: int = THUMBNAIL_PX,
) -> WrittenReport:
    """Write out_dir/index.html (plus images/, plots/, CSV, LaTeX, Markdown) for the runs.

    `runs` are run directories, or runs already loaded. `baseline` names the method the
    significance marks compare against (default: `base` when a run has it, else
    `dreambooth`). Raises BenchError for a missing run, a run given twice, an unknown
    baseline, or an output directory that is a file, holds something other than an
    earlier report, or cannot be written.

    The report is built in a hidden staging folder inside out_dir and moved into place at
    the end, so a build that fails half-way (a bug, Ctrl-C) leaves out_dir as it was, and
    never as a folder of thumbnails without index.html that the next attempt would refuse.
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    data = runs if isinstance(runs, ReportData) else load_runs([Path(p) for p in runs])
    _require_distinct_runs(data)
    board = build_leaderboard(data, baseline)
    ablations = build_ablations(data)
    created = not out_dir.exists()
    staging = _staging_dir(out_dir)
    try:
        markdown = _build(data, board, ablations, staging, thumbnail_px)
        ownership.write_marker(staging)
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                # only if empty: nothing of the failed build reached it
                out_dir.rmdir()
        raise
    return WrittenReport(index=out_dir / INDEX, board=board, markdown=markdown)


def _require_distinct_runs(data: ReportData) -> None:
    """Refuse a run directory given twice (same path, or two paths to one directory).

    Its every row would appear twice, compared with itself. Dropping the copy instead would
    hide the likelier mistake, `bench report runs/A runs/A` typed for `runs/A runs/B`, behind
    a report that looks whole; `bench compare RUN RUN` (a run against itself) is unaffected.
    """
    seen: dict[tuple[int, int], Path] = {}
    for run in data.runs:
        try:
            stat = run.path.stat()
        except OSError:
            # loaded, so it existed: nothing to compare if it is gone now
            continue
        first = seen.setdefault((stat.st_dev, stat.st_ino), run.path)
        if first is not run.path:
            same = "is given twice" if str(first) == str(run.path) else f"is the same directory as {first}"
            raise BenchError(f"run directory {run.path} {same}: name each run once")


def _check_out_dir(out_dir: Path) -> None:
    """Refuse, before any slow work, a target that is a file, a folder of someone else's files, or an earlier
    report holding a file bench cannot prove it wrote (see reports.ownership)."""
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise BenchError(f"{out_dir} exists and is not a directory: choose an empty or new directory")
        if out_dir.is_dir():
            entries = [p for p in out_dir.iterdir() if not p.name.startswith(STAGING_PREFIX)]
            recorded = ownership.recorded_files(out_dir)
            if entries and recorded is None:
                raise BenchError(
                    f"{out_dir} is not empty and holds no earlier report written by bench (no {ownership.MARKER} "
                    "listing its files): choose an empty or new directory"
                )
            if entries:
                replaced = {INDEX, IMAGES_DIR, PLOTS_DIR, *(name.split("/", 1)[0] for name in recorded)}
                ownership.require_ours(out_dir, sorted(replaced), recorded)
    except OSError as exc:
        raise BenchError(f"cannot use {out_dir} for the report: {exc.strerror or exc}") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        # exists, owned by someone else
        return True
    return True


def _staging_dir(out_dir: Path) -> Path:
    """A fresh hidden folder inside out_dir (same file system: moving out of it is a rename).

    Inside rather than beside out_dir, so that a writable out_dir in a read-only parent
    still works. Its name carries the building process's id: staging folders of killed
    builds are removed first, never one a concurrent build is still filling.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for leftover in out_dir.glob(STAGING_PREFIX + "*"):
            pid = leftover.name[len(STAGING_PREFIX) :].split("-", 1)[0]
            if not (pid.isdigit() and _pid_alive(int(pid))):
                shutil.rmtree(leftover, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out_dir))
    except OSError as exc:
        raise BenchError(f"cannot write the report to {out_dir}: {exc.strerror or exc}") from None


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Swap the new report's files in for the earlier report's, all or nothing.

    The earlier report's entries (those the new one replaces, and its images/ and plots/,
    which may hold methods no longer in it) first move aside into the staging folder;
    if moving the new ones in fails, they move back. Only then is the old set deleted.
    Every file moved aside is checked first against the earlier report's marker (it may
    have changed while the new one was built): nothing bench did not write is deleted, and
    nothing else in out_dir is touched.
    """
    new_entries = sorted(staging.iterdir(), key=lambda p: (p.name != INDEX, p.name))
    names = dict.fromkeys([IMAGES_DIR, PLOTS_DIR, *(entry.name for entry in new_entries)])
    ownership.require_ours(out_dir, names, ownership.recorded_files(out_dir) or {})
    aside = staging / ".earlier"
    aside.mkdir()
    moved_aside, moved_in = [], []
    try:
        for name in names:
            target = out_dir / name
            if target.exists() or target.is_symlink():
                os.replace(target, aside / name)
                moved_aside.append(name)
        for entry in new_entries:
            os.replace(entry, out_dir / entry.name)
            moved_in.append(entry.name)
    except BaseException:
        # back into staging, which the caller removes
        for name in moved_in:
            os.replace(out_dir / name, staging / name)
        for name in moved_aside:
            os.replace(aside / name, out_dir / name)
        raise
    # now only the earlier report's files
    shutil.rmtree(staging, ignore_errors=True)


def _build(data: ReportData, board: Leaderboard, ablations: list, out_dir: Path, thumbnail_px: int) -> str:
    """Write every file of the report into out_dir (an empty folder); returns the leaderboard Markdown."""
    (out_dir / PLOTS_DIR).mkdir()
    grids = build_grids(data, out_dir, thumbnail_px)
    plots = []
    scatter = fidelity_scatter(board, data, out_dir / PLOTS_DIR / "dino_vs_clip_t.png")
    if scatter is not None:
        plots.append(
            {
                "src": f"{PLOTS_DIR}/{scatter.name}",
                "caption": "Subject fidelity (DINO) against prompt "
                "fidelity (CLIP-T): up and to the right is better. Bars: 95% CI over subjects. Dashed line: "
                "real-image oracle. Hollow diamonds: the paper's published numbers (other code and backbones; "
                "orientation only).",
            }
        )
    bars = subject_bars(data, out_dir / PLOTS_DIR / "per_subject.png")
    if bars is not None:
        plots.append(
            {
                "src": f"{PLOTS_DIR}/{bars.name}",
                "caption": "Each subject's mean per method with a 95% CI "
                "(bootstrap over the subject's prompts). A subject a method failed on has no bar.",
            }
        )
    markdown = board_markdown(board, data)
    exports = write_exports(data, board, out_dir, ablations, markdown=markdown)
    failures = failures_table(data).to_dict(orient="records")
    context = {
        "title": "DreamBench report: " + ", ".join(run.name for run in data.runs),
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "data": data,
        "runs": _run_metadata(data),
        "banners": report_banners(data),
        "banners_cover_all": not any(m.meaningful for m in data.methods.values()),
        "weights": WEIGHT_WARNINGS["random"],
        "pocket_banners": pocket_banners(data),
        "pocket": WEIGHT_WARNINGS["pocket"],
        "smoke_runs": smoke_run_banners(data),
        "subset_runs": subset_banners(data),
        "mixed_scoring": mixed_scoring_banners(data),
        "uncommitted_code": uncommitted_code_banners(data),
        "differences": _differences(data),
        "failures": failures,
        "board": board,
        "best": _best(board),
        "published_metrics": board.metrics or list(LEADERBOARD_METRICS[:3]),
        "comparisons": _comparison_rows(data, board),
        "ablations": ablations,
        "plots": plots,
        "per_subject": _pivot_per_subject(data),
        "per_category": _per_category(data),
        "grids": grids,
        "exports": [p.name for p in exports],
        "published_caveat": PUBLISHED_CAVEAT,
        "attribution": _attribution(data),
        "thumbnail_px": thumbnail_px,
    }
    html = _environment().get_template("report.html.j2").render(**context)
    (out_dir / INDEX).write_text(html, encoding="utf-8")
    return markdown


def _comparison_rows(data: ReportData, board) -> list[dict]:
    """The baseline comparisons pivoted to one row per method, one cell per metric."""
    rows = []
    for key, group in board.comparisons.groupby("method_b", sort=False):
        rows.append(
            {
                "method": key,
                "run": data.methods[key].run.name,
                "cells": {r["metric"]: r for r in group.to_dict(orient="records")},
                "n_subjects": int(group["n_subjects"].max()),
                "n_cells": int(group["n_cells"].max()),
            }
        )
    return rows


def _best(board) -> dict[str, str]:
    """Per metric, the complete measured row with the best mean (direction-aware), for bold type.

    Only a row best as printed: two means that read alike (0.744 and 0.744) are a tie, and bolding
    one of them would claim a difference the table does not show.
    """
    best = {}
    for metric in board.metrics:
        candidates = [r for r in board.rows if r.complete and not math.isnan(r.cells[metric].mean)]
        if not candidates:
            continue
        sign = 1 if METRICS[metric].higher_is_better else -1
        ranked = sorted(candidates, key=lambda r: sign * r.cells[metric].mean, reverse=True)
        printed = [formatting.fmt(row.cells[metric].mean) for row in ranked[:2]]
        if len(printed) > 1 and printed[0] == printed[1]:
            continue
        best[metric] = ranked[0].key
    return best


def _attribution(data: ReportData) -> str:
    """The DreamBench credit line recorded in run.json (the harness's own line for older runs)."""
    for run in data.runs:
        if run.manifest.get("attribution"):
            return str(run.manifest["attribution"])
    return ATTRIBUTION
