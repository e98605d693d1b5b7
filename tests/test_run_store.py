"""Resuming, refusing to mix configurations, locking, and atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from benchmark.config import stable_hash
from benchmark.errors import BenchError
from benchmark.profiles import get_profile
from benchmark.store.atomic import atomic_write_bytes
from benchmark.store.lock import run_lock
from methods import registry
from methods.registry import method_label
from tests.conftest import FAKE_METHOD, image_hashes, tiny_run


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, dreambench_dir) -> Path:
    """One finished tiny `base` run, made once for the module; tests get copies (`finished_run`)."""
    run_dir = tmp_path_factory.mktemp("run-store-source") / "run"
    tiny_run(run_dir, dreambench_dir)
    return run_dir


@pytest.fixture
def finished_run(tmp_path, source_run) -> Path:
    """A private copy of the finished run: tests re-run into it, damage it and rewrite its records."""
    return Path(shutil.copytree(source_run, tmp_path / "run"))


def test_rerun_generates_nothing(finished_run, dreambench_dir):
    before = image_hashes(finished_run)
    mtimes = {p: p.stat().st_mtime_ns for p in finished_run.glob("base/images/*/*.png")}
    summary = tiny_run(finished_run, dreambench_dir)
    assert summary.generated == 0 and summary.reused == len(before)
    assert {p: p.stat().st_mtime_ns for p in finished_run.glob("base/images/*/*.png")} == mtimes


def test_a_rerun_never_trains_a_finished_cell_again(tmp_path, dreambench_dir, monkeypatch):
    """A finished cell's artifact is what a re-run generates from: training it again would cost the whole training
    on every resume of a sweep, and since the published artifact.json is kept, no file would show it."""
    run_dir = tmp_path / "run"
    plugin = {"methods": ["fake"], "include": [str(FAKE_METHOD)], "limit_prompts": 1}
    fake = registry.get_method_class("fake", [str(FAKE_METHOD)])
    trained, real_personalize = [], fake.personalize

    def personalize(self, subject, workdir, scratch):
        trained.append(subject.name)
        return real_personalize(self, subject, workdir, scratch)

    monkeypatch.setattr(fake, "personalize", personalize)
    first = tiny_run(run_dir, dreambench_dir, **plugin)
    assert sorted(trained) == ["backpack", "dog"] and all(result.trained for result in first.results)
    trained.clear()
    again = tiny_run(run_dir, dreambench_dir, **plugin)
    assert trained == [] and not any(result.trained for result in again.results) and again.generated == 0
    # a lost image: made again from the artifact
    (run_dir / "fake" / "images" / "dog" / "p00_i0.png").unlink()
    repaired = tiny_run(run_dir, dreambench_dir, **plugin)
    assert trained == [] and not any(result.trained for result in repaired.results) and repaired.generated == 1


def test_deleted_image_comes_back_byte_identical(finished_run, dreambench_dir):
    before = image_hashes(finished_run)
    victim = finished_run / "base/images/dog/p01_i1.png"
    victim.unlink()
    summary = tiny_run(finished_run, dreambench_dir)
    assert summary.generated == 1
    assert image_hashes(finished_run) == before


def test_a_truncated_image_is_detected_and_rewritten(finished_run, dreambench_dir):
    before = image_hashes(finished_run)
    victim = finished_run / "base/images/backpack/p00_i0.png"
    victim.write_bytes(victim.read_bytes()[:50])
    assert tiny_run(finished_run, dreambench_dir).generated == 1
    assert image_hashes(finished_run) == before


def test_a_different_configuration_is_refused(finished_run, dreambench_dir):
    before = image_hashes(finished_run)
    with pytest.raises(BenchError, match=r"different configuration \(seed: 0 -> 5\)"):
        tiny_run(finished_run, dreambench_dir, seed=5)
    with pytest.raises(BenchError, match="generation.steps"):
        tiny_run(finished_run, dreambench_dir, assignments=["generation.steps=2"])
    assert image_hashes(finished_run) == before


def test_more_subjects_and_prompts_extend_the_same_run(finished_run, dreambench_dir):
    summary = tiny_run(finished_run, dreambench_dir, subjects=["backpack", "dog", "cat"], limit_prompts=3)
    assert summary.reused == 8 and summary.generated == 3 * 3 * 2 - 8
    lines = (finished_run / "base" / "generations.jsonl").read_text().splitlines()
    assert len(lines) == 18


def test_a_foreign_directory_is_not_written_into(tmp_path, dreambench_dir):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(BenchError, match="not a bench run directory"):
        tiny_run(tmp_path / "mine", dreambench_dir)
    assert os.listdir(tmp_path / "mine") == ["thesis.tex"]


def test_a_locked_run_directory_is_refused(finished_run, dreambench_dir):
    with run_lock(finished_run, (0, 1)):
        with pytest.raises(BenchError, match="another `bench run` is writing"):
            tiny_run(finished_run, dreambench_dir)
    # free again once the holder is done
    tiny_run(finished_run, dreambench_dir)


def test_failed_write_leaves_neither_file_nor_temp(tmp_path, monkeypatch):
    target = tmp_path / "out" / "image.png"

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(BenchError, match="disk full while writing .*image.png"):
        atomic_write_bytes(target, b"x" * 100)
    assert list((tmp_path / "out").iterdir()) == []


def test_changed_options_are_filed_under_their_own_label(tmp_path, dreambench_dir):
    run_dir = tmp_path / "run"
    plugin = {"methods": ["fake"], "include": [str(FAKE_METHOD)]}
    tiny_run(run_dir, dreambench_dir, **plugin)
    before = image_hashes(run_dir)
    changed = tiny_run(run_dir, dreambench_dir, **plugin, assignments=["options.fake.size=8"])
    assert list(changed.records) == ["fake[size=8]"] and changed.generated == 8
    assert {k: v for k, v in image_hashes(run_dir).items() if k.startswith("fake/")} == before
    records = (run_dir / "fake[size=8]" / "generations.jsonl").read_text().splitlines()
    assert all(json.loads(r)["method"] == "fake[size=8]" and json.loads(r)["method_name"] == "fake" for r in records)
    # An option set to the value it has anyway is the same configuration: same folder, nothing generated again.
    default_size = registry.get_method_class("fake", [str(FAKE_METHOD)]).default_options["size"]
    same = tiny_run(run_dir, dreambench_dir, **plugin, assignments=[f"options.fake.size={default_size}"])
    assert list(same.records) == ["fake"] and same.generated == 0


def test_a_folder_labelled_with_a_default_option_by_an_earlier_version_is_resumed(tmp_path, dreambench_dir):
    """`options.fake.size=16` (its default) was filed under `fake[size=16]` before; resuming finds that folder."""
    run_dir = tmp_path / "run"
    plugin = {"methods": ["fake"], "include": [str(FAKE_METHOD)], "subjects": ["dog"]}
    tiny_run(run_dir, dreambench_dir, **plugin)
    # as an earlier version labelled it
    (run_dir / "fake").rename(run_dir / "fake[size=16]")
    again = tiny_run(run_dir, dreambench_dir, **plugin, assignments=["options.fake.size=16"])
    assert list(again.records) == ["fake[size=16]"] and again.generated == 0 and again.reused == 4
    assert not (run_dir / "fake").exists()


def test_an_option_at_its_profile_value_makes_no_new_label():
    from methods.dreambooth import DreamBooth

    tiny_steps = DreamBooth.profile_options["tiny"]["steps"]
    assert method_label(DreamBooth, {"steps": tiny_steps}, "tiny") == "dreambooth"
    assert method_label(DreamBooth, {"steps": tiny_steps}, "sd15") == f"dreambooth[steps={tiny_steps}]"
    assert method_label(DreamBooth, {"learning_rate": 5e-6, "scale_lr": False}, "sd15") == "dreambooth"
    # an int for a float option is the same setting, one label whichever way it was typed
    assert method_label(DreamBooth, {"prior_loss_weight": 2}) == method_label(DreamBooth, {"prior_loss_weight": 2.0})
    assert method_label(DreamBooth, {"prior_loss_weight": 2}) == "dreambooth[prior_loss_weight=2.0]"
    # a value with a path separator stays one folder name, which `bench score` and `bench report` find again
    assert method_label(DreamBooth, {"class_prompt": "a photo/of {}"}) == "dreambooth[class_prompt=a photo%2Fof {}]"


def _recorded_method_info(run_dir, label: str) -> dict:
    return json.loads((run_dir / label / "method.json").read_text())["info"]


def _record_method_info(run_dir, label: str, info: dict, key: str) -> None:
    """Rewrite a method folder's record, as an older version of the harness (or other settings) would have left it."""
    (run_dir / label / "method.json").write_text(json.dumps({"key": key, "info": info}))


def test_a_method_folder_made_with_other_defaults_is_refused(tmp_path, dreambench_dir):
    run_dir = tmp_path / "run"
    plugin = {"methods": ["fake"], "include": [str(FAKE_METHOD)]}
    tiny_run(run_dir, dreambench_dir, **plugin)
    info = _recorded_method_info(run_dir, "fake")
    # as if the method's defaults had changed since
    info["options"]["size"] = 99
    _record_method_info(run_dir, "fake", info, key="stale")
    with pytest.raises(BenchError, match=r"produced with other settings \(options.size: 99 -> 16\)"):
        tiny_run(run_dir, dreambench_dir, **plugin)


def test_a_method_folder_of_another_method_version_is_refused_by_name(tmp_path, dreambench_dir):
    """Bumping a method's version (its outputs changed) must not mix old and new outputs in one folder."""
    run_dir = tmp_path / "run"
    plugin = {"methods": ["fake"], "include": [str(FAKE_METHOD)]}
    tiny_run(run_dir, dreambench_dir, **plugin)
    info = _recorded_method_info(run_dir, "fake")
    current, info["version"] = info["version"], "0"
    _record_method_info(run_dir, "fake", info, key="stale")
    with pytest.raises(BenchError, match=rf"holds outputs of fake version 0; this code is version {current}"):
        tiny_run(run_dir, dreambench_dir, **plugin)


def test_turning_checkpoints_on_extends_a_started_run_instead_of_retraining(tmp_path, dreambench_dir):
    """A user whose job was preempted enables checkpoints: the run must go on, not start a new method row."""
    run_dir = tmp_path / "run"
    small = {"methods": ["dreambooth"], "subjects": ["dog"], "limit_prompts": 1, "images_per_prompt": 1}
    tiny_run(run_dir, dreambench_dir, **small)
    artifact = run_dir / "dreambooth" / "artifacts" / "dog" / "artifact.json"
    trained = artifact.stat().st_mtime_ns
    summary = tiny_run(run_dir, dreambench_dir, **small, assignments=["options.dreambooth.checkpoint_every=2"])
    assert list(summary.records) == ["dreambooth"] and summary.generated == 0
    assert artifact.stat().st_mtime_ns == trained
    # A folder made when run options still counted in the identity (options include them, key from them) is
    # the same configuration: it goes on under its recorded key, so its finished images stay.
    info = _recorded_method_info(run_dir, "dreambooth")
    info["options"]["checkpoint_every"] = 3
    _record_method_info(run_dir, "dreambooth", info, key=stable_hash(info))
    older = tiny_run(run_dir, dreambench_dir, **small)
    assert list(older.records) == ["dreambooth"] and older.generated == 0 and older.reused == 1
    assert artifact.stat().st_mtime_ns == trained
    # How `compile` compiles is part of a compiled method's identity (never of its name).
    from methods.dreambooth import DreamBooth
    from methods.registry import identity_options

    assert identity_options(DreamBooth, {"compile": True})["compile_scheme"] >= 2
    assert "compile_scheme" not in identity_options(DreamBooth, {"compile": False})
    assert method_label(DreamBooth, {"compile": True, "checkpoint_every": 5}) == "dreambooth[compile=True]"
    # An option that does change the outputs still makes its own row.
    changed = tiny_run(run_dir, dreambench_dir, **small, assignments=["options.dreambooth.steps=2"])
    assert list(changed.records) == ["dreambooth[steps=2]"]


def test_one_failing_cell_does_not_stop_the_others(tmp_path, dreambench_dir):
    run_dir = tmp_path / "run"
    summary = tiny_run(
        run_dir,
        dreambench_dir,
        methods=["fake"],
        include=[str(FAKE_METHOD)],
        assignments=["options.fake.fail_on=dog"],
    )
    assert [(f.cell.subject, "deliberate failure" in f.error) for f in summary.failures] == [("dog", True)]
    assert len(list(run_dir.glob("fake[[]fail_on=dog]/images/backpack/*.png"))) == 4
    failure = json.loads((run_dir / "fake[fail_on=dog]" / "failures" / "dog.json").read_text())
    assert "deliberate failure for dog" in failure["error"]
    assert "Traceback" in failure["detail"]


def test_each_invocation_records_where_and_with_what_it_ran(tmp_path, dreambench_dir, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.chdir(tmp_path)
    tiny_run(tmp_path / "run", dreambench_dir, subjects=["dog"], limit_prompts=1)
    line = json.loads((tmp_path / "run" / "invocations.jsonl").read_text().splitlines()[-1])
    assert line["cwd"] == str(tmp_path) and (line["slurm_array_job_id"], line["slurm_array_task_id"]) == ("4242", "3")
    import torch

    assert line["torch"] == torch.__version__.split("+")[0] or line["torch"] == torch.__version__
    assert "git_revision" in line


def test_work_made_by_uncommitted_code_is_warned_of_and_the_report_says_so(tmp_path, dreambench_dir, monkeypatch):
    """A built-in edited without a commit changes outputs under the same version and revision: untraceable."""
    import benchmark.environment
    from reports.exports import markdown_leaderboard
    from reports.loading import load_runs

    run = tmp_path / "run"
    monkeypatch.setattr(benchmark.environment, "git_revision", lambda: "0123abc")
    tiny_run(run, dreambench_dir, subjects=["dog"], limit_prompts=1)
    assert load_runs([run]).runs[0].uncommitted == [] and "UNCOMMITTED" not in markdown_leaderboard([run])
    monkeypatch.setattr(benchmark.environment, "git_revision", lambda: "0123abc+dirty")
    lines = []
    tiny_run(run, dreambench_dir, subjects=["dog", "cat"], limit_prompts=1, log=lines.append)
    assert any(
        line.startswith("bench: warning: the harness checkout has uncommitted changes (0123abc+dirty)")
        for line in lines
    )
    data = load_runs([run])
    # run.json keeps the first; the report shows both
    assert data.runs[0].revisions == ["0123abc", "0123abc+dirty"]
    assert (
        "UNCOMMITTED CODE: run 'run' was (in part) made by a harness checkout with uncommitted changes "
        "(0123abc+dirty)" in markdown_leaderboard([run])
    )
    # Scoring code counts too: edited metric code moves numbers as surely as edited training code
    from benchmark.metrics import score_run

    scored = tmp_path / "scored"
    monkeypatch.setattr(benchmark.environment, "git_revision", lambda: "0123abc")
    tiny_run(scored, dreambench_dir, subjects=["dog"], limit_prompts=1)
    monkeypatch.setattr(benchmark.environment, "git_revision", lambda: "4567def+dirty")
    said = []
    score_run(scored, dreambench_dir, profile=get_profile("tiny"), metrics=["dino"], log=said.append)
    assert any("uncommitted changes (4567def+dirty)" in line for line in said)
    assert load_runs([scored]).runs[0].revisions == ["0123abc", "4567def+dirty"]


def test_manifest_records_what_a_reader_needs(finished_run):
    manifest = json.loads((finished_run / "run.json").read_text())
    assert manifest["protocol"] == "dreambench-v1"
    assert manifest["meaningful"] is False
    assert manifest["models"]["base"]["source"] == "builtin:tiny"
    assert manifest["seeds"]["base_seed"] == 0
    assert manifest["environment"]["packages"]["torch"]
    assert len(manifest["dataset_sha256"]) == 64
    assert "CC-BY-4.0" in manifest["attribution"]
    assert "RANDOM" in (finished_run / "WARNING-RANDOM-WEIGHTS.txt").read_text()


def test_a_run_started_on_another_kind_of_device_is_refused(finished_run, dreambench_dir):
    run_file = finished_run / "run.json"
    manifest = json.loads(run_file.read_text())
    # as if the run had started on a GPU
    manifest["device_type"] = "cuda"
    run_file.write_text(json.dumps(manifest))
    with pytest.raises(BenchError, match=r"device: cuda -> cpu"):
        tiny_run(finished_run, dreambench_dir)


def test_a_full_disk_while_images_are_written_in_the_background_stops_the_run_and_keeps_what_was_written(
    tmp_path, dreambench_dir, monkeypatch
):
    from benchmark.errors import DiskFull
    from benchmark.store.run_dir import RunStore

    real_write, writes = RunStore.write_image, []

    def write_image(self, path, png):
        writes.append(path)
        # the second prompt's first image of the first subject
        if len(writes) == 3:
            raise DiskFull(f"disk full while writing {path}")
        return real_write(self, path, png)

    monkeypatch.setattr(RunStore, "write_image", write_image)
    run_dir = tmp_path / "run"
    with pytest.raises(DiskFull, match="disk full while writing"):
        tiny_run(run_dir, dreambench_dir, methods=["fake"], include=[str(FAKE_METHOD)])
    # the run stopped: neither the other subject nor more prompts were attempted
    assert len(writes) == 3
    kept = sorted(p.name for p in run_dir.glob("fake/images/*/*.png"))
    # the finished prompt's images stay, nothing half-written
    assert kept == ["p00_i0.png", "p00_i1.png"]
    assert len(list(run_dir.glob("fake/records/*/*.json"))) == 1


class SafetensorError(Exception):
    """Like safetensors' own error type: not an OSError, the errno only in its text."""


@pytest.mark.parametrize(
    "error",
    [
        SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 12400512 vs 12400404"),
        RuntimeError("PytorchStreamWriter failed writing file data/12: file write failed"),
    ],
)
def test_a_full_disk_while_a_trained_model_is_saved_stops_the_run_instead_of_failing_the_cell(
    tmp_path, dreambench_dir, monkeypatch, error
):
    """torch.save and safetensors say "disk full" without an OSError: it must not read as the method's bug."""
    from benchmark.errors import DiskFull
    from methods.dreambooth import DreamBooth

    def save_fails(self, workdir, unet, text_encoder):
        raise error

    monkeypatch.setattr(DreamBooth, "save_artifact", save_fails)
    run_dir = tmp_path / "run"
    with pytest.raises(DiskFull, match="free space and re-run"):
        tiny_run(run_dir, dreambench_dir, methods=["dreambooth"], subjects=["dog"], limit_prompts=1)
    # not recorded as the method's failure
    assert not list(run_dir.glob("dreambooth/failures/*.json"))


def test_other_library_errors_are_not_taken_for_a_full_disk():
    from benchmark.errors import raise_if_storage_failure

    # returns: the caller records the failure
    raise_if_storage_failure(RuntimeError("CUDA out of memory"), "x")
    raise_if_storage_failure(ValueError("unexpected shape"), "x")
    # a full /dev/shm (a DataLoader in a container) is not the disk the message would send the user to
    raise_if_storage_failure(RuntimeError("unable to write to file </torch_12_345>: No space left on device (28)"), "x")
    # an error raised while handling a denied read is that error, not a permission problem
    try:
        try:
            raise PermissionError(13, "Permission denied", "/proc/1/mem")
        except PermissionError:
            raise ValueError("the plug-in's own bug") from None
    except ValueError as exc:
        raise_if_storage_failure(exc, "x")


def test_shards_that_start_together_create_one_run_and_neither_refuses_the_other(tmp_path, dreambench_dir):
    """A SLURM array's tasks start in the same second: each sees the other's half-made folder."""
    import threading

    import torch

    from benchmark.config import build_config
    from benchmark.runner import run_manifest
    from benchmark.store.run_dir import RunStore
    from dataset.protocol import load_protocol

    protocol = load_protocol()
    config = build_config(overrides={"dataset_dir": str(dreambench_dir)})
    manifest = run_manifest(config, protocol, dreambench_dir, torch.device("cpu"), None, get_profile(config.profile))
    errors = []

    def shard(root, index, barrier):
        store = RunStore(root)
        barrier.wait()
        # execute_run's order: refuse a foreign folder, create it, take the shard's lock, open the run
        try:
            store.refuse_foreign_directory()
            root.mkdir(parents=True, exist_ok=True)
            with run_lock(root, (index, 2)):
                store.open(config, manifest)
        except BenchError as exc:
            errors.append(str(exc))

    for trial in range(40):
        root, barrier = tmp_path / f"run{trial}", threading.Barrier(2)
        threads = [threading.Thread(target=shard, args=(root, i, barrier)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert json.loads((root / "run.json").read_text())["identity"] == config.identity()
    assert errors == []


def test_a_shard_killed_while_creating_the_run_leaves_a_folder_the_next_one_resumes(tmp_path, dreambench_dir):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # what a SIGKILL mid-write leaves
    (run_dir / ".run.json.x1y2.tmp").write_bytes(b'{"half": ')
    (run_dir / ".lock-shard-0-of-2").touch()
    assert tiny_run(run_dir, dreambench_dir, subjects=["dog"]).generated == 4
    (tmp_path / "mine").mkdir()
    # a user's folder is still refused
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(BenchError, match="not a bench run directory"):
        tiny_run(tmp_path / "mine", dreambench_dir)


def test_a_run_completed_by_another_shard_between_two_looks_is_not_foreign(tmp_path, monkeypatch):
    """The other shard creates run.json, its method folder and its log after this one checked for run.json."""
    from pathlib import Path

    from benchmark.store.run_dir import RunStore

    root = tmp_path / "run"
    root.mkdir()
    listing = Path.iterdir

    def other_shard_finishes_first(self):
        if self == root:
            (root / "run.json").write_text("{}")
            (root / "base").mkdir(exist_ok=True)
            (root / "invocations.jsonl").write_text("{}\n")
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", other_shard_finishes_first)
    # no error: it is a run now
    RunStore(root).refuse_foreign_directory()


def test_a_shard_says_that_scoring_waits_for_the_run_without_shard(tmp_path, dreambench_dir):
    from benchmark.config import build_config
    from benchmark.runner import execute_run

    lines = []
    config = build_config(
        overrides={
            "methods": ["base"],
            "subjects": ["backpack", "dog"],
            "limit_prompts": 1,
            "images_per_prompt": 1,
            "generate_pres": False,
            "shard": "0/2",
            "output_dir": str(tmp_path / "run"),
            "dataset_dir": str(dreambench_dir),
        }
    )
    summary = execute_run(config, progress=False, log=lines.append)
    assert summary.scores is None
    assert (
        "bench: shard 0/2 done; scores come from the same command without --shard once every shard has finished"
        in lines
    )


def test_a_half_written_invocation_line_spoils_only_itself(tmp_path, dreambench_dir):
    """invocations.jsonl is appended by every run; a process killed mid-line must not block reports for good."""
    from reports.loading import load_runs

    run_dir = tmp_path / "run"
    tiny_run(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1)
    log = run_dir / "invocations.jsonl"
    with open(log, "a") as handle:
        # killed while appending
        handle.write('{"time": "2026-11-26T1')
    # the next run appends its line
    tiny_run(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1)
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and lines[1] == '{"time": "2026-11-26T1' and json.loads(lines[2])["subjects"] == ["dog"]
    # the report reads the rest
    assert load_runs([run_dir]).runs[0].subjects == ["dog"]


def test_a_rerun_clears_the_temporary_files_a_killed_write_left_but_not_a_live_one(tmp_path, dreambench_dir):
    run_dir = tmp_path / "run"
    tiny_run(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1)
    images = run_dir / "base" / "images" / "dog"
    stale, live = images / ".p00_i0.png.abc123.tmp", images / ".p00_i1.png.def456.tmp"
    for leftover in (stale, live):
        leftover.write_bytes(b"half a png")
    # SIGKILLed an hour ago
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    tiny_run(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1)
    assert not stale.exists()
    # it may be an overlapping run's write in progress
    assert live.exists()


def test_a_broken_artifact_record_retrains_its_cell_and_a_broken_method_record_is_one_line(tmp_path, dreambench_dir):
    """Hand-damaged or lost-on-a-bad-disk records: a traceback or a cell failing forever is no answer."""
    run_dir = tmp_path / "run"
    plugin = {"methods": ["fake"], "include": [str(FAKE_METHOD)], "subjects": ["dog"], "limit_prompts": 1}
    tiny_run(run_dir, dreambench_dir, **plugin)
    record = run_dir / "fake" / "artifacts" / "dog" / "artifact.json"
    record.write_text("")
    summary = tiny_run(run_dir, dreambench_dir, **plugin)
    # trained again, repaired
    assert not summary.failures and json.loads(record.read_text())["identifier"] == "zwx"
    (run_dir / "fake" / "method.json").write_text('{"key": ')
    with pytest.raises(BenchError, match=r"method.json is unreadable, so .*fake cannot be resumed safely; delete"):
        tiny_run(run_dir, dreambench_dir, **plugin)
