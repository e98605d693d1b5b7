"""How numbers look in every output: three decimals, CIs in brackets, n.a. for what was not measured.

One place, so the HTML, Markdown, CSV-adjacent text, LaTeX and `bench score`'s tables
(benchmark.metrics.report) never disagree on rounding or on how a missing value is spelled.
"""

from __future__ import annotations

import math

from benchmark.metrics.registry import METRICS

NA = "n.a."


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value, digits: int = 3) -> str:
    return NA if missing(value) else f"{float(value):.{digits}f}"


# Below this a difference is float noise (summation order), printed as the zero it is.
NOISE = 1e-12


def _fixed_or_small(value: float, digits: int, sign: str = "") -> str:
    """Fixed decimals, except a value that would print as (-)0.000 while not being 0: a difference of 2e-05
    with a CI excluding zero must not read "-0.000 [-0.000, -0.000]"."""
    if NOISE <= abs(value) < 0.5 * 10**-digits:
        return f"{value:{sign}.1e}"
    return f"{value:{sign}.{digits}f}"


def fmt_signed(value, digits: int = 3) -> str:
    return NA if missing(value) else _fixed_or_small(float(value), digits, "+")


def fmt_ci(low, high, digits: int = 3) -> str:
    if missing(low) or missing(high):
        return NA
    return f"[{_fixed_or_small(float(low), digits)}, {_fixed_or_small(float(high), digits)}]"


def ci_text(low, high, n_subjects) -> str:
    """'[0.61, 0.88] n=3', or 'n=1, no CI' when there is no spread to resample."""
    if missing(low) or missing(high):
        return f"n={n_subjects}, no CI"
    return f"{fmt_ci(low, high)} n={n_subjects}"


def fmt_p(value) -> str:
    return NA if missing(value) else f"{float(value):.3g}"


def arrow(metric: str) -> str:
    return "↑" if METRICS[metric].higher_is_better else "↓"


def metric_header(metric: str) -> str:
    """'DINO ↑': the name and which direction is better."""
    return f"{METRICS[metric].name} {arrow(metric)}"


def fmt_hours(seconds) -> str:
    """Training time in hours with enough digits to be non-zero for tiny runs (0.0012 h), or n.a."""
    if missing(seconds):
        return NA
    hours = float(seconds) / 3600
    return f"{hours:.2f}" if hours >= 0.1 else f"{hours:.2g}"


def fmt_training_time(seconds, device: str) -> str:
    """'1.4 h on GPU': wall-clock hours and what they ran on ('0.0014 CPU h' read like core-hours)."""
    hours = fmt_hours(seconds)
    if hours == NA:
        return hours
    return f"{hours} h on {', '.join(kind.upper() for kind in str(device).split(','))}"


def fmt_memory(mb) -> str:
    if missing(mb):
        return NA
    return f"{float(mb) / 1024:.1f} GiB" if float(mb) >= 1024 else f"{float(mb):.0f} MiB"


SIGNIFICANCE_MARKS = {"better": "▲", "worse": "▼", "n.s.": ""}
