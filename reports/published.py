"""The DreamBooth paper's published numbers, as data, kept apart from anything we measure.

Published numbers come from other code, other backbones (Imagen for most ablations) and
unknown preprocessing details, so they are never comparable to a harness run number for
number. Reports show them beside our numbers, always in their own block, always with
their source table and backbone, so a reader can see the paper's *trends* (does removing
prior preservation raise PRES?) without mistaking them for our measurements.

Values are raw cosines / LPIPS distances as printed in the paper (DESIGN.md, "Published
numbers"); `None` means the paper reports none (n.a.).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

PAPER = "DreamBooth paper"
# the pseudo-method name of the real-image oracle in every table
ORACLE = "real-images"


@dataclass(frozen=True)
class PublishedRow:
    """One row of one of the paper's tables."""

    # "Table 1", "Table 3", "Table 4"
    table: str
    # the row as the paper names it
    setting: str
    # the harness method that reproduces the row (ORACLE for real images)
    method: str
    # "Imagen", "SD", or "real photos"
    backbone: str
    # metric id -> value
    values: dict[str, float | None] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{PAPER}, {self.table}"


PUBLISHED: tuple[PublishedRow, ...] = (
    PublishedRow("Table 1", "Real images", ORACLE, "real photos", {"dino": 0.774, "clip-i": 0.885, "clip-t": None}),
    PublishedRow(
        "Table 1", "DreamBooth (Imagen)", "dreambooth", "Imagen", {"dino": 0.696, "clip-i": 0.812, "clip-t": 0.306}
    ),
    PublishedRow(
        "Table 1",
        "DreamBooth (Stable Diffusion)",
        "dreambooth",
        "SD",
        {"dino": 0.668, "clip-i": 0.803, "clip-t": 0.305},
    ),
    PublishedRow(
        "Table 1",
        "Textual Inversion (Stable Diffusion)",
        "textual-inversion",
        "SD",
        {"dino": 0.569, "clip-i": 0.780, "clip-t": 0.255},
    ),
    PublishedRow(
        "Table 3",
        "With prior preservation loss",
        "dreambooth",
        "Imagen",
        {"pres": 0.493, "div": 0.391, "dino": 0.684, "clip-i": 0.815, "clip-t": 0.308},
    ),
    PublishedRow(
        "Table 3",
        "Without prior preservation loss",
        "dreambooth-no-prior",
        "Imagen",
        {"pres": 0.664, "div": 0.371, "dino": 0.712, "clip-i": 0.828, "clip-t": 0.306},
    ),
    PublishedRow("Table 4", "Correct class", "dreambooth", "Imagen", {"dino": 0.744, "clip-i": 0.853}),
    PublishedRow("Table 4", "No class noun", "dreambooth-no-class", "Imagen", {"dino": 0.303, "clip-i": 0.607}),
    PublishedRow("Table 4", "Wrong class", "dreambooth-wrong-class", "Imagen", {"dino": 0.454, "clip-i": 0.728}),
)

# The rows a leaderboard shows: the paper's main comparison (Table 1).
LEADERBOARD_TABLE = "Table 1"


def published_value(table: str, method: str, metric: str, backbone: str | None = None) -> float | None:
    """The paper's number for (table, our method, metric); None when the paper has none.

    Table 1 has two DreamBooth rows; `backbone` picks one (default: SD, the harness's family).
    """
    rows = [r for r in PUBLISHED if r.table == table and r.method == method]
    if len(rows) > 1:
        rows = [r for r in rows if r.backbone == (backbone or "SD")]
    return rows[0].values.get(metric) if rows else None


def published_table(table: str | None = None) -> pd.DataFrame:
    """Tidy published rows: table, source, setting, method, backbone, metric, value (one line per number)."""
    lines = []
    for row in PUBLISHED:
        if table is not None and row.table != table:
            continue
        for metric, value in row.values.items():
            lines.append(
                {
                    "table": row.table,
                    "source": row.source,
                    "setting": row.setting,
                    "method": row.method,
                    "backbone": row.backbone,
                    "metric": metric,
                    "value": value,
                    "published": True,
                }
            )
    return pd.DataFrame(lines)
