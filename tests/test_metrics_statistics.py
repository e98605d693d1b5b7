"""Bootstrap CIs over subjects and the paired Wilcoxon test between two methods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.metrics.statistics import bootstrap_ci, macro_estimate, paired_comparison


def test_bootstrap_ci_is_deterministic_and_contains_the_mean():
    values = np.random.default_rng(1).normal(0.7, 0.05, size=30)
    first, second = bootstrap_ci(values), bootstrap_ci(values)
    assert first == second
    low, high = first
    assert low < values.mean() < high
    # a 95% interval of a mean of 30 values with sd 0.05 is about +-2 * 0.05 / sqrt(30) = +-0.018 wide
    assert 0.01 < high - low < 0.06


def _independent_percentile_bootstrap(values, confidence: float, statistic=np.mean) -> tuple[float, float]:
    """The percentile bootstrap written out with numpy: resample subjects with replacement (100,000 times, from a
    generator of its own), take each resample's statistic, cut the tails of their distribution. Shares no code
    with scipy's."""
    data = np.asarray(values, dtype=np.float64)
    resamples = data[np.random.default_rng(12345).integers(0, len(data), size=(100_000, len(data)))]
    estimates = statistic(resamples, axis=1)
    tail = (1 - confidence) / 2
    return float(np.quantile(estimates, tail)), float(np.quantile(estimates, 1 - tail))


def test_bootstrap_ci_is_the_95_percent_percentile_interval_of_the_mean():
    """README: "95% percentile-bootstrap CIs over subjects" of the macro mean. A 90% interval, or one of the
    median, would still be a deterministic interval around the data: only an independent computation tells.

    Skewed values, so the median's interval lies elsewhere. The reference draws 10x the resamples, so the two
    agree to Monte Carlo error (under 1% of the width), far inside what 90% instead of 95% or the median moves.
    """
    values = np.random.default_rng(3).lognormal(0.0, 0.6, size=25)
    low, high = bootstrap_ci(values)
    expected_low, expected_high = _independent_percentile_bootstrap(values, 0.95)
    width = expected_high - expected_low
    assert low == pytest.approx(expected_low, abs=0.025 * width)
    assert high == pytest.approx(expected_high, abs=0.025 * width)
    # What the check must tell apart is well outside its tolerance:
    for other in (
        _independent_percentile_bootstrap(values, 0.90),
        _independent_percentile_bootstrap(values, 0.95, np.median),
    ):
        assert max(abs(other[0] - expected_low), abs(other[1] - expected_high)) > 0.06 * width


def test_the_markdown_names_the_confidence_level_the_intervals_have(monkeypatch):
    """`bench score`'s tables head the intervals with the level they were computed at, from one constant: a text
    saying "95% CI" beside intervals computed at another level would be a silent lie."""
    from pathlib import Path

    from benchmark.metrics import statistics
    from benchmark.metrics.report import MethodScores, ScoreReport, comparisons_table
    from benchmark.metrics.statistics import Estimate

    def markdown() -> str:
        estimate = Estimate(mean=0.5, ci_low=0.4, ci_high=0.6, n_subjects=2, n_images=8)
        scores = MethodScores(
            "base",
            True,
            None,
            {"dino": estimate},
            {},
            pd.DataFrame(),
            {},
            [],
            [],
            pd.DataFrame(),
            8,
            Path("scores.jsonl"),
            Path("scores.json"),
        )
        metric = {"name": "DINO", "backbone_id": "dino-id", "weights": "w", "pairing": "all pairs"}
        report = ScoreReport(Path("run"), "tiny", {"dino": metric}, "prompt", {"base": scores})
        row = {
            "metric": "dino",
            "method_a": "a",
            "method_b": "b",
            "mean_a": 0.5,
            "mean_b": 0.6,
            "mean_diff": 0.1,
            "ci_low": 0.05,
            "ci_high": 0.15,
            "p_value": 0.5,
            "n_subjects": 2,
            "n_cells": 8,
        }
        return report.markdown() + comparisons_table([row])

    # README: 95% percentile-bootstrap CIs
    assert statistics.CONFIDENCE == 0.95
    # the method table, the definitions, the comparisons table
    assert markdown().count("95% CI") == 3
    monkeypatch.setattr(statistics, "CONFIDENCE", 0.9)
    text = markdown()
    assert text.count("90% CI") == 3 and "95%" not in text


def test_bootstrap_needs_two_subjects():
    assert bootstrap_ci([0.5]) is None
    assert bootstrap_ci([0.4, 0.4, 0.4]) == (0.4, 0.4)
    estimate = macro_estimate([0.5], n_images=100)
    assert (estimate.mean, estimate.ci_low, estimate.n_images) == (0.5, None, 100)


def _cells(values_by_subject: dict[str, list[float]], metric: str = "dino") -> pd.DataFrame:
    rows = []
    for subject, values in values_by_subject.items():
        for image_index, value in enumerate(values):
            rows.append(
                {"subject": subject, "prompt_index": 0, "image_index": image_index, "seed": image_index, metric: value}
            )
    return pd.DataFrame(rows)


def test_paired_test_detects_a_consistent_improvement():
    rng = np.random.default_rng(0)
    base = {f"s{i}": list(rng.uniform(0.5, 0.8, size=4)) for i in range(10)}
    better = {s: [v + 0.05 + rng.uniform(-0.01, 0.01) for v in vs] for s, vs in base.items()}
    result = paired_comparison(_cells(base), _cells(better), "dino", method_a="a", method_b="b")
    assert result.n_subjects == 10 and result.n_cells == 40
    assert result.mean_diff == pytest.approx(0.05, abs=0.01)
    # the CI of the difference excludes 0
    assert result.ci_low > 0
    # all 10 per-subject differences positive: exact two-sided Wilcoxon p = 2 / 2**10
    assert result.p_value == pytest.approx(2 / 2**10)


def test_paired_test_on_identical_inputs_gives_p_one():
    cells = _cells({f"s{i}": [0.1 * i, 0.2] for i in range(6)})
    result = paired_comparison(cells, cells.copy(), "dino")
    assert result.p_value == 1.0 and result.mean_diff == 0.0


def test_paired_test_uses_shared_cells_only():
    a = _cells({"s1": [0.5, 0.5], "s2": [0.5, 0.5]})
    # image 2 of s1 and image 1 of s2 have no partner
    b = _cells({"s1": [0.6, 0.6, 99.0], "s2": [0.7]})
    b.loc[0, "seed"] = 1234
    result = paired_comparison(a, b, "dino")
    assert result.n_cells == 3
    assert result.mean_diff == pytest.approx(((0.6 - 0.5) + (0.7 - 0.5)) / 2)
    assert result.seed_mismatches == 1


def test_the_significance_floor_is_the_exact_wilcoxon_p_of_a_unanimous_subject_set():
    """Below 6 subjects even a difference every subject agrees on cannot be significant at 0.05: say so."""
    from benchmark.metrics.statistics import min_subjects_for, smallest_wilcoxon_p, too_few_subjects_note

    for n in range(2, 9):
        unanimous = _cells({f"s{i}": [0.5 + 0.01 * i] for i in range(n)})
        better = _cells({f"s{i}": [0.6 + 0.02 * i] for i in range(n)})
        p_value = paired_comparison(unanimous, better, "dino").p_value
        assert p_value == pytest.approx(smallest_wilcoxon_p(n))
    assert min_subjects_for(0.05) == 6 and min_subjects_for(0.01) == 8
    assert "smallest possible Wilcoxon p is 0.0625" in too_few_subjects_note(5)
    assert too_few_subjects_note(6) is None
    # a table whose rows pair different numbers of subjects: the line speaks of the short rows only
    mixed = too_few_subjects_note(2, most=30)
    assert mixed.startswith("Some comparisons pair only 2 subject(s)") and "0.5" in mixed
    assert too_few_subjects_note(2, most=2).startswith("With 2 subject(s)")
    # Over 2-5 subjects a percentile-bootstrap CI is about their range; one subject has no CI to speak of
    assert too_few_subjects_note(3).endswith("little more than the range of their means.")
    assert "bootstrap CI" not in too_few_subjects_note(1)
    assert "bootstrap CI" not in too_few_subjects_note(3, about_ci=False)
