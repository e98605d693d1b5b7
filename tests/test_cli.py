"""The CLI as a user meets it: every mistake is one line and exit 2, nothing computed is lost."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FAKE_METHOD, image_hashes


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("bench: error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.fixture
def run_args(tmp_path, dreambench_dir):
    return [
        "run",
        "--subjects",
        "backpack",
        "--limit-prompts",
        "1",
        "--images-per-prompt",
        "1",
        "--output-dir",
        str(tmp_path / "run"),
        "--dataset-dir",
        str(dreambench_dir),
        "--quiet",
        "--no-score",
    ]


def test_run_writes_images_and_says_where(cli, run_args, tmp_path):
    result = cli(*run_args)
    assert result.exit_code == 0, result.output
    # the prompt's image and the PRES image ("a backpack")
    assert "2 images generated" in result.stdout
    assert "NOT MEANINGFUL" in result.stderr
    assert sorted(image_hashes(tmp_path / "run")) == [
        "base/images/backpack/class_i0.png",
        "base/images/backpack/p00_i0.png",
    ]


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--method", "dreambooht"], ["unknown method 'dreambooht'", "did you mean 'dreambooth'"]),
        (["--subjects", "backpak"], ["unknown subject 'backpak'"]),
        (["--set", "generation.stepz=3"], ["unknown config key 'generation.stepz'"]),
        (["--profile", "sd3"], ["unknown profile 'sd3'"]),
        (["--shard", "1/1"], ["shard '1/1'"]),
        (["--set", "options.base.lr=1"], ["method 'base' has no such option"]),
        (["--include", "/nonexistent/method.py"], ["--include", "no such file"]),
        (["--config", "/nonexistent/run.yaml"], ["config file /nonexistent/run.yaml does not exist"]),
        # An unset shell variable must not fall back to the defaults (30 subjects, `base`).
        (["--subjects", ""], ["no subjects given"]),
        (["--method", ""], ["no methods given"]),
        (["--executor", "local", "--workers", "2"], ["workers=2 needs --executor process or ray"]),
        (["--set", "generation.steps=many"], ["generation.steps' must be int, got 'many'"]),
        (["--limit-prompts", "26"], ["limit_prompts 26 is more than the 25 prompts a subject has"]),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(cli, run_args, extra, fragments):
    assert_one_line_error(cli(*run_args, *extra), *fragments)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["ls", "foo"], ["No such command 'foo'", "see 'bench ls --help'"]),
        (["run", "--bogus"], ["No such option '--bogus'", "see 'bench run --help'"]),
        (["run", "--limit-prompts", "x"], ["'--limit-prompts'", "'x' is not a valid integer"]),
        (["compare"], ["Missing argument 'RUN_A'"]),
    ],
)
def test_clicks_own_usage_errors_are_the_same_one_line(cli, args, fragments):
    result = cli(*args)
    assert_one_line_error(result, *fragments)
    assert "Usage:" not in result.output and result.stderr.count("\n") == 1


def test_a_denied_write_is_one_line_and_keeps_the_images(cli, run_args, tmp_path, monkeypatch):
    """A read-only or foreign-owned output folder is the user's to fix: no traceback, nothing lost."""
    import errno

    from benchmark.store import atomic

    assert cli(*run_args).exit_code == 0
    before = image_hashes(tmp_path / "run")

    def denied(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    # something left to write
    (tmp_path / "run" / "base" / "images" / "backpack" / "p00_i0.png").unlink()
    assert_one_line_error(cli(*run_args), "Permission denied: ", "fix its permissions", "finished work is kept")
    monkeypatch.undo()
    assert image_hashes(tmp_path / "run") == {k: v for k, v in before.items() if not k.endswith("p00_i0.png")}


def test_click_usage_errors_exit_2(cli):
    assert cli("run", "--images-per-prompt", "many").exit_code == 2
    assert cli("frobnicate").exit_code == 2


def test_missing_dataset_says_how_to_get_it(cli, tmp_path):
    result = cli("run", "--output-dir", tmp_path / "run", "--quiet")
    assert_one_line_error(result, "bench dataset download")


def test_missing_weights_name_each_model_and_the_fix(cli, run_args, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    result = cli(*run_args, "--profile", "sd15")
    assert_one_line_error(
        result,
        "missing weights: base=stable-diffusion-v1-5/stable-diffusion-v1-5",
        "bench models download --profile sd15",
    )
    result = cli(*run_args, "--profile", "sd15", "--set", "models.base=/models/nowhere")
    assert_one_line_error(result, "models.base=/models/nowhere: no such folder or file on this machine")
    # a mistyped path is not fixed by downloading
    assert "download" not in result.stderr
    # nothing is created before the checks pass
    assert not (tmp_path / "run").exists()


def test_damaged_dataset_stops_a_resumed_run_without_losing_images(cli, run_args, tmp_path, dataset_copy):
    args = [a if a != run_args[run_args.index("--dataset-dir") + 1] else str(dataset_copy) for a in run_args]
    assert cli(*args).exit_code == 0
    before = image_hashes(tmp_path / "run")
    (dataset_copy / "backpack" / "03.jpg").write_bytes(b"not a jpeg")
    assert_one_line_error(cli(*args), "backpack/03.jpg: corrupt image")
    assert image_hashes(tmp_path / "run") == before


def test_a_damaged_subject_fails_its_cells_and_the_other_subjects_run(cli, run_args, tmp_path, dataset_copy):
    """Issue #6: one corrupt image costs its subject's cells (recorded, exit 1), not the whole sweep."""
    args = [a if a != run_args[run_args.index("--dataset-dir") + 1] else str(dataset_copy) for a in run_args]
    args[args.index("backpack")] = "backpack,dog"
    damaged = dataset_copy / "dog" / "02.jpg"
    intact = damaged.read_bytes()
    damaged.write_bytes(b"not a jpeg")
    dry = cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    warned = f"bench: warning: dataset: {damaged}: corrupt image (cannot be decoded): dog's unfinished cells would fail"
    assert warned in dry.stderr
    assert "1 of them would fail at once (damaged dataset images, see above); 2 of 2 images left" in dry.stdout
    result = cli(*args)
    assert result.exit_code == 1, result.output
    warning = f"bench: warning: dataset: {damaged}: corrupt image (cannot be decoded): dog's cells fail"
    assert warning in result.stderr
    assert f"FAILED base/dog: dataset: {damaged}: corrupt image" in result.stderr
    assert sorted(image_hashes(tmp_path / "run")) == [
        "base/images/backpack/class_i0.png",
        "base/images/backpack/p00_i0.png",
    ]
    record = json.loads((tmp_path / "run" / "base" / "failures" / "dog.json").read_text())
    assert "dog/02.jpg: corrupt image" in record["error"]
    report = cli("report", tmp_path / "run", "-o", tmp_path / "report")
    assert "dog/02.jpg: corrupt image" in (tmp_path / "report" / "index.html").read_text(), report.output
    # fixed: the re-run does the subject and clears its failure
    damaged.write_bytes(intact)
    assert cli(*args).exit_code == 0
    assert not (tmp_path / "run" / "base" / "failures" / "dog.json").exists()
    assert len(image_hashes(tmp_path / "run")) == 4


def test_a_subject_damaged_after_its_cells_finished_keeps_them_and_is_left_out_of_scoring(
    cli, run_args, tmp_path, dataset_copy
):
    """Resuming after the damage: the finished work is not failed, and the other subjects still get scores."""
    args = [a if a != run_args[run_args.index("--dataset-dir") + 1] else str(dataset_copy) for a in run_args]
    args[args.index("backpack")] = "backpack,dog"
    args.remove("--no-score")
    assert cli(*args).exit_code == 0
    before = image_hashes(tmp_path / "run")
    (dataset_copy / "dog" / "02.jpg").write_bytes(b"not a jpeg")
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert "dog's cells had finished: kept as they are" in result.stderr and "FAILED" not in result.stderr
    assert "dog's images are left out of the scores" in result.stderr
    assert "bench: error: subject(s) dog left out of the scores" in result.stderr
    assert not (tmp_path / "run" / "base" / "failures").exists() and image_hashes(tmp_path / "run") == before
    scores = json.loads((tmp_path / "run" / "base" / "scores.json").read_text())
    assert [row["subject"] for row in scores["per_subject"]] == ["backpack"]
    rescore = cli("score", tmp_path / "run", "--dataset-dir", dataset_copy, "--quiet")
    assert rescore.exit_code == 1 and "subject(s) dog left out of the scores" in rescore.stderr


def test_failed_cell_exits_1_and_names_it(cli, run_args, tmp_path, dreambench_dir):
    result = cli(
        *run_args,
        "--subjects",
        "backpack,dog",
        "--include",
        FAKE_METHOD,
        "--method",
        "fake",
        "--set",
        "options.fake.fail_on=dog",
    )
    assert result.exit_code == 1
    assert "FAILED fake[fail_on=dog]/dog: RuntimeError: deliberate failure for dog" in result.stderr
    # the line that raised, and where the whole traceback is: a plug-in's bug is found from the run's output
    raised = next(n for n, line in enumerate(FAKE_METHOD.read_text().splitlines(), 1) if "deliberate failure" in line)
    assert f"deliberate failure for dog (at fake_method.py:{raised} in generate)" in result.stderr
    assert str(tmp_path / "run" / "fake[fail_on=dog]" / "failures" / "dog.json") in result.stderr
    assert len(list((tmp_path / "run" / "fake[fail_on=dog]" / "images" / "backpack").glob("*.png"))) == 2


def test_ls_commands(cli):
    subjects = cli("ls", "subjects")
    assert subjects.exit_code == 0 and "30 subjects (9 live, 21 objects)" in subjects.stdout
    assert "grey_sloth_plushie   stuffed animal" in subjects.stdout
    methods = cli("ls", "methods", "--include", FAKE_METHOD)
    assert "base" in methods.stdout and "fake" in methods.stdout
    profiles = cli("ls", "profiles")
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in profiles.stdout and "NOT meaningful" in profiles.stdout
    metrics = cli("ls", "metrics")
    assert metrics.exit_code == 0 and "timm/vit_small_patch16_224.dino" in metrics.stdout and "PRES" in metrics.stdout


def test_ls_options_shows_defaults_and_what_a_profile_changes(cli):
    lines = cli("ls", "options", "dreambooth", "--profile", "sd15").stdout.splitlines()
    # name: default, type
    options = {line.split()[0]: line.split()[1:3] for line in lines}
    assert options["steps"] == ["800", "int"] and options["channels_last"] == ["true", "bool"]
    assert options["prior_preservation"] == ["true", "bool"] and options["train_text_encoder"] == ["true", "bool"]
    assert options["min_snr_gamma"] == ["null", "float|null"] and options["learning_rate"] == ["5e-06", "float"]
    assert "the paper's rare-token procedure" in next(line for line in lines if line.startswith("identifier "))
    tiny = cli("ls", "options", "dreambooth-no-prior", "--profile", "tiny").stdout.splitlines()
    steps = next(line for line in tiny if line.startswith("steps "))
    assert steps.split()[1:5] == ["6", "(profile", "tiny)", "int"]
    assert next(line for line in tiny if line.startswith("prior_preservation ")).split()[1] == "false"
    assert "(profile" not in next(line for line in tiny if line.startswith("prior_preservation "))
    # without --profile, the defaults of the profile `bench run` uses without one (not sd15's 800 steps)
    default = cli("ls", "options", "dreambooth-no-prior").stdout.splitlines()
    assert next(line for line in default if line.startswith("steps ")).split()[1:4] == ["6", "(profile", "tiny)"]
    unknown = cli("ls", "options", "dreambooth-xl")
    assert unknown.exit_code == 2 and "unknown method 'dreambooth-xl'" in unknown.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["ls"],
        ["ls", "subjects"],
        ["ls", "prompts"],
        ["dataset"],
        ["dataset", "download"],
        ["dataset", "verify"],
        ["models", "download"],
        ["doctor"],
    ],
)
def test_every_command_has_help(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout


def test_dataset_verify(cli, dreambench_dir, dataset_copy):
    ok = cli("dataset", "verify", "--dataset-dir", dreambench_dir)
    assert ok.exit_code == 0 and "158 images" in ok.stdout
    # only 3 of 30 subjects
    broken = cli("dataset", "verify", "--dataset-dir", dataset_copy)
    assert broken.exit_code == 2
    assert "bench: " + str(dataset_copy / "can") + ": missing subject folder" in broken.stderr


def test_doctor_reports_weights_and_dataset(cli, dreambench_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "bench-cache"))
    result = cli("doctor", "--dataset-dir", dreambench_dir)
    assert result.exit_code == 0, result.output
    assert "ok, every hash matches" in result.stdout
    assert "sd15/base  MISSING" in result.stdout and "sd15: not ready, missing base" in result.stdout
    assert "tiny/base  present" in result.stdout and "tiny: ready (random weights" in result.stdout
    # the places a run writes to, and the packages that only some options need
    assert str(tmp_path / "bench-cache") + " ($BENCH_CACHE_DIR" in result.stdout
    assert str(tmp_path / "empty-hub") in result.stdout
    assert "filelock" in result.stdout and "peft" in result.stdout and "ray" in result.stdout


def test_doctor_exit_status_gates_a_job(cli, dreambench_dir, dataset_copy, tmp_path, monkeypatch):
    """A job script runs `bench doctor --profile X && ...`: what `bench run` would refuse must exit non-zero."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    assert cli("doctor", "--profile", "tiny", "--dataset-dir", dreambench_dir).exit_code == 0
    no_weights = cli("doctor", "--profile", "sd15", "--dataset-dir", dreambench_dir)
    assert no_weights.exit_code == 1 and "doctor: 1 problem(s): profile" in no_weights.stderr
    # 3 of 30 subjects
    incomplete = cli("doctor", "--profile", "tiny", "--dataset-dir", dataset_copy)
    assert incomplete.exit_code == 1 and "missing subject folder" in incomplete.stdout
    assert "doctor: 1 problem(s): dataset" in incomplete.stderr
    unknown = cli("doctor", "--profile", "sd16")
    assert unknown.exit_code == 2 and "unknown profile 'sd16'" in unknown.stderr


def test_doctor_required_packages_follow_the_installed_metadata():
    from benchmark.doctor import required_package_names

    names = required_package_names()
    # hard dependencies from pyproject, never the extras (ray, pytest) that only some commands need
    assert {"torch", "diffusers", "open_clip_torch", "lpips", "filelock", "peft"} <= set(names)
    assert "ray" not in names and "pytest" not in names and "bitsandbytes" not in names


def test_dataset_download_cli_from_a_local_archive(cli, tmp_path, dreambench_dir):
    import zipfile

    archive = tmp_path / "dreambooth-main.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(dreambench_dir.rglob("*")):
            if path.is_file():
                bundle.write(path, f"dreambooth-main/dataset/{path.relative_to(dreambench_dir).as_posix()}")
    dest = tmp_path / "cache" / "dataset"
    first = cli("dataset", "download", "--url", archive.as_uri(), "--dest", dest)
    assert first.exit_code == 0 and "downloaded and verified" in first.stdout
    again = cli("dataset", "download", "--url", archive.as_uri(), "--dest", dest)
    assert again.exit_code == 0 and "already at" in again.stdout
    assert cli("dataset", "verify", "--dataset-dir", dest).exit_code == 0
    missing = cli("dataset", "download", "--url", (tmp_path / "nope.zip").as_uri(), "--dest", tmp_path / "other")
    assert_one_line_error(missing, "nope.zip")


def test_run_scores_by_default_and_prints_the_table(cli, run_args, tmp_path):
    args = [a for a in run_args if a != "--no-score"]
    result = cli(*args, "--subjects", "backpack,dog")
    assert result.exit_code == 0, result.stderr
    assert "| DINO ↑ |" in result.stdout and "| PRES ↓ |" in result.stdout
    # the table itself carries the warning, not only the log
    assert "NOT MEANINGFUL" in result.stdout
    summary = json.loads((tmp_path / "run" / "base" / "scores.json").read_text())
    assert summary["metrics"]["dino"]["id"] == "dino"
    lines = (tmp_path / "run" / "base" / "scores.jsonl").read_text().splitlines()
    # 2 subjects x (1 prompt image + 1 PRES image)
    assert len(lines) == 4
    rescored = cli("score", tmp_path / "run", "--quiet")
    assert rescored.exit_code == 0 and "| DINO ↑ |" in rescored.stdout
    # 2 of 30 subjects: the log says the means are a subset's, as the report's SUBSET banner does
    assert "this run asked for 2 of DreamBench's 30 subjects (a subset)" in result.stderr
    assert "these scores average 2 of DreamBench's 30 subjects (a subset)" in rescored.stderr


def test_scoring_weights_are_checked_before_generating(cli, run_args, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch"))
    args = [a for a in run_args if a != "--no-score"]
    result = cli(*args, "--profile", "sd15")
    assert_one_line_error(
        result,
        "base=stable-diffusion-v1-5",
        "dino=timm/vit_small_patch16_224.dino",
        "clip=timm/vit_base_patch32_clip_224.openai",
        "lpips=torchhub:alexnet-owt-7be5be79.pth",
    )
    assert not (tmp_path / "run").exists()


def test_score_rejects_a_folder_that_is_not_a_run(cli, tmp_path):
    assert_one_line_error(cli("score", tmp_path), "not a bench run directory")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--method", "dreambooth", "--set", "options.dreambooth.steps=abc"], "must be int like its default 800"),
        (["--method", "dreambooth", "--set", "options.dreambooth.class_noun=bogus"], "class_noun must be one of"),
        (["--method", "dreambooth", "--set", "options.dreambooth.identifier=unique"], "'unique' is 2 tokens"),
        (
            ["--method", "textual-inversion", "--set", "options.textual-inversion.prior_preservation=true"],
            "learns one placeholder token",
        ),
        (["--method", "dreambooth", "--set", "options.dreambooth.num_class_images=0"], "num_class_images"),
        (["--method", "dreambooth-lora", "--set", "options.dreambooth-lora.train_text_encoder=true"], "UNet only"),
        (["--set", "options.base=5"], "options.base must map option names to values"),
        (["--set", "models.base=5"], "models.base must be a hub id or a path"),
        (["--set", "metrics=[bogus]"], "unknown metric 'bogus'"),
    ],
)
def test_method_option_mistakes_fail_before_any_work(cli, run_args, tmp_path, extra, fragment):
    assert_one_line_error(cli(*run_args, *extra), fragment)
    assert not (tmp_path / "run").exists()


def test_unreadable_config_files_are_one_line(cli, run_args, tmp_path):
    assert_one_line_error(cli(*run_args, "--config", tmp_path), "cannot read config file")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("seed: 1 # caf\xe9\n".encode("latin-1"))
    assert_one_line_error(cli(*run_args, "--config", latin), "is not UTF-8 text")


def test_ls_prompts_gives_the_indices_file_names_and_manifests_use(cli):
    """Someone generating with their own code names files by these indices: they must be the protocol's."""
    from dataset.protocol import load_protocol

    protocol = load_protocol()
    for subject in ("dog", "backpack"):
        result = cli("ls", "prompts", subject)
        assert result.exit_code == 0, result.output
        entry = protocol.subject(subject)
        listed = [line.split(None, 2) for line in result.stdout.splitlines()[1:] if line.strip()[:1].isdigit()]
        assert [(int(i), text) for i, _, text in listed] == [
            (i, p.render(entry.class_noun)) for i, p in enumerate(protocol.prompts_for(entry))
        ]
        assert f"a {entry.class_noun}  (PRES images" in result.stdout
    both = cli("ls", "prompts").stdout
    assert "object subjects:" in both and "live subjects:" in both and "a {} in the jungle" in both
    assert cli("ls", "options", "base").stdout == "base has no options\n"
    assert "unknown subject 'doggo'" in cli("ls", "prompts", "doggo").stderr


def test_doctor_reports_a_library_that_will_not_import_instead_of_dying_of_it(cli, dreambench_dir, monkeypatch):
    """torch installed (its metadata says so) but broken: the device line names it, and the exit says a problem."""
    import sys

    # `import torch` now raises, as a broken CUDA install does
    monkeypatch.setitem(sys.modules, "torch", None)
    result = cli("doctor", "--dataset-dir", dreambench_dir)
    # a problem found, not a traceback (that would exit 1 with no line)
    assert result.exit_code == 1, result.output
    assert "cannot check: ModuleNotFoundError" in result.stdout and "doctor: " in result.stderr


def test_sigterm_that_a_library_turned_into_a_keyboard_interrupt_still_exits_143(monkeypatch, capsys):
    """Ray's wait turns the Terminated our SIGTERM handler raises into a plain KeyboardInterrupt; a SLURM
    requeue wrapper reading 130 would take a preemption for a Ctrl-C."""
    from benchmark import errors
    from benchmark.cli import user_errors

    monkeypatch.setattr(errors, "_SIGTERM_RECEIVED", False)

    @user_errors
    def waiting():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as ctrl_c:
        waiting()
    assert ctrl_c.value.code == 130 and "interrupted;" in capsys.readouterr().err
    # what `bench`'s SIGTERM handler does before raising
    errors.note_sigterm()
    with pytest.raises(SystemExit) as sigterm:
        waiting()
    assert sigterm.value.code == 143 and "terminated (SIGTERM)" in capsys.readouterr().err


def test_bench_score_refuses_while_a_run_or_a_shard_writes_to_the_run(cli, run_args, tmp_path):
    """A scoring that started before a run's own would end after it and write older scores over them."""
    from benchmark.store.lock import run_lock

    assert cli(*run_args).exit_code == 0
    run = tmp_path / "run"
    # the whole run, or one shard of it
    for shard in ((0, 1), (1, 2)):
        with run_lock(run, shard):
            assert_one_line_error(cli("score", run, "--profile", "tiny", "--quiet"), "a `bench run` is writing to")
    # nothing was scored while locked
    assert not list(run.glob("*/scores.json"))
    from benchmark.errors import BenchError
    from benchmark.store.lock import scoring_lock

    with scoring_lock(run), pytest.raises(BenchError, match="a `bench score` is scoring"):
        # and no shard starts while it scores
        with run_lock(run, (1, 2)):
            pass
    # and scores once the run is done
    assert cli("score", run, "--profile", "tiny", "--quiet").exit_code == 0
    assert list(run.glob("*/scores.json"))


def test_scoring_one_finished_shard_says_which_subjects_the_other_shard_owes(cli, run_args, tmp_path):
    args = [a if a != "backpack" else "backpack,dog" for a in run_args]
    assert cli(*args, "--shard", "0/2").exit_code == 0
    run = tmp_path / "run"
    done = {p.name for p in run.glob("base/images/*")}
    (owed,) = {"backpack", "dog"} - done
    result = cli("score", run, "--profile", "tiny", "--quiet")
    assert result.exit_code == 0
    assert f"1 subject(s) that have no scores yet ({owed}): a shard still to run" in result.stderr
    # another method run on one subject only: scoring it alone owes nothing of what `base` was asked for
    assert cli(*args, "--subjects", "dog", "--include", FAKE_METHOD, "--method", "fake").exit_code == 0
    only_fake = cli("score", run, "--method", "fake", "--profile", "tiny", "--quiet")
    assert only_fake.exit_code == 0 and "no scores yet" not in only_fake.stderr
