"""How numbers look in every output: three decimals, CIs in brackets, n.a. for what was not measured.

One place, so the HTML, Markdown, CSV-adjacent text, LaTeX and `bench score`'s tables
(benchmark.metrics.report) never disagree on rounding or on how a missing value is spelled. It sits
with scoring, below the reports, so `bench score` prints numbers without importing the reports
(`reports.formatting` hands the same names on).
"""

from __future__ import annotations

import math

from benchmark.metrics.registry import METRICS

NA = "n.a."


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# Below this a difference is float noise (summation order), printed as the zero it is.
NOISE = 1e-12
# A cell holding a number at least this large prints in fixed decimals, whatever else it holds.
FIXED_FLOOR = 0.01


# The most decimals a fixed cell widens to so that a small number beside a large one does not print as 0.000.
MAX_DECIMALS = 6


def _notation(numbers, digits: int):
    """How numbers printed together (a mean and its CI) are written: 'e' (scientific) or a count of decimals.

    Fixed decimals turn a difference of 2e-05 into 0.000, which hides an interval that excludes
    zero; but a cell that prints one number in each notation ("+3.9e-06 [-0.001, 3.9e-04]") cannot
    be read either. So a cell is scientific only when all its numbers are below FIXED_FLOOR and fixed
    decimals would print one that is not noise as zero. A cell with a larger number stays fixed and
    takes as many more decimals (up to MAX_DECIMALS) as its smallest number needs not to read as zero:
    "+0.0370 [-0.0004, 0.0750]", never "+0.037 [-0.000, 0.075]".
    """
    sizes = [abs(float(n)) for n in numbers if not missing(n)]
    small = [size for size in sizes if NOISE <= size]
    if sizes and max(sizes) < FIXED_FLOOR and any(size < 0.5 * 10**-digits for size in small):
        return "e"
    decimals = digits
    while decimals < MAX_DECIMALS and any(size < 0.5 * 10**-decimals for size in small):
        decimals += 1
    return decimals


def _number(value, notation, digits: int, sign: str = "") -> str:
    value = float(value)
    if notation == "e":
        # two significant digits, noise as zero
        return f"{0.0 if abs(value) < NOISE else value:{sign}.1e}"
    return f"{value:{sign}.{notation}f}"


def fmt(value, digits: int = 3, *, cell=None) -> str:
    """A number, in the notation it shares with `cell` (the numbers printed beside it), by default its own."""
    if missing(value):
        return NA
    return _number(value, _notation(cell if cell is not None else (value,), digits), digits)


def fmt_signed(value, digits: int = 3, *, cell=None) -> str:
    """A difference, with its sign: '+0.012', '-2.1e-05' (see fmt for `cell`)."""
    if missing(value):
        return NA
    return _number(value, _notation(cell if cell is not None else (value,), digits), digits, "+")


def fmt_ci(low, high, digits: int = 3, *, cell=None) -> str:
    """'[0.607, 0.882]': both ends in one notation, the one of `cell` when given (the CI with its mean)."""
    if missing(low) or missing(high):
        return NA
    notation = _notation(cell if cell is not None else (low, high), digits)
    return f"[{_number(low, notation, digits)}, {_number(high, notation, digits)}]"


def fmt_estimate(mean, low, high, *, signed: bool = False, n_subjects=None, digits: int = 3) -> str:
    """'0.766 [0.607, 0.882]': a mean and its CI in one notation, and a single n.a. when there is no mean.

    Without a CI (one subject has no spread to resample) the mean stands alone, followed by
    '(n=1, no CI)' when `n_subjects` is given, so an empty interval is never printed as a second n.a.
    """
    if missing(mean):
        return NA
    cell = (mean, low, high)
    text = (fmt_signed if signed else fmt)(mean, digits, cell=cell)
    if not missing(low) and not missing(high):
        return f"{text} {fmt_ci(low, high, digits, cell=cell)}"
    return text if n_subjects is None else f"{text} (n={n_subjects}, no CI)"


def ci_text(low, high, n_subjects, *, cell=None) -> str:
    """'[0.61, 0.88] n=3', or 'n=1, no CI' when there is no spread to resample (`cell`: as for fmt)."""
    if missing(low) or missing(high):
        return f"n={n_subjects}, no CI"
    return f"{fmt_ci(low, high, cell=cell)} n={n_subjects}"


def fmt_p(value) -> str:
    return NA if missing(value) else f"{float(value):.3g}"


def arrow(metric: str) -> str:
    return "↑" if METRICS[metric].higher_is_better else "↓"


def metric_header(metric: str) -> str:
    """'DINO ↑': the name and which direction is better."""
    return f"{METRICS[metric].name} {arrow(metric)}"


def fmt_duration(seconds) -> str:
    """A duration in the unit a person reads it in: '42 s', '7.5 min', '1.40 h' (never '0.0014 h'), or n.a."""
    if missing(seconds):
        return NA
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def fmt_training_time(seconds, device: str) -> str:
    """'7.5 min on GPU': wall-clock time and what it ran on (an hour on CPU and one on GPU are not interchangeable)."""
    duration = fmt_duration(seconds)
    if duration == NA:
        return duration
    return f"{duration} on {', '.join(kind.upper() for kind in str(device).split(','))}"


def memory_unit(values) -> str:
    """One unit for a whole column of peak memories: GiB when its largest is a GiB or more, else MiB."""
    known = [float(v) for v in values if not missing(v)]
    return "GiB" if known and max(known) >= 1024 else "MiB"


def fmt_memory(mb, unit: str | None = None) -> str:
    """Megabytes in `unit` (by default the value's own: GiB from 1024 MiB); a column passes its `memory_unit`."""
    if missing(mb):
        return NA
    unit = unit or memory_unit([mb])
    return f"{float(mb) / 1024:.1f} GiB" if unit == "GiB" else f"{float(mb):.0f} MiB"


SIGNIFICANCE_MARKS = {"better": "▲", "worse": "▼", "n.s.": ""}
