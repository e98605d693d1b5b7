"""The benchmark scripts keep working: they run end to end on tiny and print well-formed tables.

No timing is asserted (numbers belong to the scripts' output, not to tests); what
is checked is what would make a printed number wrong: a ratio not taken against
the plain path, a projection missing a method, a memory estimate that forgot the
optimizer's state.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_script(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def table_rows(output: str, title: str) -> list[list[str]]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {title}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_speedup_benchmark_compares_with_the_plain_path_and_projects_a_sweep(dreambench_dir):
    output = run_script(
        "bench_speedups.py", "--dataset-dir", str(dreambench_dir), "--methods", "dreambooth-lora", "--quick",
        "--steps", "4", "--warmup", "1", "--images", "4", "--score-images", "2",
    )  # fmt: skip
    assert output.startswith("machine: ") and "random weights" in output
    training = table_rows(output, "training")
    assert [row[:2] for row in training] == [
        ["dreambooth-lora", "plain path"],
        ["dreambooth-lora", "fast path (defaults)"],
    ]
    assert training[0][3] == "1.00"  # the plain path is the reference of its own ratio
    plain_rate, fast_rate, fast_ratio = float(training[0][2]), float(training[1][2]), float(training[1][3])
    assert abs(fast_ratio - fast_rate / plain_rate) < 0.01
    for title in ("generation", "scoring"):
        rows = table_rows(output, title)
        assert rows[0][1] == "plain path" and rows[0][3] == "1.00" and rows[1][1] == "fast path (defaults)"
    projection = table_rows(output, "projected CPU-hours")
    assert [row[0] for row in projection] == ["dreambooth-lora"]
    plain_hours, fast_hours, ratio = (float(cell) for cell in projection[0][1:4])
    assert plain_hours > 0 and fast_hours > 0 and abs(ratio - plain_hours / fast_hours) < 0.05
    assert "3120 images are generated" in output  # 30 subjects x (25 prompts x 4 + 4 PRES)


def test_memory_estimate_counts_weights_gradients_and_adam_state():
    output = run_script("estimate_training_memory.py", "--profile", "tiny", "--resolution", "32", "--steps", "1",
                        "--set", "train_text_encoder=true")  # fmt: skip
    match = re.search(r"(\d+)M trained parameters", output)
    assert match and "text encoder trained" in output
    total = float(next(row[1] for row in table_rows(output, "kind") if row[0] == "total, training"))
    from benchmark.models.tiny import tiny_text_encoder, tiny_unet

    trained = sum(p.numel() for m in (tiny_unet(), tiny_text_encoder()) for p in m.parameters())
    # fp32 weights + their gradients + Adam's two moments are alive together at the optimizer step.
    assert total >= 4 * trained * 4 / 2**20 * 0.99
