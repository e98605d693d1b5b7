"""Model profiles: which weights a run uses and how it generates by default.

`sd15` is the real thing, loaded from the Hugging Face cache or local paths.
`tiny` builds toy models with random weights offline so the whole pipeline runs on
a laptop CPU in minutes; its numbers mean nothing, and `meaningful=False` makes
every log and report say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.errors import BenchError


@dataclass(frozen=True)
class ModelSpec:
    """One model a profile needs: a hub id or local path, and what it is for."""

    role: str
    source: str  # hub repo id, local path, or "builtin:tiny" for the random-weight toys
    purpose: str
    hub_files: tuple[str, ...] = ()  # allow-patterns for `bench models download`, empty = whole repo


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    meaningful: bool
    models: dict[str, ModelSpec]
    generation: dict = field(default_factory=dict)


_SD15_FILES = (
    "model_index.json",
    "scheduler/*",
    "tokenizer/*",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
)

PROFILES: dict[str, Profile] = {
    "sd15": Profile(
        name="sd15",
        description="Stable Diffusion 1.5 with DINO ViT-S/16 and CLIP ViT-B/32 scoring (real weights)",
        meaningful=True,
        models={
            "base": ModelSpec(
                "base", "stable-diffusion-v1-5/stable-diffusion-v1-5", "text-to-image base model", _SD15_FILES
            ),
            "dino": ModelSpec("dino", "timm/vit_small_patch16_224.dino", "DINO ViT-S/16 for the DINO metric"),
            "clip": ModelSpec(
                "clip",
                "timm/vit_base_patch32_clip_224.openai",
                "OpenAI CLIP ViT-B/32 for CLIP-I and CLIP-T",
                ("open_clip_config.json", "open_clip_*"),  # the repo also holds timm-only copies
            ),
            "lpips": ModelSpec(
                "lpips", "torchhub:alexnet-owt-7be5be79.pth", "torchvision AlexNet trunk of LPIPS (DIV)"
            ),
        },
        generation={"resolution": 512, "steps": 50, "guidance_scale": 7.5, "scheduler": "ddim"},
    ),
    "tiny": Profile(
        name="tiny",
        description="toy SD-architecture models with RANDOM weights, built offline: tests and smoke runs only",
        meaningful=False,
        models={
            "base": ModelSpec("base", "builtin:tiny", "random-weight toy UNet, VAE and CLIP text encoder"),
        },
        generation={"resolution": 32, "steps": 4, "guidance_scale": 7.5, "scheduler": "ddim"},
    ),
    "sd15-random": Profile(
        name="sd15-random",
        description="SD-1.5's real architecture with RANDOM weights: speed and memory benchmarks only",
        meaningful=False,
        models={
            "base": ModelSpec(
                "base", "builtin:sd15-sized-random", "random-weight SD-1.5-sized UNet, VAE, text encoder"
            ),
        },
        generation={"resolution": 512, "steps": 50, "guidance_scale": 7.5, "scheduler": "ddim"},
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise BenchError(f"unknown profile '{name}'; choose one of: {', '.join(PROFILES)}") from None
