"""The 20 backgrounds of the protocol and the neutral backdrops of subject photos.

A background painter fills the whole supersampled canvas. It is told where the
object will stand (`Foot`: its left, right and bottom in canvas pixels) so that rugs,
fabric and roads lie under it. Each painter jitters its own layout from `rng`, so a
beach is recognisably a beach without ever being the same beach twice. Water, milk
and the mirror also act on the object itself; `compose` does that part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pocket.render.canvas import CANVAS, RGB, clamp, mix, shade

C = CANVAS


class Canvas(ImageDraw.ImageDraw):
    """ImageDraw that keeps its image at hand, for the strips `gradient` pastes in one go."""

    def __init__(self, image: Image.Image):
        super().__init__(image)
        self.image = image


@dataclass(frozen=True)
class Foot:
    left: float
    right: float
    bottom: float


def jitter(rgb: RGB, rng: np.random.Generator, amount: float = 14) -> RGB:
    return clamp(np.array(rgb) + rng.uniform(-amount, amount, 3))


def gradient(draw: Canvas, top: RGB, bottom: RGB, y0: float, y1: float) -> None:
    """A vertical blend from `top` at y0 to `bottom` at y1, pasted as one strip (drawing it line by line is slow)."""
    y0, y1 = int(round(y0)), int(round(y1))
    if y1 <= y0:
        return
    t = np.linspace(0.0, 1.0, y1 - y0, endpoint=False)[:, None]
    rows = np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t
    strip = np.broadcast_to(rows.round().astype(np.uint8)[:, None, :], (y1 - y0, C, 3))
    draw.image.paste(Image.fromarray(np.ascontiguousarray(strip), "RGB"), (0, y0))


def sky(draw, rng, horizon: float, top=(110, 170, 230), bottom=(190, 220, 245)) -> None:
    gradient(draw, jitter(top, rng), jitter(bottom, rng), 0, horizon)


def ground(draw, rng, horizon: float, colour: RGB, far: float = 0.8) -> None:
    gradient(draw, jitter(shade(colour, far), rng, 8), jitter(colour, rng, 8), horizon, C)


def horizon_line(rng, foot: Foot, low=0.45, high=0.62) -> float:
    return min(foot.bottom - 0.1 * C, rng.uniform(low, high) * C)


def rug(draw, foot: Foot, colour: RGB, rng, pattern: RGB | None = None) -> None:
    pad = (foot.right - foot.left) * 0.25 + 0.06 * C
    box = [foot.left - pad, foot.bottom - 0.14 * C, foot.right + pad, foot.bottom + 0.06 * C]
    draw.ellipse(box, fill=colour)
    if pattern is not None:
        inner = [box[0] + 0.04 * C, box[1] + 0.03 * C, box[2] - 0.04 * C, box[3] - 0.03 * C]
        draw.ellipse(inner, outline=pattern, width=int(0.015 * C))


def trees(draw, rng, horizon: float, count: int, colours) -> None:
    for _ in range(count):
        x = rng.uniform(0, C)
        w = rng.uniform(0.08, 0.16) * C
        draw.rectangle([x - w * 0.12, horizon - w * 1.2, x + w * 0.12, horizon + 0.02 * C], fill=(90, 60, 36))
        draw.ellipse(
            [x - w, horizon - w * 2.6, x + w, horizon - w * 0.8], fill=jitter(colours[rng.integers(len(colours))], rng)
        )


def paint_jungle(draw, rng, foot):
    gradient(draw, jitter((30, 80, 40), rng), jitter((20, 60, 30), rng), 0, C)
    for _ in range(28):
        x, y = rng.uniform(0, C, 2)
        w, h = rng.uniform(0.08, 0.2) * C, rng.uniform(0.03, 0.07) * C
        angle = rng.uniform(0, np.pi)
        pts = [
            (x + np.cos(angle) * t * w - np.sin(angle) * s * h, y + np.sin(angle) * t * w + np.cos(angle) * s * h)
            for t, s in ((-1, 0), (0, -1), (1, 0), (0, 1))
        ]
        draw.polygon(pts, fill=jitter((60, 150 + rng.integers(60), 50), rng, 20))
    for _ in range(4):
        x = rng.uniform(0, C)
        draw.line([(x, 0), (x + rng.uniform(-20, 20), C * 0.6)], fill=(70, 110, 40), width=int(0.01 * C))
    draw.rectangle([0, foot.bottom - 0.05 * C, C, C], fill=jitter((70, 60, 30), rng))


def paint_snow(draw, rng, foot):
    horizon = horizon_line(rng, foot)
    sky(draw, rng, horizon, (170, 190, 210), (215, 225, 235))
    draw.polygon([(0, horizon), (C * rng.uniform(0.2, 0.5), horizon - 0.12 * C), (C, horizon)], fill=(235, 240, 250))
    ground(draw, rng, horizon, (246, 248, 252), 0.93)
    for _ in range(60):
        x, y, r = rng.uniform(0, C), rng.uniform(0, C), rng.uniform(0.004, 0.01) * C
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255))


def paint_beach(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.35, 0.5)
    sky(draw, rng, horizon)
    shore = horizon + rng.uniform(0.08, 0.14) * C
    gradient(draw, jitter((40, 120, 190), rng), jitter((70, 160, 200), rng), horizon, shore)
    ground(draw, rng, shore, (236, 212, 150), 0.95)
    draw.line([(0, shore), (C, shore + rng.uniform(-8, 8))], fill=(250, 250, 245), width=int(0.012 * C))
    draw.ellipse([C * 0.78, C * 0.05, C * 0.92, C * 0.19], fill=(255, 236, 120))


def paint_cobblestone(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.3, 0.45)
    draw.rectangle([0, 0, C, horizon], fill=jitter((150, 120, 100), rng))
    for k in range(4):
        x = (k + rng.uniform(0.1, 0.4)) * C / 4
        draw.rectangle([x, horizon * 0.25, x + 0.1 * C, horizon * 0.7], fill=(70, 80, 100))
    draw.rectangle([0, horizon, C, C], fill=jitter((95, 95, 100), rng))
    row = 0
    y = horizon
    while y < C:
        h = 0.035 * C + (y - horizon) * 0.08
        w = h * 1.6
        x = -rng.uniform(0, w) - (w / 2 if row % 2 else 0)
        while x < C:
            draw.rounded_rectangle(
                [x + 2, y + 2, x + w - 2, y + h - 2], radius=h * 0.3, fill=jitter((150, 148, 145), rng, 18)
            )
            x += w
        y += h
        row += 1


def paint_pink_fabric(draw, rng, foot):
    base = jitter((236, 150, 180), rng, 10)
    phase, period = rng.uniform(0, 6), rng.uniform(0.12, 0.2) * C
    for x in range(C):
        draw.line([(x, 0), (x, C)], fill=shade(base, 0.85 + 0.15 * np.sin(x / period * 6.28 + phase)))
    for _ in range(3):
        y = rng.uniform(0.2, 0.9) * C
        draw.arc(
            [rng.uniform(-C, 0), y - 0.2 * C, rng.uniform(C, 2 * C), y + 0.2 * C],
            0,
            180,
            fill=shade(base, 0.75),
            width=int(0.01 * C),
        )


def paint_wooden_floor(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.3, 0.45)
    draw.rectangle([0, 0, C, horizon], fill=jitter((225, 215, 195), rng))
    wood = jitter((160, 105, 60), rng, 16)
    y, k = horizon, 0
    while y < C:
        h = 0.05 * C + (y - horizon) * 0.1
        draw.rectangle([0, y, C, y + h], fill=shade(wood, 0.85 + 0.15 * ((k * 7) % 3) / 2))
        draw.line([(0, y), (C, y)], fill=shade(wood, 0.5), width=int(0.006 * C))
        x = rng.uniform(0, C)
        draw.line([(x, y), (x, y + h)], fill=shade(wood, 0.5), width=int(0.006 * C))
        y, k = y + h, k + 1


def paint_city(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.55, 0.7)
    sky(draw, rng, horizon, (150, 180, 210), (210, 215, 225))
    x = -rng.uniform(0, 0.1) * C
    while x < C:
        w, h = rng.uniform(0.1, 0.2) * C, rng.uniform(0.25, 0.5) * C
        body = jitter((90, 95, 110), rng, 25)
        draw.rectangle([x, horizon - h, x + w, horizon], fill=body)
        for wy in np.arange(horizon - h + 0.03 * C, horizon - 0.03 * C, 0.06 * C):
            for wx in np.arange(x + 0.02 * C, x + w - 0.03 * C, 0.05 * C):
                draw.rectangle(
                    [wx, wy, wx + 0.025 * C, wy + 0.03 * C],
                    fill=(240, 220, 130) if rng.random() < 0.5 else (60, 70, 90),
                )
        x += w + rng.uniform(0.0, 0.03) * C
    ground(draw, rng, horizon, (110, 110, 114))


def paint_mountain(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.5, 0.62)
    sky(draw, rng, horizon)
    for _ in range(2):
        peak, width = rng.uniform(0.2, 0.8) * C, rng.uniform(0.5, 0.8) * C
        top = rng.uniform(0.08, 0.2) * C
        draw.polygon([(peak - width, horizon), (peak, top), (peak + width, horizon)], fill=jitter((110, 110, 125), rng))
        snow = top + (horizon - top) * 0.3
        t = (snow - top) / (horizon - top)
        draw.polygon([(peak - width * t, snow), (peak, top), (peak + width * t, snow)], fill=(245, 246, 250))
    ground(draw, rng, horizon, (90, 150, 70))


def paint_blue_house(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.5, 0.62)
    sky(draw, rng, horizon)
    x = rng.uniform(0.05, 0.45) * C
    w, h = rng.uniform(0.45, 0.55) * C, rng.uniform(0.25, 0.32) * C
    draw.rectangle([x, horizon - h, x + w, horizon], fill=jitter((60, 100, 200), rng, 12))
    draw.polygon(
        [(x - 0.04 * C, horizon - h), (x + w / 2, horizon - h - 0.18 * C), (x + w + 0.04 * C, horizon - h)],
        fill=jitter((120, 60, 50), rng),
    )
    draw.rectangle([x + w * 0.42, horizon - h * 0.55, x + w * 0.58, horizon], fill=(240, 240, 235))
    for wx in (x + w * 0.12, x + w * 0.72):
        draw.rectangle([wx, horizon - h * 0.75, wx + w * 0.16, horizon - h * 0.45], fill=(230, 240, 250))
    ground(draw, rng, horizon, (90, 160, 70))


def paint_forest(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.45, 0.55)
    gradient(draw, jitter((150, 190, 150), rng), jitter((110, 150, 110), rng), 0, horizon)
    trees(draw, rng, horizon + 0.05 * C, 7, [(40, 100, 50), (30, 80, 40), (60, 120, 50)])
    ground(draw, rng, horizon + 0.05 * C, (70, 110, 50))


def paint_purple_rug(draw, rng, foot):
    paint_forest(draw, rng, foot)
    rug(draw, foot, jitter((130, 60, 170), rng, 10), rng, pattern=(200, 160, 230))


def paint_wheat_field(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.35, 0.5)
    sky(draw, rng, horizon)
    ground(draw, rng, horizon, (220, 180, 80), 0.9)
    for _ in range(160):
        x, y = rng.uniform(0, C), rng.uniform(horizon, C)
        h = 0.03 * C + (y - horizon) * 0.12
        draw.line([(x, y), (x + rng.uniform(-3, 3), y - h)], fill=jitter((190, 150, 50), rng, 20), width=int(0.006 * C))
        draw.ellipse([x - 0.006 * C, y - h - 0.018 * C, x + 0.006 * C, y - h], fill=(230, 190, 90))


def paint_autumn_tree(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.55, 0.65)
    sky(draw, rng, horizon, (140, 180, 220), (220, 225, 230))
    x = rng.choice([rng.uniform(0.12, 0.3), rng.uniform(0.7, 0.88)]) * C
    draw.rectangle([x - 0.04 * C, horizon - 0.3 * C, x + 0.04 * C, horizon], fill=(90, 55, 30))
    for _ in range(14):
        cx, cy = x + rng.uniform(-0.2, 0.2) * C, horizon - rng.uniform(0.3, 0.55) * C
        r = rng.uniform(0.07, 0.12) * C
        draw.ellipse(
            [cx - r, cy - r, cx + r, cy + r],
            fill=jitter([(220, 110, 30), (200, 60, 30), (235, 170, 40)][rng.integers(3)], rng),
        )
    ground(draw, rng, horizon, (120, 130, 60))
    for _ in range(40):
        lx, ly = rng.uniform(0, C), rng.uniform(horizon, C)
        draw.ellipse([lx, ly, lx + 0.02 * C, ly + 0.012 * C], fill=jitter((215, 100, 30), rng, 25))


def paint_eiffel_tower(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.6, 0.7)
    sky(draw, rng, horizon, (150, 180, 220), (235, 215, 200))
    x = rng.uniform(0.2, 0.8) * C
    top, half = rng.uniform(0.03, 0.1) * C, rng.uniform(0.16, 0.22) * C
    iron = jitter((90, 75, 65), rng, 10)
    draw.polygon([(x - half, horizon), (x - 0.01 * C, top), (x + 0.01 * C, top), (x + half, horizon)], fill=iron)
    draw.polygon(
        [(x - half * 0.55, horizon), (x, horizon - (horizon - top) * 0.25), (x + half * 0.55, horizon)],
        fill=mix(iron, (200, 210, 230), 0.7),
    )
    for t in (0.3, 0.55):
        y = horizon - (horizon - top) * t
        w = half * (1 - t) * 1.15
        draw.rectangle([x - w, y - 0.008 * C, x + w, y + 0.008 * C], fill=shade(iron, 0.7))
    ground(draw, rng, horizon, (110, 150, 80))


def paint_water(draw, rng, foot, liquid=(50, 120, 190)):
    horizon = horizon_line(rng, foot, 0.3, 0.45)
    sky(draw, rng, horizon, (130, 180, 230), (200, 225, 245))
    ground(draw, rng, horizon, jitter(liquid, rng, 8), 0.8)
    for _ in range(24):
        x, y = rng.uniform(0, C), rng.uniform(horizon + 0.03 * C, C)
        w = 0.04 * C + (y - horizon) * 0.2
        draw.arc([x - w, y - 0.01 * C, x + w, y + 0.01 * C], 0, 180, fill=shade(liquid, 1.35), width=int(0.006 * C))


def paint_milk(draw, rng, foot):
    paint_water(draw, rng, foot, liquid=(244, 240, 228))


def paint_sunflowers(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.35, 0.5)
    sky(draw, rng, horizon)
    ground(draw, rng, horizon, (80, 170, 60))
    for _ in range(9):
        x = rng.uniform(0, C)
        if foot.left - 0.05 * C < x < foot.right + 0.05 * C:
            continue
        y = rng.uniform(horizon, C * 0.8)
        r = (0.04 + (y - horizon) / C * 0.08) * C
        draw.line([(x, y), (x, y + r * 3)], fill=(50, 120, 40), width=int(0.012 * C))
        for k in range(10):
            a = k * np.pi / 5
            draw.ellipse(
                [
                    x + np.cos(a) * r - r * 0.5,
                    y + np.sin(a) * r - r * 0.5,
                    x + np.cos(a) * r + r * 0.5,
                    y + np.sin(a) * r + r * 0.5,
                ],
                fill=(250, 205, 30),
            )
        draw.ellipse([x - r * 0.7, y - r * 0.7, x + r * 0.7, y + r * 0.7], fill=(100, 60, 20))


def paint_mirror(draw, rng, foot):
    horizon = min(foot.bottom - 0.08 * C, rng.uniform(0.55, 0.68) * C)
    draw.rectangle([0, 0, C, horizon], fill=jitter((200, 195, 190), rng))
    gradient(draw, jitter((170, 185, 200), rng, 8), jitter((215, 225, 235), rng, 8), horizon, C)
    for _ in range(3):
        x = rng.uniform(0, C)
        draw.line([(x, C), (x + 0.3 * C, horizon)], fill=(240, 245, 250), width=int(0.01 * C))
    draw.line([(0, horizon), (C, horizon)], fill=(150, 150, 150), width=int(0.01 * C))


def paint_sidewalk(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.55, 0.65)
    draw.rectangle([0, 0, C, horizon], fill=jitter((160, 150, 140), rng))
    for _ in range(7):
        x = rng.uniform(0, C)
        h = rng.uniform(0.28, 0.4) * C
        clothes = jitter(
            [(200, 60, 60), (60, 80, 160), (60, 60, 60), (220, 180, 60), (80, 140, 80)][rng.integers(5)], rng, 20
        )
        draw.rounded_rectangle([x - 0.04 * C, horizon - h * 0.8, x + 0.04 * C, horizon], radius=0.02 * C, fill=clothes)
        draw.ellipse([x - 0.03 * C, horizon - h, x + 0.03 * C, horizon - h * 0.8], fill=(220, 180, 150))
    ground(draw, rng, horizon, (185, 185, 180), 0.9)
    for y in np.arange(horizon + 0.05 * C, C, 0.1 * C):
        draw.line([(0, y), (C, y)], fill=(150, 150, 148), width=int(0.006 * C))


def paint_dirt_road(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.35, 0.5)
    sky(draw, rng, horizon)
    ground(draw, rng, horizon, (100, 160, 70))
    mid = rng.uniform(0.35, 0.65) * C
    draw.polygon(
        [(mid - 0.03 * C, horizon), (mid + 0.03 * C, horizon), (C * 1.1, C), (-C * 0.1, C)],
        fill=jitter((150, 110, 70), rng),
    )
    for _ in range(30):
        x, y = rng.uniform(0, C), rng.uniform(horizon, C)
        draw.ellipse([x, y, x + 0.012 * C, y + 0.008 * C], fill=(110, 80, 50))


def paint_white_rug(draw, rng, foot):
    horizon = horizon_line(rng, foot, 0.3, 0.45)
    draw.rectangle([0, 0, C, horizon], fill=jitter((190, 200, 195), rng))
    ground(draw, rng, horizon, jitter((150, 120, 90), rng))
    rug(draw, foot, (248, 248, 244), rng, pattern=(225, 225, 220))


BACKGROUNDS = {
    "jungle": paint_jungle,
    "snow": paint_snow,
    "beach": paint_beach,
    "cobblestone": paint_cobblestone,
    "pink_fabric": paint_pink_fabric,
    "wooden_floor": paint_wooden_floor,
    "city": paint_city,
    "mountain": paint_mountain,
    "blue_house": paint_blue_house,
    "purple_rug": paint_purple_rug,
    "wheat_field": paint_wheat_field,
    "autumn_tree": paint_autumn_tree,
    "eiffel_tower": paint_eiffel_tower,
    "water": paint_water,
    "milk": paint_milk,
    "sunflowers": paint_sunflowers,
    "mirror": paint_mirror,
    "sidewalk": paint_sidewalk,
    "dirt_road": paint_dirt_road,
    "white_rug": paint_white_rug,
}
# Soft studio colours for photos and for captions that name no context: none of them is a context's colour.
BACKDROPS = ((214, 214, 218), (226, 220, 208), (200, 210, 222), (222, 222, 212), (190, 196, 190), (232, 226, 226))


def paint_backdrop(draw, rng, foot):
    """A studio backdrop: a soft wall and a table top meeting under the object."""
    wall = jitter(BACKDROPS[rng.integers(len(BACKDROPS))], rng, 6)
    table = rng.uniform(0.55, 0.75) * C
    table = min(table, foot.bottom - 0.05 * C)
    gradient(draw, shade(wall, 1.05), wall, 0, table)
    gradient(draw, shade(wall, 0.9), shade(wall, 0.82), table, C)
