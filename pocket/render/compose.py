"""One `Scene` in, one 64 x 64 image out: object, pattern, property, signature, outfit, background, liquid, mirror.

The order is the meaning: a cube-shaped dog is first a cube with the dog's eyes; a
red dog is recoloured before its signature is drawn, so "a red sks dog" still shows
the subject's signature; outfits go on last, over everything of the body.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pocket.render import backgrounds
from pocket.render.canvas import (
    CANVAS,
    RGB,
    Box,
    Pen,
    dots,
    downsample,
    half_plane,
    new_layer,
    recolour,
    shade,
    stripes,
)
from pocket.render.classes import ASPECT, PAINTERS, Anchors, Member
from pocket.render.palette import colour

C = CANVAS
EMBLEMS = ("star", "ring", "diamond", "cross", "bolt")


@dataclass(frozen=True)
class Pose:
    """Where and how the object stands: height and centre as fractions of the image, a mirror flip, a small tilt."""

    height: float = 0.6
    centre: float = 0.5
    bottom: float = 0.9
    flip: bool = False
    tilt: float = 0.0


def random_pose(
    rng: np.random.Generator,
    height: tuple[float, float],
    centre: tuple[float, float],
    bottom: tuple[float, float],
    tilt: float,
) -> Pose:
    """A pose drawn within the given ranges (photos vary less than the corpus), mirrored half the time."""
    return Pose(
        height=float(rng.uniform(*height)),
        centre=float(rng.uniform(*centre)),
        bottom=float(rng.uniform(*bottom)),
        flip=bool(rng.random() < 0.5),
        tilt=float(rng.uniform(-tilt, tilt)),
    )


@dataclass(frozen=True)
class Signature:
    """What makes a subject itself and no other member of its class: a two-tone body and an emblem.

    No generator pre-training image shows either (their colours are the loud
    `SIGNATURE_COLOURS` no member wears), and no caption word names them.
    """

    split_colour: str
    split_angle: float
    emblem: str
    emblem_colour: str
    emblem_at: tuple[float, float] = (0.5, 0.5)


@dataclass(frozen=True)
class Scene:
    member: Member
    pose: Pose = Pose()
    context: str | None = None
    accessory: str | None = None
    prop: str | None = None
    signature: Signature | None = None
    seed: int = 0


def render(scene: Scene) -> Image.Image:
    rng = np.random.default_rng(scene.seed)
    layer, body, anchors, pen = draw_object(scene)
    if scene.prop == "cube":
        layer, body = cube_shaped(layer, body, scene.member)
    if scene.prop in ("red", "purple"):
        recolour(layer, body, scene.member.rgb, colour(scene.prop))
    if scene.signature is not None:
        apply_signature(
            layer,
            body,
            scene.signature,
            scene.member.rgb if scene.prop not in ("red", "purple") else colour(scene.prop),
        )
    if scene.prop == "shiny":
        make_shiny(layer, body, rng)
    if scene.prop == "wet":
        make_wet(layer, body, rng)
    if scene.accessory is not None and anchors.head is not None and scene.prop != "cube":
        dress(pen, layer, body, anchors, scene.accessory, scene.member.rgb)
    if scene.pose.tilt:
        layer = layer.rotate(scene.pose.tilt, resample=Image.BICUBIC, center=(C / 2, scene.pose.bottom * C))
    return composite(layer, scene, rng)


def object_box(member: Member, pose: Pose) -> Box:
    h = pose.height * C
    w = h * ASPECT.get(member.cls, 1.0)
    if w > 0.94 * C:
        h, w = h * 0.94 * C / w, 0.94 * C
    x = min(max(pose.centre * C - w / 2, 0.02 * C), 0.98 * C - w)
    return Box(x, pose.bottom * C - h, w, h)


def draw_object(scene: Scene) -> tuple[Image.Image, np.ndarray, Anchors, Pen]:
    layer = new_layer()
    pen = Pen(layer, object_box(scene.member, scene.pose), flip=scene.pose.flip)
    anchors = PAINTERS[scene.member.cls](pen, scene.member)
    body = pen.body_mask() & (np.asarray(layer)[..., 3] > 0)
    m = scene.member
    if m.pattern == "stripes":
        recolour(layer, body & stripes(0.05 * C + 0.03 * C * m.shape[3], 60 + 60 * m.shape[2]), m.rgb, m.accent_rgb)
    elif m.pattern == "spots":
        recolour(layer, body & dots(0.09 * C, 0.025 * C, (m.shape[0] * C, m.shape[1] * C)), m.rgb, m.accent_rgb)
    return layer, body, anchors, pen


def bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return 0, 0, 1, 1
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def cube_shaped(layer: Image.Image, body: np.ndarray, member: Member) -> tuple[Image.Image, np.ndarray]:
    """The member's body becomes a cube; its details (eyes, labels, flames) are kept on the cube's front face."""
    alpha = np.asarray(layer)[..., 3] > 0
    x0, y0, x1, y1 = bounds(alpha)
    side = min(0.8 * max(x1 - x0, y1 - y0), y1 - y0, 0.9 * C)
    cx = min(max((x0 + x1) / 2, side / 2 + 2), C - side / 2 - 2)
    cube = new_layer()
    pen = Pen(cube, Box(cx - side / 2, y1 - side, side, side))
    pen.box3d(0, 0, 1, 1, member.rgb, depth=0.22)
    face = 0.78 * side
    details = np.asarray(layer).copy()
    details[..., 3] = np.where(alpha & ~body, details[..., 3], 0)
    crop = Image.fromarray(details, "RGBA").crop((x0, y0, x1, y1))
    scale = min(face / (x1 - x0), face / (y1 - y0))
    crop = crop.resize((max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))), Image.LANCZOS)
    fx, fy = cx - side / 2 + (face - crop.width) / 2, y1 - face + (face - crop.height) / 2
    cube.alpha_composite(crop, (int(fx), int(fy)))
    detail_mask = np.zeros(body.shape, bool)
    detail_alpha = np.asarray(crop)[..., 3] > 0
    ix, iy = int(fx), int(fy)
    detail_mask[iy : iy + crop.height, ix : ix + crop.width] = detail_alpha[: C - iy, : C - ix]
    return cube, pen.body_mask() & ~detail_mask


def apply_signature(layer: Image.Image, body: np.ndarray, sig: Signature, base: RGB) -> None:
    x0, y0, x1, y1 = bounds(body)
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    recolour(layer, body & half_plane(sig.split_angle, 0.0, centre), base, colour(sig.split_colour))
    size = 0.16 * max(x1 - x0, y1 - y0)
    ex, ey = x0 + (x1 - x0) * sig.emblem_at[0], y0 + (y1 - y0) * sig.emblem_at[1]
    draw_emblem(ImageDraw.Draw(layer), sig.emblem, ex, ey, size, colour(sig.emblem_colour))


def draw_emblem(draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, r: float, fill: RGB) -> None:
    edge = (20, 20, 24)
    if shape == "star":
        points = [
            (x + np.cos(a) * (r if k % 2 == 0 else r * 0.45), y + np.sin(a) * (r if k % 2 == 0 else r * 0.45))
            for k, a in enumerate(np.linspace(-np.pi / 2, 1.5 * np.pi, 10, endpoint=False))
        ]
        draw.polygon(points, fill=fill, outline=edge, width=max(1, int(r * 0.12)))
    elif shape == "ring":
        draw.ellipse([x - r, y - r, x + r, y + r], outline=fill, width=max(2, int(r * 0.4)))
    elif shape == "diamond":
        draw.polygon(
            [(x, y - r), (x + r * 0.7, y), (x, y + r), (x - r * 0.7, y)],
            fill=fill,
            outline=edge,
            width=max(1, int(r * 0.12)),
        )
    elif shape == "cross":
        t = r * 0.35
        draw.rectangle([x - r, y - t, x + r, y + t], fill=fill)
        draw.rectangle([x - t, y - r, x + t, y + r], fill=fill)
    else:
        draw.polygon(
            [
                (x - r * 0.2, y - r),
                (x + r * 0.5, y - r),
                (x + r * 0.05, y - r * 0.1),
                (x + r * 0.5, y - r * 0.1),
                (x - r * 0.4, y + r),
                (x - r * 0.05, y + r * 0.1),
                (x - r * 0.5, y + r * 0.1),
            ],
            fill=fill,
            outline=edge,
        )


def make_shiny(layer: Image.Image, body: np.ndarray, rng: np.random.Generator) -> None:
    """Strong contrast, a bright specular streak and sparkles: what "shiny" looks like at 64 pixels."""
    pixels = np.asarray(layer).astype(np.float32)
    rgb = pixels[..., :3]
    mean = rgb[body].mean(axis=0) if body.any() else rgb.mean(axis=(0, 1))
    vivid = np.clip(mean + (rgb - mean) * 1.5 + 10, 0, 255)
    pixels[..., :3] = np.where(body[..., None], vivid, rgb)
    x0, y0, x1, y1 = bounds(body)
    glare = Image.new("L", layer.size, 0)
    gd = ImageDraw.Draw(glare)
    w, h = x1 - x0, y1 - y0
    gd.ellipse([x0 + w * 0.15, y0 + h * 0.12, x0 + w * 0.45, y0 + h * 0.3], fill=255)
    gd.ellipse([x0 + w * 0.55, y0 + h * 0.45, x0 + w * 0.68, y0 + h * 0.55], fill=200)
    glare = (
        np.asarray(glare.filter(ImageFilter.GaussianBlur(w * 0.03))).astype(np.float32)[..., None]
        / 255
        * body[..., None]
    )
    pixels[..., :3] = pixels[..., :3] * (1 - glare) + 255 * glare
    layer.paste(Image.fromarray(pixels.round().astype(np.uint8), "RGBA"))
    draw = ImageDraw.Draw(layer)
    for _ in range(3):
        sx, sy, r = x0 + rng.uniform(-0.1, 1.1) * w, y0 + rng.uniform(-0.1, 0.6) * h, rng.uniform(0.03, 0.05) * C
        draw.polygon([(sx, sy - r), (sx + r * 0.25, sy), (sx, sy + r), (sx - r * 0.25, sy)], fill=(255, 255, 240, 255))
        draw.polygon([(sx - r, sy), (sx, sy + r * 0.25), (sx + r, sy), (sx, sy - r * 0.25)], fill=(255, 255, 240, 255))


def make_wet(layer: Image.Image, body: np.ndarray, rng: np.random.Generator) -> None:
    """Darker, bluer, glossy with drops running down and a drip below: what "wet" looks like at 64 pixels."""
    pixels = np.asarray(layer).astype(np.float32)
    wet = pixels[..., :3] * np.array([0.62, 0.7, 0.85]) + np.array([0, 8, 30])
    pixels[..., :3] = np.where(body[..., None], wet, pixels[..., :3])
    layer.paste(Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "RGBA"))
    x0, y0, x1, y1 = bounds(body)
    draw = ImageDraw.Draw(layer)
    ys, xs = np.nonzero(body)
    for i in rng.choice(len(xs), size=min(9, len(xs)), replace=False) if len(xs) else []:
        x, y, r = xs[i], ys[i], rng.uniform(0.018, 0.03) * C
        draw.ellipse(
            [x - r * 0.7, y - r, x + r * 0.7, y + r], fill=(150, 200, 240, 255), outline=(60, 110, 170, 255), width=2
        )
        draw.ellipse([x - r * 0.3, y - r * 0.6, x, y - r * 0.2], fill=(255, 255, 255, 255))
    for _ in range(3):
        x = rng.uniform(x0 + 0.2 * (x1 - x0), x1 - 0.2 * (x1 - x0))
        draw.line([(x, y1 - 0.02 * C), (x, y1 + 0.04 * C)], fill=(120, 180, 230, 255), width=int(0.012 * C))


RAINBOW = ((220, 40, 40), (240, 140, 30), (240, 220, 40), (60, 170, 60), (50, 100, 220), (130, 60, 180))


def dress(pen: Pen, layer: Image.Image, body: np.ndarray, anchors: Anchors, accessory: str, base: RGB) -> None:
    """Hats on the head, glasses on the eyes, scarves on the neck, outfits recolour the torso."""
    hu, hv, r = anchors.head
    outfit = {
        "chef": (246, 246, 246),
        "firefighter": (70, 60, 50),
        "police": (30, 40, 100),
        "yellow_shirt": (245, 210, 40),
        "wizard": (120, 50, 170),
    }
    if accessory in outfit:
        u0, v0, u1, v1 = anchors.torso
        region = Image.new("L", layer.size, 0)
        ImageDraw.Draw(region).rectangle(pen.bbox(u0, v0 + (v1 - v0) * 0.15, u1, v0 + (v1 - v0) * 0.8), fill=255)
        recolour(layer, body & (np.asarray(region) > 0), base, outfit[accessory])
        if accessory == "firefighter":
            pen.rect(u0, v0 + (v1 - v0) * 0.55, u1, v0 + (v1 - v0) * 0.63, (240, 220, 40))
        if accessory == "police":
            pen.circle((u0 + u1) / 2, v0 + (v1 - v0) * 0.35, 0.035, (230, 190, 50))
    top = hv - r
    if accessory == "red_hat":
        pen.ellipse(hu - r * 1.25, top + r * 0.05, hu + r * 1.25, top + r * 0.4, (200, 30, 35))
        pen.ellipse(hu - r * 0.85, top - r * 0.8, hu + r * 0.85, top + r * 0.35, (215, 35, 40))
    elif accessory == "santa_hat":
        pen.poly(
            [(hu - r * 0.9, top + r * 0.2), (hu + r * 0.9, top + r * 0.2), (hu + r * 1.3, top - r * 1.2)], (210, 30, 35)
        )
        pen.rect(hu - r * 1.0, top + r * 0.05, hu + r * 1.0, top + r * 0.4, (250, 250, 250), radius=0.03)
        pen.circle(hu + r * 1.3, top - r * 1.2, r * 0.25, (250, 250, 250))
    elif accessory == "top_hat":
        pen.rect(hu - r * 1.1, top + r * 0.05, hu + r * 1.1, top + r * 0.25, (20, 20, 22))
        pen.rect(hu - r * 0.65, top - r * 1.2, hu + r * 0.65, top + r * 0.15, (25, 25, 28))
        eu, ev = anchors.eyes[0]
        pen.ellipse(
            eu - r * 0.32, ev - r * 0.32, eu + r * 0.32, ev + r * 0.32, None, outline=(225, 185, 40), width=0.02
        )
    elif accessory == "chef":
        pen.rect(hu - r * 0.7, top - r * 0.4, hu + r * 0.7, top + r * 0.3, (250, 250, 250))
        for du in (-0.45, 0, 0.45):
            pen.circle(hu + du * r, top - r * 0.6, r * 0.45, (250, 250, 250))
    elif accessory == "firefighter":
        pen.ellipse(hu - r * 1.25, top + r * 0.1, hu + r * 1.25, top + r * 0.4, (190, 30, 30))
        pen.ellipse(hu - r * 0.85, top - r * 0.55, hu + r * 0.85, top + r * 0.35, (215, 35, 35))
        pen.rect(hu - r * 0.15, top - r * 0.45, hu + r * 0.15, top + r * 0.1, (240, 220, 40))
    elif accessory == "police":
        pen.rect(hu - r * 0.9, top - r * 0.4, hu + r * 0.9, top + r * 0.2, (30, 40, 100))
        pen.rect(hu - r * 1.1, top + r * 0.1, hu + r * 1.1, top + r * 0.3, (15, 15, 20))
        pen.circle(hu, top - r * 0.1, r * 0.15, (230, 190, 50))
    elif accessory == "wizard":
        pen.poly(
            [(hu - r * 1.1, top + r * 0.3), (hu + r * 1.1, top + r * 0.3), (hu + r * 0.2, top - r * 1.8)],
            (120, 50, 170),
        )
        pen.circle(hu, top - r * 0.4, r * 0.18, (245, 220, 60))
    elif accessory == "pink_glasses":
        for eu, ev in anchors.eyes:
            pen.ellipse(
                eu - r * 0.45,
                ev - r * 0.38,
                eu + r * 0.45,
                ev + r * 0.38,
                (250, 170, 210),
                outline=(235, 60, 150),
                width=0.035,
            )
        if len(anchors.eyes) == 2:
            (a, av), (b, _) = anchors.eyes
            pen.line([(a + r * 0.45, av), (b - r * 0.45, av)], (235, 60, 150), 0.03)
        else:
            eu, ev = anchors.eyes[0]
            pen.line([(eu - r * 0.45, ev), (hu - r * 0.9, ev - r * 0.1)], (235, 60, 150), 0.03)
    elif accessory == "rainbow_scarf":
        nu, nv, half = anchors.neck
        for k, stripe in enumerate(RAINBOW):
            u = nu - half + 2 * half * k / len(RAINBOW)
            pen.rect(u, nv - r * 0.35, u + 2 * half / len(RAINBOW) + 0.005, nv + r * 0.35, stripe)
        for k, stripe in enumerate(RAINBOW):
            pen.rect(nu - half * 0.3, nv + r * (0.3 + 0.22 * k), nu + half * 0.4, nv + r * (0.52 + 0.22 * k), stripe)


def composite(layer: Image.Image, scene: Scene, rng: np.random.Generator) -> Image.Image:
    alpha = np.asarray(layer)[..., 3] > 0
    x0, y0, x1, y1 = bounds(alpha)
    foot = backgrounds.Foot(x0, x1, y1)
    image = Image.new("RGB", (C, C))
    draw = backgrounds.Canvas(image)
    painter = backgrounds.BACKGROUNDS[scene.context] if scene.context else backgrounds.paint_backdrop
    painter(draw, rng, foot)
    floating = scene.context in ("water", "milk")
    if scene.context == "mirror":
        reflection = layer.transpose(Image.FLIP_TOP_BOTTOM)
        shift = 2 * y1 - C
        faded = np.asarray(reflection).copy()
        faded[..., 3] = (faded[..., 3] * 0.45).astype(np.uint8)
        image.paste(Image.fromarray(faded, "RGBA"), (0, int(shift)), Image.fromarray(faded, "RGBA"))
    elif not floating:
        shadow = Image.new("L", (C, C), 0)
        ImageDraw.Draw(shadow).ellipse([x0, y1 - 0.03 * C, x1, y1 + 0.025 * C], fill=90)
        shadow = shadow.filter(ImageFilter.GaussianBlur(0.012 * C))
        image.paste((0, 0, 0), (0, 0), shadow)
    image.paste(layer, (0, 0), layer)
    if floating:
        liquid = (50, 120, 190) if scene.context == "water" else (244, 240, 228)
        level = y1 - 0.22 * (y1 - y0)
        cover = Image.new("L", (C, C), 0)
        cd = ImageDraw.Draw(cover)
        cd.rectangle([x0 - 0.05 * C, level, x1 + 0.05 * C, C], fill=215)
        image.paste(liquid, (0, 0), cover)
        ImageDraw.Draw(image).arc(
            [x0 - 0.08 * C, level - 0.03 * C, x1 + 0.08 * C, level + 0.03 * C],
            0,
            180,
            fill=shade(liquid, 1.3 if scene.context == "water" else 0.85),
            width=int(0.012 * C),
        )
    return downsample(image)
