"""Peak training memory of a method at SD-1.5 size, estimated without a GPU (or the memory to run it).

    python benchmarks/estimate_training_memory.py                       # dreambooth, frozen text encoder, 512 px
    python benchmarks/estimate_training_memory.py --set train_text_encoder=true --set gradient_checkpointing=true

The method's own code builds what trains (`trainable_modules`) and its optimizer
(`make_optimizer`), and runs full steps of its training (`TrainingStep`, the
very step `DreamBooth._train` repeats: instance and prior latents, text encoding
or its cache, the denoising forward, the loss, backward, clipping, AdamW), all
under PyTorch's FakeTensorMode: every tensor has its real shape and
dtype but no storage, so an 860M-parameter UNet costs nothing here. PyTorch's
MemTracker records the live tensor bytes at the peak, by kind.

It is an estimate. It runs on the CPU device, with CPU bf16 autocast standing in
for CUDA's (the same layers run in bf16); CUDA adds its context (about 0.5-1 GiB),
cuBLAS/cuDNN workspaces and allocator fragmentation (typically 5-15%), and its
flash attention keeps less than CPU attention. A GPU run of `bench_speedups.py
--profile sd15-random --device cuda` measures the real peak. Tracing is slow
(about a minute per step for SD-1.5's UNet on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from unittest import mock

import torch

CARD_GIB = 24
# Images behind each latent source: DreamBench subjects have 3-6 photos; the cached posterior of a real run's
# 200 class images is 26 MiB at 512 px, too little to matter, so the prior half draws from as few.
IMAGES_PER_SOURCE = 4


class OneCall(torch.nn.Module):
    """Runs a function as the forward of one parent module.

    MemTracker takes a module run twice at top level for the next iteration and
    refuses it; a real step runs the text encoder twice (instance and class
    prompts) and the VAE once per latent source. Inside a parent they are
    submodule calls, which it tracks. Only forward passes may run inside one: a
    backward inside it loses the module tracking its place.
    """

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self):
        return self.function()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="sd15-random", help="a profile with built-in weights: sd15-random, tiny")
    parser.add_argument("--method", default="dreambooth")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2, help="Training steps traced (the peak is reached by step 2)")
    parser.add_argument("--autocast", default="bf16", choices=["bf16", "no"], help="What the GPU path would use")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        help="Method option key=value (default: train_text_encoder=false)")  # fmt: skip
    args = parser.parse_args()

    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    from benchmark.config import build_config, parse_assignment
    from benchmark.errors import BenchError
    from benchmark.models.loading import BUILTINS, load_base_components
    from benchmark.profiles import get_profile
    from methods import training as T
    from methods.interface import MethodContext, SubjectInput
    from methods.registry import get_method_class, resolve_options
    from methods.training_step import TrainingStep

    given = {"train_text_encoder": False}
    try:
        for text in args.assignments:
            key, value = parse_assignment(text)
            given[".".join(key)] = value
        config = build_config(overrides={"profile": args.profile})
        source = config.model_sources()["base"]
        if source not in BUILTINS:
            raise BenchError(f"profile {args.profile} loads weights from disk; use one with built-in weights")
        cls = get_method_class(args.method)
        options = resolve_options(cls, given, args.profile)
    except BenchError as exc:
        sys.exit(f"estimate_training_memory: error: {exc}")
    if args.method not in ("dreambooth", "dreambooth-no-prior", "dreambooth-lora"):
        sys.exit("estimate_training_memory: error: supported methods: dreambooth, dreambooth-no-prior, dreambooth-lora")
    if not options["cache_latents"]:
        sys.exit("estimate_training_memory: error: cache_latents=false draws image indices as data, which fake "
                 "tensors do not hold; the cache changes no training memory beyond a few MiB")  # fmt: skip

    started = time.perf_counter()
    device = torch.device("cpu")
    amp = torch.bfloat16 if args.autocast == "bf16" else None
    batch = options["train_batch_size"]
    prior = bool(options["prior_preservation"])
    with FakeTensorMode(), torch.device("cpu"), fake_friendly_modules():
        base = load_base_components(source, "built in")
        context = MethodContext(
            config=config, profile=get_profile(args.profile), generation=config.resolved_generation(),
            device=device, model_locations={"base": "built in"}, cache_dir=None,
        )  # fmt: skip
        context.__dict__["base_components"] = base  # the method's tokenizer and identifier come from it
        method = cls(context, options)
        unet, text_encoder, params = method.trainable_modules(base)
        vae = base["vae"]
        if options["gradient_checkpointing"]:
            unet.enable_gradient_checkpointing()
            if text_encoder.training:
                text_encoder.gradient_checkpointing_enable()
        optimizer = T.make_optimizer(params, options["learning_rate"], options, device)
        from diffusers import DDPMScheduler

        tracker = MemTracker()
        tracker.track_external(unet, text_encoder, vae, optimizer)
        subject = SubjectInput("dog", "dog", True, ())

        def latents() -> T.LatentSource:
            pixels = torch.rand(IMAGES_PER_SOURCE, 3, args.resolution, args.resolution) * 2 - 1
            return T.LatentSource(vae, pixels, cache=options["cache_latents"])

        # Built before tracking: what it keeps (cached latents and prompt states) is a few MiB at 512 px, and its
        # encoder passes happen before training, not at its peak.
        step = TrainingStep(
            method,
            subject,
            forward=unet,
            text_encoder=text_encoder,
            params=params,
            optimizer=optimizer,
            scheduler=DDPMScheduler.from_config(base["scheduler_config"]),
            scaling=vae.config.scaling_factor,
            instance_latents=latents(),
            prior_latents=latents() if prior else None,
            class_prompt=options["class_prompt"].format(subject.class_noun) if prior else None,
            generator=torch.Generator("cpu").manual_seed(0),
            autocast=amp,
        )
        with tracker:
            for number in range(args.steps):
                step.run(forward_pass=lambda micro_batch: OneCall(micro_batch)())
                tracker.reset_mod_stats()
                print(f"traced step {number + 1}/{args.steps} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        peak = tracker.get_tracker_snapshot("peak")[device]

    mib = {str(kind).split(".")[-1].split(":")[0].lower(): value / 2**20 for kind, value in peak.items()}
    total = mib.pop("total")
    trained = sum(p.numel() for p in params)
    halves = f"{batch} instance + {batch} prior" if prior else f"{batch} instance"
    print(f"estimated peak tensor memory: {args.method}, profile {args.profile}, {args.resolution} px, "
          f"batch {halves}, autocast {args.autocast}")  # fmt: skip
    print(f"options: text encoder {'trained' if options['train_text_encoder'] else 'frozen'}, gradient checkpointing "
          f"{'on' if options['gradient_checkpointing'] else 'off'}, {'8-bit' if options['use_8bit_adam'] else 'fp32'} "
          f"AdamW states, {trained / 1e6:.0f}M trained parameters")  # fmt: skip
    names = {"param": "weights", "buffer": "buffers", "grad": "gradients", "act": "activations",
             "temp": "temporaries", "opt": "optimizer state", "oth": "other"}  # fmt: skip
    print("| kind | MiB at peak |")
    print("| --- | --- |")
    for kind, value in mib.items():
        if value >= 0.5:
            print(f"| {names.get(kind, kind)} | {value:.0f} |")
    print(f"| total, training | {total:.0f} |")
    # The half-precision sampling copies of the base model (class images, evaluation) are released before
    # training starts (MethodContext.release_generation_copies), so they are not part of the training peak.
    projected = (total * 1.15 + 1024) / 1024
    verdict = "fits" if projected <= CARD_GIB else "does not fit"
    print(
        f"with CUDA's context (+1 GiB) and 15% fragmentation: {projected:.1f} GiB, {verdict} a {CARD_GIB} GiB card "
        f"(estimate; traced in {time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
