"""Confidence intervals and paired tests over subjects.

The unit of evidence is the subject. The 100 images of a subject share one
personalized model and one set of real images, so they are not independent
samples; treating 3000 images as 3000 observations would give intervals and
p-values that are far too confident. Hence:

- **CI**: percentile bootstrap over subjects of the macro mean (scipy.stats.bootstrap,
  10,000 resamples, seeded: the same data always gives the same interval). The
  percentile method is used rather than BCa because BCa is undefined for the
  degenerate samples that small or tiny runs produce.
- **Paired test**: two methods are compared on the (subject, prompt index, image
  index) cells both have; each method's values are averaged per subject over those
  shared cells, and the per-subject differences go to a two-sided Wilcoxon
  signed-rank test (exact for small n). The mean difference gets the same
  bootstrap CI. With identical inputs every difference is 0 and p is 1.
  `paired_differences` is that last step alone, for callers that already hold one
  difference per subject (the reports' real-image oracle against a method).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
CELL_KEY = ("subject", "prompt_index", "image_index")


def ci_label() -> str:
    """How a table heads its intervals ("95% CI"): from CONFIDENCE, so the text cannot claim a level the CIs lack."""
    return f"{round(CONFIDENCE * 100, 6):g}% CI"


@dataclass(frozen=True)
class Estimate:
    """A macro mean over subjects, its bootstrap CI, and how much data is behind it."""

    mean: float
    ci_low: float | None
    ci_high: float | None
    n_subjects: int
    n_images: int

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_ci(
    values,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean; None with fewer than two values (no spread to resample)."""
    from scipy.stats import bootstrap

    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if len(data) < 2:
        return None
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    result = bootstrap(
        (data,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def macro_estimate(per_subject, n_images: int, **bootstrap_options) -> Estimate | None:
    """Macro mean of per-subject values (NaN subjects skipped) with its CI; None when no subject has a value."""
    data = np.asarray(per_subject, dtype=np.float64)
    data = data[np.isfinite(data)]
    if len(data) == 0:
        return None
    ci = bootstrap_ci(data, **bootstrap_options)
    return Estimate(
        mean=float(data.mean()),
        ci_low=None if ci is None else ci[0],
        ci_high=None if ci is None else ci[1],
        n_subjects=int(len(data)),
        n_images=int(n_images),
    )


# what the reports' ▲/▼ marks and "significant" mean
SIGNIFICANCE_LEVEL = 0.05


def smallest_wilcoxon_p(n_subjects: int) -> float:
    """The smallest two-sided p the exact Wilcoxon signed-rank test can give over n subjects: 2 / 2**n.

    Reached when every subject moves the same way; with 5 subjects that is 0.0625, so a paired
    comparison on fewer than 6 subjects can never be significant at 0.05 however large the effect.
    """
    return 2.0 / 2**n_subjects if n_subjects > 0 else 1.0


def too_few_subjects_note(
    n_subjects: int, alpha: float = SIGNIFICANCE_LEVEL, most: int | None = None, *, about_ci: bool = True
) -> str | None:
    """A line saying why no comparison over n subjects can be significant, or None when one can.

    `most`: the largest n of the table's rows, when they differ; the line then speaks of the rows
    with the fewest subjects only, not of a table whose other rows can be significant. `about_ci`:
    add what so few subjects do to a bootstrap CI (left out where the line is no table's note, and
    over one subject, which has no CI at all).
    """
    floor = smallest_wilcoxon_p(n_subjects)
    if floor < alpha:
        return None
    needed = min_subjects_for(alpha)
    ci = f" {FEW_SUBJECTS_CI}" if about_ci and n_subjects > 1 else ""
    if most is not None and most != n_subjects:
        return (
            f"Some comparisons pair only {n_subjects} subject(s) (see n subjects): their smallest possible "
            f"Wilcoxon p is {floor:.3g}, so they cannot reach p < {alpha:g}, however large the difference; "
            f"significance needs at least {needed} subjects.{ci}"
        )
    return (
        f"With {n_subjects} subject(s) the smallest possible Wilcoxon p is {floor:.3g}: no difference can reach "
        f"p < {alpha:g}, however large; significance needs at least {needed} subjects.{ci}"
    )


# The percentile bootstrap resamples subjects: over 2-5 of them its CI spans about the range of their means, so a
# CI that excludes 0 beside a p that cannot be significant is no contradiction, and no evidence.
FEW_SUBJECTS_CI = "A bootstrap CI over so few subjects is little more than the range of their means."


def min_subjects_for(alpha: float = SIGNIFICANCE_LEVEL) -> int:
    n = 1
    while smallest_wilcoxon_p(n) >= alpha:
        n += 1
    return n


@dataclass(frozen=True)
class PairedDifferences:
    """The mean of per-subject differences, its bootstrap CI and the Wilcoxon p-value over subjects."""

    mean_diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float
    n_subjects: int


def paired_differences(diffs, **bootstrap_options) -> PairedDifferences:
    """Test per-subject differences (one per subject, already paired): two-sided Wilcoxon signed-rank, p = 1
    when every difference is 0 (the test is undefined there), and the percentile bootstrap CI of their mean."""
    from scipy.stats import wilcoxon

    diffs = np.asarray(diffs, dtype=np.float64)
    if np.all(diffs == 0):
        p_value = 1.0
    else:
        p_value = float(wilcoxon(diffs, zero_method="wilcox", alternative="two-sided").pvalue)
    ci = bootstrap_ci(diffs, **bootstrap_options)
    return PairedDifferences(
        mean_diff=float(diffs.mean()),
        ci_low=None if ci is None else ci[0],
        ci_high=None if ci is None else ci[1],
        p_value=p_value,
        n_subjects=int(len(diffs)),
    )


@dataclass(frozen=True)
class PairedComparison:
    metric: str
    method_a: str
    method_b: str
    n_subjects: int
    # shared (subject, prompt, image) cells
    n_cells: int
    # shared cells whose recorded seeds differ (not the same noise)
    seed_mismatches: int
    mean_a: float
    mean_b: float
    # b - a, macro over subjects
    mean_diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float
    test: str = "two-sided Wilcoxon signed-rank on per-subject means over shared cells"

    def to_dict(self) -> dict:
        return asdict(self)


def _cell_frame(cells: pd.DataFrame, metric: str) -> pd.DataFrame:
    frame = cells[[*CELL_KEY, "seed", metric]].copy() if "seed" in cells else cells[[*CELL_KEY, metric]].copy()
    # ints and "class" in one key
    frame["prompt_index"] = frame["prompt_index"].astype(str)
    return frame[np.isfinite(frame[metric].astype(float))]


def paired_comparison(
    cells_a: pd.DataFrame,
    cells_b: pd.DataFrame,
    metric: str,
    *,
    method_a: str = "a",
    method_b: str = "b",
    **bootstrap_options,
) -> PairedComparison | None:
    """Compare `metric` of method b against method a on their shared cells; None if they share none."""
    a, b = _cell_frame(cells_a, metric), _cell_frame(cells_b, metric)
    joined = a.merge(b, on=list(CELL_KEY), suffixes=("_a", "_b"))
    if joined.empty:
        return None
    seed_mismatches = 0
    # an unknown seed (another tool's image) is no mismatch
    if {"seed_a", "seed_b"} <= set(joined.columns):
        known = joined["seed_a"].notna() & joined["seed_b"].notna()
        seed_mismatches = int((joined.loc[known, "seed_a"] != joined.loc[known, "seed_b"]).sum())
    per_subject = joined.groupby("subject")[[f"{metric}_a", f"{metric}_b"]].mean()
    tested = paired_differences(per_subject[f"{metric}_b"] - per_subject[f"{metric}_a"], **bootstrap_options)
    return PairedComparison(
        metric=metric,
        method_a=method_a,
        method_b=method_b,
        n_subjects=tested.n_subjects,
        n_cells=int(len(joined)),
        seed_mismatches=seed_mismatches,
        mean_a=float(per_subject[f"{metric}_a"].mean()),
        mean_b=float(per_subject[f"{metric}_b"].mean()),
        mean_diff=tested.mean_diff,
        ci_low=tested.ci_low,
        ci_high=tested.ci_high,
        p_value=tested.p_value,
    )
