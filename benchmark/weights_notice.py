"""What every output says of numbers made with weights that are not a real base model's.

The runner writes these lines into logs and run directories before any report exists, and
the reports (reports/banner.py) repeat them in every format: the wording lives here, below
both, so that the runner never imports the report package to warn about a profile.
"""

from __future__ import annotations

BANNER_FILE = "WARNING-RANDOM-WEIGHTS.txt"


# One entry per profile weights kind whose numbers are not comparable with real ones (see benchmark.profiles): the
# line (logs, WARNING-RANDOM-WEIGHTS.txt, every report format), the report's explanation under it, the stamp across
# its plots and the tag on its rows. Another such kind of weights is one more entry.
WEIGHT_WARNINGS = {
    "random": {
        "line": (
            "NOT MEANINGFUL: profile '{profile}' uses RANDOM weights (a test model). "
            "Its images and any numbers computed from them say nothing about any method."
        ),
        "explanation": (
            "random-weight test models so that every code path can run on a laptop. The images are noise and every "
            "number from them is meaningless: use them to check the pipeline, never to compare methods."
        ),
        "stamp": "RANDOM WEIGHTS\nNOT MEANINGFUL",
        "tag": "random weights: not meaningful",
    },
    "pocket": {
        "line": (
            "POCKET WORLD: profile '{profile}' runs on a synthetic DreamBench with models this project pre-trained "
            "itself; its numbers check the harness and show method differences in miniature, not real-model numbers."
        ),
        "explanation": (
            "the pocket world: 64 px renders of DreamBench's 30 subjects and models pre-trained on a CPU from a fixed "
            "seed (docs/pocket.md). Compare methods within it; never quote its numbers beside real-model ones."
        ),
        "stamp": "POCKET WORLD",
        "tag": "pocket world",
    },
}


def not_meaningful_banner(profile: str, kind: str = "random") -> str:
    """The one line a random-weight profile's logs, run directory and reports all carry, word for word."""
    return WEIGHT_WARNINGS[kind]["line"].format(profile=profile)


def pocket_world_banner(profile: str) -> str:
    """The one line a pocket-world profile's logs and reports carry: its numbers are real, but in miniature."""
    return WEIGHT_WARNINGS["pocket"]["line"].format(profile=profile)
