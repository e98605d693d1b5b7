"""Stable Diffusion sampling shared by every method built on a diffusers UNet.

Kept apart from any one method so that `base`, DreamBooth and its ablations sample
in exactly the same way: only the weights and the subject phrase differ between
them, which is what makes their numbers comparable.
"""

from __future__ import annotations

import torch

from benchmark.config import GenerationConfig
from methods import speedups
from methods.interface import image_generators
from methods.libraries import quiet_libraries

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
        # diffusers warns of "modules to keep in float32" even when there are none
        with quiet_libraries():
            pipe = pipe.to(dtype=dtype)
    # Set explicitly every time: in fp32 these are the shared base modules, which a trainer may have changed.
    for module in (pipe.unet, pipe.vae):
        speedups.set_attention(module, generation.sdpa_attention)
        speedups.set_layout(module, generation.channels_last)
    return pipe


def compile_unet(pipe, generation: GenerationConfig) -> None:
    """With `generation.compile`, the pipeline's UNet runs compiled from its first batch on.

    Done at the first batch, not when the pipeline is built: methods load their
    weights into a built pipeline (LoRA adapters, a Textual Inversion token), and
    compiling must see the finished model. Only the pipeline's reference is
    wrapped; the module itself, which may be the shared fp32 base, is untouched.
    Compiled code is cached per process, so the next subject's UNet of the same
    shape reuses it instead of compiling again.
    """
    from torch._dynamo.eval_frame import OptimizedModule

    if generation.compile and not isinstance(pipe.unet, OptimizedModule):
        pipe.unet = speedups.compiled(pipe.unet, generation.compile_backend, generation.compile_mode)


@torch.no_grad()
def sample(pipe, prompts: list[str], seeds: list[int], generation: GenerationConfig) -> list:
    """Images for (prompt, seed) pairs in one batch; each image's noise comes from its own seed."""
    compile_unet(pipe, generation)
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
