"""Stable Diffusion sampling shared by every method built on a diffusers UNet.

Kept apart from any one method so that `base`, DreamBooth and its ablations sample
in exactly the same way: only the weights and the subject phrase differ between
them, which is what makes their numbers comparable.
"""

from __future__ import annotations

import torch

from benchmark.config import GenerationConfig
from methods.interface import image_generators

_SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "dpm": "DPMSolverMultistepScheduler",
}


def make_scheduler(name: str, scheduler_config: dict):
    import diffusers

    return getattr(diffusers, _SCHEDULERS[name]).from_config(scheduler_config)


def build_pipeline(components: dict, generation: GenerationConfig, device: torch.device, dtype: torch.dtype):
    """A StableDiffusionPipeline over the given modules (no safety checker: it would blank images)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        unet=components["unet"],
        vae=components["vae"],
        text_encoder=components["text_encoder"],
        tokenizer=components["tokenizer"],
        scheduler=make_scheduler(generation.scheduler, components["scheduler_config"]),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to(device)
    if pipe.unet.dtype != dtype:
        pipe = pipe.to(dtype=dtype)
    return pipe


@torch.no_grad()
def sample(pipe, prompts: list[str], seeds: list[int], generation: GenerationConfig) -> list:
    """Images for (prompt, seed) pairs in one batch; each image's noise comes from its own seed."""
    result = pipe(
        prompt=list(prompts),
        num_inference_steps=generation.steps,
        guidance_scale=generation.guidance_scale,
        height=generation.resolution,
        width=generation.resolution,
        generator=image_generators(seeds),
        output_type="pil",
    )
    return list(result.images)
