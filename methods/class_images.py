"""Class (prior) images for prior preservation, generated once and shared.

The frozen base model draws "a {class}" with an ancestral sampler (as in the
paper). DreamBench's 30 subjects use only 15 class nouns, and every method with
prior preservation needs the same images, so they are cached under the user cache
by everything that determines them: base model, prompt, sampler, steps, guidance,
resolution and seed. Image i always comes from its own seed, so asking for 200
after 100 reuses the first 100 and a killed generation resumes where it stopped.

The cache is shared by every run, so nothing in it is trusted by its name: each
image's SHA-256 is recorded (`sha256.json`) when it is made and checked on every use.
An image missing, changed (another valid PNG put in its place would be trained on
silently) or damaged (a truncated one failed every cell of its class) is sampled again
with its block; so is one without a recorded hash, which cannot be verified.

They are sampled in aligned blocks of `generation.batch_size` images (4, the
images per prompt, unless a run asks for wider batches to fill a big GPU): an
image's rounding depends on its batch companions, so the block size is part of
the cache key, and a block is always sampled whole, whatever was cached before.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from filelock import FileLock

from benchmark import progress
from benchmark.config import GenerationConfig, compile_identity, stable_hash
from benchmark.devices import device_name
from benchmark.images import png_bytes
from benchmark.seeds import image_seed
from benchmark.store.atomic import atomic_write_bytes, atomic_write_json
from benchmark.store.containment import require_inside

# How many images have been generated in this process: tests use it to prove sharing.
GENERATED = {"count": 0}
# beside the images: each one's SHA-256, recorded when it was made
HASHES = "sha256.json"


def class_image_key(
    base_model: str, prompt: str, sampler: str, generation: GenerationConfig, seed: int, device: str
) -> dict:
    """Everything that decides the bytes of a class image, and so names its cache folder.

    `device` is the device type, or for a GPU its model too: GPU models pick different
    kernels and round differently, and a cache shared by a cluster's mixed GPUs must not
    hand one model's images to a run on another.
    """
    return {
        "base_model": base_model,
        "device": device,
        "block": generation.batch_size,
        "prompt": prompt,
        "sampler": sampler,
        "steps": generation.steps,
        "guidance_scale": generation.guidance_scale,
        "resolution": generation.resolution,
        "dtype": generation.dtype,
        "cpu_threads": generation.cpu_threads,
        # kernels and layout change bytes by rounding
        "sdpa_attention": generation.sdpa_attention,
        "channels_last": generation.channels_last,
        "seed": seed,
        **compile_identity(generation),
    }


def ensure_class_images(context, prompt: str, count: int, *, sampler: str, seed: int) -> list[Path]:
    """Return `count` class images for `prompt`, generating only the blocks not cached yet."""
    from methods.diffusion import build_pipeline, sample

    generation = copy.copy(context.generation)
    generation.scheduler = sampler
    # "auto" would hide fp16 vs fp32
    generation.dtype = str(context.dtype).removeprefix("torch.")
    # The resolved location names the exact weights (a hub snapshot folder carries its revision).
    base_model = f"{context.config.model_sources()['base']}@{context.model_locations['base']}"
    key = class_image_key(base_model, prompt, sampler, generation, seed, device_name(context.device))
    folder = Path(context.cache_dir) / "class-images" / stable_hash(key)[:20]
    require_inside(context.cache_dir, folder, "cache")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:04d}.png" for i in range(count)]
    # workers training two subjects of one class wait, then reuse
    with FileLock(str(folder / ".lock")):
        atomic_write_json(folder / "key.json", key)
        recorded = _recorded_hashes(folder)
        block_size = generation.batch_size
        blocks = sorted({i // block_size for i, path in enumerate(paths) if not _intact(path, recorded)})
        if blocks:
            pipe = build_pipeline(context.generation_parts(), generation, context.device, context.dtype)
            bar = progress.bar(f"class images '{prompt}'", len(blocks) * block_size, "image")
            for block in blocks:
                # past `count`: kept for later
                chunk = list(range(block * block_size, (block + 1) * block_size))
                seeds = [image_seed(seed, "class-images", prompt, i) for i in chunk]
                for i, image in zip(chunk, sample(pipe, [prompt] * len(chunk), seeds, generation), strict=True):
                    png = png_bytes(image)
                    atomic_write_bytes(folder / f"{i:04d}.png", png)
                    recorded[f"{i:04d}.png"] = hashlib.sha256(png).hexdigest()
                    GENERATED["count"] += 1
                # after each block: a run killed midway keeps the blocks it finished, with their hashes
                atomic_write_json(folder / HASHES, dict(sorted(recorded.items())))
                bar.update(len(chunk))
            bar.close()
    return paths


def _recorded_hashes(folder: Path) -> dict[str, str]:
    """file name -> SHA-256 recorded when it was made; {} when the record is missing or unreadable (then
    every image is sampled again: none can be verified)."""
    try:
        recorded = json.loads((folder / HASHES).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {name: value for name, value in recorded.items() if isinstance(value, str)}


def _intact(path: Path, recorded: dict[str, str]) -> bool:
    """The image is a plain file whose bytes are those recorded when it was made."""
    if path.is_symlink() or not path.is_file() or path.name not in recorded:
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == recorded[path.name]
