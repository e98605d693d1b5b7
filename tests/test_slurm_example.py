"""examples/slurm: a sweep submitted as an array of shards plus a scoring job equals one local run.

SLURM itself is not here, so a stand-in `sbatch` runs each array task in turn with
the variables SLURM sets (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) and then the
dependent job, as the cluster would once the array has ended.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from benchmark.config import build_config
from benchmark.runner import execute_run
from tests.conftest import image_hashes

ROOT = Path(__file__).resolve().parent.parent
FAKE_SBATCH = r"""#!/usr/bin/env bash
# Runs what sbatch would queue, at once: an --array's tasks one by one, then prints a job id.
array="" ; args=()
for arg in "$@"; do
    case "$arg" in
    --array=*) array="${arg#--array=}" ;;
    --parsable | --dependency=* | --export=*) ;;
    *) args+=("$arg") ;;
    esac
done
echo "sbatch $*" >> "$SBATCH_LOG"
if [ -n "$array" ]; then
    first="${array%-*}"; last="${array#*-}"
    for ((i = first; i <= last; i++)); do
        SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$((last - first + 1)) bash "${args[@]}" \
            >> "$SBATCH_LOG.task$i" 2>&1 || echo "task $i exited $?" >> "$SBATCH_LOG"
    done
    echo 100
else
    bash "${args[@]}" >> "$SBATCH_LOG.finish" 2>&1 || echo "finish exited $?" >> "$SBATCH_LOG"
    echo 101
fi
"""
# Logs every `bench` command the scripts run (`bench SUBCOMMAND ...`), then runs the real one.
LOGGING_BENCH = r"""#!/usr/bin/env bash
echo "bench $*" >> "$BENCH_LOG"
exec "$REAL_BENCH" "$@"
"""


def stand_in_cluster(tmp_path: Path, **variables: str) -> tuple[dict, Path]:
    """The environment of a login node whose `sbatch` runs the jobs at once and whose `bench` commands are logged:
    (its variables, the log of its `bench` commands)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, script in (("sbatch", FAKE_SBATCH), ("bench", LOGGING_BENCH)):
        (fake_bin / name).write_text(script)
        (fake_bin / name).chmod(stat.S_IRWXU)
    bench_log = tmp_path / "bench.log"
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(fake_bin), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "SBATCH_LOG": str(tmp_path / "sbatch.log"),
        "BENCH_LOG": str(bench_log),
        "REAL_BENCH": str(Path(sys.executable).with_name("bench")),
        **variables,
    }
    return env, bench_log


def bench_subcommands(bench_log: Path) -> list[str]:
    return [line.split()[1] for line in bench_log.read_text().splitlines()]


def test_shards_then_the_scoring_job_make_the_same_run_as_one_local_command(tmp_path, dreambench_dir):
    env, bench_log = stand_in_cluster(tmp_path, SHARDS="2")
    log = tmp_path / "sbatch.log"
    # DINO alone: the finish job's scoring is checked to happen, not what each metric does (CLIP, LPIPS cost seconds)
    options = [
        "--method",
        "base",
        "--subjects",
        "dog,backpack",
        "--limit-prompts",
        "1",
        "--images-per-prompt",
        "1",
        "--dataset-dir",
        str(dreambench_dir),
        "--device",
        "cpu",
        "--set",
        "metrics=dino",
    ]
    sweep = tmp_path / "sweep"
    done = subprocess.run(
        ["bash", str(ROOT / "examples/slurm/submit.sh"), str(sweep), *options],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    calls = log.read_text()
    assert "--array=0-1" in calls and "--dependency=afterany:100" in calls and "exited" not in calls, calls
    # the shard count travels with the tasks, whichever are re-run
    assert "--export=ALL,BENCH_SHARDS=2" in calls
    assert "submitted: shards 100" in done.stdout
    # each task did its own shard and scored nothing; the dependent job scored and reported
    for task in (0, 1):
        assert f"--shard', '{task}/2'" in (sweep / "invocations.jsonl").read_text().replace('"', "'")
    assert (sweep / "report" / "index.html").exists()
    assert list(json.loads((sweep / "base" / "scores.json").read_text())["summary"]) == ["dino"]
    # the dry run, two shards, then the dependent job's run, whose report is the one written: none a second time
    assert bench_subcommands(bench_log) == ["run"] * 4

    local = tmp_path / "local"
    execute_run(
        build_config(
            overrides={
                "methods": ["base"],
                "subjects": ["dog", "backpack"],
                "limit_prompts": 1,
                "images_per_prompt": 1,
                "dataset_dir": str(dreambench_dir),
                "output_dir": str(local),
                "score": False,
            }
        ),
        progress=False,
        log=lambda message: None,
    )
    # 2 x (1 prompt + PRES)
    assert image_hashes(sweep) == image_hashes(local) and len(image_hashes(local)) == 4


def test_the_finish_job_reports_a_run_that_bench_run_left_unreported(tmp_path, dreambench_dir):
    """`bench run` reports only what it scored: a run stopped before scoring (here --no-score) gets its report
    from the finish job's own `bench report`."""
    env, bench_log = stand_in_cluster(tmp_path)
    run_dir = tmp_path / "run"
    options = ["--method", "base", "--subjects", "dog", "--limit-prompts", "1", "--images-per-prompt", "1"]
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "examples/slurm/finish.sbatch"),
            str(run_dir),
            *options,
            "--no-score",
            "--dataset-dir",
            str(dreambench_dir),
            "--device",
            "cpu",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert bench_subcommands(bench_log) == ["run", "report"]
    assert (run_dir / "report" / "index.html").exists() and not list(run_dir.glob("*/scores.json"))


def test_a_typo_fails_on_the_login_node_before_anything_is_queued(tmp_path, dreambench_dir):
    env, _ = stand_in_cluster(tmp_path)
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "examples/slurm/submit.sh"),
            str(tmp_path / "sweep"),
            "--method",
            "dreambooht",
            "--dataset-dir",
            str(dreambench_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "bench: error:" in done.stderr and "dreambooht" in done.stderr
    assert not (tmp_path / "sbatch.log").exists() and not (tmp_path / "sweep").exists()
