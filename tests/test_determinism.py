"""An image is the same bytes whoever produces it: any shard, executor or worker count.

Batch size and the sampling speed-ups (attention kernel, memory layout) are the
knobs allowed to change results, and only by float rounding; they are therefore
part of the run's identity.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmark.config import COMPILE_SCHEME
from tests.conftest import image_hashes, tiny_run


@pytest.fixture(scope="module")
def reference(tmp_path_factory, dreambench_dir):
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    summary = tiny_run(run_dir, dreambench_dir)
    hashes = image_hashes(run_dir)
    assert summary.generated == len(hashes) == 2 * 2 * 2
    return run_dir, hashes


def test_two_shards_reproduce_a_single_run(reference, tmp_path, dreambench_dir):
    _, expected = reference
    run_dir = tmp_path / "sharded"
    first = tiny_run(run_dir, dreambench_dir, shard="0/2")
    second = tiny_run(run_dir, dreambench_dir, shard="1/2")
    # each shard did its own half, nothing twice
    assert first.generated == second.generated == 4
    assert image_hashes(run_dir) == expected


def test_process_pool_reproduces_a_single_run(reference, tmp_path, dreambench_dir):
    _, expected = reference
    run_dir = tmp_path / "pool"
    summary = tiny_run(run_dir, dreambench_dir, executor="process", workers=2)
    assert not summary.failures
    assert image_hashes(run_dir) == expected


def test_records_match_the_files_and_the_protocol(reference):
    import json

    run_dir, expected = reference
    lines = (run_dir / "base" / "generations.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == len(expected)
    for record in records:
        assert expected[record["file"]] == record["sha256"]
        assert record["prompt"] == record["template"].format(record["subject_phrase"])
        # `base` prompts with the class noun
        assert record["subject_phrase"] == record["class_noun"]
        assert record["profile"] == "tiny" and record["meaningful"] is False
    assert {r["prompt"] for r in records if r["subject"] == "dog"} == {"a dog in the jungle", "a dog in the snow"}
    assert len({r["seed"] for r in records}) == len(records)


@pytest.mark.parametrize(
    "switches",
    [
        ["generation.batch_size=1"],
        ["generation.sdpa_attention=false"],
        ["generation.channels_last=false"],
        ["generation.batch_size=1", "generation.sdpa_attention=false", "generation.channels_last=false"],
        # inductor: minutes on this CPU
        ["generation.compile=true", "generation.compile_backend=aot_eager"],
    ],
    ids=["batch-1", "classic-attention", "nchw", "plain-path", "compiled"],
)
def test_generation_speed_ups_change_pixels_by_rounding_at_most(reference, tmp_path, dreambench_dir, switches):
    reference_dir, _ = reference
    run_dir = tmp_path / "switched"
    tiny_run(run_dir, dreambench_dir, assignments=switches)
    for path in sorted(run_dir.glob("base/images/*/*.png")):
        a = np.asarray(Image.open(path), dtype=int)
        b = np.asarray(Image.open(reference_dir / path.relative_to(run_dir)), dtype=int)
        assert a.shape == b.shape
        # float rounding, never a different image
        assert np.abs(a - b).max() <= 2, path.name
        assert (a != b).mean() < 0.01


def test_pres_images_use_the_class_noun_and_their_own_seeds(tmp_path, dreambench_dir, reference):
    import json

    _, expected = reference
    run_dir = tmp_path / "pres"
    summary = tiny_run(run_dir, dreambench_dir, generate_pres=True)
    hashes = image_hashes(run_dir)
    assert summary.generated == len(hashes) == len(expected) + 2 * 2
    # protocol images unchanged
    assert {k: v for k, v in hashes.items() if "class_" not in k} == expected
    records = [json.loads(x) for x in (run_dir / "base" / "generations.jsonl").read_text().splitlines()]
    pres = [r for r in records if r["prompt_index"] == "class"]
    assert [(r["subject"], r["prompt"], r["category"]) for r in pres] == [
        ("backpack", "a backpack", "prior-preservation"),
        ("backpack", "a backpack", "prior-preservation"),
        ("dog", "a dog", "prior-preservation"),
        ("dog", "a dog", "prior-preservation"),
    ]
    assert [r["prompt_index"] for r in records if r["subject"] == "dog"] == [0, 0, 1, 1, "class", "class"]
    assert not {r["seed"] for r in pres} & {r["seed"] for r in records if r["prompt_index"] != "class"}


def test_different_seeds_give_different_images(reference, tmp_path, dreambench_dir):
    _, expected = reference
    run_dir = tmp_path / "seed1"
    tiny_run(run_dir, dreambench_dir, seed=1)
    assert not set(image_hashes(run_dir).values()) & set(expected.values())


def test_compiled_sampling_compiles_each_pipeline_once_and_counts_in_the_identity(
    reference, tmp_path, dreambench_dir, monkeypatch
):
    """Equal pixels alone would pass with the option ignored: the UNet must really run compiled."""
    import json

    from methods import speedups

    calls = []
    real = speedups.compiled

    def spy(module, backend, mode):
        calls.append((type(module).__name__, backend, mode))
        return real(module, backend, mode)

    monkeypatch.setattr(speedups, "compiled", spy)
    switches = ["generation.compile=true", "generation.compile_backend=aot_eager"]
    tiny_run(tmp_path / "compiled", dreambench_dir, assignments=switches)
    # one pipeline, many batches
    assert calls == [("UNet2DConditionModel", "aot_eager", "default")]
    reference_dir, _ = reference
    identity = json.loads((reference_dir / "run.json").read_text())["identity"]["generation"]
    # off: absent, so every run made before the option keeps its directory
    assert "compile" not in identity
    compiled = json.loads((tmp_path / "compiled" / "run.json").read_text())["identity"]["generation"]
    assert (compiled["compile"], compiled["compile_backend"]) == (True, "aot_eager")
    # how it compiles: a change of it must not mix bytes
    assert compiled["compile_scheme"] == COMPILE_SCHEME
