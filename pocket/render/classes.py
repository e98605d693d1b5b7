"""The 15 class painters: each a parametric family of shapes, so a "dog" differs from a "cat" and from another dog.

A painter draws one `Member` into a `Pen` whose unit box is the object's footprint
(u right, v down; the object rests on v = 1) and returns its `Anchors`, where
accessories attach. The member's main colour goes on body parts (`body=True`) only,
so properties, patterns and signatures can recolour the body afterwards while eyes,
soles, flames and clock faces keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pocket.render.canvas import RGB, Pen, shade
from pocket.render.palette import ANIMAL_COLOURS, MEMBER_COLOURS, colour

CLASSES = (
    "backpack",
    "stuffed animal",
    "bowl",
    "can",
    "candle",
    "cat",
    "clock",
    "sneaker",
    "dog",
    "toy",
    "boot",
    "glasses",
    "cartoon",
    "teapot",
    "vase",
)
LIVE_CLASSES = ("cat", "dog")
# Families within a class: what a subject's name can ask for ("duck_toy", "wolf_plushie").
FORMS = {
    "stuffed animal": ("bear", "bunny", "sloth", "wolf"),
    "toy": ("robot", "car", "duck", "monster", "swirl"),
}
PATTERNS = ("plain", "plain", "stripes", "spots")
BLACK = (30, 30, 34)
WHITE = (246, 246, 242)


@dataclass(frozen=True)
class Member:
    """One class member: everything that makes it this dog and not another."""

    cls: str
    colour: str
    accent: str
    pattern: str = "plain"
    form: str = ""
    # proportions and part choices, each in 0..1 and read by the painter as it likes
    shape: tuple[float, ...] = (0.5, 0.5, 0.5, 0.5)

    @property
    def rgb(self) -> RGB:
        return colour(self.colour)

    @property
    def accent_rgb(self) -> RGB:
        return colour(self.accent)


@dataclass
class Anchors:
    """Where accessories attach, in the painter's unit coordinates (live classes fill all of it)."""

    head: tuple[float, float, float] | None = None  # centre u, v and radius (in units of box width)
    eyes: tuple[tuple[float, float], ...] = ()
    neck: tuple[float, float, float] | None = None  # centre u, v and half-width
    torso: tuple[float, float, float, float] | None = None  # u0, v0, u1, v1


def sample_member(cls: str, rng: np.random.Generator, form: str | None = None) -> Member:
    palette = ANIMAL_COLOURS if cls in LIVE_CLASSES or cls == "stuffed animal" else MEMBER_COLOURS
    main = str(rng.choice(palette))
    accent = str(rng.choice([c for c in MEMBER_COLOURS if c != main]))
    forms = FORMS.get(cls, ("",))
    return Member(
        cls=cls,
        colour=main,
        accent=accent,
        pattern=str(rng.choice(PATTERNS)),
        form=form if form is not None else str(rng.choice(forms)),
        shape=tuple(float(x) for x in rng.random(4)),
    )


def lerp(low: float, high: float, t: float) -> float:
    return low + (high - low) * t


# ---------------------------------------------------------------- live classes
def paint_dog(pen: Pen, m: Member) -> Anchors:
    """Side view, walking to the right: long body on four legs, head forward, ears up or down."""
    c, a = m.rgb, m.accent_rgb
    length, legs, head, ears = m.shape
    top, bottom = lerp(0.38, 0.3, length), lerp(0.72, 0.62, legs)
    for u in (0.2, 0.3, 0.62, 0.72):
        pen.rect(u - 0.045, (top + bottom) / 2, u + 0.045, 1.0, shade(c, 0.85), body=True, radius=0.03)
    pen.ellipse(0.1, top, 0.82, bottom + 0.04, c, body=True)
    pen.line([(0.14, top + 0.08), (0.04, top - 0.12 - 0.1 * length)], c, 0.05, body=True)
    r = lerp(0.13, 0.18, head)
    hu, hv = 0.8, top - 0.02
    pen.circle(hu, hv, r, c, body=True)
    pen.ellipse(hu + r * 0.3, hv - 0.02, hu + r * 1.5, hv + r * 0.75, shade(c, 1.25), body=True)
    pen.circle(hu + r * 1.4, hv + 0.02, 0.03, BLACK)
    if ears > 0.5:
        pen.poly([(hu - r * 0.8, hv - r * 0.4), (hu - r * 0.5, hv - r * 1.7), (hu - r * 0.05, hv - r * 0.8)], a)
    else:
        pen.ellipse(hu - r * 1.0, hv - r * 0.6, hu - r * 0.25, hv + r * 1.1, a)
    pen.circle(hu + r * 0.45, hv - r * 0.25, 0.025, BLACK)
    return Anchors(
        head=(hu, hv, r),
        eyes=((hu + r * 0.45, hv - r * 0.25),),
        neck=(hu - r * 0.6, hv + r * 0.9, r * 0.8),
        torso=(0.1, top, 0.82, bottom + 0.04),
    )


def paint_cat(pen: Pen, m: Member) -> Anchors:
    """Sitting, facing us: a pear-shaped body, round head, pointed ears, whiskers, a curled tail."""
    c, a = m.rgb, m.accent_rgb
    width, head, ears, tail = m.shape
    w = lerp(0.22, 0.3, width)
    pen.arc(0.5, 0.55, 0.98, 1.02, 200, 340 + 20 * tail, c, 0.06)
    pen.ellipse(0.5 - w, 0.42, 0.5 + w, 1.0, c, body=True)
    pen.ellipse(0.5 - w * 0.5, 0.6, 0.5 + w * 0.5, 0.98, shade(c, 1.3), body=True)
    r = lerp(0.17, 0.21, head)
    hv = 0.42 - r * 0.55
    ear = lerp(0.55, 0.85, ears)
    for side in (-1, 1):
        pen.poly(
            [
                (0.5 + side * r * 0.95, hv - r * 0.1),
                (0.5 + side * r * 0.75, hv - r * (0.6 + ear)),
                (0.5 + side * r * 0.2, hv - r * 0.75),
            ],
            c,
            body=True,
        )
        pen.poly(
            [
                (0.5 + side * r * 0.78, hv - r * 0.3),
                (0.5 + side * r * 0.7, hv - r * (0.35 + ear * 0.8)),
                (0.5 + side * r * 0.4, hv - r * 0.65),
            ],
            a,
        )
    pen.circle(0.5, hv, r, c, body=True)
    eyes = ((0.5 - r * 0.42, hv - r * 0.1), (0.5 + r * 0.42, hv - r * 0.1))
    for u, v in eyes:
        pen.circle(u, v, r * 0.22, (150, 200, 60))
        pen.circle(u, v, r * 0.1, BLACK)
    pen.poly([(0.5 - r * 0.12, hv + r * 0.2), (0.5 + r * 0.12, hv + r * 0.2), (0.5, hv + r * 0.35)], (220, 120, 130))
    for side in (-1, 1):
        for dv in (0.25, 0.4):
            pen.line(
                [(0.5 + side * r * 0.25, hv + r * dv), (0.5 + side * r * 1.15, hv + r * (dv - 0.12))], BLACK, 0.008
            )
    return Anchors(
        head=(0.5, hv, r), eyes=eyes, neck=(0.5, hv + r * 1.05, r * 0.85), torso=(0.5 - w, 0.42, 0.5 + w, 1.0)
    )


# -------------------------------------------------------------- object classes
def paint_backpack(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    width, pocket, handle, straps = m.shape
    w = lerp(0.3, 0.4, width)
    pen.arc(0.5 - w * 0.45, 0.0, 0.5 + w * 0.45, 0.32, 180, 360, shade(c, 0.6), 0.05)
    if straps > 0.4:
        pen.rect(0.5 - w - 0.06, 0.3, 0.5 - w + 0.02, 0.9, shade(c, 0.7), body=True, radius=0.03)
        pen.rect(0.5 + w - 0.02, 0.3, 0.5 + w + 0.06, 0.9, shade(c, 0.7), body=True, radius=0.03)
    pen.rect(0.5 - w, 0.12, 0.5 + w, 1.0, c, body=True, radius=0.14)
    pv = lerp(0.5, 0.62, pocket)
    pen.rect(0.5 - w * 0.75, pv, 0.5 + w * 0.75, 0.94, a, radius=0.08)
    pen.line([(0.5 - w * 0.7, pv + 0.06), (0.5 + w * 0.7, pv + 0.06)], shade(a, 0.5), 0.015)
    pen.arc(0.5 - w * 0.85, 0.2, 0.5 + w * 0.85, 0.9, 200, 340, shade(c, 0.55), 0.015)
    return Anchors()


def paint_stuffed_animal(pen: Pen, m: Member) -> Anchors:
    """Sitting plush toys facing us; the form (bear, bunny, sloth, wolf) sets ears and face."""
    c, a = m.rgb, m.accent_rgb
    width, head, arms, _ = m.shape
    w = lerp(0.26, 0.32, width)
    r = lerp(0.2, 0.25, head)
    hv = 0.52 - r * 0.8
    for side in (-1, 1):
        pen.ellipse(
            0.5 + side * w * 0.95 - 0.09, 0.5, 0.5 + side * w * 0.95 + 0.09, lerp(0.72, 0.82, arms), c, body=True
        )
        pen.ellipse(0.5 + side * w * 0.55 - 0.11, 0.86, 0.5 + side * w * 0.55 + 0.11, 1.0, shade(c, 0.9), body=True)
    pen.ellipse(0.5 - w, 0.48, 0.5 + w, 0.98, c, body=True)
    pen.ellipse(0.5 - w * 0.55, 0.6, 0.5 + w * 0.55, 0.92, shade(c, 1.3), body=True)
    for side in (-1, 1):
        if m.form == "bunny":
            pen.ellipse(
                0.5 + side * r * 0.45 - 0.06, hv - r * 2.1, 0.5 + side * r * 0.45 + 0.06, hv - r * 0.4, c, body=True
            )
        elif m.form == "wolf":
            pen.poly(
                [
                    (0.5 + side * r * 0.95, hv - r * 0.2),
                    (0.5 + side * r * 0.7, hv - r * 1.5),
                    (0.5 + side * r * 0.2, hv - r * 0.8),
                ],
                c,
                body=True,
            )
        elif m.form == "bear":
            pen.circle(0.5 + side * r * 0.75, hv - r * 0.75, r * 0.35, c, body=True)
            pen.circle(0.5 + side * r * 0.75, hv - r * 0.75, r * 0.18, a)
    pen.circle(0.5, hv, r, c, body=True)
    if m.form == "sloth":
        pen.ellipse(0.5 - r * 0.8, hv - r * 0.45, 0.5 + r * 0.8, hv + r * 0.5, shade(c, 1.45))
        for side in (-1, 1):
            pen.ellipse(
                0.5 + side * r * 0.45 - r * 0.25,
                hv - r * 0.3,
                0.5 + side * r * 0.45 + r * 0.25,
                hv + r * 0.05,
                shade(c, 0.5),
            )
    muzzle = r * (0.6 if m.form == "wolf" else 0.4)
    pen.ellipse(0.5 - muzzle, hv + r * 0.1, 0.5 + muzzle, hv + r * 0.7, shade(c, 1.4))
    pen.circle(0.5, hv + r * 0.25, r * 0.12, BLACK)
    for side in (-1, 1):
        pen.circle(0.5 + side * r * 0.42, hv - r * 0.15, r * 0.1, BLACK)
    return Anchors()


def paint_bowl(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    width, depth, foot, filled = m.shape
    w = lerp(0.38, 0.48, width)
    rim = lerp(0.4, 0.55, 1 - depth)
    pen.rect(0.5 - w * 0.35, 0.92, 0.5 + w * 0.35, 1.0, shade(c, 0.75), body=True)
    pen.ellipse(0.5 - w, rim - 0.5 * (1 - rim), 0.5 + w, 0.96 + 0.04 * foot, c, body=True)
    pen.rect(0.5 - w - 0.01, rim - 0.5, 0.5 + w + 0.01, rim, (0, 0, 0, 0))
    band = rim + 0.06
    pen.rect(0.5 - w * 0.97, band, 0.5 + w * 0.97, band + 0.05, a)
    pen.ellipse(0.5 - w, rim - 0.07, 0.5 + w, rim + 0.07, shade(c, 1.35), body=True)
    pen.ellipse(0.5 - w * 0.9, rim - 0.05, 0.5 + w * 0.9, rim + 0.05, shade(c, 0.55) if filled < 0.6 else (190, 40, 80))
    if filled >= 0.6:
        for i in range(5):
            pen.circle(0.5 - w * 0.6 + i * w * 0.3, rim - 0.04, 0.05, (70, 40, 120) if i % 2 else (200, 30, 60))
    return Anchors()


def paint_can(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    width, height, band, _ = m.shape
    w = lerp(0.2, 0.28, width)
    top = lerp(0.35, 0.12, height)
    pen.rect(0.5 - w, top, 0.5 + w, 0.97, c, body=True)
    pen.ellipse(0.5 - w, 0.93, 0.5 + w, 1.0, c, body=True)
    bv = lerp(top + 0.15, 0.65, band)
    pen.rect(0.5 - w, bv, 0.5 + w, bv + 0.16, a)
    pen.rect(0.5 - w * 0.6, bv + 0.05, 0.5 + w * 0.6, bv + 0.11, WHITE)
    pen.ellipse(0.5 - w, top - 0.05, 0.5 + w, top + 0.05, (200, 202, 210))
    pen.ellipse(0.5 - w * 0.35, top - 0.025, 0.5 + w * 0.15, top + 0.02, (150, 152, 160))
    pen.rect(0.5 + w * 0.65, top + 0.02, 0.5 + w * 0.85, 0.95, shade(c, 1.3), body=True)
    return Anchors()


def paint_candle(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    width, height, jar, _ = m.shape
    w = lerp(0.14, 0.26, width)
    top = lerp(0.5, 0.28, height)
    if jar > 0.5:
        pen.rect(0.5 - w - 0.06, top - 0.06, 0.5 + w + 0.06, 1.0, (200, 220, 226), radius=0.05)
        pen.rect(0.5 - w - 0.06, top + 0.1, 0.5 + w + 0.06, top + 0.2, a)
    pen.rect(0.5 - w, top, 0.5 + w, 0.98, c, body=True)
    pen.ellipse(0.5 - w, top - 0.04, 0.5 + w, top + 0.04, shade(c, 1.3), body=True)
    pen.line([(0.5, top), (0.5, top - 0.06)], BLACK, 0.015)
    pen.poly([(0.5, top - 0.24), (0.56, top - 0.09), (0.5, top - 0.05), (0.44, top - 0.09)], (250, 170, 40))
    pen.poly([(0.5, top - 0.17), (0.53, top - 0.09), (0.5, top - 0.07), (0.47, top - 0.09)], (255, 240, 150))
    return Anchors()


def paint_clock(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    size, bells, hands, _ = m.shape
    r = lerp(0.32, 0.42, size)
    cv = 1.0 - r - 0.08
    if bells > 0.5:
        for side in (-1, 1):
            pen.circle(0.5 + side * r * 0.65, cv - r * 0.85, r * 0.3, a)
            pen.line([(0.5 + side * r * 0.5, cv + r * 0.8), (0.5 + side * r * 0.8, 1.0)], shade(c, 0.6), 0.03)
    else:
        pen.rect(0.5 - r * 0.7, cv + r * 0.7, 0.5 + r * 0.7, 1.0, shade(c, 0.8), body=True)
    pen.circle(0.5, cv, r, c, body=True)
    pen.circle(0.5, cv, r * 0.8, (246, 240, 222))
    for k in range(12):
        angle = k * np.pi / 6
        pen.circle(0.5 + np.cos(angle) * r * 0.66, cv + np.sin(angle) * r * 0.66, 0.012, BLACK)
    angle = lerp(0, 2 * np.pi, hands)
    pen.line([(0.5, cv), (0.5 + np.cos(angle) * r * 0.55, cv + np.sin(angle) * r * 0.55)], BLACK, 0.025)
    pen.line([(0.5, cv), (0.5 + np.cos(angle * 3 + 1) * r * 0.4, cv + np.sin(angle * 3 + 1) * r * 0.4)], BLACK, 0.035)
    return Anchors()


def paint_sneaker(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    height, toe, swoosh, _ = m.shape
    top = lerp(0.5, 0.36, height)
    pen.rect(0.04, 0.86, 0.96, 1.0, WHITE, radius=0.05)
    pen.poly(
        [(0.06, 0.88), (0.1, top), (0.42, top + 0.04), (0.62, 0.58 - 0.08 * toe), (0.94, 0.72), (0.96, 0.88)],
        c,
        body=True,
    )
    pen.ellipse(0.08, top - 0.04, 0.32, top + 0.08, shade(c, 0.5))
    for i in range(4):
        u = 0.42 + i * 0.05
        pen.line([(u, top + 0.06 + i * 0.04), (u + 0.06, top + 0.12 + i * 0.04)], WHITE, 0.02)
    pen.arc(0.22, 0.52, 0.82, 0.86, 20 + 20 * swoosh, 160, a, 0.05)
    pen.ellipse(0.8, 0.7, 0.97, 0.88, shade(c, 1.25), body=True)
    return Anchors()


def paint_boot(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    shaft, _, cuff, _ = m.shape
    top = lerp(0.2, 0.0, shaft)
    pen.rect(0.22, 0.86, 0.92, 1.0, shade(c, 0.35), radius=0.03)
    pen.rect(0.22, 0.86, 0.36, 1.0, shade(c, 0.3))
    pen.poly([(0.24, top), (0.56, top), (0.58, 0.58), (0.88, 0.7), (0.92, 0.88), (0.22, 0.88)], c, body=True)
    if cuff > 0.45:
        pen.rect(0.21, top, 0.59, top + 0.12, a)
    pen.line([(0.56, top + 0.2), (0.57, 0.6)], shade(c, 0.6), 0.02)
    return Anchors()


def paint_glasses(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    lens, round_, tint, _ = m.shape
    r = lerp(0.15, 0.2, lens)
    lens_colour = (40, 44, 60) if tint > 0.5 else (196, 222, 236)
    cv = 0.7
    pen.line([(0.5 - r * 0.3, cv - r * 0.4), (0.5, cv - r * 0.6), (0.5 + r * 0.3, cv - r * 0.4)], c, 0.035, body=True)
    for side in (-1, 1):
        cu = 0.5 + side * (r + 0.05)
        pen.line([(cu + side * r, cv - r * 0.4), (cu + side * (r + 0.08), cv - r * 1.4)], c, 0.03, body=True)
        if round_ > 0.5:
            pen.circle(cu, cv, r, c, body=True)
            pen.circle(cu, cv, r * 0.78, lens_colour)
        else:
            pen.rect(cu - r, cv - r * 0.75, cu + r, cv + r * 0.75, c, body=True, radius=0.05)
            pen.rect(cu - r * 0.8, cv - r * 0.58, cu + r * 0.8, cv + r * 0.58, lens_colour, radius=0.04)
        pen.circle(cu - r * 0.3, cv - r * 0.3, r * 0.15, shade(lens_colour, 1.6))
    pen.circle(0.5 - 0.27, cv + 0.25, 0.02, a)
    return Anchors()


def paint_cartoon(pen: Pen, m: Member) -> Anchors:
    """A cartoon character: a big head with big eyes on a small body, waving arms."""
    c, a = m.rgb, m.accent_rgb
    head, hair, eyes, _ = m.shape
    r = lerp(0.26, 0.32, head)
    hv = 0.1 + r
    pen.line([(0.35, 0.7), (0.12, 0.52 - 0.1 * eyes)], c, 0.05, body=True)
    pen.line([(0.65, 0.7), (0.88, 0.52 - 0.1 * hair)], c, 0.05, body=True)
    pen.line([(0.42, 0.85), (0.38, 1.0)], c, 0.06, body=True)
    pen.line([(0.58, 0.85), (0.62, 1.0)], c, 0.06, body=True)
    pen.ellipse(0.32, hv + r * 0.7, 0.68, 0.9, a)
    if hair > 0.5:
        for k in range(5):
            u = 0.5 + (k - 2) * r * 0.35
            pen.poly([(u - 0.06, hv - r * 0.7), (u, hv - r * 1.35), (u + 0.06, hv - r * 0.7)], c, body=True)
    else:
        pen.line([(0.5, hv - r), (0.5, hv - r * 1.4)], BLACK, 0.02)
        pen.circle(0.5, hv - r * 1.45, 0.04, a)
    pen.circle(0.5, hv, r, c, body=True)
    for side in (-1, 1):
        pen.circle(0.5 + side * r * 0.38, hv - r * 0.12, r * 0.28, WHITE)
        pen.circle(0.5 + side * r * 0.38 + r * 0.08 * (eyes - 0.5), hv - r * 0.1, r * 0.13, BLACK)
    pen.arc(0.5 - r * 0.5, hv, 0.5 + r * 0.5, hv + r * 0.65, 20, 160, BLACK, 0.025)
    return Anchors()


def paint_teapot(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    width, spout, lid, _ = m.shape
    w = lerp(0.3, 0.38, width)
    pen.arc(0.5 - w - 0.2, 0.38, 0.5 - w + 0.12, 0.78, 90, 270, shade(c, 0.8), 0.05)
    pen.poly(
        [
            (0.5 + w * 0.8, 0.72),
            (0.5 + w + 0.14, 0.42 - 0.1 * spout),
            (0.5 + w + 0.2, 0.44 - 0.1 * spout),
            (0.5 + w * 0.9, 0.86),
        ],
        c,
        body=True,
    )
    pen.ellipse(0.5 - w, 0.35, 0.5 + w, 1.0, c, body=True)
    pen.rect(0.5 - w * 0.9, 0.6, 0.5 + w * 0.9, 0.68, a)
    lv = lerp(0.3, 0.22, lid)
    pen.ellipse(0.5 - w * 0.55, lv, 0.5 + w * 0.55, 0.42, shade(c, 1.2), body=True)
    pen.circle(0.5, lv - 0.02, 0.045, a)
    return Anchors()


def paint_vase(pen: Pen, m: Member) -> Anchors:
    c, a = m.rgb, m.accent_rgb
    belly, neck, height, band = m.shape
    bw = lerp(0.28, 0.42, belly)
    nw = lerp(0.08, 0.16, neck)
    top = lerp(0.18, 0.0, height)
    bv = lerp(0.55, 0.75, band)
    profile = [
        (0.5 + nw * 1.3, top),
        (0.5 + nw, top + 0.12),
        (0.5 + nw, top + 0.25),
        (0.5 + bw, bv),
        (0.5 + bw * 0.7, 0.95),
        (0.5 + bw * 0.5, 1.0),
    ]
    pen.poly(profile + [(1 - u, v) for u, v in reversed(profile)], c, body=True)
    pen.line([(0.5 - bw * 0.86, bv + 0.08), (0.5 + bw * 0.86, bv + 0.08)], a, 0.05)
    pen.ellipse(0.5 - nw * 1.3, top - 0.02, 0.5 + nw * 1.3, top + 0.03, shade(c, 0.5))
    return Anchors()


def paint_toy(pen: Pen, m: Member) -> Anchors:
    """Toys come in five forms (robot, car, duck, monster, swirl): one class noun, very different shapes."""
    c, a = m.rgb, m.accent_rgb
    s0, s1, s2, _ = m.shape
    if m.form == "robot":
        pen.rect(0.38, 0.78, 0.46, 1.0, shade(c, 0.7), body=True)
        pen.rect(0.54, 0.78, 0.62, 1.0, shade(c, 0.7), body=True)
        pen.rect(0.3, 0.42, 0.7, 0.8, c, body=True, radius=0.03)
        pen.rect(0.2, 0.45, 0.3, 0.7, shade(c, 0.8), body=True)
        pen.rect(0.7, 0.45, 0.8, 0.7, shade(c, 0.8), body=True)
        hw = lerp(0.14, 0.2, s0)
        pen.rect(0.5 - hw, 0.14, 0.5 + hw, 0.42, c, body=True, radius=0.03)
        pen.line([(0.5, 0.14), (0.5, 0.04)], BLACK, 0.02)
        pen.circle(0.5, 0.04, 0.03, a)
        for side in (-1, 1):
            pen.circle(0.5 + side * hw * 0.45, 0.26, 0.035, (250, 230, 90))
        pen.rect(0.38, 0.52, 0.62, 0.64, a)
    elif m.form == "car":
        pen.rect(0.05, 0.5, 0.95, 0.82, c, body=True, radius=0.06)
        pen.poly([(0.25, 0.5), (0.35, lerp(0.3, 0.22, s0)), (0.65, lerp(0.3, 0.22, s0)), (0.75, 0.5)], c, body=True)
        pen.poly([(0.32, 0.5), (0.39, 0.33), (0.61, 0.33), (0.68, 0.5)], (170, 210, 230))
        for u in (0.25, 0.75):
            pen.circle(u, 0.86, 0.12, BLACK)
            pen.circle(u, 0.86, 0.05, (200, 200, 206))
        pen.line([(0.9, 0.5), (0.9, 0.3 - 0.1 * s1)], BLACK, 0.015)
        pen.rect(0.05, 0.62, 0.95, 0.67, a)
    elif m.form == "duck":
        pen.ellipse(0.1, 0.45, 0.85, 1.0, c, body=True)
        pen.circle(0.66, 0.35, lerp(0.18, 0.22, s0), c, body=True)
        pen.poly([(0.8, 0.35), (0.98, 0.38), (0.8, 0.45)], (240, 130, 30))
        pen.circle(0.7, 0.3, 0.03, BLACK)
        pen.ellipse(0.25, 0.6, 0.6, 0.8, shade(c, 0.8), body=True)
    elif m.form == "monster":
        pen.ellipse(0.14, 0.22, 0.86, 1.0, c, body=True)
        for side in (-1, 1):
            pen.poly([(0.5 + side * 0.2, 0.3), (0.5 + side * 0.36, 0.02 + 0.1 * s0), (0.5 + side * 0.32, 0.36)], a)
        eyes = 1 + int(s1 * 2.99)
        for k in range(eyes):
            u = 0.5 + (k - (eyes - 1) / 2) * 0.2
            pen.circle(u, 0.45, 0.08, WHITE)
            pen.circle(u, 0.46, 0.035, BLACK)
        pen.rect(0.32, 0.66, 0.68, 0.78, BLACK, radius=0.03)
        for k in range(4):
            u = 0.36 + k * 0.09
            pen.poly([(u, 0.66), (u + 0.04, 0.72), (u + 0.08, 0.66)], WHITE)
    else:
        tiers = [(0.1, 0.72, 0.9, 1.0), (0.2, 0.48, 0.8, 0.78), (0.3, 0.28, 0.7, 0.54)]
        for u0, v0, u1, v1 in tiers:
            pen.ellipse(u0, v0, u1, v1, c, body=True)
        pen.poly([(0.42, 0.32), (0.55 + 0.1 * s0, 0.08), (0.6, 0.32)], c, body=True)
        for side in (-1, 1):
            pen.circle(0.5 + side * 0.11, 0.58, 0.06, WHITE)
            pen.circle(0.5 + side * 0.11, 0.59, 0.03, BLACK)
        pen.arc(0.36, 0.62, 0.64, 0.8, 20, 160, BLACK, 0.025)
    return Anchors()


PAINTERS = {
    "backpack": paint_backpack,
    "stuffed animal": paint_stuffed_animal,
    "bowl": paint_bowl,
    "can": paint_can,
    "candle": paint_candle,
    "cat": paint_cat,
    "clock": paint_clock,
    "sneaker": paint_sneaker,
    "dog": paint_dog,
    "toy": paint_toy,
    "boot": paint_boot,
    "glasses": paint_glasses,
    "cartoon": paint_cartoon,
    "teapot": paint_teapot,
    "vase": paint_vase,
}
# How wide a class's box is relative to its height: dogs and sneakers are long, candles and cans tall.
ASPECT = {"dog": 1.35, "sneaker": 1.5, "boot": 1.0, "glasses": 1.5, "toy": 1.1, "bowl": 1.4, "can": 0.8, "candle": 0.8}
