"""A method's real training step on fake tensors: SD-1.5's shapes, no storage, no GPU.

Shared by `estimate_training_memory.py` (peak memory) and `count_step_ops.py`
(ops per step), which measure different things of the very same step: the
method's own modules (`trainable_modules`), optimizer (`make_optimizer`) and
`TrainingStep`. Under FakeTensorMode every tensor has its real shape and dtype
but no storage, so an 860M-parameter UNet costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import torch

# TI's tokenizer copy needs real tensors
SUPPORTED_METHODS = ("dreambooth", "dreambooth-no-prior", "dreambooth-lora")
# Images behind each latent source: DreamBench subjects have 3-6 photos; the cached posterior of a real run's
# 200 class images is 26 MiB at 512 px, too little to matter, so the prior half draws from as few.
IMAGES_PER_SOURCE = 4


@dataclass
class FakeTraining:
    """The built step, and what a caller measures around it."""

    # methods.training_step.TrainingStep
    step: object
    options: dict
    unet: torch.nn.Module
    text_encoder: torch.nn.Module
    vae: torch.nn.Module
    params: list


@contextmanager
def fake_friendly_modules():
    """Let the method's code run on fake tensors, which can be neither deep-copied nor moved.

    Everything is already fp32 on the CPU device here, so `Module.to` has nothing
    to do, and the trainer's private copy of the base UNet can be the base itself
    (a real run keeps the base on the CPU, outside the GPU's memory).
    """
    import methods.dreambooth
    import methods.dreambooth_lora

    def keep(module, *args, **kwargs):
        return module

    original_hooks = torch.Tensor.register_hook, torch.Tensor.register_post_accumulate_grad_hook

    def gradient_hook(register):
        # MemTracker hooks every parameter of every module it sees run, frozen ones included, which
        # torch refuses; a frozen parameter never gets a gradient, so there is nothing to watch.
        def maybe(tensor, hook):
            return register(tensor, hook) if tensor.requires_grad else mock.Mock()

        return maybe

    with (
        mock.patch.object(torch.Tensor, "register_hook", gradient_hook(original_hooks[0])),
        mock.patch.object(torch.Tensor, "register_post_accumulate_grad_hook", gradient_hook(original_hooks[1])),
        mock.patch.object(torch.nn.Module, "to", keep),
        mock.patch.object(methods.dreambooth, "fp32_copy", keep),
        mock.patch.object(methods.dreambooth_lora, "fp32_copy", keep),
    ):
        yield


@contextmanager
def fake_training(
    profile: str,
    method_name: str,
    given: dict,
    resolution: int,
    autocast: torch.dtype | None,
    optimizer_device: str = "cpu",
) -> Iterator[FakeTraining]:
    """The method's training step for a stand-in subject, built on fake tensors; valid inside the block.

    `optimizer_device` is the device `make_optimizer` builds for ("cuda": the fused
    AdamW a GPU run uses; it runs on fake CPU tensors too). Raises BenchError for an
    option, profile or method this cannot trace. The step is built outside any
    tracking the caller adds: its caches (latents, prompt states) are a few MiB at
    512 px, and their encoder passes run before training, not at its peak.
    """
    from diffusers import DDPMScheduler
    from torch._subclasses.fake_tensor import FakeTensorMode

    from benchmark.config import build_config
    from benchmark.errors import BenchError
    from benchmark.models.loading import BUILTINS, load_base_components
    from benchmark.profiles import get_profile
    from methods import training as T
    from methods.interface import MethodContext, SubjectInput
    from methods.registry import get_method_class, resolve_options
    from methods.training_step import TrainingStep

    if method_name not in SUPPORTED_METHODS:
        raise BenchError(f"supported methods: {', '.join(SUPPORTED_METHODS)}")
    config = build_config(overrides={"profile": profile})
    source = config.model_sources()["base"]
    if source not in BUILTINS:
        raise BenchError(f"profile {profile} loads weights from disk; use one with built-in weights")
    cls = get_method_class(method_name)
    options = resolve_options(cls, given, profile)
    if not options["cache_latents"]:
        raise BenchError("cache_latents=false draws image indices as data, which fake tensors do not hold")
    prior = bool(options["prior_preservation"])
    with FakeTensorMode(), torch.device("cpu"), fake_friendly_modules():
        base = load_base_components(source, "built in")
        context = MethodContext(
            config=config,
            profile=get_profile(profile),
            generation=config.resolved_generation(),
            device=torch.device("cpu"),
            model_locations={"base": "built in"},
            cache_dir=None,
        )
        # the method's tokenizer and identifier come from it
        context.__dict__["base_components"] = base
        method = cls(context, options)
        unet, text_encoder, params = method.trainable_modules(base)
        if options["gradient_checkpointing"]:
            unet.enable_gradient_checkpointing()
            if text_encoder.training:
                text_encoder.gradient_checkpointing_enable()
        vae = base["vae"]
        subject = SubjectInput("dog", "dog", True, ())

        def latents() -> T.LatentSource:
            return T.LatentSource(vae, torch.rand(IMAGES_PER_SOURCE, 3, resolution, resolution) * 2 - 1)

        step = TrainingStep(
            method,
            subject,
            forward=unet,
            text_encoder=text_encoder,
            params=params,
            optimizer=T.make_optimizer(params, options["learning_rate"], options, torch.device(optimizer_device)),
            scheduler=DDPMScheduler.from_config(base["scheduler_config"]),
            scaling=vae.config.scaling_factor,
            instance_latents=latents(),
            prior_latents=latents() if prior else None,
            class_prompt=options["class_prompt"].format(subject.class_noun) if prior else None,
            generator=torch.Generator("cpu").manual_seed(0),
            autocast=autocast,
        )
        yield FakeTraining(step, options, unet, text_encoder, vae, params)
