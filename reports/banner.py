"""The warning every output of a random-weight profile carries.

A number from the `tiny` profile looks exactly like a real one; the only thing that
stops it from being pasted into a paper is this banner, so it is loud and repeated
in logs, run directories and reports. `report_banners` decides, for every report
output (HTML, Markdown, LaTeX, `bench compare`), which banners a set of runs needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.profiles import PROFILES

if TYPE_CHECKING:  # the runner imports this module: it stays free of pandas and the report code
    from reports.loading import ReportData

BANNER_FILE = "WARNING-RANDOM-WEIGHTS.txt"


def not_meaningful_banner(profile: str) -> str:
    return (
        f"NOT MEANINGFUL: profile '{profile}' uses RANDOM weights (a test model). "
        "Its images and any numbers computed from them say nothing about any method."
    )


def report_banners(data: ReportData) -> list[str]:
    """One NOT MEANINGFUL line per random-weight profile among the runs and their scorings; none iff meaningful.

    A real run scored with random-weight backbones is just as meaningless, so a scoring profile
    counts too, but only when it is itself a random-weight one: a random-weight run scored with
    real backbones is not meaningful because of its run profile, and the real scoring profile
    must not be called random. Should neither explain a method that says it is not meaningful,
    the banner still appears, naming the profile 'unknown': a warning is never dropped.
    """
    profiles = {run.profile for run in data.runs if not run.meaningful}
    for method in data.methods.values():
        if method.scores and not method.meaningful:
            scoring = str(method.scores.get("scoring_profile", "unknown"))
            if scoring not in PROFILES or not PROFILES[scoring].meaningful:
                profiles.add(scoring)
    if not profiles and not data.meaningful:
        profiles.add("unknown")
    return [not_meaningful_banner(profile) for profile in sorted(profiles)]
