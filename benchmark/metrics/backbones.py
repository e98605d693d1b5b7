"""Image and text embedding backbones behind one small interface.

A backbone turns PIL images (and, for CLIP, texts) into float32 rows; it owns its
preprocessing and pooling, so the metric code only ever sees embeddings. Each one
carries an `id` (backbone, weights, preprocessing, pooling; printed with results)
and a `cache_key` (the id plus a weights fingerprint; keys the embedding cache).
Real weights load lazily, on the first cache miss: re-scoring a run whose
embeddings are all cached never touches the model files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from benchmark.errors import BenchError
from benchmark.metrics import sources
from benchmark.metrics.lazy_model import DEFAULT_BATCH_SIZE, LazyModel
from benchmark.metrics.preprocess import CLIP_PREPROCESS, DINO_PREPROCESS, PreprocessSpec
from benchmark.metrics.weights import (
    fingerprint,
    locate_or_fail,
    parameter_fingerprint,
    pick_file,
    read_state_dict,
)
from benchmark.models.loading import BUILTIN_TINY
from benchmark.profiles import get_profile


def _batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ImageBackbone(LazyModel):
    """Batched, no-grad image embedding with a fixed preprocessing spec."""

    def __init__(
        self,
        id: str,
        weights: str | Callable[[], str],
        build: Callable[[], torch.nn.Module],
        preprocess: PreprocessSpec,
        device: str | torch.device = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        super().__init__(id, weights, build, device, batch_size)
        self.preprocess = preprocess

    @cached_property
    def _transform(self):
        return self.preprocess.transform()

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def embed_images(self, images: Sequence) -> np.ndarray:
        """(len(images), dim) float32 embeddings; PIL images in, any mode or size."""
        rows = []
        for chunk in _batches(list(images), self.batch_size):
            pixels = torch.stack([self._transform(image) for image in chunk]).to(self.device)
            rows.append(self._forward(pixels).float().cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


class DinoBackbone(ImageBackbone):
    """A timm ViT; the feature is the CLS token after the final norm, before any head (DINO's `dino_vits16`)."""

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(pixels)[:, 0]


class ClipBackbone(ImageBackbone):
    """An open_clip CLIP: L2-normalized projected image embeddings, and text embeddings for CLIP-T."""

    def __init__(self, *args, text_id: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.text_id = text_id

    @property
    def text_cache_key(self) -> str:
        return f"{self.text_id}#{self.weights}"

    @cached_property
    def tokenizer(self):
        from open_clip.tokenizer import SimpleTokenizer

        return SimpleTokenizer(context_length=self.model.context_length)

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.model.encode_image(pixels), dim=-1)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for chunk in _batches(list(texts), self.batch_size):
            tokens = self.tokenizer(list(chunk)).to(self.device)
            rows.append(torch.nn.functional.normalize(self.model.encode_text(tokens), dim=-1).float().cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


# ----------------------------------------------------------------- real weights
def _dino_architecture(source: str, location: Path) -> tuple[str, dict]:
    """timm's architecture name and its `model_args` (a timm hub config's overrides: the pocket world's DINO
    role is a smaller ViT than any named one)."""
    config = location / "config.json" if location.is_dir() else location.parent / "config.json"
    if config.is_file():
        try:
            data = json.loads(config.read_text())
            return data["architecture"], dict(data.get("model_args") or {})
        except (ValueError, KeyError, TypeError):
            pass
    if source.startswith("timm/"):
        return source.split("/", 1)[1].split(".", 1)[0], {}
    return "vit_small_patch16_224", {}


def _build_dino(source: str, architecture: tuple[str, dict], weights_file: Path) -> torch.nn.Module:
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    name, model_args = architecture
    model = timm.create_model(name, pretrained=False, num_classes=0, **model_args)
    state = checkpoint_filter_fn(read_state_dict(weights_file), model)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys:
        missing = ", ".join(result.missing_keys[:3])
        raise BenchError(f"{weights_file} does not fit {name} for dino={source}: missing {missing}")
    return model


def _build_clip(source: str, location: Path, quick_gelu: bool) -> torch.nn.Module:
    import open_clip

    try:
        if location.is_dir() and (location / "open_clip_config.json").is_file():
            # open_clip's own folder format (the hub repo timm/vit_base_patch32_clip_224.openai has it); its config
            # is not trusted to name OpenAI's activation (sources.clip_quick_gelu decides).
            return open_clip.create_model(f"local-dir:{location}", force_quick_gelu=quick_gelu)
        # A bare checkpoint (open_clip state dict, or OpenAI's ViT-B-32.pt) for ViT-B/32 with OpenAI's QuickGELU.
        return open_clip.create_model("ViT-B-32", pretrained=str(location), force_quick_gelu=quick_gelu)
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"could not load clip={source} from {location}: {str(exc).splitlines()[0]}") from None


_OPEN_CLIP_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "ViT-B-32.pt",
)
_TIMM_FILES = ("model.safetensors", "pytorch_model.bin")


def load_dino(source: str, profile: str, device="cpu", batch_size=DEFAULT_BATCH_SIZE) -> DinoBackbone:
    if source == BUILTIN_TINY:
        from benchmark.metrics.tiny_backbones import tiny_dino

        model = tiny_dino()
        return DinoBackbone(
            sources.dino_id(source), parameter_fingerprint(model), lambda: model, DINO_PREPROCESS, device, batch_size
        )
    location = locate_or_fail("dino", source, profile)
    weights_file = pick_file(location, _TIMM_FILES, "dino", source, profile)
    architecture = _dino_architecture(source, location)
    return DinoBackbone(
        sources.dino_id(source),
        lambda: fingerprint(weights_file),
        lambda: _build_dino(source, architecture, weights_file),
        DINO_PREPROCESS,
        device,
        batch_size,
    )


def load_clip(source: str, profile: str, device="cpu", batch_size=DEFAULT_BATCH_SIZE) -> ClipBackbone:
    if source == BUILTIN_TINY:
        from benchmark.metrics.tiny_backbones import tiny_clip

        model = tiny_clip()
        return ClipBackbone(
            sources.clip_image_id(source),
            parameter_fingerprint(model),
            lambda: model,
            CLIP_PREPROCESS,
            device,
            batch_size,
            text_id=sources.clip_text_id(source),
        )
    location = locate_or_fail("clip", source, profile)
    weights_file = pick_file(location, _OPEN_CLIP_FILES, "clip", source, profile)
    build_from = location if location.is_dir() and (location / "open_clip_config.json").is_file() else weights_file
    quick_gelu = sources.clip_quick_gelu(source, build_from)
    return ClipBackbone(
        sources.clip_image_id(source, quick_gelu),
        lambda: fingerprint(weights_file),
        lambda: _build_clip(source, build_from, quick_gelu),
        CLIP_PREPROCESS,
        device,
        batch_size,
        text_id=sources.clip_text_id(source, quick_gelu),
    )


def load_backbone(
    kind: str,
    profile_name: str,
    source: str | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
):
    """One scoring model by role ('dino', 'clip' or 'lpips'); `source` defaults to the profile's."""
    profile = get_profile(profile_name)
    source = source or sources.resolve_source(kind, profile)
    if kind == "dino":
        return load_dino(source, profile.name, device, batch_size)
    if kind == "clip":
        return load_clip(source, profile.name, device, batch_size)
    if kind == "lpips":
        from benchmark.metrics.perceptual import load_lpips

        return load_lpips(source, profile.name, device, batch_size)
    raise BenchError(f"unknown backbone kind '{kind}'; choose one of: {', '.join(sources.ROLES)}")
