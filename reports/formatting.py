"""How numbers look in every output: `benchmark.metrics.formatting`, under the name the reports import.

The spelling of numbers lives with scoring, below the reports, so `bench score`'s tables need no import
from this package; these are the same functions, not copies.
"""

from benchmark.metrics.formatting import (
    FIXED_FLOOR,
    MAX_DECIMALS,
    NA,
    NOISE,
    SIGNIFICANCE_MARKS,
    arrow,
    ci_text,
    fmt,
    fmt_ci,
    fmt_duration,
    fmt_estimate,
    fmt_memory,
    fmt_p,
    fmt_signed,
    fmt_training_time,
    memory_unit,
    metric_header,
    missing,
)

__all__ = [
    "FIXED_FLOOR",
    "MAX_DECIMALS",
    "NA",
    "NOISE",
    "SIGNIFICANCE_MARKS",
    "arrow",
    "ci_text",
    "fmt",
    "fmt_ci",
    "fmt_estimate",
    "fmt_duration",
    "fmt_memory",
    "fmt_p",
    "fmt_signed",
    "fmt_training_time",
    "memory_unit",
    "metric_header",
    "missing",
]
