"""The real loading path (Hugging Face cache or a local folder) on a small saved pipeline.

The `sd15` profile is exercised end to end with the tiny pipeline saved in diffusers'
layout, so the code that loads real weights is tested here without any download.
"""

from __future__ import annotations

import pytest

from benchmark.models.loading import locate
from tests.conftest import bench_run_args, image_hashes

TINY_SAMPLING = ["generation.resolution=32", "generation.steps=2", "generation.dtype=float32"]


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from benchmark.models.tiny import tiny_components, tiny_noise_scheduler_config

    folder = tmp_path_factory.mktemp("pipeline") / "tiny-sd"
    pipe = StableDiffusionPipeline(
        **tiny_components(),
        scheduler=DDIMScheduler(**tiny_noise_scheduler_config()),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture
def hub_cache(tmp_path, saved_pipeline, monkeypatch):
    """A Hugging Face cache holding the saved pipeline as if `bench models download` had fetched it."""
    import shutil

    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-sd"
    revision = "0" * 40
    shutil.copytree(saved_pipeline, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_locate_finds_hub_cache_and_local_paths(hub_cache, saved_pipeline):
    found = locate("base", "acme/tiny-sd")
    assert found.present and found.where.endswith("0" * 40)
    assert not locate("base", "acme/absent").present
    assert locate("base", str(saved_pipeline)).present
    assert not locate("base", "/definitely/not/here").present


def test_sd15_profile_runs_from_the_hub_cache_and_from_a_folder(
    hub_cache, saved_pipeline, tmp_path, cli, dreambench_dir
):
    options = "--profile sd15 --subjects can --limit-prompts 1 --images-per-prompt 2 --device cpu --quiet --no-score"
    common = bench_run_args(options, dataset_dir=dreambench_dir)
    sets = [arg for item in TINY_SAMPLING for arg in ("--set", item)]
    from_cache = cli(*common, *sets, "--set", "models.base=acme/tiny-sd", "--output-dir", tmp_path / "a")
    assert from_cache.exit_code == 0, from_cache.output
    from_folder = cli(*common, *sets, "--set", f"models.base={saved_pipeline}", "--output-dir", tmp_path / "b")
    assert from_folder.exit_code == 0, from_folder.output
    # sd15 is a real profile; only its weights were tiny here
    assert "NOT MEANINGFUL" not in from_cache.stderr
    a, b = image_hashes(tmp_path / "a"), image_hashes(tmp_path / "b")
    # the same weights give the same images however they were found
    assert len(a) == 4 and a == b


def test_models_download_offline_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    result = cli("models", "download", "--profile", "sd15")
    assert result.exit_code == 2
    assert result.stderr.startswith("bench: error: could not download base=stable-diffusion-v1-5/")
    assert len(result.stderr.strip().splitlines()) == 1
