"""`--deterministic`: CUDA runs on deterministic kernels, recorded per run directory and never mixed."""

from __future__ import annotations

import json
import os

import pytest
import torch

from benchmark import determinism
from benchmark.config import build_config
from benchmark.errors import BenchError
from benchmark.profiles import get_profile
from benchmark.runner import execute_run, run_manifest
from benchmark.store.run_dir import RunStore
from dataset.protocol import load_protocol
from tests.conftest import bench_run_args, image_hashes, tiny_run


@pytest.fixture
def restore_torch_flags(monkeypatch):
    """The switch is process-wide: put PyTorch back as it was for the tests that follow."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    yield
    torch.use_deterministic_algorithms(saved[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1:]


def test_cuda_gets_pytorch_deterministic_algorithms_cudnn_and_a_fixed_cublas_workspace(restore_torch_flags):
    # as a user's script might have left it
    torch.backends.cudnn.benchmark = True
    assert determinism.use_deterministic_kernels(torch.device("cuda:1")) is True
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == determinism.CUBLAS_WORKSPACE


def test_cpu_is_left_as_it_is_since_its_kernels_repeat_already(restore_torch_flags):
    assert determinism.use_deterministic_kernels(torch.device("cpu")) is False
    assert not torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    assert determinism.manifest_entry(torch.device("cpu"), True) == {}


def _open(root, dataset_dir, device: str, deterministic: bool) -> None:
    config = build_config(overrides={"deterministic": deterministic, "dataset_dir": str(dataset_dir)})
    manifest = run_manifest(
        config, load_protocol(), dataset_dir, torch.device(device), None, get_profile(config.profile)
    )
    RunStore(root).open(config, manifest)


def test_a_cuda_run_directory_holds_outputs_of_one_setting_only(tmp_path, dreambench_dir):
    _open(tmp_path / "det", dreambench_dir, "cuda", True)
    assert json.loads((tmp_path / "det" / "run.json").read_text())["deterministic_kernels"] is True
    # resuming with the same setting is fine
    _open(tmp_path / "det", dreambench_dir, "cuda", True)
    with pytest.raises(BenchError, match="deterministic kernels: it was started with --deterministic"):
        _open(tmp_path / "det", dreambench_dir, "cuda", False)

    _open(tmp_path / "plain", dreambench_dir, "cuda", False)
    with pytest.raises(BenchError, match="started without --deterministic"):
        _open(tmp_path / "plain", dreambench_dir, "cuda", True)


def test_a_cuda_run_recorded_before_the_setting_existed_counts_as_not_deterministic(tmp_path, dreambench_dir):
    _open(tmp_path / "old", dreambench_dir, "cuda", False)
    run_file = tmp_path / "old" / "run.json"
    manifest = json.loads(run_file.read_text())
    del manifest["deterministic_kernels"]
    run_file.write_text(json.dumps(manifest))
    _open(tmp_path / "old", dreambench_dir, "cuda", False)
    with pytest.raises(BenchError, match="started without --deterministic"):
        _open(tmp_path / "old", dreambench_dir, "cuda", True)


def test_on_cpu_the_flag_is_said_to_change_nothing_and_changes_no_byte(tmp_path, dreambench_dir, monkeypatch):
    calls, lines = [], []
    real = determinism.use_deterministic_kernels
    monkeypatch.setattr(determinism, "use_deterministic_kernels", lambda device: calls.append(device) or real(device))
    tiny_run(tmp_path / "plain", dreambench_dir, subjects=["dog"])
    config = build_config(
        overrides={
            "generate_pres": False,
            "score": False,
            "methods": ["base"],
            "subjects": ["dog"],
            "limit_prompts": 2,
            "images_per_prompt": 2,
            "output_dir": str(tmp_path / "det"),
            "dataset_dir": str(dreambench_dir),
            "deterministic": True,
        }
    )
    execute_run(config, progress=False, log=lines.append)
    # Asked for where the cells run (here: the local executor's runner), before it loads a model.
    assert [d.type for d in calls] == ["cpu"]
    assert any("deterministic=true is for CUDA: it changes nothing on cpu" in line for line in lines)
    invocation = json.loads((tmp_path / "det" / "invocations.jsonl").read_text().splitlines()[-1])
    assert invocation["deterministic"] is True
    assert "deterministic_kernels" not in json.loads((tmp_path / "det" / "run.json").read_text())
    plain = {k.split("/", 1)[1]: v for k, v in image_hashes(tmp_path / "plain").items()}
    assert plain == {k.split("/", 1)[1]: v for k, v in image_hashes(tmp_path / "det").items()}
    assert not torch.are_deterministic_algorithms_enabled()


def test_the_cli_flag_reaches_the_config(cli, tmp_path, dreambench_dir):
    options = "--method base --subjects dog --limit-prompts 1 --images-per-prompt 1 --no-score --quiet --deterministic"
    result = cli(*bench_run_args(options, dataset_dir=dreambench_dir, output_dir=tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "invocations.jsonl").read_text())["deterministic"] is True


def test_cells_run_in_this_process_leave_its_kernels_as_they_were(
    tmp_path, dreambench_dir, monkeypatch, restore_torch_flags
):
    """The local executor switches this very process for its cells; scoring afterwards must not inherit it."""
    import benchmark.metrics

    # as on CUDA
    monkeypatch.setattr(determinism, "applies", lambda device: True)
    seen = []
    real = benchmark.metrics.score_run
    monkeypatch.setattr(
        benchmark.metrics,
        "score_run",
        lambda *a, **k: seen.append(torch.are_deterministic_algorithms_enabled()) or real(*a, **k),
    )
    tiny_run(
        tmp_path / "run",
        dreambench_dir,
        subjects=["dog"],
        deterministic=True,
        score=True,
        assignments=["metrics=[dino]"],
    )
    assert seen == [False] and not torch.are_deterministic_algorithms_enabled()
