"""How fast scoring embeds images: real-size DINO ViT-S/16 and CLIP ViT-B/32, random weights, cold and warm cache.

The architectures are built with random weights (nothing downloads), so the
numbers are the cost of the real networks, not of the toys. Each backbone embeds
the same synthetic 512x512 PNGs (DreamBench's size) through the scoring path:
decode, preprocess, batched no-grad forward, atomic cache write. "cold" starts
from an empty embedding cache; "warm" re-scores the same images from the cache,
as re-scoring a run or a second method's real images does. Model build time is
excluded and printed separately. `bench_speedups.py` times its scoring rows with
the same `time_scoring`, so both scripts measure, and check, the same thing.

    python perf/bench_scoring.py [--images 64] [--batch-size 32] [--threads N] [--device cpu]
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


def backbones(device: str) -> list:
    """(label, models) rows, built lazily; the last row is the first two rows' objects together.

    No batch size here: `time_scoring` sets it per call, so one build serves every
    batch size a script compares, and every variant times the same weights (two
    builds of random weights would be two different networks).
    """
    import logging

    import open_clip
    import timm

    # open_clip warns that the weights are random: they are meant to be
    logging.getLogger().setLevel(logging.ERROR)

    from benchmark.metrics.backbones import ClipBackbone, DinoBackbone
    from benchmark.metrics.preprocess import CLIP_PREPROCESS, DINO_PREPROCESS

    dino = DinoBackbone(
        f"dino:random:vit_small_patch16_224|{DINO_PREPROCESS.id}|cls",
        "random",
        lambda: timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0),
        DINO_PREPROCESS,
        device,
    )
    clip = ClipBackbone(
        f"clip-image:random:ViT-B-32-quickgelu|{CLIP_PREPROCESS.id}|proj-l2",
        "random",
        lambda: open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True),
        CLIP_PREPROCESS,
        device,
        text_id="clip-text:random:ViT-B-32-quickgelu",
    )
    return [("DINO ViT-S/16", [dino]), ("CLIP ViT-B/32", [clip]), ("both (one decode)", [dino, clip])]


def time_scoring(models: list, refs: list, root: Path, batch_size: int) -> dict[str, float]:
    """Seconds of a cold then a warm pass of `refs` through a fresh embedding cache at `root`.

    Each pass's counts are checked before its time is trusted: the cache reports an
    image that fails to decode instead of raising, and that image would then cost
    nothing; and the cache is keyed by backbone and image, not by batch size, so a
    root reused across batch sizes would make the second "cold" pass a warm one. The
    batch size is set here, not when the models are made, because embedding and the
    cache's decode chunks read it at each call: one build serves every batch size.
    Models are built before the clock starts.
    """
    from benchmark.metrics.embedding_cache import EmbeddingCache

    for model in models:
        model.batch_size = batch_size
        _ = model.model
    seconds = {}
    for phase in ("cold", "warm"):
        cache = EmbeddingCache(root)
        started = time.perf_counter()
        _, problems = cache.image_embeddings(models, refs, phase)
        seconds[phase] = time.perf_counter() - started
        expected = len(refs) * len(models) if phase == "cold" else 0
        if problems or cache.computed[phase] != expected:
            trouble = str(problems[0]) if problems else "a reused or partial cache"
            raise RuntimeError(
                f"{phase} pass embedded {cache.computed[phase]} image(s), expected {expected} ({trouble}); "
                "its time would not be the cost of scoring"
            )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        refs = synthetic_images(Path(tmp), args.images, args.size)
        rows = []
        for index, (label, models) in enumerate(backbones(args.device)):
            started = time.perf_counter()
            for model in models:
                # timed here, so the build column is the build alone
                _ = model.model
            build = time.perf_counter() - started
            seconds = time_scoring(models, refs, Path(tmp) / f"cache-{index}", args.batch_size)
            rows.append((label, build, seconds["cold"], seconds["warm"]))

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
