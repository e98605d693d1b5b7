"""How many PyTorch ops one training step dispatches, at SD-1.5 size, without a GPU.

    python perf/count_step_ops.py                                   # dreambooth, text encoder trained
    python perf/count_step_ops.py --set train_text_encoder=false --top 5

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

# the sibling scripts, when imported from elsewhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_training import SUPPORTED_METHODS, fake_training  # noqa: E402


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
    # CUDA's default, explicit on CPU
    clip_as_on_cuda = partial(torch.nn.utils.clip_grad_norm_, foreach=True)
    with (
        fake_training(profile, method_name, given, resolution, torch.bfloat16, optimizer_device="cuda") as traced,
        mock.patch.object(torch.nn.utils, "clip_grad_norm_", clip_as_on_cuda),
    ):
        traced.step.run()
        counter = OpCounter()
        with counter:
            traced.step.run()
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
    print(
        f"ops dispatched by one training step: {args.method}, profile {args.profile}, {args.resolution} px, "
        f"options {given or 'defaults'} (bf16 autocast, fused AdamW, foreach clipping, as on CUDA)"
    )
    print(f"| op | count |\n| --- | --- |\n| all ops | {sum(counts.values())} |")
    for name, count in counts.most_common(args.top):
        print(f"| {name} | {count} |")


if __name__ == "__main__":
    main()
