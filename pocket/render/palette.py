"""The world's named colours.

Class members take their main colour from `MEMBER_COLOURS`; red and purple are left
out on purpose, so that "a red dog" and "a purple dog" (two of the protocol's
property prompts) are changes a model can only have learnt from those words.
Signatures use the loud `SIGNATURE_COLOURS`, which no class member wears.
"""

from __future__ import annotations

COLOURS = {
    "red": (205, 35, 40),
    "orange": (232, 128, 36),
    "yellow": (238, 202, 48),
    "green": (62, 150, 72),
    "teal": (36, 148, 150),
    "blue": (52, 92, 204),
    "navy": (30, 40, 100),
    "purple": (128, 56, 172),
    "pink": (238, 132, 172),
    "brown": (128, 82, 48),
    "black": (38, 38, 44),
    "white": (236, 236, 230),
    "grey": (140, 140, 146),
    "tan": (206, 170, 118),
    "cream": (244, 232, 200),
    "gold": (212, 172, 56),
    "silver": (192, 196, 204),
}

MEMBER_COLOURS = ("orange", "yellow", "green", "teal", "blue", "navy", "pink", "brown", "black", "white", "grey", "tan")
ANIMAL_COLOURS = ("brown", "tan", "black", "white", "grey", "orange", "cream")
SIGNATURE_COLOURS = ("lime", "magenta", "cyan", "scarlet", "amber")
COLOURS.update(
    {
        "lime": (150, 236, 40),
        "magenta": (232, 30, 200),
        "cyan": (30, 224, 240),
        "scarlet": (255, 60, 20),
        "amber": (255, 190, 0),
    }
)


def colour(name: str) -> tuple[int, int, int]:
    return COLOURS[name]
