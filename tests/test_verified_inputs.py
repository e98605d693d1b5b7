"""Nothing damaged is ever used: every input the harness reuses is verified by its hash (issue #20).

The shared class-image cache, a group's records and a trained artifact are each checked whole
before they are reused; what does not add up is made again, never trained on or scored as if fine.
"""

from __future__ import annotations

import hashlib
import json

from PIL import Image

from dataset.locate import cache_root
from tests.conftest import image_hashes, tiny_run

DREAMBOOTH = {"methods": ["dreambooth"], "subjects": ["dog"], "limit_prompts": 1}


def _bytes(folder, pattern="*.png"):
    return {p.name: p.read_bytes() for p in sorted(folder.glob(pattern))}


# --------------------------------------------------------------------------- class-image cache
def test_a_class_image_replaced_or_truncated_in_the_cache_is_made_again(tmp_path, dreambench_dir):
    """Another valid PNG was trained on silently (other weights and images, exit 0); a truncated one failed every
    cell of its class on every later run with an OSError that named no file."""
    first = tiny_run(tmp_path / "a", dreambench_dir, **DREAMBOOTH)
    assert not first.failures
    (folder,) = (cache_root() / "class-images").iterdir()
    cached = _bytes(folder)
    assert len(cached) >= 3
    # a valid PNG, not the one the cache made
    Image.new("RGB", (32, 32), "red").save(folder / "0001.png")
    with open(folder / "0000.png", "r+b") as image:
        image.truncate(100)

    second = tiny_run(tmp_path / "b", dreambench_dir, **DREAMBOOTH)
    assert not second.failures
    assert _bytes(folder) == cached
    assert list(image_hashes(tmp_path / "b").values()) == list(image_hashes(tmp_path / "a").values())
    recorded = json.loads((folder / "sha256.json").read_text())
    assert recorded == {name: hashlib.sha256(data).hexdigest() for name, data in cached.items()}


# --------------------------------------------------------------------------- records
def _same_image_twice(records):
    records[1]["file"], records[1]["sha256"] = records[0]["file"], records[0]["sha256"]


# One edit per prompt's group of records, all made again by one re-run.
EDITS = (
    # was reused as fine: that prompt's DIV read 0
    _same_image_twice,
    # was an internal KeyError that failed the cell on every re-run
    lambda records: records[0].pop("sha256"),
    # a record missing
    lambda records: records.pop(),
    # another seed than the plan's
    lambda records: records[1].update(seed=records[1]["seed"] + 1),
    # a record that is not an object
    lambda records: records.__setitem__(0, "p00_i0.png"),
)


def test_a_group_whose_records_do_not_add_up_is_made_again(tmp_path, dreambench_dir):
    run_dir, small = tmp_path / "run", {"subjects": ["dog"], "limit_prompts": len(EDITS)}
    tiny_run(run_dir, dreambench_dir, **small)
    groups = [run_dir / "base" / "records" / "dog" / f"p{prompt:02d}.json" for prompt in range(len(EDITS))]
    made, images = [json.loads(group.read_text()) for group in groups], image_hashes(run_dir)
    for group, edit in zip(groups, EDITS, strict=True):
        payload = json.loads(group.read_text())
        edit(payload["records"])
        group.write_text(json.dumps(payload))

    summary = tiny_run(run_dir, dreambench_dir, **small)
    assert not summary.failures
    assert [json.loads(group.read_text()) for group in groups] == made and image_hashes(run_dir) == images
    lines = [json.loads(line) for line in (run_dir / "base" / "generations.jsonl").read_text().splitlines()]
    assert lines == [record for group in made for record in group["records"]]


# --------------------------------------------------------------------------- trained artifacts
def test_a_damaged_trained_artifact_is_found_and_trained_again(tmp_path, dreambench_dir):
    """A truncated .safetensors went unnoticed while its images existed (dog); once one was missing (backpack),
    every re-run failed with "Unable to load weights" without saying what to delete."""
    run_dir, small = tmp_path / "run", {**DREAMBOOTH, "subjects": ["dog", "backpack"]}
    tiny_run(run_dir, dreambench_dir, **small)
    folder = run_dir / "dreambooth"
    weights = {s: folder / "artifacts" / s / "unet" / "diffusion_pytorch_model.safetensors" for s in small["subjects"]}
    trained, images = {s: path.read_bytes() for s, path in weights.items()}, image_hashes(run_dir)
    recorded = json.loads((folder / "artifacts" / "dog" / "artifact.json").read_text())["file_sha256"]
    assert recorded["unet/diffusion_pytorch_model.safetensors"] == hashlib.sha256(trained["dog"]).hexdigest()
    for path in weights.values():
        with open(path, "r+b") as handle:
            handle.truncate(path.stat().st_size // 2)
    (folder / "images" / "backpack" / "p00_i1.png").unlink()

    notes = []
    summary = tiny_run(run_dir, dreambench_dir, log=notes.append, **small)
    assert not summary.failures and all(result.trained for result in summary.results)
    assert {s: path.read_bytes() for s, path in weights.items()} == trained and image_hashes(run_dir) == images
    damaged = [note for note in notes if "unet/diffusion_pytorch_model.safetensors" in note]
    assert len(damaged) == 2 and all("trained again" in note for note in damaged)
