"""The benchmark scripts keep working: they run end to end on tiny and print well-formed tables.

No timing is asserted (numbers belong to the scripts' output, not to tests); what
is checked is what would make a printed number wrong: a ratio not taken against
the plain path, a projection missing a method, a memory estimate that forgot the
optimizer's state.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import FAKE_METHOD

ROOT = Path(__file__).resolve().parent.parent


def script_result(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "perf" / name), *args], capture_output=True, text=True, cwd=ROOT)


def run_script(name: str, *args: str) -> str:
    done = script_result(name, *args)
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
        "bench_speedups.py",
        "--dataset-dir",
        str(dreambench_dir),
        "--methods",
        "dreambooth-lora",
        "--quick",
        "--steps",
        "4",
        "--warmup",
        "1",
        "--images",
        "16",
        "--score-images",
        "2",
    )
    assert output.startswith("machine: ") and "random weights" in output
    training = table_rows(output, "training")
    assert [row[:2] for row in training] == [
        ["dreambooth-lora", "plain path"],
        ["dreambooth-lora", "fast path (defaults)"],
    ]
    plain_rate, fast_rate, fast_ratio = float(training[0][2]), float(training[1][2]), float(training[1][3])
    assert abs(fast_ratio - fast_rate / plain_rate) < 0.01
    for title in ("generation", "scoring"):
        rows = table_rows(output, title)
        assert rows[0][1] == "plain path" and rows[1][1] == "fast path (defaults)"
        plain_rate, fast_rate, fast_ratio = float(rows[0][2]), float(rows[1][2]), float(rows[1][3])
        assert abs(fast_ratio - fast_rate / plain_rate) < 0.01
    projection = table_rows(output, "projected CPU-hours")
    assert [row[0] for row in projection] == ["dreambooth-lora"]
    plain_hours, fast_hours, ratio = (float(cell) for cell in projection[0][1:4])
    assert plain_hours > 0 and fast_hours > 0 and abs(ratio - plain_hours / fast_hours) < 0.05
    # 30 subjects x (25 prompts x 4 + 4 PRES)
    assert "3120 images are generated" in output
    wide = table_rows(output, "projected CPU-hours with generation.batch_size=16")
    # 16 images sampled: the wide batch was measured
    assert [row[0] for row in wide] == ["dreambooth-lora"]
    wide_hours, wide_ratio = float(wide[0][1]), float(wide[0][2])
    assert abs(wide_ratio - plain_hours / wide_hours) < 0.05 and 0 < int(wide[0][3].rstrip("%")) <= 100


def benchmark_module(monkeypatch, name: str):
    """A script imported as the scripts import each other, for the checks too fine for its printed tables."""
    monkeypatch.syspath_prepend(str(ROOT / "perf"))
    return importlib.import_module(name)


def toy_scoring_backbones(device: str) -> list:
    """`bench_scoring.backbones`' rows with the tiny profile's toy networks: the same interface, built in no time."""
    from benchmark.metrics.backbones import load_clip, load_dino
    from benchmark.models.loading import BUILTIN_TINY

    dino, clip = load_dino(BUILTIN_TINY, "tiny", device), load_clip(BUILTIN_TINY, "tiny", device)
    return [("DINO", [dino]), ("CLIP", [clip]), ("both", [dino, clip])]


def test_speedup_parts_without_core_measure_their_own_plain_path(monkeypatch, capsys, dreambench_dir):
    """`--parts speedups` alone (a GPU call of its own) prints the plain path it compares with, then ratios to it."""
    bench_speedups = benchmark_module(monkeypatch, "bench_speedups")
    measured = []

    # a child training per row, replaced by made-up rates
    def measure(args, cache_dir, method, overrides):
        measured.append(overrides)
        return {"steps_per_s": float(len(measured)), "peak_memory_mb": 100.0 * len(measured), "first_steps_s": 0.1}

    monkeypatch.setattr(bench_speedups, "measure", measure)
    monkeypatch.setattr(sys, "argv", ["bench_speedups.py", "--dataset-dir", str(dreambench_dir), "--parts", "speedups"])
    bench_speedups.main()
    rows = table_rows(capsys.readouterr().out, "training, one speed-up off at a time")
    assert rows[0][:4] == ["dreambooth", "plain path", "1.00", "1.00"] and measured[0] == bench_speedups.PLAIN_TRAINING
    assert len(rows) > 2 and all(row[1].startswith("fast without ") for row in rows[1:])
    # rate / plain's 1.0
    assert [float(row[3]) for row in rows[1:]] == [float(n) for n in range(2, len(rows) + 1)]


def test_on_cuda_the_speedups_part_prices_deterministic_kernels_on_the_fast_path(monkeypatch, capsys):
    bench_speedups = benchmark_module(monkeypatch, "bench_speedups")
    measured = []

    def measure(args, cache_dir, method, overrides, deterministic=False):
        measured.append((overrides, deterministic))
        return {"steps_per_s": 2.0, "peak_memory_mb": 100.0, "first_steps_s": 0.1}

    monkeypatch.setattr(bench_speedups, "measure", measure)
    plain = {"steps_per_s": 1.0, "peak_memory_mb": 100.0, "first_steps_s": 0.1}
    bench_speedups.speedup_rows(SimpleNamespace(device_type="cuda"), Path("."), lambda method: plain)
    rows = table_rows(capsys.readouterr().out, "training, one speed-up off at a time")
    assert rows[-1][1] == "fast, deterministic kernels" and measured[-1] == ({}, True)
    assert [deterministic for _, deterministic in measured[:-1]] == [False] * len(bench_speedups.TRAINING_SPEEDUPS)


def test_compile_part_compares_compiled_sampling_and_training_with_their_references(
    monkeypatch, capsys, dreambench_dir
):
    """Compiled sampling against the fast path (same run), compiled training against the plain path."""
    bench_speedups = benchmark_module(monkeypatch, "bench_speedups")
    measured = []

    # training children replaced; sampling runs for real
    def measure(args, cache_dir, method, overrides):
        measured.append(overrides)
        return {
            "steps_per_s": float(len(measured)),
            "peak_memory_mb": 100.0,
            "first_steps_s": 0.1,
            "profile_steps": 800,
            "num_class_images": 200,
            "prior": True,
        }

    scoring = {"plain path": (10.0, "batch 1"), "fast path (defaults)": (50.0, "batch 32")}
    monkeypatch.setattr(bench_speedups, "measure", measure)
    monkeypatch.setattr(bench_speedups, "scoring_rates", lambda args, device: scoring)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "bench_speedups.py",
            "--dataset-dir",
            str(dreambench_dir),
            "--parts",
            "compile",
            "--methods",
            "dreambooth",
            "--compile-backend",
            "aot_eager",
            "--images",
            "4",
        ],
    )
    bench_speedups.main()
    output = capsys.readouterr().out
    sampling = table_rows(output, "generation, torch.compile")
    assert [row[1] for row in sampling] == ["fast path (defaults)", "fast + torch.compile"]
    assert sampling[1][0].endswith(", compiled") and "| x fast |" in output
    assert abs(float(sampling[1][3]) - float(sampling[1][2]) / float(sampling[0][2])) < 0.01
    training = table_rows(output, "training, torch.compile")
    assert [row[1] for row in training] == ["plain path", "fast + torch.compile"]
    assert measured[1] == {"compile": True, "compile_backend": "aot_eager", "compile_mode": "default"}
    # The sweep with compiled training (2 steps/s here) and compiled sampling; no core part: no fast column.
    projection = table_rows(output, "projected CPU-hours, 30-subject sweep, torch.compile")
    assert [row[0] for row in projection] == ["dreambooth"] and projection[0][1] == projection[0][3] == "n.a."
    # the protocol's images, plus 200 class images for each of its 15 classes
    images = 3120 + 15 * 200
    expected_training = 30 * 800 / 2.0 / 3600
    expected = expected_training + (images / float(sampling[1][2]) + 3120 / 50.0) / 3600
    assert float(projection[0][4]) == pytest.approx(expected_training, abs=1e-3)
    assert float(projection[0][2]) == pytest.approx(expected, rel=0.02)
    with pytest.raises(SystemExit):
        monkeypatch.setattr(sys, "argv", ["bench_speedups.py", "--parts", "compile", "--compile-backend", "turbo"])
        bench_speedups.main()
    assert "compile-backend 'turbo' is not a torch.compile backend" in capsys.readouterr().err


def test_speedup_scoring_makes_its_backbones_once_for_both_batch_sizes(monkeypatch):
    import torch

    bench_scoring = benchmark_module(monkeypatch, "bench_scoring")
    bench_speedups = benchmark_module(monkeypatch, "bench_speedups")
    made = []
    monkeypatch.setattr(bench_scoring, "backbones", lambda device: made.append(device) or toy_scoring_backbones(device))
    rates = bench_speedups.scoring_rates(SimpleNamespace(score_images=2), torch.device("cpu"))
    assert made == ["cpu"]
    notes = [note for _, note in rates.values()]
    assert notes == ["batch 1, cold cache", "batch 32, cold cache", "embedding cache hit"]


def test_scoring_timing_refuses_a_pass_that_did_not_embed_every_image(monkeypatch, tmp_path):
    bench_scoring = benchmark_module(monkeypatch, "bench_scoring")
    refs = bench_scoring.synthetic_images(tmp_path, 2, 64)
    models = toy_scoring_backbones("cpu")[-1][1]
    assert set(bench_scoring.time_scoring(models, refs, tmp_path / "cache", 2)) == {"cold", "warm"}
    # The cache is not keyed by batch size: timing a second batch size on the same root reads the first's entries.
    with pytest.raises(RuntimeError, match="cold pass embedded 0 image"):
        bench_scoring.time_scoring(models, refs, tmp_path / "cache", 1)
    # the cache reports it and goes on: the pass would look faster
    refs[0].path.write_bytes(b"not a png")
    with pytest.raises(RuntimeError, match="corrupt image"):
        bench_scoring.time_scoring(models, refs, tmp_path / "fresh", 1)


def test_memory_estimate_counts_weights_gradients_and_adam_state():
    output = run_script(
        "estimate_training_memory.py",
        "--profile",
        "tiny",
        "--resolution",
        "32",
        "--steps",
        "1",
        "--set",
        "train_text_encoder=true",
    )
    match = re.search(r"(\d+)M trained parameters", output)
    assert match and "text encoder trained" in output
    total = float(next(row[1] for row in table_rows(output, "kind") if row[0] == "total, training"))
    from benchmark.models.tiny import tiny_text_encoder, tiny_unet

    trained = sum(p.numel() for m in (tiny_unet(), tiny_text_encoder()) for p in m.parameters())
    # fp32 weights + their gradients + Adam's two moments are alive together at the optimizer step.
    assert total >= 4 * trained * 4 / 2**20 * 0.99


def test_training_step_profile_records_the_asked_steps_and_sees_the_variant(dreambench_dir):
    common = ("--dataset-dir", str(dreambench_dir), "--warmup", "1", "--top", "1000")
    fast = run_script("profile_training_step.py", *common, "--steps", "2")
    assert fast.startswith("machine: ") and "random weights" in fast
    # the schedule records exactly the asked steps, each marked once
    assert "profiled steps: 2 " in fast
    host = {row[0]: float(row[1]) for row in table_rows(fast, "host time per step")}
    in_ops = host["PyTorch ops: aten ops, autograd nodes (self time)"]
    in_python = host["Python inside record_function blocks (e.g. Optimizer.step)"]
    # self times, each counted once: within the wall
    assert 0 < in_ops + in_python < host["wall, profiled"]
    assert float(dict(table_rows(fast, "counts per step"))["aten op calls (nested included)"]) > 0
    plain = run_script("profile_training_step.py", *common, "--steps", "1", "--variant", "plain")
    fast_calls, plain_calls = ({row[0]: float(row[2]) for row in table_rows(out, "top")} for out in (fast, plain))
    # per step: totals divided by the steps recorded
    assert fast_calls["Optimizer.step#AdamW.step"] == 1
    # the step span is not an op
    assert not any(name.startswith("ProfilerStep") for name in fast_calls)
    # The plain path re-encodes the images with the VAE at every step (no latent cache) and runs
    # diffusers' classic attention (baddbmm) in the UNet instead of SDPA.
    assert plain_calls["aten::convolution"] > fast_calls["aten::convolution"] > 0
    assert "aten::baddbmm" in plain_calls and "aten::baddbmm" not in fast_calls


def test_training_step_profile_passes_dotted_settings_to_the_run_config(dreambench_dir, tmp_path):
    """`--set models.base=DIR` is how a pocket or local model is profiled: it must reach the config, not the method."""
    missing = tmp_path / "no-such-model"
    options = "--profile sd15-random --steps 1".split()
    done = script_result(
        "profile_training_step.py", *options, "--dataset-dir", str(dreambench_dir), "--set", f"models.base={missing}"
    )
    assert done.returncode != 0
    # refused by the model check before any training, naming the folder asked for
    assert str(missing) in done.stderr and "Traceback" not in done.stderr


def test_op_count_sees_the_backward_pass_and_the_text_encoder_cache(monkeypatch):
    """Counting is what host-overhead work is judged by: a frozen, cached text encoder must cost fewer ops."""
    count_step_ops = benchmark_module(monkeypatch, "count_step_ops").count_step_ops
    trained = count_step_ops("tiny", "dreambooth", {"train_text_encoder": True}, 32)
    frozen = count_step_ops("tiny", "dreambooth", {"train_text_encoder": False}, 32)
    assert trained["aten.convolution_backward"] > 0 and trained["aten.mm"] > frozen["aten.mm"]
    assert sum(frozen.values()) < sum(trained.values())
    # the optimizer as CUDA runs it: one fused update
    assert "aten._fused_adamw_" in frozen


def test_determinism_check_hashes_what_a_run_trained_and_sampled(monkeypatch, tmp_path, dreambench_dir):
    check = benchmark_module(monkeypatch, "check_determinism")
    args = SimpleNamespace(
        method="dreambooth",
        subject="dog",
        profile="tiny",
        device="cpu",
        limit_prompts=1,
        images_per_prompt=1,
        dataset_dir=str(dreambench_dir),
        set=["options.dreambooth.steps=2", "options.dreambooth.num_class_images=1"],
        include=[],
    )
    monkeypatch.chdir(ROOT)
    seconds, images, weights = check.run_once(args, tmp_path, deterministic=True)
    (method_dir,) = [p for p in (tmp_path / "run").iterdir() if p.is_dir()]
    folder = method_dir.name
    assert seconds > 0 and sorted(images) == [f"{folder}/images/dog/class_i0.png", f"{folder}/images/dog/p00_i0.png"]
    image = method_dir / "images/dog/p00_i0.png"
    assert images[f"{folder}/images/dog/p00_i0.png"] == hashlib.sha256(image.read_bytes()).hexdigest()
    # what training saved, not the records that hold its timings
    assert sorted(weights) == [
        "artifacts/dog/text_encoder/config.json",
        "artifacts/dog/text_encoder/model.safetensors",
        "artifacts/dog/unet/config.json",
        "artifacts/dog/unet/diffusion_pytorch_model.safetensors",
    ]
    # its own cache: class images sampled afresh, not reused
    assert list((tmp_path / "cache").iterdir())
    # a plug-in, loaded from its file, whatever it saves
    plugin = SimpleNamespace(**{**vars(args), "method": "fake", "include": [str(FAKE_METHOD)], "set": []})
    _, images, weights = check.run_once(plugin, tmp_path / "plugin", deterministic=False)
    assert sorted(weights) == ["artifacts/dog/weights.txt"] and len(images) == 2


@pytest.mark.parametrize(
    "device, differs, fails", [("cuda", "default", False), ("cuda", "deterministic", True), ("cpu", "default", True)]
)
def test_determinism_check_fails_only_where_bytes_must_repeat(monkeypatch, capsys, device, differs, fails):
    check = benchmark_module(monkeypatch, "check_determinism")
    calls = []

    def fake_run(args, work, deterministic):
        calls.append(deterministic)
        second = len(calls) % 2 == 0 and (differs == "deterministic") == deterministic
        return 1.0, {"a.png": "x", "b.png": "y" if not second else "z"}, {"unet.safetensors": "w"}

    monkeypatch.setattr(check, "run_once", fake_run)
    monkeypatch.setattr(check, "machine_line", lambda device: "machine: test, torch x")
    monkeypatch.setattr(sys, "argv", ["check_determinism.py", "--device", device])
    if fails:
        with pytest.raises(SystemExit, match="did not"):
            check.main()
    else:
        check.main()
    rows = table_rows(capsys.readouterr().out, "kernels")
    assert calls == [False, False, True, True]
    assert [row[0] for row in rows] == ["default", "deterministic (--deterministic)"]
    expected = {"default": differs == "default", "deterministic (--deterministic)": differs == "deterministic"}
    assert [row[4] for row in rows] == ["1/2 identical" if expected[row[0]] else "2/2 identical" for row in rows]
