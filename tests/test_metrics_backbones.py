"""Scoring backbones: tiny toys are reproducible, real weights load offline or fail with one clear line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.errors import BenchError
from benchmark.metrics.backbones import load_backbone
from benchmark.metrics.sources import backbone_ids
from benchmark.metrics.weights import fingerprint


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small CPU forwards are faster on one thread (and the harness pins one for CPU work anyway)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)) for _ in range(3)]


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    torch_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch-hub"))
    yield
    torch.hub.set_dir(torch_hub)


def test_tiny_backbones_are_identical_in_every_build(images):
    first, second = load_backbone("dino", "tiny"), load_backbone("dino", "tiny")
    assert first.cache_key == second.cache_key and first.weights.startswith("params-")
    np.testing.assert_array_equal(first.embed_images(images), second.embed_images(images))
    # batching must not change what comes out
    clip = load_backbone("clip", "tiny", batch_size=2)
    vectors = clip.embed_images(images)
    np.testing.assert_allclose(vectors, load_backbone("clip", "tiny").embed_images(images), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    texts = clip.embed_texts(["a backpack in the jungle", "a dog"])
    assert texts.shape == (2, 32) and not np.allclose(texts[0], texts[1])


def test_the_embedding_cache_tells_apart_two_weights_under_one_backbone_id(images, tmp_path):
    """README: embeddings are cached by (backbone id and weights fingerprint, image SHA-256). One hub name can hold
    other weights (a new revision, a local fine-tune): those must embed afresh, never be handed the old vectors."""
    import hashlib

    from benchmark.metrics.backbones import ClipBackbone, DinoBackbone
    from benchmark.metrics.embedding_cache import EmbeddingCache, ImageRef
    from benchmark.metrics.preprocess import CLIP_PREPROCESS, DINO_PREPROCESS
    from benchmark.metrics.tiny_backbones import tiny_clip, tiny_dino
    from benchmark.metrics.weights import parameter_fingerprint

    def retrained(model):
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
        return model

    refs = []
    for index, image in enumerate(images):
        image.save(tmp_path / f"{index}.png")
        refs.append(
            ImageRef(hashlib.sha256((tmp_path / f"{index}.png").read_bytes()).hexdigest(), tmp_path / f"{index}.png")
        )
    dino = load_backbone("dino", "tiny")
    other_model = retrained(tiny_dino())
    other = DinoBackbone(dino.id, parameter_fingerprint(other_model), lambda: other_model, DINO_PREPROCESS)
    assert other.id == dino.id and other.weights != dino.weights
    first, _ = EmbeddingCache(tmp_path / "cache").image_embeddings([dino], refs, "real")
    # a later scoring: only the disk is shared
    cache = EmbeddingCache(tmp_path / "cache")
    found, _ = cache.image_embeddings([other], refs, "real")
    assert cache.computed["real"] == len(refs) and cache.reused["real"] == 0
    np.testing.assert_allclose(found[other.cache_key][refs[0].sha256], other.embed_images(images[:1])[0], atol=1e-6)
    assert not np.allclose(found[other.cache_key][refs[0].sha256], first[dino.cache_key][refs[0].sha256], atol=1e-4)
    again = EmbeddingCache(tmp_path / "cache")
    # the same weights: all reused
    again.image_embeddings([load_backbone("dino", "tiny")], refs, "real")
    assert again.computed["real"] == 0 and again.reused["real"] == len(refs)

    clip = load_backbone("clip", "tiny")
    other_clip = retrained(tiny_clip())
    other_text = ClipBackbone(
        clip.id, parameter_fingerprint(other_clip), lambda: other_clip, CLIP_PREPROCESS, text_id=clip.text_id
    )
    EmbeddingCache(tmp_path / "cache").text_embeddings(clip, ["a dog"])
    texts = EmbeddingCache(tmp_path / "cache")
    vectors = texts.text_embeddings(other_text, ["a dog"])
    assert texts.computed["text"] == 1
    np.testing.assert_allclose(vectors["a dog"], other_text.embed_texts(["a dog"])[0], atol=1e-6)


def test_tiny_clip_uses_the_real_clip_vocabulary():
    clip = load_backbone("clip", "tiny")
    assert clip.model.vocab_size == 49408 and clip.model.context_length == 77
    tokens = clip.tokenizer(["sks"])[0]
    # "sks" is one token with SD-1.5's id, between start and end
    assert tokens[1].item() == 48136


def test_backbone_ids_spell_out_weights_preprocessing_and_pooling():
    ids = backbone_ids("sd15")
    assert ids["dino"] == "dino:timm/vit_small_patch16_224.dino|resize256-bicubic|crop224|imagenet-norm|cls"
    # OpenAI's weights run with QuickGELU, whatever a folder's config says; the id says so (and keys every cache)
    assert ids["clip-image"].startswith(
        "clip-image:timm/vit_base_patch32_clip_224.openai+quickgelu|resize224-bicubic|crop224"
    )
    assert ids["clip-text"].startswith("clip-text:timm/vit_base_patch32_clip_224.openai+quickgelu|")
    assert "builtin:tiny" in backbone_ids("tiny")["dino"]
    assert backbone_ids("sd15", {"dino": "/models/dino"})["dino"].startswith("dino:/models/dino|")


def test_missing_real_weights_are_one_line_naming_the_model_and_the_download_command(empty_hub):
    for kind, name in (("dino", "timm/vit_small_patch16_224.dino"), ("clip", "timm/vit_base_patch32_clip_224.openai")):
        with pytest.raises(BenchError) as error:
            load_backbone(kind, "sd15")
        assert name in str(error.value) and "bench models download --profile sd15" in str(error.value)
    with pytest.raises(BenchError, match="lpips=.*alexnet.*bench models download"):
        load_backbone("lpips", "sd15")


def test_dino_loads_from_the_hugging_face_cache_or_a_local_folder(tmp_path, images, monkeypatch):
    import timm
    from safetensors.torch import save_file

    # ViT-Ti/16 stands in for ViT-S/16 (same code path, a quarter of the size); config.json names it
    reference = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0).eval()
    revision = "c0ffee" + "0" * 34
    snapshot = tmp_path / "hub" / "models--timm--vit_small_patch16_224.dino" / "snapshots" / revision
    snapshot.mkdir(parents=True)
    save_file(reference.state_dict(), str(snapshot / "model.safetensors"))
    (snapshot / "config.json").write_text(json.dumps({"architecture": "vit_tiny_patch16_224"}))
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))

    pixels = torch.stack([load_backbone("dino", "tiny").preprocess.transform()(image) for image in images])
    with torch.no_grad():
        # the CLS token, not a pooled mean
        cls = reference.forward_features(pixels)[:, 0].numpy()
    # the profile's hub id, found offline in the cache
    from_hub = load_backbone("dino", "sd15")
    assert from_hub.id == "dino:timm/vit_small_patch16_224.dino|resize256-bicubic|crop224|imagenet-norm|cls"
    assert from_hub.weights == "rev-c0ffee000000"
    np.testing.assert_allclose(from_hub.embed_images(images), cls, atol=1e-5)
    # a local folder (or file) works the same
    local = load_backbone("dino", "sd15", source=str(snapshot))
    assert local.weights == from_hub.weights and local.id != from_hub.id
    np.testing.assert_allclose(local.embed_images(images), cls, atol=1e-5)


def test_clip_loads_an_open_clip_folder(tmp_path, images):
    from safetensors.torch import save_file

    from benchmark.metrics.tiny_backbones import TINY_CLIP_CONFIG

    tiny = load_backbone("clip", "tiny")
    folder = tmp_path / "clip"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP_CONFIG}))
    save_file(
        {k: v.contiguous() for k, v in tiny.model.state_dict().items()}, str(folder / "open_clip_model.safetensors")
    )
    local = load_backbone("clip", "sd15", source=str(folder))
    np.testing.assert_allclose(local.embed_images(images), tiny.embed_images(images), atol=1e-6)
    np.testing.assert_allclose(local.embed_texts(["a dog"]), tiny.embed_texts(["a dog"]), atol=1e-6)


def test_clip_weights_named_openai_get_quick_gelu_even_when_their_folder_config_leaves_it_out(tmp_path):
    """open_clip builds a config without `quick_gelu` with plain GELU and only warns; OpenAI's weights then embed
    every image and text slightly wrong."""
    from open_clip.transformer import QuickGELU
    from safetensors.torch import save_file

    from benchmark.metrics.tiny_backbones import TINY_CLIP_CONFIG

    state = {k: v.contiguous() for k, v in load_backbone("clip", "tiny").model.state_dict().items()}
    config = {key: value for key, value in TINY_CLIP_CONFIG.items() if key != "quick_gelu"}

    def folder(name):
        path = tmp_path / name
        path.mkdir()
        (path / "open_clip_config.json").write_text(json.dumps({"model_cfg": config}))
        save_file(state, str(path / "open_clip_model.safetensors"))
        return str(path)

    def activation(backbone):
        return type(backbone.model.visual.transformer.resblocks[0].mlp.gelu)

    openai = load_backbone("clip", "sd15", source=folder("vit_base_patch32_clip_224.openai"))
    assert activation(openai) is QuickGELU and "+quickgelu|" in openai.id and "+quickgelu|" in openai.text_id
    # not OpenAI's: its config decides
    other = load_backbone("clip", "sd15", source=folder("laion-clip"))
    assert activation(other) is not QuickGELU and "quickgelu" not in other.id


def test_lpips_puts_alexnet_weights_into_the_right_slices(tmp_path):
    import torchvision

    alexnet = torchvision.models.alexnet()
    path = tmp_path / "alexnet.pth"
    torch.save({k: v for k, v in alexnet.state_dict().items() if k.startswith("features.")}, path)
    scorer = load_backbone("lpips", "sd15", source=str(path))
    net = scorer.model.net
    for block, index in ((1, 0), (2, 3), (3, 6), (4, 8), (5, 10)):
        assert torch.equal(net.get_submodule(f"slice{block}.{index}").weight, alexnet.features[index].weight)
    grey, noise = Image.new("RGB", (64, 64), (128, 128, 128)), Image.effect_noise((64, 64), 60).convert("RGB")
    distances = scorer.distances([(grey, grey), (grey, noise)])
    assert distances[0] == pytest.approx(0.0, abs=1e-6) and distances[1] > 0


def test_hub_weights_are_fingerprinted_by_revision(tmp_path):
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "models--timm--x" / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"weights")
    assert fingerprint(snapshot / "model.safetensors") == "rev-0123456789ab"
    (tmp_path / "loose.bin").write_bytes(b"weights")
    assert fingerprint(tmp_path / "loose.bin").startswith("sha256-")
