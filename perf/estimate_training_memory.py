"""Peak training memory of a method at SD-1.5 size, estimated without a GPU (or the memory to run it).

    python perf/estimate_training_memory.py                       # dreambooth, frozen text encoder, 512 px
    python perf/estimate_training_memory.py --set train_text_encoder=true --set gradient_checkpointing=true

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
from pathlib import Path

import torch

# the sibling scripts, when imported from elsewhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_training import fake_training  # noqa: E402

CARD_GIB = 24


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="sd15-random", help="a profile with built-in weights: sd15-random, tiny")
    parser.add_argument("--method", default="dreambooth")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2, help="Training steps traced (the peak is reached by step 2)")
    parser.add_argument("--autocast", default="bf16", choices=["bf16", "no"], help="What the GPU path would use")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        help="Method option key=value (default: train_text_encoder=false)",
    )
    args = parser.parse_args()

    from torch.distributed._tools.mem_tracker import MemTracker

    from benchmark.config import parse_assignment
    from benchmark.errors import BenchError

    given = {"train_text_encoder": False}
    started = time.perf_counter()
    device = torch.device("cpu")
    try:
        for text in args.assignments:
            key, value = parse_assignment(text)
            given[".".join(key)] = value
        amp = torch.bfloat16 if args.autocast == "bf16" else None
        with fake_training(args.profile, args.method, given, args.resolution, amp) as traced:
            step, options, params = traced.step, traced.options, traced.params
            tracker = MemTracker()
            tracker.track_external(traced.unet, traced.text_encoder, traced.vae, step.optimizer)
            with tracker:
                for number in range(args.steps):
                    step.run(forward_pass=lambda micro_batch: OneCall(micro_batch)())
                    tracker.reset_mod_stats()
                    print(
                        f"traced step {number + 1}/{args.steps} ({time.perf_counter() - started:.0f} s)",
                        file=sys.stderr,
                    )
            peak = tracker.get_tracker_snapshot("peak")[device]
    except BenchError as exc:
        sys.exit(f"estimate_training_memory: error: {exc}")
    batch = options["train_batch_size"]
    prior = bool(options["prior_preservation"])

    mib = {str(kind).split(".")[-1].split(":")[0].lower(): value / 2**20 for kind, value in peak.items()}
    total = mib.pop("total")
    trained = sum(p.numel() for p in params)
    halves = f"{batch} instance + {batch} prior" if prior else f"{batch} instance"
    print(
        f"estimated peak tensor memory: {args.method}, profile {args.profile}, {args.resolution} px, "
        f"batch {halves}, autocast {args.autocast}"
    )
    print(
        f"options: text encoder {'trained' if options['train_text_encoder'] else 'frozen'}, gradient checkpointing "
        f"{'on' if options['gradient_checkpointing'] else 'off'}, {'8-bit' if options['use_8bit_adam'] else 'fp32'} "
        f"AdamW states, {trained / 1e6:.0f}M trained parameters"
    )
    names = {
        "param": "weights",
        "buffer": "buffers",
        "grad": "gradients",
        "act": "activations",
        "temp": "temporaries",
        "opt": "optimizer state",
        "oth": "other",
    }
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
