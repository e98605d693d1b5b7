"""The switchable speed-ups of a diffusers UNet: attention kernel, memory layout, compilation.

Each one changes how fast a step runs, never what it computes beyond float
rounding, so each is an option that can be switched off to check exactly that
(`perf/bench_speedups.py` measures each against the plain path).

The modules they touch may be shared: Textual Inversion trains against the frozen
base UNet, and fp32 generation pipelines use the base masters themselves. So the
settings are applied explicitly by whoever runs a module, and a training run puts
them back when it ends; otherwise a later cell in the same process would round
differently depending on what ran before it, and executors would disagree.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def set_attention(module: torch.nn.Module, sdpa: bool) -> None:
    """PyTorch's fused scaled-dot-product attention, or diffusers' classic softmax(QK^T)V (the plain path)."""
    if not hasattr(module, "set_attn_processor"):
        return
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    module.set_attn_processor(AttnProcessor2_0() if sdpa else AttnProcessor())


def set_layout(module: torch.nn.Module, channels_last: bool) -> None:
    """NHWC weights for the convolutions (what GPU tensor cores want), or the default NCHW."""
    module.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def is_channels_last(module: torch.nn.Module) -> bool:
    """By exact strides: a 1x1 kernel passes `is_contiguous` for both layouts."""
    weights = [p for p in module.parameters() if p.dim() == 4]
    if not weights:
        return False
    _, c, h, w = weights[0].shape
    return weights[0].stride() == (c * h * w, 1, w * c, c)


def settings_of(module: torch.nn.Module) -> tuple[dict | None, bool]:
    """A module's attention processors (None without attention) and layout, for `restore_settings`."""
    processors = dict(module.attn_processors) if hasattr(module, "attn_processors") else None
    return processors, is_channels_last(module)


def restore_settings(module: torch.nn.Module, settings: tuple[dict | None, bool]) -> None:
    processors, channels_last = settings
    if processors is not None:
        # a copy: diffusers pops the entries it sets
        module.set_attn_processor(dict(processors))
    set_layout(module, channels_last)


@contextmanager
def applied(*modules: torch.nn.Module, sdpa: bool, channels_last: bool):
    """The settings on each module for the duration of the block, then each module's own again."""
    saved = [settings_of(module) for module in modules]
    for module in modules:
        set_attention(module, sdpa)
        set_layout(module, channels_last)
    try:
        yield
    finally:
        for module, settings in zip(modules, saved, strict=True):
            restore_settings(module, settings)


def check_compile_settings(backend: str, mode: str, prefix: str, compiling: bool = True) -> None:
    """A mistyped backend or mode fails before any work, not minutes into the first compile.

    The mode is checked even while compiling is off (a typo there is still a typo); the
    backend only when compiling, since listing backends imports torch's compiler.
    """
    from benchmark.errors import BenchError

    if mode not in COMPILE_MODES:
        raise BenchError(f"{prefix}compile_mode must be one of {', '.join(COMPILE_MODES)}, not {mode!r}")
    if not compiling:
        return
    from torch._dynamo import list_backends

    backends = list_backends(exclude_tags=())
    if backend not in backends:
        raise BenchError(
            f"{prefix}compile_backend {backend!r} is not a torch.compile backend ({', '.join(sorted(backends))})"
        )


def compiled(module: torch.nn.Module, backend: str, mode: str):
    """`torch.compile` of a module's forward; the module itself (and what it saves) is unchanged.

    The first steps pay the compilation (minutes for SD's UNet with inductor);
    `mode` applies to inductor only. Shapes stay static: by default a second
    input shape (a cell's last, smaller sampling batch) makes torch.compile build
    one graph with a symbolic batch size, which then serves every later call,
    the common full batches included, with kernels not specialised to their
    shape. Here each shape compiles once and keeps its own graph; a run has few
    (the training batch, the sampling batches).
    """
    return torch.compile(module, backend=backend, mode=mode if backend == "inductor" else None, dynamic=False)
