"""The report's figures as PNG files (matplotlib, Agg canvas, no pyplot global state).

Two figures answer the two questions a reader asks first: where does each method sit
between subject fidelity and prompt fidelity (DINO against CLIP-T, with CIs, the
real-image oracle and the paper's points for orientation), and which subjects does a
method get right (per-subject bars with CIs over prompts).
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmark.metrics.registry import METRICS
from benchmark.weights_notice import WEIGHT_WARNINGS
from reports.leaderboard import Leaderboard
from reports.loading import ReportData
from reports.tables import subject_intervals

# figure error bars only; the tables use the scoring default
PLOT_BOOTSTRAP_RESAMPLES = 2000
DPI = 110


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _not_meaningful_stamp(figure: Figure, data: ReportData) -> None:
    if not data.meaningful:
        figure.text(
            0.5,
            0.5,
            WEIGHT_WARNINGS["random"]["stamp"],
            ha="center",
            va="center",
            fontsize=28,
            color="red",
            alpha=0.18,
            rotation=20,
            weight="bold",
        )


def fidelity_scatter(board: Leaderboard, data: ReportData, path: Path) -> Path | None:
    """DINO (subject fidelity) against CLIP-T (prompt fidelity), one point per method with 95% CIs."""
    if not {"dino", "clip-t"} <= set(board.metrics):
        return None
    figure = Figure(figsize=(7.5, 5.2))
    axes = figure.add_subplot()
    colors = _colors(len(board.rows))
    for color, row in zip(colors, board.rows, strict=True):
        x, y = row.cells["clip-t"], row.cells["dino"]
        if math.isnan(x.mean) or math.isnan(y.mean):
            continue
        xerr = None if math.isnan(x.ci_low) else [[x.mean - x.ci_low], [x.ci_high - x.mean]]
        yerr = None if math.isnan(y.ci_low) else [[y.mean - y.ci_low], [y.ci_high - y.mean]]
        label = row.key + ("" if row.complete else " (INCOMPLETE)")
        axes.errorbar(
            x.mean,
            y.mean,
            xerr=xerr,
            yerr=yerr,
            fmt="o" if row.complete else "x",
            color=color,
            capsize=3,
            label=label,
            markersize=7,
        )
    for oracle in board.oracle:
        cell = oracle.cells.get("dino")
        if cell is not None and not math.isnan(cell.mean):
            axes.axhline(cell.mean, color="0.3", linestyle="--", linewidth=1)
            axes.annotate(
                f"real images (oracle) DINO, {oracle.run}",
                (0.01, cell.mean),
                xycoords=("axes fraction", "data"),
                fontsize=7,
                color="0.3",
                va="bottom",
            )
    for row in board.published:
        dino, clip_t = row.values.get("dino"), row.values.get("clip-t")
        if dino is None or clip_t is None:
            continue
        axes.scatter([clip_t], [dino], marker="D", facecolors="none", edgecolors="0.5", s=40)
        axes.annotate(
            f"published: {row.setting}",
            (clip_t, dino),
            fontsize=7,
            color="0.45",
            xytext=(4, 4),
            textcoords="offset points",
        )
    axes.set_xlabel("CLIP-T  (prompt fidelity, higher is better)")
    axes.set_ylabel("DINO  (subject fidelity, higher is better)")
    axes.set_title("Subject fidelity vs prompt fidelity (mean over subjects, 95% CI)")
    axes.grid(alpha=0.3)
    # Beside the axes, never over a point: with several methods "best" still lands on data or a CI bar.
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    _not_meaningful_stamp(figure, data)
    return _save(figure, path)


def subject_bars(data: ReportData, path: Path, metrics: tuple[str, ...] = ("dino", "clip-i", "clip-t")) -> Path | None:
    """Per-subject means for each metric and method, with 95% CIs (bootstrap over the subject's prompts)."""
    metrics = tuple(m for m in metrics if m in data.metrics)
    methods = [m for m in data.methods.values() if m.scores and not m.cells.empty]
    if not metrics or not methods:
        return None
    subjects = [s for run in data.runs for s in run.subjects]
    subjects = list(dict.fromkeys(subjects))
    width = max(7.0, 0.9 * len(subjects) * max(1, len(methods)) / 3 + 2)
    figure = Figure(figsize=(min(width, 40), 2.8 * len(metrics) + 0.6))
    colors = _colors(len(methods))
    bar = 0.8 / len(methods)
    for index, metric in enumerate(metrics):
        axes = figure.add_subplot(len(metrics), 1, index + 1)
        for offset, (color, method) in enumerate(zip(colors, methods, strict=True)):
            table = subject_intervals(method, metric, n_resamples=PLOT_BOOTSTRAP_RESAMPLES).set_index("subject")
            xs, ys, low, high = [], [], [], []
            for position, subject in enumerate(subjects):
                if subject not in table.index:
                    continue
                row = table.loc[subject]
                xs.append(position - 0.4 + bar * (offset + 0.5))
                ys.append(row["mean"])
                # the mean (over images, scores.json) can fall just outside the CI (over prompt means) when
                # a prompt lost an unreadable image; matplotlib refuses a negative error bar
                low.append(0 if math.isnan(row["ci_low"]) else max(0.0, row["mean"] - row["ci_low"]))
                high.append(0 if math.isnan(row["ci_high"]) else max(0.0, row["ci_high"] - row["mean"]))
            axes.bar(
                xs,
                ys,
                width=bar,
                color=color,
                yerr=[low, high],
                capsize=2,
                label=method.key,
                error_kw={"linewidth": 0.8},
            )
        axes.set_xticks(range(len(subjects)))
        axes.set_xticklabels(
            subjects, rotation=45 if len(subjects) > 8 else 0, ha="right" if len(subjects) > 8 else "center", fontsize=8
        )
        definition = METRICS[metric]
        better = "higher" if definition.higher_is_better else "lower"
        axes.set_ylabel(f"{definition.name} ({better} is better)", fontsize=8)
        axes.grid(axis="y", alpha=0.3)
        if index == 0:
            handles, labels = axes.get_legend_handles_labels()
    figure.suptitle("Per subject: mean over the subject's images, 95% CI (bootstrap over prompts)", fontsize=11)
    rows = math.ceil(len(methods) / 4)
    figure.legend(
        handles,
        labels,
        loc="upper center",
        ncol=min(4, len(methods)),
        fontsize=8,
        bbox_to_anchor=(0.5, 1 - 0.35 / figure.get_figheight()),
    )
    figure.tight_layout(rect=(0, 0, 1, 1 - (0.45 + 0.2 * rows) / figure.get_figheight()))
    _not_meaningful_stamp(figure, data)
    return _save(figure, path)


def _colors(n: int) -> list:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(i % 10) for i in range(n)]
