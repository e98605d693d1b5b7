"""Paired comparisons between methods, within one run or across runs.

Two methods are compared only on the (subject, prompt, image) cells both have, with
per-subject means and a Wilcoxon signed-rank test over subjects
(`benchmark.metrics.statistics.paired_comparison`). This is what the leaderboard's
significance marks and `bench compare RUN_A RUN_B` print. Cells are matched by
position, not by seed: when the runs used different base seeds the pairs are not the
same noise, and `seed_mismatches` says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmark.errors import BenchError
from benchmark.metrics.registry import METRICS
from benchmark.metrics.report import comparisons_table, default_reference
from benchmark.metrics.statistics import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    SIGNIFICANCE_LEVEL,
    paired_comparison,
)
from reports.banner import pocket_banners, protocol_banners, report_banners
from reports.loading import MethodRun, ReportData, load_runs
from reports.scoring_match import scoring_mismatch

ALPHA = SIGNIFICANCE_LEVEL
COMPARISON_COLUMNS = [
    "method_a",
    "method_b",
    "metric",
    "mean_a",
    "mean_b",
    "diff",
    "ci_low",
    "ci_high",
    "p_value",
    "n_subjects",
    "n_cells",
    "seed_mismatches",
    "significant",
    "verdict",
]


def verdict(metric: str, diff: float, p_value: float, alpha: float = ALPHA) -> str:
    """'better', 'worse' (b against a, with the metric's direction) when p < alpha, else 'n.s.'."""
    if p_value is None or math.isnan(p_value) or p_value >= alpha or diff == 0:
        return "n.s."
    improves = diff > 0 if METRICS[metric].higher_is_better else diff < 0
    return "better" if improves else "worse"


def compare_methods(
    a: MethodRun,
    b: MethodRun,
    metrics: list[str] | None = None,
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> pd.DataFrame:
    """b against a on every metric both measured: one row per metric (diff = b - a)."""
    rows = []
    if a.cells.empty or b.cells.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    for metric in metrics or list(METRICS):
        if metric not in a.cells or metric not in b.cells or scoring_mismatch(a, b, metric):
            # a metric one lacks, or one scored otherwise on each side: no difference to take
            continue
        result = paired_comparison(
            a.cells, b.cells, metric, method_a=a.key, method_b=b.key, n_resamples=n_resamples, seed=seed
        )
        if result is None:
            continue
        rows.append(
            {
                "method_a": a.key,
                "method_b": b.key,
                "metric": metric,
                "mean_a": result.mean_a,
                "mean_b": result.mean_b,
                "diff": result.mean_diff,
                "ci_low": math.nan if result.ci_low is None else result.ci_low,
                "ci_high": math.nan if result.ci_high is None else result.ci_high,
                "p_value": result.p_value,
                "n_subjects": result.n_subjects,
                "n_cells": result.n_cells,
                "seed_mismatches": result.seed_mismatches,
                "significant": result.p_value < ALPHA,
                "verdict": verdict(metric, result.mean_diff, result.p_value),
            }
        )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def resolve_baseline(data: ReportData, baseline: str | None) -> MethodRun | None:
    """The named baseline (an error if absent), else `base`, else plain `dreambooth` (or a `dreambooth[...]`
    label), else the first scored method when there are several (two runs of different methods still get
    their paired comparison), else None (no marks).

    DreamBooth is the method the ablations and most comparisons are against; without it, the
    first method in load order is arbitrary (labels sort `dreambooth-no-class[...]` before
    `dreambooth[...]`), so it is only the last resort.
    """
    if baseline:
        return data.require(baseline)
    scored = [m for m in data.methods.values() if m.scores]
    by_label = {}
    for method in scored:
        # the first run's, as before when two runs share a label
        by_label.setdefault(method.label, method)
    reference = default_reference({label: method.name for label, method in by_label.items()})
    if reference is not None:
        return by_label[reference]
    return scored[0] if len(scored) > 1 else None


def baseline_comparisons(data: ReportData, baseline: MethodRun | None) -> pd.DataFrame:
    """Every other scored method against the baseline, metric by metric."""
    if baseline is None:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    frames = [
        compare_methods(baseline, method, data.metrics)
        for method in data.methods.values()
        if method.key != baseline.key and method.scores
    ]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COMPARISON_COLUMNS)


def comparisons_markdown(table: pd.DataFrame) -> str:
    """The comparison frame as the Markdown table `bench score` also prints (one implementation, in scoring)."""
    return comparisons_table(table.rename(columns={"diff": "mean_diff"}).to_dict(orient="records"))


def _pairs(
    data: ReportData, run_a: str, run_b: str, method_a: str | None = None, method_b: str | None = None
) -> list[tuple[MethodRun, MethodRun]]:
    first, second = data.runs
    in_a = {data.methods[k].label: data.methods[k] for k in first.method_keys if data.methods[k].scores}
    in_b = {data.methods[k].label: data.methods[k] for k in second.method_keys if data.methods[k].scores}
    for named, held, run, flag in ((method_a, in_a, run_a, "--a"), (method_b, in_b, run_b, "--b")):
        if named is not None and named not in held:
            has = ", ".join(held) or "none"
            raise BenchError(f"{flag} {named}: {run} has no scored method '{named}'; it has {has}")
    if method_a is not None:
        in_a = {method_a: in_a[method_a]}
    if method_b is not None:
        in_b = {method_b: in_b[method_b]}
    shared = [label for label in in_a if label in in_b]
    if shared:
        return [(in_a[label], in_b[label]) for label in shared]
    if len(in_a) == 1 and len(in_b) == 1:
        return [(next(iter(in_a.values())), next(iter(in_b.values())))]
    raise BenchError(
        f"nothing to pair: {run_a} has {', '.join(in_a) or 'no scored method'} and {run_b} has "
        f"{', '.join(in_b) or 'no scored method'}; name the two to compare with --a METHOD --b METHOD"
    )


def _pairs_within(
    data: ReportData, run: str, method_a: str | None, method_b: str | None
) -> list[tuple[MethodRun, MethodRun]]:
    """Two methods of one run (loaded once, so they keep their plain labels); with neither named, each method
    against itself (a check that the pairing gives 0)."""
    held = {method.label: method for method in data.methods.values() if method.scores}
    for named, flag in ((method_a, "--a"), (method_b, "--b")):
        if named is not None and named not in held:
            has = ", ".join(held) or "none"
            raise BenchError(f"{flag} {named}: {run} has no scored method '{named}'; it has {has}")
    if method_a is None and method_b is None:
        return [(method, method) for method in held.values()]
    if method_a is None or method_b is None:
        raise BenchError("within one run, name both methods: --a METHOD --b METHOD")
    return [(held[method_a], held[method_b])]


def compare_runs(run_a: Path, run_b: Path, method_a: str | None = None, method_b: str | None = None) -> str:
    """Markdown: paired differences (B - A) per metric for the methods both runs hold (or their single methods,
    or the two named)."""
    same = Path(run_a).resolve() == Path(run_b).resolve()
    data = load_runs([Path(run_a)] if same else [Path(run_a), Path(run_b)])
    pairs = (
        _pairs_within(data, str(run_a), method_a, method_b)
        if same
        else _pairs(data, str(run_a), str(run_b), method_a, method_b)
    )
    tables = [compare_methods(a, b, data.metrics) for a, b in pairs]
    table = (
        pd.concat([t for t in tables if not t.empty], ignore_index=True) if any(not t.empty for t in tables) else None
    )
    unpaired = [
        reason for a, b in pairs for metric in data.metrics if (reason := scoring_mismatch(a, b, metric)) is not None
    ]
    lines = [f"# Paired comparison: B = {run_b} against A = {run_a}", ""]
    if Path(run_a).resolve() == Path(run_b).resolve():
        if all(a.label == b.label for a, b in pairs):
            lines += [
                "A and B are the same run: every difference is 0 by construction (a check, not a comparison).",
                "",
            ]
        else:
            lines += [f"A and B are two methods of one run ({run_a}): pairs share subject, prompt, image and seed.", ""]
    banners = [*report_banners(data), *pocket_banners(data), *protocol_banners(data)]
    if banners:
        lines += [f"> **{line}**" for line in banners] + [""]
    lines += [f"Warning: {reason}." for reason in unpaired] + ([""] if unpaired else [])
    if table is None:
        lines.append(
            "No metric left to pair."
            if unpaired
            else "No shared (subject, prompt, image) cells: nothing can be paired."
        )
        return "\n".join(lines) + "\n"
    lines.append(comparisons_markdown(table))
    lines += [
        "",
        "Per-subject means over the (subject, prompt, image) cells both runs have; two-sided Wilcoxon signed-rank "
        "test over subjects; 95% CI: percentile bootstrap over subjects. Each p is for its own comparison, not "
        "corrected for the number of metrics and methods compared.",
    ]
    external = sorted({m.label for pair in pairs for m in pair if m.external})
    if external:
        lines.append(
            f"{', '.join(external)}: another tool's images (bench score --folder), with no recorded seeds: pairs "
            "share subject, prompt and image index, not the noise."
        )
    mismatched = table.loc[table["seed_mismatches"] > 0]
    if not mismatched.empty:
        lines.append(
            f"Warning: {int(mismatched['seed_mismatches'].max())} paired cell(s) have different seeds in the two "
            "runs (different base seed): the pairs are not the same noise."
        )
    incomplete = list(dict.fromkeys(m.key for pair in pairs for m in pair if not m.complete))
    if incomplete:
        lines.append(
            f"Incomplete (failed or missing subjects, or fewer prompts than the protocol): {', '.join(incomplete)}."
        )
    return "\n".join(lines) + "\n"
