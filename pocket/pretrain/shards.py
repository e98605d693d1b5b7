"""The pre-training corpus, rendered once into shards of uint8 images and their captions.

Rendering costs about as much as a training step, so the corpus is drawn once and
read many times. A shard is a pure function of (stream seed, shard index): it is
written whole (temporary file, then rename) and skipped when already there, so a
killed build resumes without redrawing what it has.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.store.atomic import atomic_write_with
from pocket.corpus import instance_views, sample
from pocket.render.classes import CLASSES
from pocket.render.compose import render
from pocket.world import ACCESSORIES, CONTEXTS, PROPERTIES


@dataclass(frozen=True)
class Stream:
    """One corpus: `seed` names it, `signatures` is the share of images with a signature-family mark."""

    name: str
    seed: int
    shards: int
    shard_size: int
    signatures: float = 0.0
    views: bool = False  # pairs of renders of one instance (the DINO role's training data) instead of captions


def _index(table, key) -> int:
    return -1 if key is None else list(table).index(key)


def render_shard(stream: Stream, shard: int, path: Path) -> Path:
    if path.exists():
        return path
    if stream.views:
        return _render_view_shard(stream, shard, path)
    first = shard * stream.shard_size
    images = np.empty((stream.shard_size, 64, 64, 3), np.uint8)
    captions, labels = [], np.empty((stream.shard_size, 4), np.int16)
    for k in range(stream.shard_size):
        s = sample(stream.seed, first + k, signatures=stream.signatures)
        images[k] = np.asarray(render(s.scene))
        captions.append(s.caption)
        labels[k] = (
            CLASSES.index(s.cls),
            _index(CONTEXTS, s.context),
            _index(ACCESSORIES, s.accessory),
            _index(PROPERTIES, s.prop),
        )
    atomic_write_with(path, lambda handle: np.savez(handle, images=images, captions=np.array(captions), labels=labels))
    return path


def _render_view_shard(stream: Stream, shard: int, path: Path) -> Path:
    first = shard * stream.shard_size
    views = np.empty((stream.shard_size, 2, 64, 64, 3), np.uint8)
    for k in range(stream.shard_size):
        for v, scene in enumerate(instance_views(stream.seed, first + k, stream.signatures)):
            views[k, v] = np.asarray(render(scene))
    atomic_write_with(path, lambda handle: np.savez(handle, views=views))
    return path


def render_stream(stream: Stream, folder: Path, workers: int = 2, log=print) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stream.name}-{k:04d}.npz" for k in range(stream.shards)]
    todo = [k for k, p in enumerate(paths) if not p.exists()]
    if todo:
        log(f"rendering {len(todo)} of {stream.shards} shards of '{stream.name}' ({stream.shard_size} images each)")
    with ProcessPoolExecutor(workers) as pool:
        for done, _ in enumerate(pool.map(render_shard, [stream] * len(todo), todo, [paths[k] for k in todo]), 1):
            log(f"  {stream.name}: shard {done}/{len(todo)}")
    return paths


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 renders (N, 64, 64, 3) as the float (N, 3, 64, 64) in [-1, 1] that the VAE and LPIPS take."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def load_stream(paths: list[Path]) -> dict[str, np.ndarray]:
    parts = [np.load(p) for p in paths]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0].files}
