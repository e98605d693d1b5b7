"""`bench pocket build` still trains every model, in the formats the real loaders read, and resumes exactly."""

from __future__ import annotations

import html
import json
import os
import shutil

import numpy as np
import pytest
import torch

from benchmark.errors import BenchError
from pocket.pretrain import loop
from pocket.pretrain.build import SMOKE, build


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("pocket-build")
    return build(root / "work", root / "out", SMOKE, workers=1)


def test_the_base_model_is_a_stable_diffusion_folder_that_generates(smoke_build):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(os.fspath(smoke_build / "base"), local_files_only=True)
    assert pipe.tokenizer.model_max_length == 32
    # the real CLIP vocabulary: "sks" is one token
    assert pipe.tokenizer("a sks dog").input_ids[2] == 48136
    image = pipe("a dog on the beach", num_inference_steps=2, height=64, width=64, output_type="np").images[0]
    assert image.shape == (64, 64, 3)
    # measured on the world's latents, not SD's constant
    assert pipe.vae.config.scaling_factor != 0.18215
    # the refining stage's UNet, with its pooled-text embedding, is what ships
    assert pipe.unet.config.addition_embed_type == "text"


def test_growing_the_text_embedding_leaves_the_first_stages_model_unchanged():
    from diffusers import UNet2DConditionModel

    from pocket.pretrain.generator import UNET_CONFIG, with_text_embedding

    torch.manual_seed(0)
    first = UNet2DConditionModel(**UNET_CONFIG).eval()
    # a trained first stage: no weight at its initial value
    with torch.no_grad():
        for parameter in first.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    grown = with_text_embedding(first).eval()
    noisy, steps, context = torch.randn(2, 8, 16, 16), torch.tensor([10, 700]), torch.randn(2, 32, 64)
    with torch.no_grad():
        torch.testing.assert_close(grown(noisy, steps, context).sample, first(noisy, steps, context).sample)
    # and the new embedding learns: its gradient is not zero
    grown.train()
    grown(noisy, steps, context).sample.pow(2).mean().backward()
    assert grown.add_embedding.norm2.weight.grad.abs().sum() > 0


def test_the_refining_stage_starts_from_the_first_stages_weights_and_their_average():
    from diffusers import UNet2DConditionModel

    from pocket.pretrain.generator import UNET_CONFIG, grow_for_refining

    torch.manual_seed(0)
    models = {"unet": UNet2DConditionModel(**UNET_CONFIG)}
    emas = {"unet": loop.Ema(models["unet"], 0.999)}
    # the average lags the trained weights: the two differ
    with torch.no_grad():
        for parameter in models["unet"].parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    trained, averaged = models["unet"].state_dict(), emas["unet"].model.state_dict()
    grow_for_refining(models, emas)
    for grown, before in ((models["unet"], trained), (emas["unet"].model, averaged)):
        after = grown.state_dict()
        for key, value in before.items():
            torch.testing.assert_close(after[key], value)
    assert emas["unet"].decay == 0.999 and not emas["unet"].model.training


def test_the_judges_load_as_timm_open_clip_and_alexnet_checkpoints(smoke_build):
    import open_clip
    import timm
    from safetensors.torch import load_file

    config = json.loads((smoke_build / "dino" / "config.json").read_text())
    dino = timm.create_model(config["architecture"], pretrained=False, num_classes=0, **config["model_args"])
    dino.load_state_dict(load_file(smoke_build / "dino" / "model.safetensors"), strict=True)
    assert dino(torch.zeros(1, 3, 224, 224)).shape == (1, 128)

    clip = open_clip.create_model(f"local-dir:{smoke_build / 'clip'}")
    tokens = open_clip.get_tokenizer("ViT-B-32")(["a dog"])
    assert clip.encode_text(tokens).shape == (1, 64)

    trunk = torch.load(smoke_build / "lpips" / "alexnet-pocket.pth")
    assert sorted(trunk) == sorted(f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias"))


def test_a_killed_stage_resumes_to_the_same_weights(tmp_path):
    def train(folder, kill_at=None):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)

        def step_fn(step):
            if step == kill_at:
                raise KeyboardInterrupt
            g = loop.step_generator(7, step)
            x = torch.randn(8, 4, generator=g)
            return (model(x) - x.sum(1, keepdim=True)).pow(2).mean()

        loop.run(
            "toy", folder, {"m": model}, optimizer, 6, step_fn, 0.1, warmup=2, checkpoint_seconds=0, log=lambda m: None
        )
        return model.state_dict()

    straight = train(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "b", kill_at=4)
    resumed = train(tmp_path / "b")
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    assert not np.allclose(straight["weight"].numpy(), 0)


def test_the_build_lists_every_file_it_made_and_a_changed_byte_is_named(smoke_build, tmp_path):
    from benchmark.models.weights_manifest import manifest_problems

    assert manifest_problems(smoke_build) == []
    copy = tmp_path / "weights"
    shutil.copytree(smoke_build, copy)
    weights = copy / "dino" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    (copy / "clip" / "notes.txt").write_text("added")
    (copy / "lpips" / "alexnet-pocket.pth").unlink()
    problems = manifest_problems(copy)
    assert any("dino/model.safetensors: differs" in p for p in problems)
    assert any("clip/notes.txt: not in manifest.json" in p for p in problems)
    assert any("alexnet-pocket.pth: missing" in p for p in problems)


def test_a_pocket_run_refuses_weights_that_differ_from_their_manifest(smoke_build, tmp_path, monkeypatch):
    import benchmark.models.loading as loading
    from benchmark.profiles import get_profile

    copy = tmp_path / "weights"
    shutil.copytree(smoke_build, copy)
    monkeypatch.setattr(loading, "pocket_weights_dir", lambda: copy)
    profile = get_profile("pocket")
    sources = {role: spec.source for role, spec in profile.models.items()}
    assert loading.require_models(profile, sources, ["base", "dino"])["base"] == str(copy / "base")
    (copy / "base" / "model_index.json").write_text("{}")
    with pytest.raises(BenchError, match="pocket weights changed: .*model_index.json: differs"):
        loading.require_models(profile, sources, ["base"])
    monkeypatch.setattr(loading, "pocket_weights_dir", lambda: tmp_path / "never-built")
    with pytest.raises(BenchError, match="missing weights: base=pocket:base: .*bench pocket build"):
        loading.require_models(profile, sources, ["base"])


def test_the_pocket_profile_runs_and_scores_through_the_real_loaders(smoke_build, tmp_path):
    """The models load as sd15's do (diffusers folder, timm folder with model_args, open_clip local-dir, an AlexNet
    file), the photos come from the pocket dataset shipped in the package, and the run says which dataset it used."""
    from benchmark.config import build_config
    from benchmark.runner import execute_run
    from dataset.protocol import POCKET_DATASET

    overrides = {
        "base": smoke_build / "base",
        "dino": smoke_build / "dino",
        "clip": smoke_build / "clip",
        "lpips": smoke_build / "lpips" / "alexnet-pocket.pth",
    }
    config = build_config(
        assignments=[f"models.{role}={path}" for role, path in overrides.items()],
        overrides={
            "profile": "pocket",
            "methods": ["base"],
            "subjects": ["dog"],
            "limit_prompts": 1,
            "images_per_prompt": 2,
            "generate_pres": False,
            "output_dir": str(tmp_path / "run"),
        },
    )
    summary = execute_run(config, progress=False, log=lambda message: None)
    assert summary.generated == 2
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["protocol"] == "pocketbench-v1" and run["dataset_dir"] == str(POCKET_DATASET.resolve())
    assert run["meaningful"] is True
    scores = json.loads((tmp_path / "run" / "base" / "scores.json").read_text())
    assert {"dino", "clip-i", "clip-t", "div"} <= set(scores["metrics"])
    assert not (tmp_path / "run" / "WARNING-RANDOM-WEIGHTS.txt").exists()

    # the report says POCKET WORLD, with its own explanation, and never calls these weights random
    from reports.html import write_report

    page = html.unescape(write_report([tmp_path / "run"], tmp_path / "report").index.read_text())
    assert "POCKET WORLD: profile 'pocket'" in page and "pre-trained on a CPU" in page
    assert "NOT MEANINGFUL" not in page and "RANDOM" not in page


def test_a_smoke_build_keeps_out_of_the_real_builds_folders(monkeypatch, tmp_path):
    # A smoke build in the real work folder would leave 32-image stages that the real build then skips as done.
    from click.testing import CliRunner

    from benchmark.cli import main
    from benchmark.models.loading import pocket_weights_dir
    from pocket.pretrain import build as build_module

    calls = []
    monkeypatch.setattr(build_module, "build", lambda work, out, sizes: calls.append((work, out, sizes)))
    monkeypatch.chdir(tmp_path)
    for args in (["pocket", "build", "--smoke"], ["pocket", "build"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    (smoke_work, smoke_out, smoke_sizes), (work, out, sizes) = calls
    assert (smoke_sizes, sizes) == (SMOKE, build_module.FULL)
    assert smoke_work != work and smoke_out != out
    assert out == pocket_weights_dir() and not smoke_out.resolve().is_relative_to(pocket_weights_dir().resolve())


def test_nearest_neighbour_retrieval_counts_only_other_photos():
    from pocket.gates import nearest_neighbour_accuracy

    # Each row's own similarity (1) must not count: a and b point apart, so only c's nearest is right.
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    assert nearest_neighbour_accuracy(rows, ["a", "b", "a", "b"]) == 1.0
    assert nearest_neighbour_accuracy(rows, ["a", "b", "b", "a"]) == 0.0
    assert nearest_neighbour_accuracy(rows, ["a", "a", "a", "b"]) == 0.5


def test_the_world_gates_run_through_the_profiles_loaders(smoke_build, monkeypatch):
    import benchmark.models.loading as loading
    from pocket import gates

    monkeypatch.setattr(loading, "pocket_weights_dir", lambda: smoke_build)
    (dino,) = [gates.dino_gate()]
    assert dino.count == 158 and 0 <= dino.value <= 1
    images, classes, contexts = gates.held_out_renders(6)
    assert len(images) == 6 and all(context for context in contexts) and len(set(classes)) > 1
    from benchmark.metrics.backbones import load_backbone

    base = gates.base_gates(load_backbone("clip", "pocket"), nouns=("dog", "backpack"), contexts=("beach", "snow"))
    assert [g.name for g in base] == ["base_class", "base_context"] and base[0].count == 4
    assert all(0 <= g.value <= 1 and g.holds == (g.value >= g.threshold) for g in base)


def test_the_pocket_speed_script_times_every_method_and_sums_each_cells_training(monkeypatch, tmp_path):
    import importlib
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "perf"))
    bench_pocket = importlib.import_module("bench_pocket")
    everything = bench_pocket.method_names("all")
    assert {"base", "dreambooth", "textual-inversion", "dreambooth-no-prior"} <= set(everything)
    assert bench_pocket.method_names("dreambooth") == ["dreambooth"]
    for method, subject, seconds in [("dreambooth", "dog", 12.5), ("dreambooth", "can", 7.5), ("base", "dog", None)]:
        folder = tmp_path / method / "artifacts" / subject
        folder.mkdir(parents=True)
        info = {"trained": seconds is not None, **({"train_seconds": seconds} if seconds else {})}
        (folder / "artifact.json").write_text(json.dumps(info))
    assert bench_pocket.training_seconds(tmp_path) == 20.0


def test_a_checkpoint_of_a_changed_model_is_not_resumed(tmp_path):
    # The CLIP role's tower changed between builds: its old checkpoint must start the stage over, not crash it.
    def train(width, steps=4):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, width)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
        said = []

        def step_fn(step):
            return model(torch.randn(8, 4, generator=loop.step_generator(7, step))).pow(2).mean()

        loop.run("toy", tmp_path, {"m": model}, optimizer, steps, step_fn, 0.1, warmup=1, log=said.append)
        return said

    train(1)
    assert any("resuming at step 4" in line for line in train(1, steps=6))
    said = train(2)
    assert any("another model; training from step 0" in line for line in said)
    assert not any("resuming" in line for line in said)


def test_a_checkpoint_without_recorded_shapes_still_resumes(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    state = {"step": 3, "models": {"m": model.state_dict()}, "emas": {}, "optimizer": optimizer.state_dict()}
    torch.save(state, tmp_path / "toy.ckpt")
    said = []
    loop.run("toy", tmp_path, {"m": model}, optimizer, 4, lambda s: model(torch.ones(2, 4)).sum(), 0.1, log=said.append)
    assert any("resuming at step 3" in line for line in said)


def test_a_checkpoint_of_a_changed_loss_is_not_resumed(tmp_path):
    # The CLIP role's loss gained a term with its shapes unchanged: only the stage's recipe can tell.
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)

    def step_fn(step):
        return model(torch.ones(2, 4)).sum()

    def train(recipe, steps):
        said = []
        loop.run("toy", tmp_path, {"m": model}, optimizer, steps, step_fn, 0.1, recipe=recipe, log=said.append)
        return said

    train("1", 2)
    assert any("resuming at step 2" in line for line in train("1", 3))
    said = train("2", 3)
    assert any("another recipe; training from step 0" in line for line in said)
    assert not any("resuming" in line for line in said)
