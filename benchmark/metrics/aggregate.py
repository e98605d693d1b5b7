"""From per-image scores to the numbers a paper reports.

Every figure is a macro mean: first the mean within each subject, then the mean
over subjects, so a subject with more images or more real photos weighs the same as
any other (DreamBooth's protocol). Splits (live/object, prompt category) are macro
means over the subjects that have images in the split. Each figure carries its CI
over subjects and the number of images behind it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.metrics.registry import ORACLE_METRICS
from benchmark.metrics.statistics import Estimate, macro_estimate

# scored on protocol images
IMAGE_METRICS = ("dino", "clip-i", "clip-t", "div")
# scored on prior-preservation images
PRIOR_METRICS = ("pres",)


def _protocol(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[~rows["prior"]]


def _subject_means(rows: pd.DataFrame, metric: str) -> pd.Series:
    """Per-subject mean of a per-image metric (DIV: mean over prompts of the per-prompt pair mean)."""
    values = rows[["subject", "prompt_index", metric]].dropna(subset=[metric])
    if metric == "div":
        # Each image's DIV value is its mean distance to the other images of its prompt, so the
        # mean within a prompt is that prompt's mean pairwise distance; prompts then weigh equally.
        values = values.groupby(["subject", "prompt_index"], sort=False)[metric].mean().reset_index()
    return values.groupby("subject", sort=False)[metric].mean()


def _rows_for(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    return rows[rows["prior"]] if metric in PRIOR_METRICS else _protocol(rows)


def per_subject_table(rows: pd.DataFrame, oracle: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per subject: kind, each metric's subject mean and image count, and the oracle."""
    subjects = pd.Index(pd.unique(rows["subject"]), name="subject")
    table = pd.DataFrame(index=subjects)
    table["kind"] = rows.groupby("subject", sort=False)["kind"].first()
    for metric in metrics:
        selected = _rows_for(rows, metric)
        table[metric] = _subject_means(selected, metric)
        table[f"n_{metric}"] = selected.groupby("subject", sort=False)[metric].count()
    for metric in ORACLE_METRICS:
        if metric in metrics and metric in oracle:
            table[f"oracle-{metric}"] = oracle[metric]
    if "n_real" in oracle:
        table["n_real"] = oracle["n_real"]
    count_columns = [c for c in table.columns if c.startswith("n_")]
    table[count_columns] = table[count_columns].fillna(0).astype(int)
    return table


def summarize(rows: pd.DataFrame, table: pd.DataFrame, metrics: list[str], **options) -> dict[str, Estimate | None]:
    """Macro mean and CI of each metric; n images = images with a value for that metric."""
    return {metric: macro_estimate(table[metric], int(table[f"n_{metric}"].sum()), **options) for metric in metrics}


def oracle_summary(table: pd.DataFrame, metrics: list[str], **options) -> dict[str, Estimate | None]:
    """The real-image oracle over the same subjects as the method (n images = real images)."""
    out = {}
    for metric in ORACLE_METRICS:
        column = f"oracle-{metric}"
        if metric in metrics and column in table:
            n_real = int(table.loc[table[column].notna(), "n_real"].sum()) if "n_real" in table else 0
            out[metric] = macro_estimate(table[column], n_real, **options)
    return out


def splits(rows: pd.DataFrame, metrics: list[str], **options) -> dict[str, dict[str, dict[str, Estimate | None]]]:
    """Macro means within live/object subjects and within each prompt category."""
    out: dict[str, dict[str, dict[str, Estimate | None]]] = {"kind": {}, "category": {}}
    for kind in ("live", "object"):
        subset = rows[rows["kind"] == kind]
        if subset.empty:
            continue
        out["kind"][kind] = _estimates(subset, metrics, **options)
    protocol = _protocol(rows)
    for category in pd.unique(protocol["category"]):
        subset = protocol[protocol["category"] == category]
        out["category"][str(category)] = _estimates(subset, [m for m in metrics if m not in PRIOR_METRICS], **options)
    return out


def _estimates(rows: pd.DataFrame, metrics: list[str], **options) -> dict[str, Estimate | None]:
    result = {}
    for metric in metrics:
        selected = _rows_for(rows, metric)
        result[metric] = macro_estimate(_subject_means(selected, metric), int(selected[metric].count()), **options)
    return result


def copy_flags(table: pd.DataFrame) -> list[dict]:
    """Subjects where the method beats the real-image oracle: its images resemble the real photos more than
    the real photos resemble each other, i.e. it is (nearly) reproducing its training images."""
    flags = []
    for metric in ORACLE_METRICS:
        column = f"oracle-{metric}"
        if metric not in table or column not in table:
            continue
        above = table[np.isfinite(table[metric]) & (table[metric] > table[column])]
        for subject, row in above.iterrows():
            flags.append(
                {"subject": subject, "metric": metric, "value": float(row[metric]), "oracle": float(row[column])}
            )
    return flags
