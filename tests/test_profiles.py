"""Profiles are data files: the shipped ones say what the protocol pins, and a user adds one without editing code."""

from __future__ import annotations

import json

import pytest

from benchmark.errors import BenchError
from benchmark.profiles import BUILTIN_DIR, PATH_VAR, get_profile, parse_profile
from tests.conftest import tiny_run


def test_the_shipped_profiles_pin_designs_models_and_say_what_their_weights_are():
    sd15, tiny, pocket = get_profile("sd15"), get_profile("tiny"), get_profile("pocket")
    assert sd15.models["base"].source == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert sd15.models["dino"].source == "timm/vit_small_patch16_224.dino"
    assert sd15.generation == {"resolution": 512, "steps": 50, "guidance_scale": 7.5, "scheduler": "ddim"}
    assert (sd15.weights, sd15.meaningful, sd15.dataset) == ("pretrained", True, "dreambench-v1")
    assert (tiny.weights, tiny.meaningful) == ("random", False)
    # the pocket world's numbers mean something (in miniature), on its own dataset, from its own weights
    assert (pocket.weights, pocket.meaningful, pocket.pocket, pocket.dataset) == (
        "pocket",
        True,
        True,
        "pocketbench-v1",
    )
    assert all(spec.source.startswith("pocket:") for spec in pocket.models.values())


def _user_profile(folder, name="my-tiny", **changes):
    data = json.loads((BUILTIN_DIR / "tiny.json").read_text())
    data.update(changes)
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(data))
    return folder


def test_a_profile_file_in_the_users_folder_is_listed_and_runs(tmp_path, monkeypatch, cli, dreambench_dir):
    folder = _user_profile(
        tmp_path / "profiles", generation={"resolution": 32, "steps": 2, "guidance_scale": 3.0, "scheduler": "ddim"}
    )
    monkeypatch.setenv(PATH_VAR, str(folder))
    listed = cli("ls", "profiles")
    assert "my-tiny" in listed.stdout and "sd15" in listed.stdout
    summary = tiny_run(tmp_path / "run", dreambench_dir, profile="my-tiny", subjects=["dog"], limit_prompts=1)
    assert summary.generated == 2
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["profile"] == "my-tiny" and run["identity"]["generation"]["steps"] == 2


@pytest.mark.parametrize(
    "change, message",
    [
        ({"weights": "real"}, '"weights" must be one of'),
        ({"models": {"dino": "x"}}, 'name at least the "base" model'),
        ({"models": {"base": "builtin:tiny", "vae": "x"}}, "unknown model role 'vae'"),
        ({"generation": {"sampler": "ddim"}}, '"generation" must give exactly'),
        ({"generation": {"resolution": 32, "steps": 4, "guidance_scale": 7.5}}, '"generation" must give exactly'),
        ({"generation": {"resolution": "32", "steps": 4, "guidance_scale": 7.5, "scheduler": "ddim"}}, "an int"),
        ({"dataset": "coco"}, '"dataset" must be one of'),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_a_mistake_in_a_profile_file_is_one_line_naming_the_file(tmp_path, change, message):
    path = _user_profile(tmp_path, "broken", **change) / "broken.json"
    with pytest.raises(BenchError, match=message) as error:
        parse_profile(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_profile_defined_twice_or_a_missing_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(PATH_VAR, str(_user_profile(tmp_path / "p", name="tiny")))
    with pytest.raises(BenchError, match="profile 'tiny' is defined twice"):
        get_profile("sd15")
    monkeypatch.setenv(PATH_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(BenchError, match="not a folder"):
        get_profile("sd15")
