"""Tidy pandas tables built from loaded runs: what every output (HTML, Markdown, CSV, LaTeX) prints.

One builder per table, each returning a long ("tidy") frame with one number per row and
its uncertainty and sample size beside it, so exports never recompute anything and a
test can compare any cell with scores.json directly. Measured rows carry
`published=False`; the paper's rows live only in `reports.published` and are never
concatenated into these frames.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmark.metrics.registry import ORACLE_METRICS
from reports.loading import MethodRun, ReportData

# what an hour of training was spent on
DEVICE_KINDS = {"cpu": "cpu", "cuda": "gpu", "mps": "gpu", "xpu": "gpu"}
ESTIMATE_COLUMNS = ["mean", "ci_low", "ci_high", "n_subjects", "n_images"]


def estimate_fields(estimate: dict | None) -> dict:
    if not estimate:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n_subjects": 0, "n_images": 0}
    return {
        "mean": _num(estimate.get("mean")),
        "ci_low": _num(estimate.get("ci_low")),
        "ci_high": _num(estimate.get("ci_high")),
        "n_subjects": int(estimate.get("n_subjects") or 0),
        "n_images": int(estimate.get("n_images") or 0),
    }


def _num(value) -> float:
    return math.nan if value is None else float(value)


def metric_table(data: ReportData) -> pd.DataFrame:
    """Methods x metrics (long): method, run, metric, mean, ci_low, ci_high, n_subjects, n_images, complete."""
    rows = []
    for method in data.methods.values():
        for metric in data.metrics:
            rows.append(
                {
                    "method": method.key,
                    "run": method.run.name,
                    "metric": metric,
                    **estimate_fields(method.estimate(metric)),
                    "complete": method.complete,
                    "published": False,
                }
            )
    return pd.DataFrame(rows, columns=["method", "run", "metric", *ESTIMATE_COLUMNS, "complete", "published"])


def training_cost(method: MethodRun) -> dict:
    """Total training time and peak memory over the method's subjects, from artifact.json.

    Device is part of the number: an hour of CPU is not an hour of GPU, so the unit says which.
    """
    trained = [a for a in method.artifacts.values() if a.get("train_seconds") is not None]
    seconds = float(sum(float(a["train_seconds"]) for a in trained)) if trained else math.nan
    memory = [float(a["peak_memory_mb"]) for a in trained if a.get("peak_memory_mb") is not None]
    devices = sorted({DEVICE_KINDS.get(str(a.get("device", "")).split(":")[0], "unknown") for a in trained})
    hardware = sorted({_hardware(a) for a in trained})
    return {
        "method": method.key,
        "run": method.run.name,
        "trained_subjects": len(trained),
        "train_seconds": seconds,
        "train_hours": seconds / 3600 if trained else math.nan,
        "peak_memory_mb": max(memory) if memory else math.nan,
        "device": ",".join(devices) if devices else "none",
        "hardware": "; ".join(hardware) if hardware else "none",
        # trained elsewhere, if at all: its cost is unknown, not zero
        "external": method.external,
    }


def _hardware(artifact: dict) -> str:
    """'NVIDIA H100 80GB HBM3' or 'cpu' from an artifact's record; its device kind for one made before it was kept."""
    recorded = artifact.get("hardware")
    if recorded:
        kind, _, model = str(recorded).partition(":")
        return model or kind
    return str(artifact.get("device", "unknown")).split(":")[0] + " (model not recorded)"


def training_table(data: ReportData) -> pd.DataFrame:
    """One row per method: trained_subjects, train_seconds, train_hours, peak_memory_mb, device, hardware."""
    return pd.DataFrame([training_cost(m) for m in data.methods.values()])


def failures_table(data: ReportData) -> pd.DataFrame:
    """One row per failed (method, subject) cell with its error line."""
    rows = [
        {"method": m.key, "run": m.run.name, "subject": subject, "error": str(f.get("error", "unknown error"))}
        for m in data.methods.values()
        for subject, f in sorted(m.failures.items())
    ]
    return pd.DataFrame(rows, columns=["method", "run", "subject", "error"])


def oracle_table(data: ReportData) -> pd.DataFrame:
    """The real-image oracle per run (DINO, CLIP-I between distinct real images), over the run's subjects.

    Taken from the scored method of the run that covers the most subjects, so one
    incomplete method does not shrink the oracle; `subjects` says which it covers.
    """
    rows = []
    for run in data.runs:
        scored = [data.methods[k] for k in run.method_keys if data.methods[k].scores]
        if not scored:
            continue
        best = max(scored, key=lambda m: len(m.scored_subjects))
        for metric in ORACLE_METRICS:
            estimate = best.scores.get("oracle", {}).get(metric)
            if estimate is None and metric not in best.scores.get("oracle", {}):
                continue
            rows.append(
                {
                    "run": run.name,
                    "metric": metric,
                    **estimate_fields(estimate),
                    "subjects": ",".join(best.scored_subjects),
                }
            )
    return pd.DataFrame(rows, columns=["run", "metric", *ESTIMATE_COLUMNS, "subjects"])


def per_subject_table(data: ReportData) -> pd.DataFrame:
    """Method x subject x metric (long): value (the subject mean), n (images), kind, oracle (where defined)."""
    rows = []
    for method in data.methods.values():
        for entry in (method.scores or {}).get("per_subject", []):
            for metric in data.metrics:
                if metric not in entry:
                    continue
                oracle = entry.get(f"oracle-{metric}") if metric in ORACLE_METRICS else None
                rows.append(
                    {
                        "method": method.key,
                        "run": method.run.name,
                        "subject": entry["subject"],
                        "kind": entry.get("kind"),
                        "metric": metric,
                        "value": _num(entry.get(metric)),
                        "n": int(entry.get(f"n_{metric}") or 0),
                        "oracle": _num(oracle),
                    }
                )
    return pd.DataFrame(rows, columns=["method", "run", "subject", "kind", "metric", "value", "n", "oracle"])


def per_category_table(data: ReportData) -> pd.DataFrame:
    """Method x group x metric (long) for the live/object split and the prompt categories (scores.json splits)."""
    rows = []
    for method in data.methods.values():
        splits = (method.scores or {}).get("splits", {})
        for axis in ("kind", "category"):
            for group, estimates in splits.get(axis, {}).items():
                for metric in data.metrics:
                    if metric not in estimates:
                        continue
                    rows.append(
                        {
                            "method": method.key,
                            "run": method.run.name,
                            "axis": axis,
                            "group": group,
                            "metric": metric,
                            **estimate_fields(estimates[metric]),
                        }
                    )
    return pd.DataFrame(rows, columns=["method", "run", "axis", "group", "metric", *ESTIMATE_COLUMNS])


def subject_intervals(method: MethodRun, metric: str, **bootstrap_options) -> pd.DataFrame:
    """Per subject: the mean of `metric` and a 95% CI by bootstrap over the subject's prompts.

    The mean is scores.json's per-subject value, so a bar shows the number the per-subject
    table prints. Images of one prompt share a text and are not independent, so the prompt
    (its mean over images, from scores.jsonl) is the unit resampled; a subject with one
    prompt gets no interval.
    """
    from benchmark.metrics.statistics import bootstrap_ci

    cells = method.cells
    if cells.empty or metric not in cells:
        return pd.DataFrame(columns=["subject", "mean", "ci_low", "ci_high"])
    means = {entry["subject"]: _num(entry.get(metric)) for entry in (method.scores or {}).get("per_subject", [])}
    values = cells[["subject", "prompt_index", metric]].dropna(subset=[metric])
    values = values.assign(prompt_index=values["prompt_index"].astype(str))
    rows = []
    for subject, group in values.groupby("subject", sort=False):
        per_prompt = group.groupby("prompt_index")[metric].mean().to_numpy(dtype=np.float64)
        ci = bootstrap_ci(per_prompt, **bootstrap_options)
        rows.append(
            {
                "subject": subject,
                "mean": means.get(subject, math.nan),
                "ci_low": math.nan if ci is None else ci[0],
                "ci_high": math.nan if ci is None else ci[1],
            }
        )
    return pd.DataFrame(rows, columns=["subject", "mean", "ci_low", "ci_high"])
