"""Which weights each scoring backbone uses, and the id that names them.

Kept free of torch imports so that `bench ls metrics` can print every metric's
backbone id instantly. A backbone id spells out backbone, weights, preprocessing
and pooling; it is printed beside every table and is part of every cache key, so
two numbers with the same id were computed the same way.
"""

from __future__ import annotations

from benchmark.errors import BenchError
from benchmark.metrics.preprocess import CLIP_PREPROCESS, DINO_PREPROCESS
from benchmark.models.loading import BUILTIN_TINY
from benchmark.profiles import Profile, get_profile

ROLES = ("dino", "clip", "lpips")


# Descriptions of the random-weight toys, so that tiny ids say what they are.
TINY_LABELS = {
    "dino": "builtin:tiny(vit-p16-d2-w32)",
    "clip": "builtin:tiny(clip-vit-p32-d2-w32,text-d2-w32-v49408-c77)",
    "lpips": "builtin:tiny(alexnet-random,lpips-lin-v0.1)",
}


def resolve_source(role: str, profile: Profile | str, model_sources: dict[str, str] | None = None) -> str:
    """An explicit override wins, then the profile's model, then the toy (random profiles) or DESIGN's default."""
    if role not in ROLES:
        raise BenchError(f"unknown scoring model role '{role}'; roles are {', '.join(ROLES)}")
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if model_sources and model_sources.get(role):
        return model_sources[role]
    if role in profile.models:
        return profile.models[role].source
    if not profile.meaningful:
        return BUILTIN_TINY
    return get_profile("sd15").models[role].source  # DESIGN.md's backbones, as the sd15 profile names them


def _label(role: str, source: str) -> str:
    return TINY_LABELS[role] if source == BUILTIN_TINY else source


def dino_id(source: str) -> str:
    return f"dino:{_label('dino', source)}|{DINO_PREPROCESS.id}|cls"


def clip_image_id(source: str) -> str:
    return f"clip-image:{_label('clip', source)}|{CLIP_PREPROCESS.id}|proj-l2"


def clip_text_id(source: str) -> str:
    return f"clip-text:{_label('clip', source)}|open_clip-bpe-ctx77|eot-proj-l2"


def lpips_id(source: str) -> str:
    return f"lpips:alex-v0.1:{_label('lpips', source)}|native-resolution|rgb[-1,1]"


def backbone_ids(profile: Profile | str, model_sources: dict[str, str] | None = None) -> dict[str, str]:
    """The id of every scoring backbone for a profile, without loading anything."""
    dino = resolve_source("dino", profile, model_sources)
    clip = resolve_source("clip", profile, model_sources)
    lpips = resolve_source("lpips", profile, model_sources)
    return {
        "dino": dino_id(dino),
        "clip-image": clip_image_id(clip),
        "clip-text": clip_text_id(clip),
        "lpips": lpips_id(lpips),
    }
