"""The embedding cache with counting stand-in backbones: nothing is embedded twice, bad images are named."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.metrics.embedding_cache import EmbeddingCache, ImageRef


class MeanColour:
    """A 'backbone' whose embedding is the mean RGB colour, counting what it is asked to embed."""

    def __init__(self, name: str = "mean-colour"):
        self.id = name
        self.cache_key = f"{name}#v1"
        self.text_cache_key = f"{name}-text#v1"
        self.batch_size = 2
        self.seen: list = []

    def embed_images(self, images):
        self.seen.extend(images)
        return np.stack([np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0) for image in images])

    def embed_texts(self, texts):
        self.seen.extend(texts)
        return np.stack([np.array([len(t), t.count("a")], dtype=np.float32) for t in texts])

    def distances(self, pairs):
        self.seen.extend(pairs)
        return np.array([abs(np.asarray(a, float).mean() - np.asarray(b, float).mean()) for a, b in pairs])


def write_png(path: Path, colour) -> ImageRef:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return ImageRef(hashlib.sha256(path.read_bytes()).hexdigest(), path)


def test_second_lookup_embeds_nothing_and_returns_the_same_vectors(tmp_path):
    refs = [write_png(tmp_path / f"{i}.png", (10 * i, 0, 0)) for i in range(5)]
    backbone = MeanColour()
    first, problems = EmbeddingCache().image_embeddings([backbone], refs, "real")
    assert problems == [] and len(backbone.seen) == 5
    # another process: only the disk is shared
    fresh = EmbeddingCache()
    second, _ = fresh.image_embeddings([backbone], refs, "real")
    assert fresh.computed["real"] == 0 and fresh.reused["real"] == 5 and len(backbone.seen) == 5
    for ref in refs:
        np.testing.assert_array_equal(first[backbone.cache_key][ref.sha256], second[backbone.cache_key][ref.sha256])
    assert second[backbone.cache_key][refs[3].sha256] == pytest.approx([30, 0, 0])


def test_cache_is_keyed_by_content_and_backbone(tmp_path):
    a = write_png(tmp_path / "a.png", (1, 2, 3))
    # same bytes, other path
    copy = write_png(tmp_path / "elsewhere" / "copy.png", (1, 2, 3))
    cache = EmbeddingCache()
    cache.image_embeddings([MeanColour()], [a], "real")
    cache.image_embeddings([MeanColour()], [copy], "generated")
    assert cache.computed["generated"] == 0
    other = MeanColour("other-backbone")
    cache.image_embeddings([other], [a], "real")
    # a different backbone (or weights) never reuses these entries
    assert len(other.seen) == 1
    assert list((cache.root).glob("*/backbone.txt"))


def test_undecodable_and_missing_images_are_reported_by_path_and_the_rest_embed(tmp_path):
    good = write_png(tmp_path / "good.png", (5, 5, 5))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    gone = tmp_path / "gone.png"
    cache = EmbeddingCache()
    result, problems = cache.image_embeddings(
        [MeanColour()], [good, ImageRef("b" * 64, broken), ImageRef("c" * 64, gone)], "generated"
    )
    assert set(result["mean-colour#v1"]) == {good.sha256}
    assert {(p.path, p.what.split(" ")[0]) for p in problems} == {(str(broken), "corrupt"), (str(gone), "missing")}
    assert cache.computed["generated"] == 1


def test_each_image_is_decoded_once_for_several_backbones(tmp_path, monkeypatch):
    from benchmark.metrics import embedding_cache

    refs = [write_png(tmp_path / f"{i}.png", (i, i, i)) for i in range(3)]
    decoded = []
    real_decode = embedding_cache.decode_image
    monkeypatch.setattr(embedding_cache, "decode_image", lambda path: decoded.append(path) or real_decode(path))
    cache = EmbeddingCache()
    cache.image_embeddings([MeanColour("one"), MeanColour("two")], refs, "real")
    assert len(decoded) == 3 and cache.computed["real"] == 6


def test_text_and_pair_entries(tmp_path):
    backbone = MeanColour()
    cache = EmbeddingCache()
    texts = cache.text_embeddings(backbone, ["a dog", "a cat", "a dog"])
    assert texts["a dog"] == pytest.approx([5, 1]) and cache.computed["text"] == 2
    EmbeddingCache().text_embeddings(backbone, ["a cat"])
    assert backbone.seen.count("a cat") == 1

    a, b = write_png(tmp_path / "a.png", (0, 0, 0)), write_png(tmp_path / "b.png", (30, 30, 30))
    distances, problems = cache.pair_distances(backbone, [(a, b)])
    assert problems == [] and list(distances.values()) == pytest.approx([30.0])
    again = EmbeddingCache()
    # the same unordered pair
    again.pair_distances(backbone, [(b, a)])
    assert again.computed["lpips"] == 0
