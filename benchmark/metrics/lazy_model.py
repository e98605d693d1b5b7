"""A scoring model built on first use, named by its id and weights fingerprint.

Below `backbones` and `perceptual`, which both build on it, so neither imports the other for it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import torch

from benchmark.devices import resolve_device

DEFAULT_BATCH_SIZE = 32


class LazyModel:
    """A scoring model named by its id and weights fingerprint, built on first use.

    A fully cached re-score then never builds (or even locates) the real model.
    """

    def __init__(
        self,
        id: str,
        weights: str | Callable[[], str],
        build: Callable[[], torch.nn.Module],
        device: str | torch.device = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        self.id = id
        self._weights = weights
        self._build = build
        self.device = resolve_device(device)
        self.batch_size = max(1, int(batch_size))

    @cached_property
    def weights(self) -> str:
        return self._weights() if callable(self._weights) else self._weights

    @property
    def cache_key(self) -> str:
        return f"{self.id}#{self.weights}"

    @cached_property
    def model(self) -> torch.nn.Module:
        return self._build().to(self.device).eval()
