"""The pre-training streams: random class members in random contexts, captioned in the prompts' own words.

The generator's stream never shows a signature (no signature colour, no emblem,
no two-tone body) and no rare identifier, exactly as DreamBooth's base model never
saw the user's subject. The judges' stream may show signature-family marks, since a
DINO or CLIP trained on the web has seen every kind of pattern, but never one of the
30 subjects' exact signatures: the judges must not have memorized the answers.
Each sample is a pure function of (seed, index), so a stream resumes anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pocket.render.classes import CLASSES, LIVE_CLASSES, sample_member
from pocket.render.compose import EMBLEMS, Pose, Scene, Signature, random_pose
from pocket.render.palette import SIGNATURE_COLOURS
from pocket.subjects import pocket_subjects
from pocket.world import ACCESSORIES, CONTEXTS, PROPERTIES, caption

CONTEXT_SHARE = 0.6  # the rest stand on a studio backdrop and their caption names no context
ACCESSORY_SHARE = 0.35  # of live members
PROPERTY_SHARE = 0.25


@dataclass(frozen=True)
class Sample:
    scene: Scene
    caption: str
    cls: str
    context: str | None
    accessory: str | None
    prop: str | None


def corpus_pose(rng: np.random.Generator) -> Pose:
    return random_pose(rng, height=(0.42, 0.75), centre=(0.3, 0.7), bottom=(0.84, 0.96), tilt=6)


@lru_cache(maxsize=1)
def subject_marks() -> frozenset:
    """The 30 subjects' own (split colour, emblem, emblem colour): what no judge may see in pre-training."""
    return frozenset(
        (s.signature.split_colour, s.signature.emblem, s.signature.emblem_colour) for s in pocket_subjects().values()
    )


def random_signature(rng: np.random.Generator) -> Signature:
    """A mark of the signature family, never one of the 30 subjects' own."""
    taken = subject_marks()
    while True:
        split, emblem_colour = (str(c) for c in rng.choice(SIGNATURE_COLOURS, 2, replace=False))
        emblem = str(rng.choice(EMBLEMS))
        if (split, emblem, emblem_colour) not in taken:
            return Signature(
                split,
                float(rng.uniform(0, 360)),
                emblem,
                emblem_colour,
                tuple(float(x) for x in rng.uniform(0.3, 0.7, 2)),
            )


def sample(seed: int, index: int, signatures: float = 0.0, cls: str | None = None) -> Sample:
    """Sample `index` of stream `seed`; `signatures` is the share carrying a signature-family mark (judges only)."""
    rng = np.random.default_rng([seed, index])
    cls = cls or str(rng.choice(CLASSES))
    member = sample_member(cls, rng)
    context = str(rng.choice(list(CONTEXTS))) if rng.random() < CONTEXT_SHARE else None
    live = cls in LIVE_CLASSES
    accessory = str(rng.choice(list(ACCESSORIES))) if live and rng.random() < ACCESSORY_SHARE else None
    prop = str(rng.choice(list(PROPERTIES))) if rng.random() < PROPERTY_SHARE else None
    if prop == "cube" and accessory:
        accessory = None
    signature = random_signature(rng) if signatures and rng.random() < signatures else None
    scene = Scene(member, corpus_pose(rng), context, accessory, prop, signature, seed=int(rng.integers(2**31)))
    return Sample(scene, caption(cls, context, accessory, prop), cls, context, accessory, prop)


def instance_views(seed: int, index: int, marked: float = 0.6) -> tuple[Scene, Scene]:
    """Two renders of one instance (a member, often with a signature-family mark) in different poses and scenes."""
    rng = np.random.default_rng([seed, index])
    member = sample_member(str(rng.choice(CLASSES)), rng)
    signature = random_signature(rng) if rng.random() < marked else None

    def view() -> Scene:
        context = str(rng.choice(list(CONTEXTS))) if rng.random() < 0.5 else None
        return Scene(member, corpus_pose(rng), context, signature=signature, seed=int(rng.integers(2**31)))

    return view(), view()
