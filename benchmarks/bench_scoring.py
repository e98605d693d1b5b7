"""How fast scoring embeds images: real-size DINO ViT-S/16 and CLIP ViT-B/32, random weights, cold and warm cache.

The architectures are built with random weights (nothing downloads), so the
numbers are the cost of the real networks, not of the toys. Each backbone embeds
the same synthetic 512x512 PNGs (DreamBench's size) through the scoring path:
decode, preprocess, batched no-grad forward, atomic cache write. "cold" starts
from an empty embedding cache; "warm" re-scores the same images from the cache,
as re-scoring a run or a second method's real images does. Model build time is
excluded and printed separately.

    python benchmarks/bench_scoring.py [--images 64] [--batch-size 32] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_images(folder: Path, count: int, size: int) -> list:
    """Smooth random colour fields saved as PNG: realistic decode cost, distinct hashes."""
    from PIL import Image

    from benchmark.metrics.embedding_cache import ImageRef

    rng = np.random.default_rng(0)
    refs = []
    for index in range(count):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
        path = folder / f"{index:04d}.png"
        image.save(path)
        refs.append(ImageRef(hashlib.sha256(path.read_bytes()).hexdigest(), path))
    return refs


def backbones(device: str, batch_size: int) -> list:
    import logging

    import open_clip
    import timm

    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns that the weights are random: they are meant to be

    from benchmark.metrics.backbones import ClipBackbone, DinoBackbone
    from benchmark.metrics.preprocess import CLIP_PREPROCESS, DINO_PREPROCESS

    dino = DinoBackbone(
        f"dino:random:vit_small_patch16_224|{DINO_PREPROCESS.id}|cls",
        "random",
        lambda: timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0),
        DINO_PREPROCESS,
        device,
        batch_size,
    )
    clip = ClipBackbone(
        f"clip-image:random:ViT-B-32-quickgelu|{CLIP_PREPROCESS.id}|proj-l2",
        "random",
        lambda: open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True),
        CLIP_PREPROCESS,
        device,
        batch_size,
        text_id="clip-text:random:ViT-B-32-quickgelu",
    )
    return [("DINO ViT-S/16", [dino]), ("CLIP ViT-B/32", [clip]), ("both (one decode)", [dino, clip])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from benchmark.metrics.embedding_cache import EmbeddingCache

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        refs = synthetic_images(Path(tmp), args.images, args.size)
        rows = []
        for label, models in backbones(args.device, args.batch_size):
            started = time.perf_counter()
            for model in models:
                _ = model.model  # build now, so the timings below are embedding only
            build = time.perf_counter() - started
            root = Path(tmp) / f"cache-{len(rows)}"
            timings = []
            for phase in ("cold", "warm"):
                cache = EmbeddingCache(root)
                started = time.perf_counter()
                _, problems = cache.image_embeddings(models, refs, phase)
                timings.append(time.perf_counter() - started)
                assert not problems and cache.computed[phase] == (len(refs) * len(models) if phase == "cold" else 0)
            rows.append((label, build, *timings))

    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(
        f"scoring throughput: {args.images} images {args.size}x{args.size}, batch {args.batch_size}, "
        f"device {args.device} ({device}), torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print("| backbone (random weights) | build s | cold images/s | warm images/s |")
    print("| --- | --- | --- | --- |")
    for label, build, cold, warm in rows:
        print(f"| {label} | {build:.1f} | {args.images / cold:.1f} | {args.images / warm:.1f} |")


if __name__ == "__main__":
    main()
