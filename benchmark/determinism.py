"""Deterministic GPU kernels: what makes a CUDA run's bytes repeat on the same GPU and software.

A CPU run repeats already: its kernels reduce in a fixed order once the thread
count is pinned. On CUDA, several kernels that training uses by default are
nondeterministic (cuDNN's convolution backward may pick atomics-based
algorithms, an embedding's backward adds rows with atomics, cuBLAS splits work
by stream), so two runs of one configuration train slightly different weights
and sample different images. `deterministic=true` asks PyTorch for its
deterministic algorithms everywhere a cell runs; an operation that has none
stops with PyTorch's own error instead of quietly varying.

It changes CUDA kernels, hence rounding: a run directory holds outputs of one
setting only (checked by `RunStore.open`), since a run is reproducible only if
all of it is.
"""

from __future__ import annotations

import os

import torch

# cuBLAS's documented setting for reproducible results: a fixed workspace per stream. It must be in the
# environment before the process's first cuBLAS call, which is why the harness sets it before loading models.
CUBLAS_WORKSPACE = ":4096:8"


def applies(device: torch.device) -> bool:
    """Whether the setting changes anything on this device (only CUDA has nondeterministic defaults we use)."""
    return torch.device(device).type == "cuda"


def use_deterministic_kernels(device: torch.device) -> bool:
    """Switch this process to deterministic kernels for `device`; returns whether anything was switched."""
    if not applies(device):
        return False
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    # autotuning picks by timing, which varies from run to run
    torch.backends.cudnn.benchmark = False
    return True


def manifest_entry(device: torch.device, deterministic: bool) -> dict:
    """What `run.json` records: only for CUDA runs, so CPU run directories keep their exact manifest."""
    return {"deterministic_kernels": bool(deterministic)} if applies(device) else {}


def current_state() -> tuple:
    """What `use_deterministic_kernels` changes in this process, to put back once the cells are done here."""
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )


def restore(state: tuple) -> None:
    """Scoring after the cells (and `bench score` later) runs on the kernels it would run on anyway."""
    torch.use_deterministic_algorithms(state[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = state[1], state[2]
