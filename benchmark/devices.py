"""Turning a device name from the config into a torch device, with a clear error when it is absent.

torch is imported inside the functions: the config checks device names while it is
parsed, and `bench ls` or `--help` should not wait for torch to load.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from benchmark.errors import BenchError

if TYPE_CHECKING:
    import torch

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def check_device_name(name: str) -> None:
    """auto, cpu, cuda, cuda:N or mps: anything else is a one-line error before any work (not torch's traceback)."""
    if name in DEVICE_NAMES or re.fullmatch(r"cuda:\d+", name):
        return
    raise BenchError(f"device '{name}' is not one of: {', '.join(DEVICE_NAMES)} or cuda:N")


def resolve_device(name: str | torch.device, must_exist: bool = True) -> torch.device:
    """`auto` is the first GPU when there is one, else the CPU; `must_exist=False` takes a named one on trust."""
    import torch

    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device_name(str(name))
    device = torch.device(name)
    if not must_exist:
        return device
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise BenchError("device 'mps' requested but this machine has no MPS (Apple GPU) backend")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"device '{name}' requested but CUDA is not available (torch {torch.__version__})")
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and (device.index or 0) >= count:
        raise BenchError(f"device '{name}' requested but this machine has {count} GPU(s): cuda:0..cuda:{count - 1}")
    return device


def device_name(device: torch.device) -> str:
    """The device type, and a GPU's model: what decides how a kernel rounds, and so an output's bytes."""
    import torch

    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type
