"""Stages 5-7: the judges, trained on the world as DINO, CLIP and AlexNet were trained on theirs.

- DINO role: a timm ViT trained by instance discrimination. Its two views of an
  instance are two renders of one member (with its mark, when it has one) in
  different poses, sizes, positions and scenes, which is what "the same subject" means
  in DreamBench's photos. Saved as a timm hub folder (config.json + model.safetensors).
- CLIP role: an open_clip model trained contrastively on (image, caption) pairs of the
  judges' stream. Saved as an open_clip folder (open_clip_config.json + weights),
  the `local-dir:` layout.
- LPIPS trunk: torchvision's AlexNet `features`, trained to tell class, context,
  outfit and property apart; DIV's LPIPS reads it like the real AlexNet file.

The judges' stream may carry signature-family marks (a web-trained judge has seen
every kind of pattern) but never one of the 30 subjects' own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_bytes

from benchmark.store.atomic import atomic_write_bytes, atomic_write_text, atomic_write_with
from pocket.pretrain import loop
from pocket.pretrain.shards import to_tensor
from pocket.render.classes import CLASSES
from pocket.world import ACCESSORIES, CONTEXTS, PROPERTIES, caption

# Resolution the harness feeds each judge (benchmark/metrics/preprocess): both crop or resize to 224.
JUDGE_INPUT = 224
DINO_ARCHITECTURE = "vit_tiny_patch16_224"
DINO_ARGS = {"patch_size": 32, "embed_dim": 128, "depth": 4, "num_heads": 4}
# The CLIP role's image tower is a small convnet (timm's, which open_clip builds from this config): a ViT of
# this size trained from scratch learned the world's classes far too slowly (docs/pocket.md, the first build's
# gates: 22.5% zero-shot class), a MobileNetV3 several times faster. Its classifier head is the projection.
# Width 1.0 (1.6 M parameters, about 1.6 times the compute of width 0.5): the width-0.5 tower underfit, its
# zero-shot class 78% on its own training renders and 68% on held-out ones after 1,200 steps.
CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {
        "image_size": JUDGE_INPUT,
        "timm_model_name": "mobilenetv3_small_100",
        "timm_model_pretrained": False,
        "timm_pool": "avg",
        "timm_proj": None,
    },
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 3},
}
MEAN = {"dino": (0.485, 0.456, 0.406), "clip": (0.48145466, 0.4578275, 0.40821073)}
STD = {"dino": (0.229, 0.224, 0.225), "clip": (0.26862954, 0.26130258, 0.27577711)}


def to_input(images: np.ndarray, role: str, g: torch.Generator | None = None, crop: bool = False) -> torch.Tensor:
    """uint8 64 x 64 renders as the judge sees them: upsampled to 224 and normalized.

    `crop` adds a random resized crop and flip: two views of one instance never line up pixel for pixel.
    """
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    if crop:
        n = x.shape[0]
        scale = 0.7 + 0.3 * torch.rand(n, generator=g)
        offset = (1 - scale)[:, None] * torch.rand(n, 2, generator=g)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = scale
        theta[:, :, 2] = offset * 2 + scale[:, None] - 1
        flip = torch.rand(n, generator=g) < 0.5
        theta[flip, 0, 0] *= -1
        grid = F.affine_grid(theta, (n, 3, JUDGE_INPUT, JUDGE_INPUT), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    else:
        x = F.interpolate(x, size=(JUDGE_INPUT, JUDGE_INPUT), mode="bicubic", align_corners=False).clamp(0, 1)
    mean, std = torch.tensor(MEAN[role])[:, None, None], torch.tensor(STD[role])[:, None, None]
    return (x - mean) / std


def either(images: np.ndarray, decoded: np.ndarray | None, view: int | None, pick: np.ndarray, g) -> np.ndarray:
    """images[pick], each one replaced by its autoencoder round trip with probability 1/2 (when there is one).

    The generator's images all pass the decoder, the photos never do: a judge that saw only sharp renders
    would score a method by how blurry its images are rather than by what they show."""
    chosen = images[pick]
    if decoded is None:
        return chosen
    swap = (torch.rand(len(pick), generator=g) < 0.5).numpy()
    source = decoded[pick] if view is None else decoded[pick, view]
    return np.where(swap[:, None, None, None], source, chosen)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """A model's weights as one safetensors file, whole or absent (a stage is done when its files exist)."""
    atomic_write_bytes(path, safetensors_bytes({k: v.contiguous() for k, v in model.state_dict().items()}))


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


# ------------------------------------------------------------------ DINO role
def train_dino(
    views: np.ndarray,
    folder: Path,
    out: Path,
    steps: int,
    seed: int,
    batch: int = 96,
    lr: float = 1e-3,
    decoded: np.ndarray | None = None,
    log=print,
) -> Path:
    """`views` holds pairs: views[i, 0] and views[i, 1] are one instance rendered twice.

    `decoded` (same shape) holds the views after the autoencoder's round trip: each view is drawn from it half
    the time, so a generated image of a subject and a photo of it are the same instance to this judge.
    """
    import timm

    torch.manual_seed(seed)
    model = timm.create_model(DINO_ARCHITECTURE, pretrained=False, num_classes=0, **DINO_ARGS)
    head = torch.nn.Sequential(torch.nn.Linear(128, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)

    def step_fn(step: int) -> torch.Tensor:
        g = loop.step_generator(seed, step)
        pick = torch.randint(len(views), (batch,), generator=g).numpy()
        a = head(model(to_input(either(views[:, 0], decoded, 0, pick, g), "dino", g, crop=True)))
        b = head(model(to_input(either(views[:, 1], decoded, 1, pick, g), "dino", g, crop=True)))
        loss = info_nce(a, b, 0.1)
        return loss

    loop.run("dino", folder, {"model": model, "head": head}, optimizer, steps, step_fn, peak_lr=lr, warmup=100, log=log)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, out / "model.safetensors")
    config = {"architecture": DINO_ARCHITECTURE, "model_args": DINO_ARGS, "num_classes": 0, "num_features": 128}
    atomic_write_text(out / "config.json", json.dumps(config, indent=2) + "\n")
    return out


# ------------------------------------------------------------------ CLIP role
def train_clip(
    images: np.ndarray,
    captions: np.ndarray,
    classes: np.ndarray,
    folder: Path,
    out: Path,
    steps: int,
    seed: int,
    batch: int = 128,
    lr: float = 1e-3,
    decoded: np.ndarray | None = None,
    log=print,
) -> Path:
    """`classes`: each image's index in `CLASSES`; `decoded`: the images after the autoencoder's round trip,
    drawn half the time (see `train_dino`).

    Each image has two positives: its full caption, among the batch's, and its class-only caption
    "a {noun}", among all the classes'. With the full caption alone the tower learned context and
    little class (backgrounds are big and every caption names one; 22.5% zero-shot class after the
    first build's 1,200 steps): the second term is CLIP's several-captions-per-image training with
    the caption the class gate itself reads.
    """
    import open_clip
    from open_clip import CLIP

    torch.manual_seed(seed)
    model = CLIP(**CLIP_CONFIG)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    unique, inverse = np.unique(captions, return_inverse=True)
    tokens = tokenizer(list(unique))
    class_tokens = tokenizer([caption(noun) for noun in CLASSES])
    classes = torch.from_numpy(np.asarray(classes, dtype=np.int64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)

    def step_fn(step: int) -> torch.Tensor:
        g = loop.step_generator(seed, step)
        pick = torch.randint(len(images), (batch,), generator=g).numpy()
        image_features = model.encode_image(to_input(either(images, decoded, None, pick, g), "clip", g, crop=True))
        text_features = model.encode_text(tokens[inverse[pick]])
        scale = model.logit_scale.exp().clamp(max=100)
        image_rows = F.normalize(image_features, dim=-1)
        # captions repeat within a batch: count every image whose caption is the same as a right answer
        same = torch.from_numpy(inverse[pick][:, None] == inverse[pick][None, :]).float()
        logits = scale * image_rows @ F.normalize(text_features, dim=-1).T
        target = same / same.sum(1, keepdim=True)
        pairs = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        class_logits = scale * image_rows @ F.normalize(model.encode_text(class_tokens), dim=-1).T
        return pairs + F.cross_entropy(class_logits, classes[pick])

    # recipe 2: the class-only caption as a second positive
    loop.run("clip", folder, {"model": model}, optimizer, steps, step_fn, peak_lr=lr, warmup=100, recipe="2", log=log)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, out / "open_clip_model.safetensors")
    preprocess = {
        "size": JUDGE_INPUT,
        "mean": list(MEAN["clip"]),
        "std": list(STD["clip"]),
        "interpolation": "bicubic",
        "resize_mode": "shortest",
    }
    atomic_write_text(
        out / "open_clip_config.json",
        json.dumps({"model_cfg": CLIP_CONFIG, "preprocess_cfg": preprocess}, indent=2) + "\n",
    )
    return out


# ---------------------------------------------------------------- LPIPS trunk
LABEL_SIZES = (len(CLASSES), len(CONTEXTS) + 1, len(ACCESSORIES) + 1, len(PROPERTIES) + 1)


def train_lpips_trunk(
    images: np.ndarray,
    labels: np.ndarray,
    folder: Path,
    out: Path,
    steps: int,
    seed: int,
    batch: int = 128,
    lr: float = 2e-3,
    log=print,
) -> Path:
    """AlexNet's `features` learn what the world's images differ by, at 64 px as DIV feeds them.

    The heads (class, context, outfit, property) are thrown away; LPIPS reads the trunk only.
    """
    import torchvision

    torch.manual_seed(seed)
    features = torchvision.models.alexnet(weights=None).features
    heads = torch.nn.ModuleList(torch.nn.Linear(256, n) for n in LABEL_SIZES)
    params = list(features.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    # LPIPS normalizes inputs to [-1, 1] and scales them like ImageNet, as here
    shift, scale = (
        torch.tensor([-0.030, -0.088, -0.188])[:, None, None],
        torch.tensor([0.458, 0.448, 0.450])[:, None, None],
    )

    def step_fn(step: int) -> torch.Tensor:
        g = loop.step_generator(seed, step)
        pick = torch.randint(len(images), (batch,), generator=g).numpy()
        x = to_tensor(images[pick])
        pooled = features((x - shift) / scale).mean(dim=(2, 3))
        target = torch.from_numpy(labels[pick].astype(np.int64)) + torch.tensor([0, 1, 1, 1])
        loss = sum(F.cross_entropy(head(pooled), target[:, k]) for k, head in enumerate(heads))
        return loss

    loop.run(
        "lpips",
        folder,
        {"features": features, "heads": heads},
        optimizer,
        steps,
        step_fn,
        peak_lr=lr,
        warmup=100,
        log=log,
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / "alexnet-pocket.pth"
    trunk = {f"features.{k}": v for k, v in features.state_dict().items()}
    atomic_write_with(path, lambda handle: torch.save(trunk, handle))
    return path
