"""LPIPS distances for DIV, through the maintained `lpips` package (AlexNet, v0.1).

LPIPS is pairwise, not an embedding, so DIV caches one distance per image pair
instead. Images are compared at their native resolution, mapped to [-1, 1] as
LPIPS expects; the trunk is torchvision's ImageNet AlexNet. The real trunk is read
from torch hub's cache (or a local file), never downloaded: `lpips` would otherwise
fetch it silently through torchvision.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from benchmark.errors import BenchError
from benchmark.metrics import sources
from benchmark.metrics.lazy_model import DEFAULT_BATCH_SIZE, LazyModel
from benchmark.metrics.weights import fingerprint, parameter_fingerprint, read_state_dict
from benchmark.models.loading import (
    BUILTIN_TINY,
    POCKET_HINT,
    POCKET_PREFIX,
    TORCHHUB_PREFIX,
    pocket_file,
    torchhub_file,
)

# lpips' AlexNet wrapper slices torchvision's `features` into 5 blocks: feature index -> slice.
_ALEX_SLICES = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


class LpipsScorer(LazyModel):
    """Batched LPIPS distance between image pairs."""

    @staticmethod
    def _pixels(image, size: tuple[int, int] | None = None) -> torch.Tensor:
        from PIL import Image

        image = image.convert("RGB")
        if size is not None and image.size != size:
            # only for odd external images of unequal sizes
            image = image.resize(size, Image.BICUBIC)
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(array).permute(2, 0, 1)

    @torch.no_grad()
    def distances(self, pairs: Sequence[tuple]) -> np.ndarray:
        """LPIPS(a, b) for each (PIL a, PIL b); b is resized to a's size if they differ."""
        out = np.zeros(len(pairs), dtype=np.float64)
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, (first, _) in enumerate(pairs):
            by_size.setdefault(first.size, []).append(index)
        for size, indices in by_size.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                left = torch.stack([self._pixels(pairs[i][0]) for i in chunk]).to(self.device)
                right = torch.stack([self._pixels(pairs[i][1], size) for i in chunk]).to(self.device)
                values = self.model(left, right).flatten().double().cpu().numpy()
                out[chunk] = values
        return out


def _alexnet_file(source: str, profile: str) -> Path:
    if source.startswith(TORCHHUB_PREFIX):
        path = torchhub_file(source)
    elif source.startswith(POCKET_PREFIX):
        path = pocket_file(source)
        if not path.is_file():
            raise BenchError(f"missing weights: lpips={source} ({path} does not exist; {POCKET_HINT})")
    else:
        path = Path(source).expanduser()
    if not path.is_file():
        raise BenchError(
            f"missing weights: lpips={source} (AlexNet ImageNet weights not found at {path}). DIV uses LPIPS with "
            f"torchvision's AlexNet: fetch it with `bench models download --profile {profile}` or, on a connected "
            "machine, `python -c \"import torchvision; torchvision.models.alexnet(weights='IMAGENET1K_V1')\"`, "
            "or point --set models.lpips=/path/alexnet-owt-7be5be79.pth at a copy"
        )
    return path


def _build_real_lpips(alexnet_file: Path) -> torch.nn.Module:
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # trunk filled in below, no download
        model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    state = read_state_dict(alexnet_file)
    trunk = {}
    for index, block in _ALEX_SLICES.items():
        for param in ("weight", "bias"):
            key = f"features.{index}.{param}"
            if key not in state:
                raise BenchError(f"{alexnet_file} is not torchvision AlexNet weights (no {key})")
            trunk[f"slice{block}.{index}.{param}"] = state[key]
    model.net.load_state_dict(trunk, strict=True)
    return model


def _lpips_version() -> str:
    from importlib import metadata

    return metadata.version("lpips")


def load_lpips(source: str, profile: str, device="cpu", batch_size: int = DEFAULT_BATCH_SIZE) -> LpipsScorer:
    if source == BUILTIN_TINY:
        from benchmark.metrics.tiny_backbones import tiny_lpips

        model = tiny_lpips()
        return LpipsScorer(sources.lpips_id(source), parameter_fingerprint(model), lambda: model, device, batch_size)
    alexnet_file = _alexnet_file(source, profile)
    return LpipsScorer(
        sources.lpips_id(source),
        # the linear layers ship with lpips
        lambda: f"{fingerprint(alexnet_file)}+lpips-{_lpips_version()}",
        lambda: _build_real_lpips(alexnet_file),
        device,
        batch_size,
    )
