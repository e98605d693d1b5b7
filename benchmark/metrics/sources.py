"""Which weights each scoring backbone uses, and the id that names them.

Kept free of torch imports so that `bench ls metrics` can print every metric's
backbone id instantly. A backbone id spells out backbone, weights, preprocessing
and pooling; it is printed beside every table and is part of every cache key, so
two numbers with the same id were computed the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

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
    # DESIGN.md's backbones, as the sd15 profile names them
    return get_profile("sd15").models[role].source


def _label(role: str, source: str) -> str:
    return TINY_LABELS[role] if source == BUILTIN_TINY else source


def dino_id(source: str) -> str:
    return f"dino:{_label('dino', source)}|{DINO_PREPROCESS.id}|cls"


def clip_quick_gelu(source: str, location: Path | None = None) -> bool:
    """Whether a real CLIP is built with QuickGELU, the activation OpenAI trained its CLIPs with.

    OpenAI weights run with plain GELU still load without an error (open_clip only warns), and
    every embedding is then slightly off, so it is decided here, not left to a folder's config:
    weights whose name says `openai` get QuickGELU; another open_clip folder gets what its config
    says (a copy of OpenAI's weights under another name needs `quick_gelu: true` there); a bare
    checkpoint is taken for OpenAI's ViT-B/32 (what DESIGN.md pins).
    """
    # a local path: its own name, not its parents'
    named = Path(source).name if Path(source).exists() else source
    if "openai" in named.lower():
        return True
    folder = Path(location) if location is not None else Path(source)
    config = folder / "open_clip_config.json"
    if config.is_file():
        try:
            return bool(json.loads(config.read_text(encoding="utf-8")).get("model_cfg", {}).get("quick_gelu", False))
        except (OSError, ValueError, AttributeError):
            return False
    # a bare checkpoint, or a folder holding one: loaded as OpenAI's ViT-B/32
    return folder.exists()


def _clip_label(source: str, quick_gelu: bool | None) -> str:
    """The source, plus `+quickgelu` for a real CLIP built with it: the activation changes every embedding, so it
    is part of the id (and of every cache key)."""
    if source == BUILTIN_TINY:
        return _label("clip", source)
    quick = clip_quick_gelu(source) if quick_gelu is None else quick_gelu
    return f"{source}+quickgelu" if quick else source


def clip_image_id(source: str, quick_gelu: bool | None = None) -> str:
    return f"clip-image:{_clip_label(source, quick_gelu)}|{CLIP_PREPROCESS.id}|proj-l2"


def clip_text_id(source: str, quick_gelu: bool | None = None) -> str:
    return f"clip-text:{_clip_label(source, quick_gelu)}|open_clip-bpe-ctx77|eot-proj-l2"


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
