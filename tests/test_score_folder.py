"""`bench score --folder` as a user meets it: which indices it takes, sizes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import BenchError
from benchmark.metrics import import_folder
from dataset.protocol import load_protocol
from tests.test_cli import assert_one_line_error


def noise(path: Path, size: tuple[int, int] = (32, 32), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def tool_folder(root: Path, names: dict[str, list[str]], size: tuple[int, int] = (32, 32)) -> Path:
    """Another tool's output in the documented layout, one noise image per name."""
    for seed, (subject, files) in enumerate(names.items()):
        for number, name in enumerate(files):
            noise(root / subject / name, size, seed=100 * seed + number)
    return root


# ------------------------------------------------------------------ indices
@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ({"prompt_index": -1}, "prompt_index -1 is not one of 0..24 or 'class' for object subject backpack"),
        ({"prompt_index": 25}, "prompt_index 25 is not one of 0..24 or 'class' for object subject backpack"),
        ({"prompt_index": "-3"}, "prompt_index '-3' is not one of 0..24 or 'class' for object subject backpack"),
        ({"prompt_index": 2.5}, "prompt_index 2.5 is not one of 0..24 or 'class' for object subject backpack"),
        ({"prompt_index": True}, "prompt_index True is not one of 0..24 or 'class' for object subject backpack"),
        ({"image_index": -1}, "image_index -1 is not an integer >= 0"),
        ({"image_index": "x"}, "image_index 'x' is not an integer >= 0"),
    ],
)
def test_a_manifest_index_out_of_range_is_one_line_naming_the_line(tmp_path, cell, message):
    noise(tmp_path / "a.png")
    manifest = tmp_path / "images.jsonl"
    good = {"subject": "backpack", "prompt_index": 0, "image_index": 0, "file": "a.png"}
    manifest.write_text(json.dumps(good) + "\n" + json.dumps(good | {"image_index": 1} | cell) + "\n")
    with pytest.raises(BenchError, match=rf"^{re.escape(str(manifest))}:2: {re.escape(message)}$"):
        import_folder(tmp_path, tmp_path / "out", manifest=manifest)
    assert not (tmp_path / "out").exists()


def test_manifest_indices_written_as_text_or_whole_floats_are_the_same_cell(tmp_path):
    noise(tmp_path / "a.png")
    manifest = tmp_path / "images.jsonl"
    manifest.write_text(json.dumps({"subject": "dog", "prompt_index": "24", "image_index": 3.0, "file": "a.png"}))
    target = import_folder(tmp_path, tmp_path / "out", manifest=manifest)
    (record,) = [json.loads(line) for line in target.read_text().splitlines()]
    assert (record["prompt_index"], record["image_index"]) == (24, 3)
    assert record["template"] == load_protocol().live_prompts[24].template


# ------------------------------------------------------------------ image size
def test_images_too_small_for_div_are_refused_at_import_naming_the_first(cli, tmp_path, dreambench_dir):
    folder = tool_folder(tmp_path / "ext", {"dog": ["0_0.png", "0_1.png"], "backpack": ["1_0.png"]}, size=(24, 24))
    result = cli("score", "--folder", folder, "--profile", "tiny", "--dataset-dir", dreambench_dir, "--quiet")
    first = folder.resolve() / "dog" / "0_0.png"  # backpack's lone image is never compared by DIV: not it
    assert_one_line_error(result, f"{first}: 24x24 pixels, smaller than the 31x31 that DIV's LPIPS (AlexNet) needs")
    assert not (folder / "_scores").exists()  # refused at import, before anything is written
    # without DIV nothing needs 31 pixels; for DIV, 31 (the minimum) on the short side is enough
    import_folder(folder, tmp_path / "no-div", metrics=["dino", "clip-t"])
    tool_folder(folder, {"dog": ["0_0.png", "0_1.png"]}, size=(31, 40))
    ok = cli("score", "--folder", folder, "--profile", "tiny", "--dataset-dir", dreambench_dir, "--metrics", "div")
    assert ok.exit_code == 0, ok.output
    scored = [json.loads(line) for line in (folder / "_scores" / "external" / "scores.jsonl").read_text().splitlines()]
    assert [line["div"] is not None for line in scored] == [False, True, True]  # backpack: no pair
