"""How many PyTorch ops one training step dispatches, at SD-1.5 size, without a GPU.

    python benchmarks/count_step_ops.py                                   # dreambooth, text encoder trained
    python benchmarks/count_step_ops.py --set train_text_encoder=false --top 5

Why: on an H200 the DreamBooth step at batch 1 + 1 looked bound by the host (the
CPU dispatching ops), not by GPU arithmetic. Then every op costs host time
whatever its size, and the op count per step is the number to bring down (by
fusing with torch.compile, replaying with CUDA graphs, or dispatching fewer ops).
This counts them on fake tensors (shapes, no storage), so it runs anywhere in
seconds: the method's own modules, optimizer and `TrainingStep`, with what CUDA
would use (bf16 autocast, fused AdamW, foreach gradient clipping). Counted below
autograd, so the backward pass's ops are included; one op here may be several
kernels (or none: views) on a GPU. A GPU run of `profile_training_step.py`
counts real ops and launches.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from functools import partial
from pathlib import Path
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling scripts, when imported from elsewhere

from estimate_training_memory import IMAGES_PER_SOURCE, fake_friendly_modules  # noqa: E402

SUPPORTED_METHODS = ("dreambooth", "dreambooth-no-prior", "dreambooth-lora")  # TI's tokenizer copy needs real tensors


class OpCounter(TorchDispatchMode):
    """Counts every aten op dispatched while active (prim ops, which are metadata queries, left out)."""

    def __init__(self):
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        if not name.startswith("prim."):
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def count_step_ops(profile: str, method_name: str, given: dict, resolution: int) -> Counter:
    """The ops of one steady training step (a first step runs before, so lazy state such as Adam's exists)."""
    from diffusers import DDPMScheduler
    from torch._subclasses.fake_tensor import FakeTensorMode

    from benchmark.config import build_config
    from benchmark.errors import BenchError
    from benchmark.models.loading import load_base_components
    from benchmark.profiles import get_profile
    from methods import training as T
    from methods.interface import MethodContext, SubjectInput
    from methods.registry import get_method_class, resolve_options
    from methods.training_step import TrainingStep

    config = build_config(overrides={"profile": profile})
    cls = get_method_class(method_name)
    options = resolve_options(cls, given, profile)
    if not options["cache_latents"]:
        raise BenchError("cache_latents=false draws image indices as data, which fake tensors do not hold")
    prior = bool(options["prior_preservation"])
    clip_as_on_cuda = partial(torch.nn.utils.clip_grad_norm_, foreach=True)  # CUDA's default, explicit on CPU
    with (
        FakeTensorMode(),
        torch.device("cpu"),
        fake_friendly_modules(),
        mock.patch.object(torch.nn.utils, "clip_grad_norm_", clip_as_on_cuda),
    ):
        base = load_base_components(config.model_sources()["base"], "built in")
        context = MethodContext(
            config=config, profile=get_profile(profile), generation=config.resolved_generation(),
            device=torch.device("cpu"), model_locations={"base": "built in"}, cache_dir=None,
        )  # fmt: skip
        context.__dict__["base_components"] = base
        method = cls(context, options)
        unet, text_encoder, params = method.trainable_modules(base)
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
            optimizer=T.make_optimizer(params, options["learning_rate"], options, torch.device("cuda")),  # fused
            scheduler=DDPMScheduler.from_config(base["scheduler_config"]),
            scaling=vae.config.scaling_factor,
            instance_latents=latents(),
            prior_latents=latents() if prior else None,
            class_prompt=options["class_prompt"].format(subject.class_noun) if prior else None,
            generator=torch.Generator("cpu").manual_seed(0),
            autocast=torch.bfloat16,
        )
        step.run()
        counter = OpCounter()
        with counter:
            step.run()
    return counter.counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="sd15-random", help="a profile with built-in weights: sd15-random, tiny")
    parser.add_argument("--method", default="dreambooth", choices=SUPPORTED_METHODS)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--top", type=int, default=10, help="The most frequent ops to list")
    parser.add_argument("--set", dest="assignments", action="append", default=[], help="Method option key=value")
    args = parser.parse_args()

    from benchmark.config import parse_assignment
    from benchmark.errors import BenchError

    given = {}
    try:
        for text in args.assignments:
            key, value = parse_assignment(text)
            given[".".join(key)] = value
        counts = count_step_ops(args.profile, args.method, given, args.resolution)
    except BenchError as exc:
        sys.exit(f"count_step_ops: error: {exc}")
    print(f"ops dispatched by one training step: {args.method}, profile {args.profile}, {args.resolution} px, "
          f"options {given or 'defaults'} (bf16 autocast, fused AdamW, foreach clipping, as on CUDA)")  # fmt: skip
    print(f"| op | count |\n| --- | --- |\n| all ops | {sum(counts.values())} |")
    for name, count in counts.most_common(args.top):
        print(f"| {name} | {count} |")


if __name__ == "__main__":
    main()
