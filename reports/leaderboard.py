"""The leaderboard as one structured object: measured rows, the real-image oracle, the published rows.

HTML, Markdown, CSV and LaTeX all render this object, so they show the same numbers,
the same significance marks and the same incompleteness warnings. The three kinds of
row are separate fields on purpose: a measured row, the oracle of our own run, and a
number printed in a paper are never one list that a sort or a filter could mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from benchmark.metrics.registry import ORACLE_METRICS
from reports.comparisons import baseline_comparisons, resolve_baseline
from reports.loading import ReportData
from reports.published import LEADERBOARD_TABLE, PUBLISHED, PublishedRow
from reports.tables import ESTIMATE_COLUMNS, estimate_fields, oracle_table, training_cost

# the order the paper reads them
LEADERBOARD_METRICS = ("dino", "clip-i", "clip-t", "pres", "div")


@dataclass
class Cell:
    """One metric of one method: macro mean, 95% CI, n, and how it compares with the baseline."""

    mean: float
    ci_low: float
    ci_high: float
    n_subjects: int
    n_images: int
    # 'better' | 'worse' | 'n.s.' against the baseline; None: not compared
    verdict: str | None = None
    diff: float = math.nan
    diff_ci_low: float = math.nan
    diff_ci_high: float = math.nan
    p_value: float = math.nan


@dataclass
class Row:
    key: str
    label: str
    name: str
    run: str
    complete: bool
    status: str
    meaningful: bool
    scored: bool
    # subjects with any metric value (MethodRun.measured_subjects)
    n_subjects_scored: int
    n_subjects_expected: int
    cells: dict[str, Cell]
    training: dict
    is_baseline: bool = False
    copy_flags: list[dict] = field(default_factory=list)
    problems: int = 0


@dataclass
class OracleRow:
    run: str
    subjects: list[str]
    cells: dict[str, Cell]


@dataclass
class Leaderboard:
    metrics: list[str]
    rows: list[Row]
    oracle: list[OracleRow]
    published: list[PublishedRow]
    baseline: str | None
    comparisons: pd.DataFrame

    @property
    def incomplete(self) -> list[Row]:
        return [row for row in self.rows if not row.complete]

    @property
    def significance_note(self) -> str | None:
        """Why no mark can appear, when the comparisons pair too few subjects for any p below 0.05."""
        from benchmark.metrics.statistics import too_few_subjects_note

        if self.comparisons.empty:
            return None
        fewest, most = int(self.comparisons["n_subjects"].min()), int(self.comparisons["n_subjects"].max())
        return too_few_subjects_note(fewest, most=most) if fewest else None


def build_leaderboard(data: ReportData, baseline: str | None = None) -> Leaderboard:
    """Rows in load order with the baseline first; cells marked against the baseline (see comparisons)."""
    metrics = [m for m in LEADERBOARD_METRICS if m in data.metrics]
    base = resolve_baseline(data, baseline)
    comparisons = baseline_comparisons(data, base)
    # one row per (method, metric) against the baseline; the baseline itself is never in it
    against_base = {(hit["method_b"], hit["metric"]): hit for hit in comparisons.to_dict(orient="records")}
    rows = []
    for method in data.methods.values():
        cells = {}
        for metric in metrics:
            cell = Cell(**estimate_fields(method.estimate(metric)))
            hit = against_base.get((method.key, metric))
            if hit is not None:
                cell.verdict = str(hit["verdict"])
                cell.diff, cell.p_value = float(hit["diff"]), float(hit["p_value"])
                cell.diff_ci_low, cell.diff_ci_high = float(hit["ci_low"]), float(hit["ci_high"])
            cells[metric] = cell
        scores = method.scores or {}
        rows.append(
            Row(
                key=method.key,
                label=method.label,
                name=method.name,
                run=method.run.name,
                complete=method.complete,
                status=method.status,
                meaningful=method.meaningful,
                scored=method.scores is not None,
                n_subjects_scored=len(method.measured_subjects),
                n_subjects_expected=len(method.run.subjects),
                cells=cells,
                training=training_cost(method),
                is_baseline=base is not None and method.key == base.key,
                copy_flags=list(scores.get("flags", [])),
                problems=len(scores.get("problems", [])),
            )
        )
    # stable: the baseline first, the rest in load order
    rows.sort(key=lambda row: not row.is_baseline)
    oracle: list[OracleRow] = []
    table = oracle_table(data)
    for run_name, group in table.groupby("run", sort=False):
        cells = {r["metric"]: Cell(**{c: r[c] for c in ESTIMATE_COLUMNS}) for _, r in group.iterrows()}
        subjects = str(group["subjects"].iloc[0]).split(",")
        same = [o for o in oracle if o.subjects == subjects and _same_cells(o.cells, cells)]
        # runs on the same subjects and dataset share one oracle row
        if same:
            same[0].run = f"{same[0].run}, {run_name}"
            continue
        oracle.append(OracleRow(str(run_name), subjects, cells))
    published = [row for row in PUBLISHED if row.table == LEADERBOARD_TABLE]
    return Leaderboard(metrics, rows, oracle, published, None if base is None else base.key, comparisons)


def _same_cells(a: dict[str, Cell], b: dict[str, Cell]) -> bool:
    return a.keys() == b.keys() and all(
        math.isclose(a[k].mean, b[k].mean, rel_tol=0, abs_tol=1e-12)
        or (math.isnan(a[k].mean) and math.isnan(b[k].mean))
        for k in a
    )


def leaderboard_frame(board: Leaderboard) -> pd.DataFrame:
    """Measured rows and the oracle, wide (one line per row): the CSV export. Published rows are not in it."""
    lines = []
    for row in board.rows:
        line = {
            "row": "method",
            "method": row.key,
            "run": row.run,
            "complete": row.complete,
            "status": row.status,
            "meaningful": row.meaningful,
            # another tool's images: no seeds, no training record
            "external": bool(row.training.get("external")),
            "baseline": board.baseline or "",
        }
        for metric in board.metrics:
            cell = row.cells[metric]
            line.update(_cell_columns(metric, cell))
            line.update(
                {
                    f"{metric}_vs_baseline": cell.verdict or "",
                    f"{metric}_diff_vs_baseline": cell.diff,
                    f"{metric}_p_vs_baseline": cell.p_value,
                }
            )
        line.update(
            {
                "train_seconds": row.training["train_seconds"],
                "train_hours": row.training["train_hours"],
                "train_device": row.training["device"],
                "train_hardware": row.training["hardware"],
                "peak_memory_mb": row.training["peak_memory_mb"],
            }
        )
        lines.append(line)
    for oracle in board.oracle:
        line = {"row": "real-image oracle", "method": "real images (oracle)", "run": oracle.run, "complete": True}
        for metric in board.metrics:
            cell = oracle.cells.get(metric) if metric in ORACLE_METRICS else None
            if cell is not None:
                line.update(_cell_columns(metric, cell))
        lines.append(line)
    frame = pd.DataFrame(lines)
    counts = [c for c in frame.columns if c.endswith(("_n_subjects", "_n_images"))]
    # counts stay integers beside the oracle's empty cells
    frame[counts] = frame[counts].astype("Int64")
    return frame


def published_frame(board: Leaderboard) -> pd.DataFrame:
    """The published rows the leaderboard shows (its own CSV), each with source and backbone."""
    lines = []
    for row in board.published:
        line = {"source": row.source, "setting": row.setting, "backbone": row.backbone, "published": True}
        for metric in board.metrics:
            if metric in row.values:
                line[metric] = row.values[metric]
        lines.append(line)
    return pd.DataFrame(lines)


def _cell_columns(metric: str, cell) -> dict:
    """A leaderboard cell as flat CSV columns: mean, CI and the counts behind it."""
    return {
        f"{metric}_mean": cell.mean,
        f"{metric}_ci_low": cell.ci_low,
        f"{metric}_ci_high": cell.ci_high,
        f"{metric}_n_subjects": cell.n_subjects,
        f"{metric}_n_images": cell.n_images,
    }
