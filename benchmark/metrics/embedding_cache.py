"""An on-disk cache of embeddings keyed by (backbone cache key, image SHA-256 | text).

Scoring the 3000 images of a method is dominated by the backbones, and the 158 real
images are the same for every method and every re-score: keyed by content, each is
embedded once per backbone for good. Entries are single `.npy` files written
atomically, so concurrent scorers (two methods at once, a crashed run) can never
leave a half-written entry, and two writers of one key write the same bytes.

`computed` counts what was actually run through a model, by label ("real",
"generated", "text", "lpips"); the tests use it to prove a re-score embeds nothing.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.store.atomic import atomic_write_bytes, atomic_write_text

# one "file: what is wrong" type for the whole harness
from dataset.validate import Problem as ImageProblem


@dataclass(frozen=True)
class ImageRef:
    """An image by content (the cache key) and by location (where to read it on a miss)."""

    sha256: str
    path: Path


def default_cache_dir() -> Path:
    from dataset.locate import cache_root

    return cache_root() / "embeddings"


def decode_image(path: Path):
    """Open and fully decode an image, so truncation shows up here rather than inside a backbone."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.convert("RGB")


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pair_key(first: str, second: str) -> str:
    """LPIPS is symmetric: one entry per unordered pair of image hashes."""
    low, high = sorted((first, second))
    return hashlib.sha256(f"{low}:{high}".encode()).hexdigest()


def _progress_bar(total: int, description: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="img", disable=not enabled or total == 0, leave=False)


class EmbeddingCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.computed: Counter[str] = Counter()
        self.reused: Counter[str] = Counter()
        self._namespaces: dict[str, Path] = {}

    # -------------------------------------------------------------- storage
    def _namespace(self, cache_key: str) -> Path:
        if cache_key not in self._namespaces:
            folder = self.root / hashlib.sha256(cache_key.encode()).hexdigest()[:24]
            marker = folder / "backbone.txt"
            if not marker.exists():
                # lets a human see what a folder holds
                atomic_write_text(marker, cache_key + "\n")
            self._namespaces[cache_key] = folder
        return self._namespaces[cache_key]

    def _file(self, cache_key: str, kind: str, key: str) -> Path:
        return self._namespace(cache_key) / kind / key[:2] / f"{key}.npy"

    def get(self, cache_key: str, kind: str, key: str) -> np.ndarray | None:
        path = self._file(cache_key, kind, key)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            # absent (or unreadable: recompute and overwrite)
            return None

    def put(self, cache_key: str, kind: str, key: str, value: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(value), allow_pickle=False)
        atomic_write_bytes(self._file(cache_key, kind, key), buffer.getvalue())

    def _lookup(self, cache_key: str, kind: str, keys: Sequence[str], label: str) -> tuple[dict, list[str]]:
        found, missing = {}, []
        for key in dict.fromkeys(keys):
            value = self.get(cache_key, kind, key)
            if value is None:
                missing.append(key)
            else:
                found[key] = value
        self.reused[label] += len(found)
        return found, missing

    # -------------------------------------------------------------- images
    def image_embeddings(
        self, backbones: Sequence, refs: Sequence[ImageRef], label: str, progress: bool = False
    ) -> tuple[dict[str, dict[str, np.ndarray]], list[ImageProblem]]:
        """{backbone cache key: {sha256: embedding}} for every decodable image; each image decoded once.

        Files with the same bytes are one image here, so a problem found decoding it is reported for
        every path that holds those bytes (two empty files from one crashed job, say).
        """
        by_sha = {ref.sha256: ref for ref in refs}
        paths: dict[str, list[str]] = {}
        for ref in refs:
            paths.setdefault(ref.sha256, []).append(str(ref.path))
        results: dict[str, dict[str, np.ndarray]] = {}
        missing: dict[str, list[str]] = {}
        for backbone in backbones:
            results[backbone.cache_key], missing[backbone.cache_key] = self._lookup(
                backbone.cache_key, "image", list(by_sha), label
            )
        todo = list(dict.fromkeys(sha for shas in missing.values() for sha in shas))
        problems: list[ImageProblem] = []
        batch = max((b.batch_size for b in backbones), default=32)
        bar = _progress_bar(len(todo), f"embedding {label} images", progress)
        for start in range(0, len(todo), batch):
            bar.update(min(batch, len(todo) - start))
            decoded = {}
            for sha in todo[start : start + batch]:
                try:
                    decoded[sha] = decode_image(by_sha[sha].path)
                except FileNotFoundError:
                    problems += [ImageProblem(path, "missing image") for path in dict.fromkeys(paths[sha])]
                except Exception as exc:
                    # the decoder's words may name the first path
                    said, first = str(exc), str(by_sha[sha].path)
                    problems += [
                        ImageProblem(path, f"corrupt image (cannot be decoded: {said.replace(first, path)})")
                        for path in dict.fromkeys(paths[sha])
                    ]
            for backbone in backbones:
                wanted = set(missing[backbone.cache_key])
                shas = [sha for sha in decoded if sha in wanted]
                if not shas:
                    continue
                vectors = backbone.embed_images([decoded[sha] for sha in shas])
                for sha, vector in zip(shas, vectors, strict=True):
                    self.put(backbone.cache_key, "image", sha, vector)
                    results[backbone.cache_key][sha] = vector
                self.computed[label] += len(shas)
        bar.close()
        return results, problems

    # -------------------------------------------------------------- texts
    def text_embeddings(self, clip, texts: Sequence[str], label: str = "text") -> dict[str, np.ndarray]:
        """{text: embedding} for CLIP-T."""
        keys = {text: text_key(text) for text in texts}
        found, missing = self._lookup(clip.text_cache_key, "text", list(keys.values()), label)
        todo = [text for text in dict.fromkeys(texts) if keys[text] in missing]
        if todo:
            for text, vector in zip(todo, clip.embed_texts(todo), strict=True):
                self.put(clip.text_cache_key, "text", keys[text], vector)
                found[keys[text]] = vector
            self.computed[label] += len(todo)
        return {text: found[keys[text]] for text in texts}

    # -------------------------------------------------------------- pairs
    def pair_distances(
        self, scorer, pairs: Sequence[tuple[ImageRef, ImageRef]], label: str = "lpips"
    ) -> tuple[dict[str, float], list[ImageProblem]]:
        """{pair_key(a, b): distance} for every pair whose images decode."""
        keyed = {pair_key(a.sha256, b.sha256): (a, b) for a, b in pairs}
        found, missing = self._lookup(scorer.cache_key, "pair", list(keyed), label)
        result = {key: float(value) for key, value in found.items()}
        problems: dict[str, ImageProblem] = {}
        for start in range(0, len(missing), scorer.batch_size):
            chunk = missing[start : start + scorer.batch_size]
            images = {}
            for key in chunk:
                for ref in keyed[key]:
                    if ref.sha256 in images or str(ref.path) in problems:
                        continue
                    try:
                        images[ref.sha256] = decode_image(ref.path)
                    except Exception as exc:
                        problems[str(ref.path)] = ImageProblem(str(ref.path), f"cannot be decoded: {exc}")
            ready = [key for key in chunk if all(ref.sha256 in images for ref in keyed[key])]
            if not ready:
                continue
            values = scorer.distances([(images[keyed[k][0].sha256], images[keyed[k][1].sha256]) for k in ready])
            for key, value in zip(ready, values, strict=True):
                self.put(scorer.cache_key, "pair", key, np.float64(value))
                result[key] = float(value)
            self.computed[label] += len(ready)
        return result, list(problems.values())
