"""Every command the README shows runs, so none can rot: each is listed here with the test that runs it.

A command added to the README without a line here fails `test_every_readme_command_is_exercised`; one whose test
is here but which left the README fails it too. Long commands run with smaller arguments (one subject, a prompt or
two); the arguments the README shows are checked to be accepted as they are.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_DATASET
from tests.test_dataset_download import dataset_files, good_zip, server  # noqa: F401 (fixtures)

README = (REPO / "README.md").read_text(encoding="utf-8")
BENCH = [sys.executable, "-m", "benchmark.cli"]
# what makes a README run take seconds
SMALL = ["--limit-prompts", "1", "--images-per-prompt", "2"]


def fenced_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.S | re.M)


def shown_commands() -> set[str]:
    """Commands as the README shows them: each line of its bash blocks, each command of its commands table, each
    inline `bench ...` span that is not the start of one of those (prose naming a command, not showing one)."""
    commands = {line.strip() for block in fenced_blocks("bash") for line in block.splitlines() if line.strip()}
    table = re.findall(r"^\| `(bench [^`]+)` \|", README, re.M)
    commands |= {cell.replace("\\|", "|") for cell in table}
    inline = {span for span in re.findall(r"`(bench [^`\n]+)`", README) if span.replace("\\|", "|") not in commands}
    commands |= {span for span in inline if not any(other.startswith(span) for other in commands)}
    return commands


MAIN = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && bench run --method base --subjects all "
    "--profile tiny --dataset-dir ../shared/dreambench/dataset"
)
TESTS = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && ruff check . && python -m pytest"
CPU_TORCH = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch torchvision --index-url "
    "https://download.pytorch.org/whl/cpu"
)
TAGLINE = "bench dataset download && bench run --method base --subjects all --profile tiny"
PLUGIN_RUN = "bench run --include my_method.py --method base,my-method --subjects dog --profile tiny"

# README command -> the test below that runs it
EXERCISED = {
    TAGLINE: "test_tagline_works_on_a_fresh_machine",
    CPU_TORCH: "test_cpu_torch_install_line_is_one_pip_accepts",
    MAIN: "test_main_command_ends_in_a_leaderboard_and_a_report",
    TESTS: "test_ci_runs_exactly_the_readme_test_command",
    PLUGIN_RUN: "test_plugin_example_runs_beside_the_baseline",
    "bench ls subjects": "test_ls_commands",
    "bench ls prompts [SUBJECT]": "test_ls_commands",
    "bench ls methods": "test_ls_commands",
    "bench ls options METHOD [--profile P]": "test_ls_commands",
    "bench ls options dreambooth": "test_ls_commands",
    "bench ls options my-method --include my_method.py": "test_plugin_example_runs_beside_the_baseline",
    "bench ls profiles": "test_ls_commands",
    "bench ls metrics": "test_ls_commands",
    "bench dataset download [--dest D] [--url U] [--force]": "test_tagline_works_on_a_fresh_machine",
    "bench dataset verify [--dataset-dir D]": "test_dataset_verify_and_doctor",
    "bench models download --profile sd15": "test_models_download_fetches_every_sd15_model",
    "bench doctor [--profile P] [--dataset-dir D]": "test_dataset_verify_and_doctor",
    "bench run [OPTIONS]": "test_main_command_ends_in_a_leaderboard_and_a_report",
    "bench run [OPTIONS] --dry-run": "test_run_dir_commands",
    "bench score RUN_DIR [--method M] [--metrics dino,clip-t]": "test_run_dir_commands",
    "bench score --folder DIR [--manifest F] [--name N]": "test_run_dir_commands",
    "bench report RUN_DIR [RUN_DIR ...] -o report/ [--baseline M]": "test_run_dir_commands",
    "bench compare RUN_A [RUN_B] [--a M --b M]": "test_run_dir_commands",
}


def test_every_readme_command_is_exercised():
    shown = shown_commands()
    assert shown == set(EXERCISED), (sorted(shown - set(EXERCISED)), sorted(set(EXERCISED) - shown))
    tests = {name for name in globals() if name.startswith("test_")}
    assert set(EXERCISED.values()) <= tests


def bench(*args, cwd: Path | None = None, check: bool = True):
    """`bench` in this process (click's runner), from `cwd`: stdout, stderr and exit_code as a user sees them."""
    from click.testing import CliRunner

    from benchmark.cli import main

    here = os.getcwd()
    os.chdir(cwd or REPO)
    try:
        result = CliRunner().invoke(main, [str(a) for a in args], prog_name="bench", catch_exceptions=False)
    finally:
        os.chdir(here)
    if check:
        assert result.exit_code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def bench_process(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`bench` in its own process, as a user runs it (output not a terminal), on this checkout's code."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([*BENCH, *map(str, args)], capture_output=True, text=True, cwd=cwd or REPO, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def smaller(command: str, *extra: str) -> list[str]:
    """The README's `bench ...` command as argv without `bench`, with the smaller arguments added."""
    words = shlex.split(command)
    assert words[0] == "bench"
    return [*words[1:], *extra]


def test_main_command_ends_in_a_leaderboard_and_a_report(tmp_path):
    """The newcomer's command, on two subjects: it scores, prints one compact board, writes the report into the run
    directory and says where both are. `--subjects all` is checked to be what the command asks for."""
    assert MAIN in "\n".join(fenced_blocks("bash"))
    command = MAIN.split(" && ")[-1].replace("--subjects all", "--subjects dog,cat")
    # a copy elsewhere ($DREAMBENCH_DIR)
    if not (REPO / "../shared/dreambench/dataset").is_dir():
        command = command.replace("../shared/dreambench/dataset", str(SHARED_DATASET))
    run_dir = tmp_path / "run"
    result = bench_process(*smaller(command, *SMALL, "--output-dir", run_dir))
    out = result.stdout
    board = [line for line in out.splitlines() if line.startswith("| ")]
    assert board[0].startswith("| method (95% CI) | DINO ↑ | CLIP-I ↑ | CLIP-T ↑ | PRES ↓ | DIV ↑ |"), board
    assert [line.split(" | ")[0] for line in board[2:]] == ["| base", "| real images (oracle)"]
    # the per-method blocks are --verbose's
    assert "## base" not in out and "n images" not in out
    index = run_dir / "report" / "index.html"
    assert f"report: {index}" in out and index.is_file()
    assert f"-> {run_dir}" in out
    # the default executor on a CPU: a worker process per core, no more than the two cells
    from benchmark.executors import usable_cores

    invocation = json.loads((run_dir / "invocations.jsonl").read_text().splitlines()[0])
    workers = min(usable_cores(), 2)
    assert (invocation["executor"], invocation["workers"]) == ("process" if workers > 1 else "local", workers)


def test_tagline_works_on_a_fresh_machine(tmp_path, server, good_zip, monkeypatch):  # noqa: F811
    """The command under the title, on a machine with no DreamBench copy: the download lands in the user cache, where
    `bench run` finds it without --dataset-dir. The archive comes from a local server standing in for GitHub."""
    # the first command a reader meets
    assert TAGLINE == fenced_blocks("bash")[0].strip()
    monkeypatch.setenv("DREAMBENCH_URL", server.publish("main.zip", good_zip))
    download, run = TAGLINE.split(" && ")
    bench_process(*smaller(download), cwd=tmp_path)
    done = bench_process(*smaller(run.replace("--subjects all", "--subjects dog"), *SMALL, "--no-score"), cwd=tmp_path)
    assert "images generated" in done.stdout and list((tmp_path / "runs").glob("tiny-*/run.json"))
    # the table's full form of the download: another destination, an explicit URL, --force over a copy
    dest = tmp_path / "elsewhere"
    bench("dataset", "download", "--dest", dest, "--url", server.url("main.zip"), cwd=tmp_path)
    forced = bench("dataset", "download", "--dest", dest, "--url", server.url("main.zip"), "--force", cwd=tmp_path)
    assert "downloaded and verified" in forced.stdout


def test_cpu_torch_install_line_is_one_pip_accepts():
    """The CPU-only torch line needs the network; offline, pip must still take its arguments (dry run, no index:
    the installed torch satisfies it)."""
    assert CPU_TORCH in "\n".join(fenced_blocks("bash"))
    pip_args = shlex.split(CPU_TORCH.split(" && ")[-1])
    assert pip_args[:2] == ["pip", "install"] and pip_args[-2:] == [
        "--index-url",
        "https://download.pytorch.org/whl/cpu",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", *pip_args[2:]],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_FIND_LINKS": ""},
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_ci_runs_exactly_the_readme_test_command():
    """`.ci/run` ends in the README's test command, word for word: what CI proves is what a newcomer types."""
    ci = (REPO / ".ci" / "run").read_text()
    assert TESTS in README
    assert ci.rstrip().splitlines()[-1] == TESTS


def test_ls_commands():
    assert "30 subjects" in bench("ls", "subjects").stdout
    prompts = bench("ls", "prompts", "dog").stdout.splitlines()
    assert prompts[0].startswith("dog (live, class noun 'dog')")
    assert [line.split()[0] for line in prompts[1:26]] == [str(index) for index in range(25)]
    assert "dreambooth-lora" in bench("ls", "methods").stdout
    options = bench("ls", "options", "textual-inversion", "--profile", "tiny").stdout.splitlines()
    assert options[0].startswith("options of textual-inversion with the defaults of profile tiny")
    assert options[1].split()[:2] == ["option", "default"]
    listed = {line.split()[0]: line.split()[1] for line in options[2:]}
    # not 3000
    assert listed["steps"] == "4" and "(profile tiny)" in options[2 + list(listed).index("steps")]
    # Textual Inversion keeps its placeholder token and trains no class images: DreamBooth's options for those are
    # not ones it takes
    assert not {"identifier", "identifier_seed", "prior_preservation", "num_class_images", "class_prompt"} & set(listed)
    dreambooth = bench("ls", "options", "dreambooth").stdout.splitlines()
    # the default profile
    assert dreambooth[0].startswith("options of dreambooth with the defaults of profile tiny")
    assert {"identifier", "num_class_images", "prior_preservation"} <= {line.split()[0] for line in dreambooth[2:]}
    assert "tiny" in bench("ls", "profiles").stdout
    assert "DINO" in bench("ls", "metrics").stdout


def test_dataset_verify_and_doctor():
    assert "158 images" in bench("dataset", "verify", "--dataset-dir", SHARED_DATASET).stdout
    doctor = bench("doctor", "--profile", "tiny", "--dataset-dir", SHARED_DATASET)
    assert "doctor: ok for profile tiny" in doctor.stdout
    assert re.search(r"^torch build +\S+: (CPU-only|CUDA \S+) build", doctor.stdout, re.M), doctor.stdout


def test_models_download_fetches_every_sd15_model(cli, monkeypatch, tmp_path):
    """The one command that needs the network, offline: the hub call is a stand-in that makes the folder."""
    import huggingface_hub

    from benchmark.models import loading

    fetched = []

    def fake_snapshot(source, allow_patterns=None, cache_dir=None):
        fetched.append(source)
        folder = tmp_path / "hub" / source.replace("/", "--")
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.setattr(loading, "_download_torchvision_alexnet", lambda source: str(tmp_path / "alexnet"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    result = cli(*smaller("bench models download --profile sd15"))
    assert result.exit_code == 0, result.output
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in fetched
    assert sum(line.startswith("ok: ") for line in result.stdout.splitlines()) >= 4


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    """The README's plug-in example beside the baseline, as the README runs it (smaller)."""
    root = tmp_path_factory.mktemp("readme-plugin")
    code = README.split("```python\n# my_method.py\n", 1)[1].split("```", 1)[0]
    (root / "my_method.py").write_text(code)
    run_dir = root / "run"
    args = smaller(PLUGIN_RUN, *SMALL, "--output-dir", run_dir, "--dataset-dir", SHARED_DATASET)
    # its own process: the plug-in's registration stays out of this one
    result = bench_process(*args, cwd=root)
    return root, run_dir, result


def test_plugin_example_runs_beside_the_baseline(plugin_run):
    root, run_dir, result = plugin_run
    rows = [line.split(" | ")[0] for line in result.stdout.splitlines() if line.startswith("| ")]
    assert "| base" in rows and "| my-method" in rows
    assert (run_dir / "report" / "index.html").is_file()
    options = bench_process(*smaller("bench ls options my-method --include my_method.py"), cwd=root).stdout
    # the default profile's default (`tiny`: the example declares 4 steps there)
    assert re.search(r"^steps +4  \(profile tiny\) +int", options, re.M), options


def test_run_dir_commands(plugin_run, tmp_path):
    """dry run, score, score --folder, report, compare: each as its table row shows it, on the plug-in run."""
    root, run_dir, _ = plugin_run
    again = [*smaller(PLUGIN_RUN, *SMALL, "--output-dir", run_dir, "--dataset-dir", SHARED_DATASET), "--dry-run"]
    dry = bench_process(*again, cwd=root)
    assert "my-method" in dry.stdout and "report:" not in dry.stdout
    assert re.search(r"; 0 of \d+ images left to generate; run directory .* exists.*Nothing was written", dry.stdout)
    scored = bench("score", run_dir, "--method", "base", "--metrics", "dino,clip-t", cwd=root)
    assert "DINO" in scored.stdout
    folder = tmp_path / "tool"
    manifest = []
    for number, image in enumerate(sorted((run_dir / "base" / "images" / "dog").glob("p*_i*.png"))):
        target = folder / "dog" / f"0_{number}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image.read_bytes())
        manifest.append({"subject": "dog", "prompt_index": 0, "image_index": number, "file": f"dog/0_{number}.png"})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in manifest))
    bench(
        "score",
        "--folder",
        folder,
        "--manifest",
        folder / "manifest.jsonl",
        "--name",
        "tool",
        "--profile",
        "tiny",
        "--dataset-dir",
        SHARED_DATASET,
        check=False,
    )
    assert (folder / "_scores" / "tool" / "scores.json").is_file()
    report = bench("report", run_dir, folder, "-o", tmp_path / "report", "--baseline", "base")
    assert (tmp_path / "report" / "index.html").is_file() and "report:" in report.stdout
    compared = bench("compare", run_dir, "--a", "base", "--b", "my-method")
    assert "DINO" in compared.stdout
