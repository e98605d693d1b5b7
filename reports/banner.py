"""The warning every output of a random-weight profile carries.

A number from the `tiny` profile looks exactly like a real one; the only thing that
stops it from being pasted into a paper is this banner, so it is loud and repeated
in logs, run directories and reports.
"""

from __future__ import annotations

BANNER_FILE = "WARNING-RANDOM-WEIGHTS.txt"


def not_meaningful_banner(profile: str) -> str:
    return (
        f"NOT MEANINGFUL: profile '{profile}' uses RANDOM weights (a test model). "
        "Its images and any numbers computed from them say nothing about any method."
    )
