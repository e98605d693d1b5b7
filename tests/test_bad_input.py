"""Bad input found by an adversarial cluster user: one clear line and a non-zero exit, nothing lost.

Each case was a traceback, a run that could never be resumed, or worse, a run folder that silently
mixed two models' images.
"""

from __future__ import annotations

import errno
import json
import shutil

import pytest
import torch

from benchmark.config import build_config
from benchmark.errors import BenchError, DiskFull, PermissionDenied, raise_if_storage_failure
from benchmark.models.loading import weights_stamp
from benchmark.profiles import get_profile
from benchmark.runner import execute_run, prepare_run, run_manifest
from benchmark.store.run_dir import RunStore
from dataset.protocol import load_protocol
from methods import registry
from tests.conftest import FAKE_METHOD, tiny_run


@pytest.mark.parametrize(
    ("error", "kind", "says"),
    [
        (OSError(errno.EDQUOT, "Disk quota exceeded"), DiskFull, "disk quota exceeded while writing"),
        (OSError(errno.EFBIG, "File too large"), DiskFull, "file too large while writing"),
        (OSError(errno.EROFS, "Read-only file system"), PermissionDenied, "read-only file system"),
        (RuntimeError("I/O error: Disk quota exceeded (os error 122)"), DiskFull, "disk quota exceeded while writing"),
        (RuntimeError("Error while serializing: File too large (os error 27)"), DiskFull, "file too large while"),
    ],
)
def test_a_quota_or_a_file_size_limit_stops_the_run_as_a_full_disk_does(error, kind, says):
    """On a cluster the usual "disk full" is a quota: it was a traceback, and a file-size limit failed every cell
    while the run went on training."""
    with pytest.raises(kind) as caught:
        raise_if_storage_failure(error, "run/x.png")
    assert str(caught.value).startswith(says) and "finished work is kept" in str(caught.value)


def test_a_number_that_is_not_finite_is_refused_before_it_enters_the_run_identity():
    """NaN is unequal to itself: a run started with it could never be resumed ("nan -> nan")."""
    with pytest.raises(BenchError, match=r"^config key 'generation.guidance_scale' must be a finite number"):
        build_config(assignments=["generation.guidance_scale=.nan"])
    dreambooth = registry.get_method_class("dreambooth")
    with pytest.raises(BenchError, match=r"^options.dreambooth.learning_rate must be a finite number"):
        registry.resolve_options(dreambooth, {"learning_rate": float("inf")})


def test_a_prompt_template_or_clip_norm_every_cell_would_fail_on_is_refused_up_front():
    dreambooth = registry.get_method_class("dreambooth")
    with pytest.raises(BenchError, match="instance_prompt must hold exactly one {}"):
        registry.resolve_options(dreambooth, {"instance_prompt": "{} {} {}"})
    with pytest.raises(BenchError, match="max_grad_norm must be above 0"):
        registry.resolve_options(dreambooth, {"max_grad_norm": -1.0})


def test_an_empty_output_dir_is_an_error_not_the_default(tmp_path):
    """`--output-dir "$RUN"` with RUN unset wrote to ./runs/ as if nothing had been asked."""
    with pytest.raises(BenchError, match="^output_dir is empty"):
        build_config(overrides={"output_dir": ""})


def test_a_run_inside_the_dataset_is_refused_before_it_writes_among_the_photos(tmp_path, dreambench_dir):
    copy = tmp_path / "dataset"
    shutil.copytree(dreambench_dir, copy)
    inside = copy / "dog" / "run"
    with pytest.raises(BenchError, match="is inside the dataset"):
        tiny_run(inside, copy, subjects=["dog"], limit_prompts=1)
    assert not inside.exists()


def test_options_too_long_for_a_folder_name_are_refused_before_the_run_folder_is_made(tmp_path, dreambench_dir):
    prompt = "a photo of {} " + "with a long description " * 12
    run_dir = tmp_path / "run"
    with pytest.raises(BenchError, match=r"make a results folder name of \d+ bytes \(file systems allow 255\)"):
        tiny_run(
            run_dir,
            dreambench_dir,
            methods=["dreambooth"],
            assignments=[f"options.dreambooth.instance_prompt={prompt}"],
        )
    assert not run_dir.exists()


def test_an_include_that_is_no_python_file_is_one_line(tmp_path):
    data = tmp_path / "weights.bin"
    data.write_bytes(b"\0\1")
    with pytest.raises(BenchError, match=r"is not a Python file \(.py\)"):
        registry.include_file(data)


def test_damaged_run_files_are_one_line_in_every_command(tmp_path, dreambench_dir, cli):
    run_dir = tmp_path / "run"
    tiny_run(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1, score=True)
    report = tmp_path / "report"
    a_file = run_dir / "run.json"
    for args in (("report", a_file, "-o", report), ("compare", a_file, "--a", "base", "--b", "base")):
        result = cli(*args)
        assert result.exit_code == 2 and "is a file; give a run directory" in result.output
    scores = run_dir / "base" / "scores.json"
    kept = scores.read_text()
    scores.write_text("[1]")
    result = cli("report", run_dir, "-o", report)
    assert result.exit_code == 2 and "holds a list, not the JSON object it should" in result.output
    scores.write_text(kept)
    a_file.write_text("[]")
    for args in (("score", run_dir), ("report", run_dir, "-o", report)):
        result = cli(*args)
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    # scorable with it given
    result = cli("score", run_dir, "--profile", "tiny", "--dataset-dir", dreambench_dir)
    assert result.exit_code == 0, result.output


def test_a_scoring_error_still_names_the_cells_that_failed(tmp_path, dreambench_dir, monkeypatch):
    """The scoring's one line ended the run and the failed cells were never said."""
    import benchmark.metrics

    def refuse(*args, **kwargs):
        raise BenchError("scoring refused")

    monkeypatch.setattr(benchmark.metrics, "score_run", refuse)
    said = []
    with pytest.raises(BenchError, match="scoring refused"):
        tiny_run(
            tmp_path / "run",
            dreambench_dir,
            methods=["fake"],
            include=[str(FAKE_METHOD)],
            score=True,
            assignments=["options.fake.fail_on=dog"],
            log=said.append,
        )
    failed = [line for line in said if line.startswith("bench: FAILED")]
    assert len(failed) == 1 and failed[0].startswith("bench: FAILED fake[fail_on=dog]/dog:")


def test_a_resolution_too_small_for_div_is_refused_before_any_image_is_generated(tmp_path, dreambench_dir):
    config = build_config(
        overrides={"output_dir": str(tmp_path / "run"), "dataset_dir": str(dreambench_dir), "score": True},
        assignments=["generation.resolution=24"],
    )
    with pytest.raises(BenchError, match=r"generation.resolution=24 is smaller than the 31 pixels DIV's LPIPS needs"):
        execute_run(config, progress=False, log=lambda line: None)
    assert not (tmp_path / "run").exists()
    without_div = build_config(
        overrides={
            "output_dir": str(tmp_path / "run"),
            "dataset_dir": str(dreambench_dir),
            "score": True,
            "metrics": ["dino", "clip-i"],
        },
        assignments=["generation.resolution=24"],
    )
    # the other metrics take any size
    prepare_run(without_div)


def test_weights_replaced_at_the_same_path_are_refused_instead_of_mixed_into_the_run(tmp_path, dreambench_dir):
    """A run's identity names models.base by its path: a checkpoint copied over the old one made half the
    images with one model and half with another, and the run said nothing."""
    weights = tmp_path / "weights"
    (weights / "unet").mkdir(parents=True)
    # 10 MB: ends and samples
    (weights / "unet" / "model.safetensors").write_bytes(bytes(range(256)) * 40000)
    (weights / ".cache").mkdir()
    (weights / ".cache" / "lock").write_text("x")
    first = weights_stamp(str(weights))
    moved = tmp_path / "copied"
    # other modification times, other folder: the same weights
    shutil.copytree(weights, moved)
    assert weights_stamp(str(moved)) == first
    # hidden files are no weights
    (weights / ".cache" / "lock").write_text("y")
    assert weights_stamp(str(weights)) == first
    from benchmark.models.loading import STAMP_BYTES, STAMP_SAMPLES

    original = (weights / "unet" / "model.safetensors").read_bytes()
    middle = STAMP_BYTES + (len(original) - 2 * STAMP_BYTES) // (STAMP_SAMPLES + 1) * (STAMP_SAMPLES // 2)
    # the head, a tensor in the middle (a merged adapter), the tail
    for changed_at in (
        100,
        middle,
        len(original) - 100,
    ):
        data = bytearray(original)
        data[changed_at] ^= 1
        (weights / "unet" / "model.safetensors").write_bytes(bytes(data))
        assert weights_stamp(str(weights)) != first, changed_at

    config = build_config(overrides={"dataset_dir": str(dreambench_dir)})
    manifest = run_manifest(
        config, load_protocol(), dreambench_dir, torch.device("cpu"), {"base": str(moved)}, get_profile(config.profile)
    )
    assert manifest["base_weights"] == first
    store = RunStore(tmp_path / "run")
    (tmp_path / "run").mkdir()
    store.open(config, manifest)
    # the same weights: resumed
    store.open(config, manifest)
    changed = {**manifest, "base_weights": weights_stamp(str(weights))}
    with pytest.raises(BenchError, match=r"different configuration \(models.base: the weights at .* have changed"):
        store.open(config, changed)
    older = {key: value for key, value in manifest.items() if key != "base_weights"}
    store_before = RunStore(tmp_path / "older")
    (tmp_path / "older").mkdir()
    store_before.open(config, older)
    # a run recorded before stamps is resumed as it was
    store_before.open(config, manifest)
    assert "base_weights" not in json.loads((tmp_path / "older" / "run.json").read_text())


def test_small_mistakes_get_messages_that_say_what_is_wrong(tmp_path):
    from benchmark.metrics.scoring import _select_metrics
    from dataset.locate import resolve_dataset_dir

    a_file = tmp_path / "passwd"
    a_file.write_text("x")
    with pytest.raises(BenchError, match="is a file; give the folder of subject folders"):
        # it said "does not exist"
        resolve_dataset_dir(a_file)
    with pytest.raises(BenchError, match="--metrics names no metric"):
        # what `--metrics ,` gives
        _select_metrics(",".split(","))
    with pytest.raises(BenchError, match=r"'live' is a group: give it alone, --subjects live"):
        load_protocol().select("live,dog")
