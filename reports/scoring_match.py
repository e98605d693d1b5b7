"""Whether two methods' values of a metric are one measurement: the scoring settings each was scored with.

Its own module so that the banners (which say MIXED SCORING) and the comparisons (which refuse to pair such rows)
both use it without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.metrics.registry import METRICS

# of a scores.json payload
from benchmark.metrics.report import scoring_signature as signature_of_scores

if TYPE_CHECKING:
    from reports.loading import MethodRun


def scoring_signature(method: MethodRun, metric: str) -> tuple:
    """`benchmark.metrics.report.scoring_signature` of a method's scores.json (empty when it has none)."""
    return signature_of_scores(method.scores or {}, metric)


def scoring_mismatch(a: MethodRun, b: MethodRun, metric: str) -> str | None:
    """Why a's and b's values of `metric` are not one measurement, or None when they are (as far as recorded).

    Two scorings of one run can differ: `bench score RUN --method X --keep-identifier` re-scores X's CLIP-T
    against the prompt as generated while the other methods keep theirs, and another run may have been scored
    with other backbones (`--set models.dino=...`). A paired difference between them would measure the
    settings as much as the methods.
    """
    mine, theirs = dict(scoring_signature(a, metric)), dict(scoring_signature(b, metric))
    differs = [what for what in mine if what in theirs and mine[what] != theirs[what]]
    if not differs:
        return None
    details = "; ".join(f"{what}: {mine[what]} vs {theirs[what]}" for what in differs)
    return (
        f"{METRICS[metric].name} of {a.key} and {b.key} were scored with a different {' and '.join(differs)} "
        f"({details}): not compared; {mismatch_remedy(differs)}"
    )


def mismatch_remedy(differs: list[str]) -> str:
    """What makes two scorings comparable again: a re-score for settings, nothing for the images' own size."""
    size = "DIV compares images at their own size, so it compares only methods that generate at one size"
    if differs == ["image size"]:
        return size
    return "re-score one as the other was scored" + (f" ({size})" if "image size" in differs else "")
