"""The 30 pocket subjects: DreamBench's names and classes, each a fixed class member plus its signature.

A subject's member follows its name where the name says something ("duck_toy" is a
duck-shaped toy, "grey_sloth_plushie" a grey sloth); the rest is drawn from a fixed
seed. The signature (a two-tone body in a colour no member wears, and an emblem) is
what only personalization can learn: "a dog" never draws it, no word names it.
Photos vary pose, size, position and the studio backdrop, as DreamBench's do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from PIL import Image

from pocket.render.classes import Member, sample_member
from pocket.render.compose import EMBLEMS, Pose, Scene, Signature, random_pose, render
from pocket.render.palette import SIGNATURE_COLOURS

WORLD_SEED = 20261207
# name, class noun, live, photo count: DreamBench's own (dataset/dreambench_v1.json)
SUBJECTS = (
    ("backpack", "backpack", False, 6),
    ("backpack_dog", "backpack", False, 5),
    ("bear_plushie", "stuffed animal", False, 5),
    ("berry_bowl", "bowl", False, 6),
    ("can", "can", False, 6),
    ("candle", "candle", False, 5),
    ("cat", "cat", True, 5),
    ("cat2", "cat", True, 5),
    ("clock", "clock", False, 6),
    ("colorful_sneaker", "sneaker", False, 5),
    ("dog", "dog", True, 5),
    ("dog2", "dog", True, 6),
    ("dog3", "dog", True, 6),
    ("dog5", "dog", True, 5),
    ("dog6", "dog", True, 5),
    ("dog7", "dog", True, 5),
    ("dog8", "dog", True, 5),
    ("duck_toy", "toy", False, 4),
    ("fancy_boot", "boot", False, 6),
    ("grey_sloth_plushie", "stuffed animal", False, 5),
    ("monster_toy", "toy", False, 5),
    ("pink_sunglasses", "glasses", False, 6),
    ("poop_emoji", "toy", False, 5),
    ("rc_car", "toy", False, 5),
    ("red_cartoon", "cartoon", False, 4),
    ("robot_toy", "toy", False, 5),
    ("shiny_sneaker", "sneaker", False, 6),
    ("teapot", "teapot", False, 5),
    ("vase", "vase", False, 6),
    ("wolf_plushie", "stuffed animal", False, 5),
)
# What a subject's name asks of its member.
HINTS = {
    "bear_plushie": {"form": "bear", "colour": "brown"},
    "berry_bowl": {"shape3": 0.9},
    "colorful_sneaker": {"pattern": "stripes"},
    "duck_toy": {"form": "duck", "colour": "yellow", "pattern": "plain"},
    "fancy_boot": {"shape2": 0.9},
    "grey_sloth_plushie": {"form": "sloth", "colour": "grey", "pattern": "plain"},
    "monster_toy": {"form": "monster", "colour": "green"},
    "pink_sunglasses": {"colour": "pink", "shape2": 0.9, "pattern": "plain"},
    "poop_emoji": {"form": "swirl", "colour": "brown", "pattern": "plain"},
    "rc_car": {"form": "car"},
    "red_cartoon": {"colour": "red", "pattern": "plain"},
    "robot_toy": {"form": "robot", "colour": "grey"},
    "shiny_sneaker": {"colour": "silver", "pattern": "plain"},
    "wolf_plushie": {"form": "wolf", "colour": "grey"},
}


@dataclass(frozen=True)
class PocketSubject:
    name: str
    class_noun: str
    live: bool
    photo_count: int
    member: Member
    signature: Signature

    def scene(self, **change) -> Scene:
        """This subject in a scene: `context`, `accessory`, `prop`, `pose`, `seed` as the caller asks."""
        return Scene(member=self.member, signature=self.signature, **change)


def _member(index: int, name: str, cls: str) -> Member:
    rng = np.random.default_rng([WORLD_SEED, index])
    hint = HINTS.get(name, {})
    member = sample_member(cls, rng, form=hint.get("form"))
    shape = list(member.shape)
    for k in range(4):
        shape[k] = hint.get(f"shape{k}", shape[k])
    return replace(
        member,
        colour=hint.get("colour", member.colour),
        pattern=hint.get("pattern", member.pattern),
        shape=tuple(shape),
    )


def _signature(index: int) -> Signature:
    """Spread over the signature family so that two subjects of one class never share colours and emblem."""
    split = SIGNATURE_COLOURS[index % 5]
    emblem_colour = SIGNATURE_COLOURS[(index % 5 + 1 + (index // 5) % 4) % 5]
    rng = np.random.default_rng([WORLD_SEED, 1000 + index])
    return Signature(
        split_colour=split,
        split_angle=float((index * 47) % 360),
        emblem=EMBLEMS[(index * 2 + index // 5) % 5],
        emblem_colour=emblem_colour,
        emblem_at=(float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.45, 0.7))),
    )


@lru_cache(maxsize=1)
def pocket_subjects() -> dict[str, PocketSubject]:
    return {
        name: PocketSubject(name, cls, live, count, _member(i, name, cls), _signature(i))
        for i, (name, cls, live, count) in enumerate(SUBJECTS)
    }


def photo_pose(rng: np.random.Generator) -> Pose:
    return random_pose(rng, height=(0.5, 0.72), centre=(0.38, 0.62), bottom=(0.86, 0.95), tilt=5)


def subject_photos(name: str) -> list[Image.Image]:
    """The subject's photos: studio backdrops, varied pose; deterministic."""
    subject = pocket_subjects()[name]
    index = [s[0] for s in SUBJECTS].index(name)
    photos = []
    for k in range(subject.photo_count):
        rng = np.random.default_rng([WORLD_SEED, 2000 + index, k])
        photos.append(render(subject.scene(pose=photo_pose(rng), seed=int(rng.integers(2**31)))))
    return photos
