"""Drawing at four times the final size, then a box filter down: smooth edges from integer drawing.

Everything the renderer draws goes through a `Pen`, which maps a painter's unit box
(u right, v down, both 0..1) onto the supersampled canvas, mirrors it for a pose
facing the other way, and records which visible pixels belong to the object's
*body* (its main colour). Patterns, two-tone signatures and outfits recolour that
mask afterwards, so no painter needs to know about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64  # the world's image size
SUPERSAMPLE = 4
CANVAS = SIZE * SUPERSAMPLE

RGB = tuple[int, int, int]


def clamp(colour) -> RGB:
    return tuple(int(min(255, max(0, round(c)))) for c in colour)


def shade(colour: RGB, factor: float) -> RGB:
    """Darker below 1, lighter above 1 (towards white), keeping the hue."""
    if factor <= 1:
        return clamp(c * factor for c in colour)
    return clamp(c + (255 - c) * (factor - 1) for c in colour)


def mix(first: RGB, second: RGB, weight: float) -> RGB:
    return clamp(a * (1 - weight) + b * weight for a, b in zip(first, second, strict=True))


def luminance(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., 0] * 0.299 + pixels[..., 1] * 0.587 + pixels[..., 2] * 0.114


def new_layer() -> Image.Image:
    return Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))


def downsample(image: Image.Image) -> Image.Image:
    """The supersampled canvas to the world's size with a box filter (an exact average of 4 x 4 pixels)."""
    return image.convert("RGB").reduce(SUPERSAMPLE)


@dataclass
class Box:
    """Where a painter's unit square lands on the canvas, in canvas pixels."""

    x: float
    y: float
    w: float
    h: float

    def point(self, u: float, v: float, flip: bool = False) -> tuple[float, float]:
        return (self.x + (1 - u if flip else u) * self.w, self.y + v * self.h)


class Pen:
    """Draws shapes given in a box's unit coordinates onto an RGBA layer, keeping the body mask up to date."""

    def __init__(self, layer: Image.Image, box: Box, flip: bool = False):
        self.layer, self.box, self.flip = layer, box, flip
        self.draw = ImageDraw.Draw(layer)
        self.mask = Image.new("L", layer.size, 0)
        self.mask_draw = ImageDraw.Draw(self.mask)

    # ------------------------------------------------------------ coordinates
    def p(self, u: float, v: float) -> tuple[float, float]:
        return self.box.point(u, v, self.flip)

    def bbox(self, u0: float, v0: float, u1: float, v1: float) -> list[float]:
        (x0, y0), (x1, y1) = self.p(u0, v0), self.p(u1, v1)
        return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]

    def scale(self, length: float) -> float:
        """A length in unit coordinates (of the box width) in canvas pixels."""
        return length * self.box.w

    def _mark(self, body: bool, shape: str, *args, **kwargs) -> None:
        getattr(self.mask_draw, shape)(*args, fill=255 if body else 0, **kwargs)

    # ----------------------------------------------------------------- shapes
    def ellipse(self, u0, v0, u1, v1, fill: RGB, body: bool = False, outline: RGB | None = None, width: float = 0):
        box = self.bbox(u0, v0, u1, v1)
        self.draw.ellipse(box, fill=fill, outline=outline, width=max(1, round(self.scale(width))) if outline else 0)
        self._mark(body, "ellipse", box)

    def circle(self, u, v, r, fill: RGB, body: bool = False, outline: RGB | None = None, width: float = 0):
        ratio = self.box.w / self.box.h
        self.ellipse(u - r, v - r * ratio, u + r, v + r * ratio, fill, body, outline, width)

    def rect(self, u0, v0, u1, v1, fill: RGB, body: bool = False, radius: float = 0.0, outline=None, width=0.0):
        box = self.bbox(u0, v0, u1, v1)
        line = max(1, round(self.scale(width))) if outline else 0
        if radius > 0:
            r = self.scale(radius)
            self.draw.rounded_rectangle(box, r, fill=fill, outline=outline, width=line)
            self._mark(body, "rounded_rectangle", box, r)
        else:
            self.draw.rectangle(box, fill=fill, outline=outline, width=line)
            self._mark(body, "rectangle", box)

    def poly(self, points, fill: RGB, body: bool = False):
        xy = [self.p(u, v) for u, v in points]
        self.draw.polygon(xy, fill=fill)
        self._mark(body, "polygon", xy)

    def line(self, points, fill: RGB, width: float, body: bool = False):
        xy = [self.p(u, v) for u, v in points]
        pixels = max(1, round(self.scale(width)))
        self.draw.line(xy, fill=fill, width=pixels, joint="curve")
        self.mask_draw.line(xy, fill=255 if body else 0, width=pixels)

    def arc(self, u0, v0, u1, v1, start: float, end: float, fill: RGB, width: float):
        if self.flip:  # a mirrored arc runs the other way round
            start, end = 180 - end, 180 - start
        box = self.bbox(u0, v0, u1, v1)
        pixels = max(1, round(self.scale(width)))
        self.draw.arc(box, start, end, fill=fill, width=pixels)
        self.mask_draw.arc(box, start, end, fill=0, width=pixels)

    def box3d(self, u0, v0, u1, v1, colour: RGB, depth: float = 0.18):
        """A cube seen from the front and a little above: the 'cube shaped' property's body."""
        d = depth * (u1 - u0)
        self.poly([(u0, v0 + d), (u1 - d, v0 + d), (u1 - d, v1), (u0, v1)], colour, body=True)
        self.poly([(u0, v0 + d), (u0 + d, v0), (u1, v0), (u1 - d, v0 + d)], shade(colour, 1.35), body=True)
        self.poly([(u1 - d, v0 + d), (u1, v0), (u1, v1 - d), (u1 - d, v1)], shade(colour, 0.7), body=True)
        edge = shade(colour, 0.45)
        self.line([(u0, v0 + d), (u1 - d, v0 + d), (u1, v0)], edge, 0.015, body=True)
        self.line([(u1 - d, v0 + d), (u1 - d, v1)], edge, 0.015, body=True)

    # ----------------------------------------------------------------- masks
    def body_mask(self) -> np.ndarray:
        return np.asarray(self.mask) > 127


def recolour(layer: Image.Image, region: np.ndarray, base: RGB, target: RGB) -> None:
    """Pixels of `region` become `target`, keeping their shading relative to `base` (in place)."""
    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return
    # only the region's bounding box is touched: most of the canvas is background
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = np.asarray(layer.crop((x0, y0, x1, y1))).astype(np.float32)
    inside = region[y0:y1, x0:x1]
    base_lum = max(float(luminance(np.array(base, dtype=np.float32))), 24.0)
    ratio = np.clip(luminance(crop[..., :3]) / base_lum, 0.35, 1.6)[..., None]
    target_array = np.array(target, dtype=np.float32)
    lighter = target_array + (255 - target_array) * np.clip(ratio - 1, 0, 1)
    tinted = np.where(ratio > 1, lighter, target_array * ratio)
    crop[..., :3] = np.where(inside[..., None], tinted, crop[..., :3])
    layer.paste(Image.fromarray(np.clip(crop, 0, 255).round().astype(np.uint8), "RGBA"), (int(x0), int(y0)))


def half_plane(angle_degrees: float, offset: float, centre: tuple[float, float]) -> np.ndarray:
    """Canvas pixels on one side of a line through `centre` (shifted by `offset` px) at the given angle."""
    ys, xs = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    theta = np.deg2rad(angle_degrees)
    return (xs - centre[0]) * np.cos(theta) + (ys - centre[1]) * np.sin(theta) > offset


def stripes(period: float, angle_degrees: float, duty: float = 0.5) -> np.ndarray:
    ys, xs = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    theta = np.deg2rad(angle_degrees)
    along = xs * np.cos(theta) + ys * np.sin(theta)
    return (along % period) < period * duty


def dots(period: float, radius: float, phase: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    ys, xs = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    dx = (xs - phase[0]) % period - period / 2
    dy = (ys - phase[1]) % period - period / 2
    return dx * dx + dy * dy < radius * radius
