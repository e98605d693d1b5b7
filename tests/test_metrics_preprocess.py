"""Backbone preprocessing against a hand computation with PIL and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmark.metrics.preprocess import CLIP_PREPROCESS, DINO_PREPROCESS, IMAGENET_MEAN, IMAGENET_STD


def gradient(width: int, height: int) -> Image.Image:
    """Red ramps left to right, green top to bottom, blue constant: any misplaced crop shows."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 77)], axis=-1).astype(np.uint8))


def by_hand(image: Image.Image, short: int, crop: int, mean, std) -> np.ndarray:
    width, height = image.size
    scale = short / min(width, height)
    size = (short, int(height * scale)) if width <= height else (int(width * scale), short)
    resized = np.asarray(image.resize(size, Image.BICUBIC), dtype=np.float64) / 255
    top, left = round((size[1] - crop) / 2), round((size[0] - crop) / 2)
    cropped = resized[top : top + crop, left : left + crop]
    return ((cropped - np.array(mean)) / np.array(std)).transpose(2, 0, 1)


@pytest.mark.parametrize("spec", [DINO_PREPROCESS, CLIP_PREPROCESS], ids=["dino", "clip"])
def test_preprocessing_matches_hand_computation_on_a_gradient(spec):
    # landscape: the SHORTER side goes to `resize`
    image = gradient(300, 200)
    tensor = spec.transform()(image).numpy()
    assert tensor.shape == (3, spec.crop, spec.crop)
    np.testing.assert_allclose(tensor, by_hand(image, spec.resize, spec.crop, spec.mean, spec.std), atol=1e-5)


def test_dino_resizes_to_256_then_crops_224_with_imagenet_statistics():
    assert DINO_PREPROCESS.id == "resize256-bicubic|crop224|imagenet-norm"
    # a flat colour survives resize and crop, so every output value is (c / 255 - mean) / std exactly
    flat = Image.new("RGB", (512, 512), (255, 128, 0))
    tensor = DINO_PREPROCESS.transform()(flat).numpy()
    expected = [(255 / 255 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], (128 / 255 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]]
    expected.append((0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2])
    np.testing.assert_allclose(tensor.reshape(3, -1).mean(axis=1), expected, atol=1e-5)
    np.testing.assert_allclose(tensor.reshape(3, -1).std(axis=1), 0, atol=1e-5)
    # 256 then 224 keeps the central 7/8 of a square image; 224 then 224 (CLIP) keeps all of it
    ramp = gradient(512, 512)
    dino_red = DINO_PREPROCESS.transform()(ramp).numpy()[0, 0, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    clip_red = CLIP_PREPROCESS.transform()(ramp).numpy()[0, 0, 0] * CLIP_PREPROCESS.std[0] + CLIP_PREPROCESS.mean[0]
    # crop starts 16 px into the 256 px ramp
    assert dino_red == pytest.approx(16 / 256, abs=0.01)
    assert clip_red == pytest.approx(0.0, abs=0.01)


def test_clip_preprocessing_is_open_clips_own():
    import open_clip
    import torch

    reference = open_clip.image_transform(224, is_train=False)
    for image in (gradient(640, 480), gradient(31, 57).convert("RGBA")):
        assert torch.equal(CLIP_PREPROCESS.transform()(image), reference(image.convert("RGB")))
