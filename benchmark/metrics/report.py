"""What scoring returns: per-method results, paired comparisons, and their Markdown form.

The Markdown is what `bench score` prints: one table per method (metric, mean, CI
at `statistics.CONFIDENCE`, n), the exact backbone id and pairing of every metric
beneath it, the split table, copy flags, images that could not be scored, and a
NOT MEANINGFUL banner whenever random weights produced or scored the images.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.metrics.embedding_cache import ImageProblem

# one spelling of numbers, shared with the reports
from benchmark.metrics.formatting import NA, fmt, fmt_ci, fmt_p, fmt_signed, metric_header
from benchmark.metrics.registry import METRICS
from benchmark.metrics.statistics import Estimate, PairedComparison, ci_label, too_few_subjects_note


@dataclass
class MethodScores:
    method: str
    meaningful: bool
    banner: str | None
    summary: dict[str, Estimate | None]
    oracle: dict[str, Estimate | None]
    per_subject: pd.DataFrame
    splits: dict
    flags: list[dict]
    problems: list[ImageProblem]
    # per image, as written to scores.jsonl
    rows: pd.DataFrame
    n_records: int
    scores_jsonl: Path
    scores_json: Path
    # metrics kept from an earlier scoring for only some images: (images with a value, images it applies to)
    partial_metrics: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class ScoreReport:
    run_dir: Path
    profile: str
    # metric id -> definition with backbone id and weights
    metrics: dict[str, dict]
    clip_t_text: str
    methods: dict[str, MethodScores]
    comparisons: list[PairedComparison] = field(default_factory=list)
    embeddings_computed: dict[str, int] = field(default_factory=dict)
    embeddings_reused: dict[str, int] = field(default_factory=dict)
    # what the images lack against the protocol, said before the table
    notes: list[str] = field(default_factory=list)
    # subject -> why its dataset images could not be used
    left_out: dict[str, str] = field(default_factory=dict)
    # method -> its protocol images' sizes ("32x32")
    image_sizes: dict[str, list[str]] = field(default_factory=dict)
    # the harness code that scored (recorded in each scores.json)
    git_revision: str | None = None

    @property
    def warnings(self) -> list[str]:
        """One line per image that could not be scored, with its path."""
        return [f"{name}: {problem}" for name, scores in self.methods.items() for problem in scores.problems]

    @property
    def subjects(self) -> set[str]:
        """The subjects with at least one scored image, over every method."""
        return {str(subject) for scores in self.methods.values() for subject in scores.rows.get("subject", [])}

    @property
    def computed_total(self) -> int:
        return sum(self.embeddings_computed.values())

    def leaderboard(self) -> str:
        """The compact table a run ends with: one row per method (and the real-image oracle), one column per metric,
        each cell its mean and CI; the per-method blocks, splits and paired tables are `markdown()`'s."""
        metrics = list(dict.fromkeys(m for scores in self.methods.values() for m in scores.summary))
        header = [f"{METRICS[m].name} {'↑' if METRICS[m].higher_is_better else '↓'}" for m in metrics]
        lines = [f"| method ({ci_label()}) | " + " | ".join(header) + " | n subjects |"]
        lines.append("| --- " * (len(metrics) + 2) + "|")

        def cell(estimate: Estimate | None) -> str:
            if estimate is None:
                return NA
            mean = fmt(estimate.mean, cell=(estimate.mean, estimate.ci_low, estimate.ci_high))
            return f"{mean} {_ci(estimate)}"

        oracle: dict[str, Estimate | None] = {}
        for name, scores in self.methods.items():
            known = [e for e in scores.summary.values() if e is not None]
            subjects = max((e.n_subjects for e in known), default=0)
            lines.append(f"| {name} | " + " | ".join(cell(scores.summary.get(m)) for m in metrics) + f" | {subjects} |")
            for metric, estimate in scores.oracle.items():
                oracle.setdefault(metric, estimate)
        if any(e is not None for e in oracle.values()):
            row = " | ".join(cell(oracle.get(m)) if m in oracle else "" for m in metrics)
            lines.append(f"| real images (oracle) | {row} | |")
        parts = ["\n".join(f"> **Note**: {note}" for note in self.notes)] if self.notes else []
        banners = dict.fromkeys(scores.banner for scores in self.methods.values() if scores.banner)
        parts += [f"> **NOT MEANINGFUL**: {banner}" for banner in banners]
        parts.append("\n".join(lines))
        return "\n\n".join(parts) + "\n"

    def markdown(self) -> str:
        parts = ["\n".join(f"> **Note**: {note}" for note in self.notes)] if self.notes else []
        parts += [_method_markdown(scores) for scores in self.methods.values()]
        if self.comparisons:
            parts.append(_comparisons_markdown(self.comparisons))
        parts.append(_definitions_markdown(self))
        return "\n\n".join(parts) + "\n"


SCORING_KEYS = (("backbone", "backbone_id"), ("weights", "weights"))


def scoring_signature(scores: dict, metric: str) -> tuple:
    """What decides a value of `metric` besides the images' content, from a scores.json payload: backbone (with its
    preprocessing), weights, for CLIP-T the text and for DIV the image size. Two values are one measurement only
    where these agree (`bench score`'s own comparisons and the reports both ask this); a part a scores.json does
    not record is left out, so older scorings are not told apart."""
    definition = (scores.get("metrics") or {}).get(metric) or {}
    parts = [(what, definition[key]) for what, key in SCORING_KEYS if definition.get(key) is not None]
    if metric == "clip-t" and scores.get("clip_t_text"):
        parts.append(("text", scores["clip_t_text"]))
    # LPIPS at the images' own resolution
    if metric == "div" and scores.get("image_sizes"):
        parts.append(("image size", ", ".join(scores["image_sizes"])))
    return tuple(parts)


def _ci(estimate: Estimate | None) -> str:
    if estimate is None:
        return NA
    return fmt_ci(estimate.ci_low, estimate.ci_high, cell=(estimate.mean, estimate.ci_low, estimate.ci_high))


def _row(label: str, estimate: Estimate | None, missing: str) -> str:
    if estimate is None:
        return f"| {label} | {missing} | | | |"
    mean = fmt(estimate.mean, cell=(estimate.mean, estimate.ci_low, estimate.ci_high))
    return f"| {label} | {mean} | {_ci(estimate)} | {estimate.n_subjects} | {estimate.n_images} |"


def _method_markdown(scores: MethodScores) -> str:
    lines = [f"## {scores.method}", ""]
    if scores.banner:
        lines += [f"> **NOT MEANINGFUL**: {scores.banner}", ""]
    lines += [f"| metric | mean | {ci_label()} | n subjects | n images |", "| --- | --- | --- | --- | --- |"]
    for metric, estimate in scores.summary.items():
        definition = METRICS[metric]
        arrow = "↑" if definition.higher_is_better else "↓"
        missing = f"{NA} (no prior-preservation images)" if metric == "pres" else f"{NA} (no scorable images)"
        lines.append(_row(f"{definition.name} {arrow}", estimate, missing))
    for metric, estimate in scores.oracle.items():
        lines.append(_row(f"real images (oracle) {METRICS[metric].name}", estimate, NA))
    split_table = _splits_markdown(scores)
    if split_table:
        lines += ["", split_table]
    if scores.flags:
        lines += ["", "Above the real-image oracle (the method may be copying its input images):"]
        for flag in scores.flags:
            name = METRICS[flag["metric"]].name
            lines.append(f"- {flag['subject']}: {name} {fmt(flag['value'])} > oracle {fmt(flag['oracle'])}")
    if scores.problems:
        lines += ["", f"{len(scores.problems)} image(s) could not be scored and are left out:"]
        lines += [f"- {problem}" for problem in scores.problems]
    return "\n".join(lines)


def _definitions_markdown(report: ScoreReport) -> str:
    lines = [
        f"Definitions (scoring profile `{report.profile}`; raw cosines and LPIPS distances, never rescaled; "
        f"{ci_label()}: percentile bootstrap over subjects, seeded):"
    ]
    for info in report.metrics.values():
        lines.append(f"- {info['name']}: `{info['backbone_id']}` (weights {info['weights']}); {info['pairing']}")
    lines.append(f"- CLIP-T text: {report.clip_t_text}")
    return "\n".join(lines)


def _splits_markdown(scores: MethodScores) -> str:
    metrics = list(scores.summary)
    rows = []
    for axis in ("kind", "category"):
        for name, estimates in scores.splits.get(axis, {}).items():
            cells = []
            for metric in metrics:
                estimate = estimates.get(metric)
                cells.append("" if estimate is None else f"{fmt(estimate.mean)} ({estimate.n_subjects})")
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    header = "| split (n subjects) | " + " | ".join(METRICS[m].name for m in metrics) + " |"
    return "\n".join([header, "| --- |" + " --- |" * len(metrics), *rows])


def _comparisons_markdown(comparisons: list[PairedComparison]) -> str:
    lines = [
        "## Paired comparisons (per-subject means over shared (subject, prompt, image) cells; Wilcoxon signed-rank)",
        "",
        comparisons_table(c.to_dict() for c in comparisons),
    ]
    return "\n".join(lines)


def comparisons_table(comparisons: Iterable[Mapping]) -> str:
    """Paired comparisons as one Markdown table, for `bench score` and `bench compare` alike.

    It lives here rather than in `reports` because scoring sits below the reports: `reports.comparisons`
    may import this module, never the other way round. Rows are mappings with `PairedComparison`'s
    field names, so the reports' comparison frame (records, `diff` renamed) and scoring's dataclasses
    both fit without either converting to the other's type.
    """
    lines = [
        f"| metric | A | B | mean A | mean B | B - A | {ci_label()} | p | n subjects | n cells |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    comparisons = list(comparisons)
    for c in comparisons:
        # the difference and its CI in one notation
        diffs = (c["mean_diff"], c["ci_low"], c["ci_high"])
        lines.append(
            f"| {metric_header(c['metric'])} | {c['method_a']} | {c['method_b']} | {fmt(c['mean_a'])} | "
            f"{fmt(c['mean_b'])} | {fmt_signed(c['mean_diff'], cell=diffs)} | "
            f"{fmt_ci(c['ci_low'], c['ci_high'], cell=diffs)} | {fmt_p(c['p_value'])} | {c['n_subjects']} | "
            f"{c['n_cells']} |"
        )
    counts = [int(c["n_subjects"]) for c in comparisons]
    note = too_few_subjects_note(min(counts), most=max(counts)) if counts and min(counts) else None
    if note:
        lines += ["", note]
    return "\n".join(lines)


# in order of preference
DEFAULT_REFERENCES = ("base", "dreambooth")


def default_reference(methods: dict[str, str]) -> str | None:
    """Of `methods` (label -> registered name), the label to compare the others against: `base`, else
    `dreambooth`, each by exact label first, then any label of that method (`dreambooth[steps=3]`).

    DreamBooth is what the ablations and most comparisons are against; without either, the
    first in some order would be arbitrary, so callers decide that last resort themselves.
    """
    for name in DEFAULT_REFERENCES:
        exact = [label for label in methods if label == name]
        found = exact or [label for label, registered in methods.items() if registered == name]
        if found:
            return found[0]
    return None
