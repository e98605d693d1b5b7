"""Image preprocessing for the scoring backbones, pinned as data.

Backbone numbers are only comparable when the pixels reach the network the same
way, so each backbone's preprocessing is a frozen spec whose `id` is part of every
metric id and every cache key. The transform is the torchvision pipeline that the
reference implementations use (DINO's eval scripts, open_clip's `image_transform`):
resize the shorter side with PIL bicubic, center-crop, scale to [0, 1], normalize.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# OpenAI CLIP's statistics (open_clip.constants.OPENAI_DATASET_MEAN/STD).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class PreprocessSpec:
    """Resize the shorter side to `resize` (bicubic), center-crop `crop`, normalize with `mean`/`std`."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    norm_name: str

    @property
    def id(self) -> str:
        return f"resize{self.resize}-bicubic|crop{self.crop}|{self.norm_name}-norm"

    def transform(self):
        """A callable PIL.Image -> float32 tensor (3, crop, crop).

        Resize and crop are torchvision's (PIL bicubic, the reference semantics); the
        scaling and normalization are done in numpy with the same float32 operations as
        ToTensor + Normalize, which avoids torch's per-op thread overhead on small tensors.
        """
        import numpy as np
        import torch
        from torchvision import transforms

        resize = transforms.Resize(self.resize, interpolation=transforms.InterpolationMode.BICUBIC)
        crop = transforms.CenterCrop(self.crop)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)

        def apply(image) -> torch.Tensor:
            pixels = np.asarray(crop(resize(image.convert("RGB"))), dtype=np.float32) / np.float32(255)
            return torch.from_numpy(np.ascontiguousarray(((pixels - mean) / std).transpose(2, 0, 1)))

        return apply


# DINO's evaluation recipe (and DESIGN.md): Resize(256, bicubic) -> CenterCrop(224) -> ImageNet statistics.
# Note timm's own pretrained config for the .dino weights says crop_pct 0.9 (resize 248): we follow DINO.
DINO_PREPROCESS = PreprocessSpec(256, 224, IMAGENET_MEAN, IMAGENET_STD, "imagenet")
# CLIP's own preprocessing: Resize(224, bicubic) -> CenterCrop(224) -> CLIP statistics.
CLIP_PREPROCESS = PreprocessSpec(224, 224, CLIP_MEAN, CLIP_STD, "clip")
