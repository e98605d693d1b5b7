"""Config layering and strict validation: a typo must never fall back to a default silently."""

from __future__ import annotations

import pytest

from benchmark.config import build_config
from benchmark.errors import BenchError


def test_precedence_is_file_then_set_then_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 1\nimages_per_prompt: 3\ngeneration:\n  steps: 7\n")
    config = build_config(path, ["seed=2", "generation.guidance_scale=5"], {"seed": 3})
    assert (config.seed, config.images_per_prompt) == (3, 3)
    resolved = config.resolved_generation()
    assert (resolved.steps, resolved.guidance_scale) == (7, 5.0)
    # the tiny profile's default fills what nobody set
    assert resolved.resolution == 32
    # one batch per (subject, prompt) unless told otherwise
    assert resolved.batch_size == 3


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("sed=1", "unknown config key 'sed'"),
        ("generation.stpes=3", "unknown config key 'generation.stpes'"),
        ("seed=one", "config key 'seed' must be int, got 'one'"),
        ("images_per_prompt=0", "images_per_prompt must be at least 1"),
        ("generation.scheduler=magic", "generation.scheduler 'magic' is not one of"),
        ("generation.resolution=30", "multiple of 8"),
        ("generation.compile_mode=fastest", "generation.compile_mode must be one of default"),
        ("profile=sdxl", "unknown profile 'sdxl'"),
        ("models.vae=foo", "profile 'tiny' has no such model"),
        ("shard=2/2", "shard '2/2' must look like i/n with 0 <= i < n, e.g. 0/4; shards count from 0, so the last"),
        ("shard=3/2", "shard '3/2' must look like i/n with 0 <= i < n, e.g. 0/4"),
        ("executor=slurm", "executor 'slurm' is not one of"),
        ("device=cuda:abc", "device 'cuda:abc' is not one of: auto, cpu, cuda, mps or cuda:N"),
        ("device=gpu", "device 'gpu' is not one of"),
        ("ray_address=auto", "ray_address=auto needs --executor ray"),
        ("seed", "--set expects key=value"),
    ],
)
def test_bad_values_are_one_line_errors(assignment, message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace("/", "/")):
        build_config(assignments=[assignment])


def test_a_number_in_e_notation_is_a_float_as_the_readme_writes_it(tmp_path):
    """PyYAML's YAML 1.1 reads `1e-6` (no dot) as a string: the README's own --set example was refused."""
    from benchmark.config import parse_assignment
    from methods.registry import get_method_class, resolve_options

    config = build_config(assignments=["options.dreambooth.learning_rate=1e-6", "generation.guidance_scale=7E0"])
    assert config.resolved_generation().guidance_scale == 7.0
    assert resolve_options(get_method_class("dreambooth"), config.options["dreambooth"])["learning_rate"] == 1e-6
    path = tmp_path / "run.yaml"
    path.write_text("options:\n  dreambooth:\n    learning_rate: 2e-4\n")
    assert build_config(path).options["dreambooth"]["learning_rate"] == 2e-4
    # what is not a number stays text, and a type error still says so
    assert parse_assignment("x=1e-6x")[1] == "1e-6x" and parse_assignment("x=1e")[1] == "1e"
    with pytest.raises(BenchError, match="must be float"):
        resolve_options(get_method_class("dreambooth"), {"learning_rate": "1e-6x"})


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: [1,\n")
    with pytest.raises(BenchError, match="bad.yaml .*not valid YAML"):
        build_config(path)
    with pytest.raises(BenchError, match="does not exist"):
        build_config(tmp_path / "missing.yaml")


def test_identity_covers_what_changes_pixels_and_nothing_else():
    base = build_config()
    assert build_config(overrides={"subjects": ["dog"], "workers": 4, "executor": "process"}).identity_hash() == (
        base.identity_hash()
    )
    assert build_config(overrides={"limit_prompts": 3}).identity_hash() == base.identity_hash()
    for changed in (["seed=1"], ["generation.batch_size=1"], ["generation.cpu_threads=2"], ["images_per_prompt=2"]):
        assert build_config(assignments=changed).identity_hash() != base.identity_hash(), changed


def test_compile_settings_count_in_the_identity_only_while_compiling():
    base = build_config().identity_hash()
    assert build_config(assignments=["generation.compile_backend=aot_eager"]).identity_hash() == base
    assert build_config(assignments=["generation.compile_mode=max-autotune"]).identity_hash() == base
    compiled = build_config(assignments=["generation.compile=true"]).identity_hash()
    assert compiled != base
    assert build_config(
        assignments=["generation.compile=true", "generation.compile_mode=max-autotune"]
    ).identity_hash() not in (base, compiled)


def test_an_unknown_compile_backend_fails_before_any_work():
    with pytest.raises(BenchError, match="generation.compile_backend 'turbo' is not a torch.compile backend"):
        build_config(assignments=["generation.compile=true", "generation.compile_backend=turbo"])


def test_profile_models_can_be_overridden():
    config = build_config(assignments=["models.base=/models/my-sd"], overrides={"profile": "sd15"})
    assert config.model_sources()["base"] == "/models/my-sd"
    assert config.model_sources()["dino"] == "timm/vit_small_patch16_224.dino"
    assert config.resolved_generation().resolution == 512


def test_a_device_this_machine_lacks_is_one_line_before_any_work(monkeypatch):
    import torch

    from benchmark.devices import resolve_device

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(BenchError, match="no MPS"):
        resolve_device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1").index == 1
    with pytest.raises(BenchError, match=r"'cuda:2' requested but this machine has 2 GPU\(s\): cuda:0..cuda:1"):
        resolve_device("cuda:2")
    # a dry run plans for the cluster's GPUs
    assert resolve_device("cuda:7", must_exist=False).index == 7
