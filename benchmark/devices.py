"""Turning a device name from the config into a torch device, with a clear error when it is absent."""

from __future__ import annotations

import torch

from benchmark.errors import BenchError


def resolve_device(name: str | torch.device, must_exist: bool = True) -> torch.device:
    """`auto` is the first GPU when there is one, else the CPU; `must_exist=False` takes a named one on trust."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if must_exist and device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"device '{name}' requested but CUDA is not available (torch {torch.__version__})")
    return device


def device_name(device: torch.device) -> str:
    """The device type, and a GPU's model: what decides how a kernel rounds, and so an output's bytes."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type
