"""`bench pocket build`: every pocket model pre-trained from a seed, in resumable stages.

Stages and what each leaves in the work folder (a stage whose output exists is skipped,
and a stage killed midway resumes from its last checkpoint):

1. corpus     shards of the generator's stream (rendered images and captions)
2. vae        the autoencoder (`vae/`)
3. latents    the corpus encoded once (`latents.npy`, `scale.json`)
4. generator  UNet and text encoder, then the pipeline folder (`<out>/base/`)
5. judges     their own corpus (captions, and view pairs), then `<out>/dino/`,
              `<out>/clip/` and `<out>/lpips/` (see `pocket.pretrain.judges`)
6. manifest   every output file's SHA-256 (`<out>/manifest.json`), which `bench doctor` checks
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.models.weights_manifest import write_manifest
from benchmark.store.atomic import atomic_write_text, atomic_write_with
from pocket.pretrain import generator, shards, vae


@dataclass(frozen=True)
class Sizes:
    """How much of everything.

    `FULL` is the shipped build (budget: 3 hours on 2 cores; not yet met, see docs/pocket.md);
    `SMOKE` proves the code runs.
    """

    corpus_shards: int
    shard_size: int
    vae_steps: int
    generator_steps: int
    refine_steps: int
    batch: int
    judge_shards: int
    view_shards: int
    dino_steps: int
    clip_steps: int
    lpips_steps: int


FULL = Sizes(
    24,
    4000,
    vae_steps=4000,
    generator_steps=3600,
    refine_steps=3600,
    batch=64,
    judge_shards=10,
    view_shards=6,
    dino_steps=800,
    clip_steps=2000,
    lpips_steps=800,
)
SMOKE = Sizes(
    2,
    16,
    vae_steps=3,
    generator_steps=3,
    refine_steps=2,
    batch=4,
    judge_shards=1,
    view_shards=1,
    dino_steps=2,
    clip_steps=2,
    lpips_steps=2,
)
SEED = 20261207


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def build(work: Path, out: Path, sizes: Sizes = FULL, seed: int = SEED, workers: int = 2) -> Path:
    """Every stage in turn: the autoencoder first (the riskiest stage, its PSNR logged as it learns), the
    generator next (the longest, and everything downstream of the base waits for it), the judges last (each
    can be trained again, its folder deleted, without touching the base)."""
    work.mkdir(parents=True, exist_ok=True)
    # a finished base model needs neither its corpus nor its latents loaded again
    if not (out / "base" / "model_index.json").exists():
        corpus = _generator_corpus(work, sizes, seed, workers)
        _train_autoencoder(work, corpus, sizes, seed)
        build_generator(work, out, corpus, sizes, seed)
    build_judges(work, out, sizes, seed, workers)
    write_manifest(out, about={"seed": seed, "sizes": asdict(sizes), "built": time.strftime("%Y-%m-%d")})
    return out


def _generator_corpus(work: Path, sizes: Sizes, seed: int, workers: int) -> dict:
    stream = shards.Stream("generator", seed, sizes.corpus_shards, sizes.shard_size)
    corpus = shards.load_stream(shards.render_stream(stream, work / "corpus", workers, log))
    log(f"corpus: {len(corpus['images'])} images, {len(np.unique(corpus['captions']))} distinct captions")
    return corpus


def _train_autoencoder(work: Path, corpus: dict, sizes: Sizes, seed: int) -> None:
    if not (work / "vae" / "config.json").exists():
        model = vae.train_vae(corpus["images"], work, sizes.vae_steps, seed, log=log)
        model.save_pretrained(os.fspath(work / "vae"))


def build_generator(work: Path, out: Path, corpus: dict, sizes: Sizes, seed: int) -> None:
    from diffusers import AutoencoderKL

    autoencoder = AutoencoderKL.from_pretrained(os.fspath(work / "vae")).eval()
    if not (work / "scale.json").exists():
        log("latents: encoding the corpus")
        latents = vae.encode_all(autoencoder, corpus["images"])
        np.save(work / "latents.npy", latents)
        atomic_write_text(work / "scale.json", json.dumps({"scaling_factor": vae.scaling_factor(latents)}))
    latents = np.load(work / "latents.npy")
    scale = json.loads((work / "scale.json").read_text())["scaling_factor"]

    tokenizer = generator.pocket_tokenizer(work / "tokenizer-files")
    ids = generator.tokenize(tokenizer, corpus["captions"])
    empty = np.asarray(tokenizer([""], padding="max_length", max_length=generator.MAX_LENGTH).input_ids[0], np.int64)
    unet, text = generator.train_generator(
        latents,
        ids,
        empty,
        scale,
        work,
        sizes.generator_steps,
        seed,
        batch=sizes.batch,
        refine_steps=sizes.refine_steps,
        log=log,
    )
    base = generator.save_pipeline(autoencoder, unet, text, tokenizer, scale, out / "base")
    log(f"base model written to {base}")


def build_judges(work: Path, out: Path, sizes: Sizes, seed: int, workers: int) -> None:
    from pocket.pretrain import judges

    judged = shards.Stream("judges", seed + 1, sizes.judge_shards, sizes.shard_size, signatures=0.5)
    viewed = shards.Stream("views", seed + 2, sizes.view_shards, sizes.shard_size // 2, signatures=0.6, views=True)
    corpus = shards.load_stream(shards.render_stream(judged, work / "corpus", workers, log))
    views = shards.load_stream(shards.render_stream(viewed, work / "corpus", workers, log))["views"]
    decoded_images = _round_trip(work, "judges", corpus["images"])
    decoded_views = _round_trip(work, "views", views.reshape(-1, *views.shape[2:])).reshape(views.shape)
    if not (out / "dino" / "config.json").exists():
        judges.train_dino(views, work, out / "dino", sizes.dino_steps, seed, decoded=decoded_views, log=log)
        log(f"DINO role written to {out / 'dino'}")
    if not (out / "clip" / "open_clip_config.json").exists():
        judges.train_clip(
            corpus["images"],
            corpus["captions"],
            # the class column of the labels (see judges.LABEL_SIZES)
            corpus["labels"][:, 0],
            work,
            out / "clip",
            sizes.clip_steps,
            seed,
            decoded=decoded_images,
            log=log,
        )
        log(f"CLIP role written to {out / 'clip'}")
    if not (out / "lpips" / "alexnet-pocket.pth").exists():
        judges.train_lpips_trunk(
            corpus["images"], corpus["labels"], work, out / "lpips", sizes.lpips_steps, seed, log=log
        )
        log(f"LPIPS trunk written to {out / 'lpips'}")


def _round_trip(work: Path, name: str, images: np.ndarray) -> np.ndarray:
    """The judges' images through the finished autoencoder, computed once (see `judges.either`)."""
    from diffusers import AutoencoderKL

    path = work / f"{name}-decoded.npy"
    if not path.exists():
        log(f"{name}: {len(images)} images through the autoencoder")
        autoencoder = AutoencoderKL.from_pretrained(os.fspath(work / "vae")).eval()
        decoded = vae.round_trip(autoencoder, images)
        atomic_write_with(path, lambda handle: np.save(handle, decoded))
    return np.load(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pocket.pretrain.build", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the corpus, checkpoints and stage outputs")
    parser.add_argument("--out", type=Path, required=True, help="where the finished model folders go")
    parser.add_argument("--smoke", action="store_true", help="a few steps of everything, to prove the code runs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    build(args.work, args.out, SMOKE if args.smoke else FULL)


if __name__ == "__main__":
    main()
