"""Random-weight scoring backbones for the `tiny` profile.

Same architecture families and the same preprocessing, tokenizer and pooling code
as the real backbones, at toy width and depth, so every scoring path runs on a CPU
in seconds with no download. They are built under the tiny profile's fixed seed
(`benchmark.models.tiny._seeded`), so every process gets bit-identical weights and
a shared embedding cache stays valid. Their numbers mean nothing.
"""

from __future__ import annotations

import torch

from benchmark.models.tiny import _seeded
from benchmark.models.tokenizer import CLIP_VOCAB_SIZE, MODEL_MAX_LENGTH

TINY_DINO_CONFIG = {
    "img_size": 224,
    "patch_size": 16,
    "embed_dim": 32,
    "depth": 2,
    "num_heads": 2,
    "mlp_ratio": 2.0,
    # no head: the CLS token is the feature, as with the real DINO weights
    "num_classes": 0,
}

TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "patch_size": 32, "width": 32, "layers": 2, "head_width": 16},
    # The real CLIP BPE vocabulary and context, tokenized by open_clip's own tokenizer.
    "text_cfg": {
        "context_length": MODEL_MAX_LENGTH,
        "vocab_size": CLIP_VOCAB_SIZE,
        "width": 32,
        "heads": 2,
        "layers": 2,
    },
    # OpenAI CLIP's activation
    "quick_gelu": True,
}


def tiny_dino() -> torch.nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    return _seeded(lambda: VisionTransformer(**TINY_DINO_CONFIG))


def tiny_clip() -> torch.nn.Module:
    import copy

    import open_clip

    return _seeded(lambda: open_clip.CLIP(**copy.deepcopy(TINY_CLIP_CONFIG)))


def tiny_lpips() -> torch.nn.Module:
    """LPIPS with a random AlexNet trunk (`pnet_rand=True`: nothing downloads); linear layers ship with lpips."""
    import warnings

    import lpips

    with warnings.catch_warnings():
        # torchvision's deprecation notice for `pretrained=`
        warnings.simplefilter("ignore")
        return _seeded(lambda: lpips.LPIPS(net="alex", pnet_rand=True, verbose=False))
