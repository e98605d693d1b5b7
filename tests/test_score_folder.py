"""`bench score --folder` as a user meets it: where it may write, which indices it takes, sizes, coverage."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import BenchError
from benchmark.metrics import import_folder
from dataset.protocol import load_protocol
from tests.conftest import tiny_run
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


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def score_args(dreambench_dir: Path, *extra) -> list:
    return ["--profile", "tiny", "--dataset-dir", dreambench_dir, "--metrics", "dino,clip-t", "--quiet", *extra]


# ------------------------------------------------------------------ where the scores may go
def test_a_bench_run_directory_is_never_an_output_dir(cli, tmp_path, dreambench_dir):
    run = tmp_path / "run"
    tiny_run(run, dreambench_dir, subjects=["backpack"], limit_prompts=1, score=True)
    before = tree(run)
    folder = tool_folder(tmp_path / "ext", {"backpack": ["0_0.png", "0_1.png"]})
    # replacing the run's own method, or slipping a new one into the run
    for name in ("base", "other"):
        result = cli("score", "--folder", folder, "--name", name, "--output-dir", run, *score_args(dreambench_dir))
        assert_one_line_error(result, f"{run.resolve()} is a bench run directory", "choose another --output-dir")
    assert tree(run) == before
    with pytest.raises(BenchError, match="is a bench run directory"):
        import_folder(folder, run, method="other")
    assert tree(run) == before


def test_a_method_folder_is_only_replaced_by_an_import_of_the_same_source(cli, tmp_path, dreambench_dir):
    first = tool_folder(tmp_path / "first", {"dog": ["3_0.png", "3_1.png"]})
    second = tool_folder(tmp_path / "second", {"dog": ["3_0.png"]})
    out = tmp_path / "scores"
    result = cli("score", "--folder", first, "--name", "ext", "--output-dir", out, *score_args(dreambench_dir))
    assert result.exit_code == 0, result.output
    # the tool made one more image: the same folder scores again there
    noise(first / "dog" / "4_0.png", seed=7)
    again = cli("score", "--folder", first, "--name", "ext", "--output-dir", out, *score_args(dreambench_dir))
    assert again.exit_code == 0, again.output
    assert len((out / "ext" / "generations.jsonl").read_text().splitlines()) == 3
    assert json.loads((out / "ext" / "scores.json").read_text())["summary"]["dino"]["n_images"] == 3
    before = tree(out)
    other = cli("score", "--folder", second, "--name", "ext", "--output-dir", out, *score_args(dreambench_dir))
    assert_one_line_error(
        other, f"{(out / 'ext').resolve()} holds the images imported from {first.resolve()}, not {second.resolve()}"
    )
    # a method folder made some other way
    (out / "mine").mkdir()
    (out / "mine" / "generations.jsonl").write_text("{}\n")
    assert_one_line_error(
        cli("score", "--folder", second, "--name", "mine", "--output-dir", out, *score_args(dreambench_dir)),
        "mine already exists and was not made by `bench score --folder`",
    )
    assert tree(out) == before | {"mine/generations.jsonl": b"{}\n"}
    # the same images through a manifest are another source: refused too, as a manifest may list any files
    manifest = tmp_path / "images.jsonl"
    manifest.write_text(
        json.dumps({"subject": "dog", "prompt_index": 3, "image_index": 0, "file": "first/dog/3_0.png"})
    )
    with pytest.raises(BenchError, match="holds the images imported from"):
        import_folder(tmp_path, out, method="ext", manifest=manifest)
    import_folder(tmp_path, out, method="by-manifest", manifest=manifest)
    # same file
    import_folder(tmp_path, out, method="by-manifest", manifest=Path(os.path.relpath(manifest)))


# ------------------------------------------------------------------ indices
@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ({"prompt_index": -1}, "prompt_index -1 is not one of 0..24 or 'class' for object subject backpack"),
        (
            {"prompt_index": 25},
            "prompt_index 25 is not one of 0..24 or 'class' for object subject backpack "
            "(prompt indices count from 0; `bench ls prompts` lists them)",
        ),
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
    # backpack's lone image is never compared by DIV: not it
    first = folder.resolve() / "dog" / "0_0.png"
    assert_one_line_error(result, f"{first}: 24x24 pixels, smaller than the 31x31 that DIV's LPIPS (AlexNet) needs")
    # refused at import, before anything is written
    assert not (folder / "_scores").exists()
    # without DIV nothing needs 31 pixels; for DIV, 31 (the minimum) on the short side is enough
    import_folder(folder, tmp_path / "no-div", metrics=["dino", "clip-t"])
    tool_folder(folder, {"dog": ["0_0.png", "0_1.png"]}, size=(31, 40))
    ok = cli("score", "--folder", folder, "--profile", "tiny", "--dataset-dir", dreambench_dir, "--metrics", "div")
    assert ok.exit_code == 0, ok.output
    scored = [json.loads(line) for line in (folder / "_scores" / "external" / "scores.jsonl").read_text().splitlines()]
    # backpack: no pair
    assert [line["div"] is not None for line in scored] == [False, True, True]


# ------------------------------------------------------------------ what the folder lacks
def test_one_warning_line_says_what_the_folder_lacks_against_the_protocol(cli, tmp_path, dreambench_dir):
    folder = tool_folder(
        tmp_path / "ext", {"dog": ["3_0.png", "3_1.png", "7_0.png"], "backpack": ["0_0.png", "class_0.png"]}
    )
    messages = []
    import_folder(folder, tmp_path / "out", method="ext", log=messages.append)
    assert messages == [
        "bench: warning: ext: 2 of 30 subjects, 3 of 750 prompts, 4 of 3000 images, "
        "PRES images missing for 1 of 2 subjects: scores cover what is there"
    ]
    result = cli("score", "--folder", folder, "--name", "ext", *score_args(dreambench_dir))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("bench: warning:")]
    assert warnings == messages


def test_a_complete_folder_gets_no_warning_and_each_gap_is_named(tmp_path):
    protocol = load_protocol()
    image = noise(tmp_path / "image.png")
    folder = tmp_path / "complete"
    for subject in protocol.subjects.values():
        names = [f"{p}_{i}.png" for p in range(len(protocol.prompts_for(subject))) for i in range(4)] + ["class_0.png"]
        (folder / subject.name).mkdir(parents=True)
        for name in names:
            os.link(image, folder / subject.name / name)
    messages = []
    import_folder(folder, tmp_path / "out", log=messages.append)
    assert messages == []
    (folder / "dog" / "class_0.png").unlink()
    (folder / "cat" / "24_3.png").unlink()
    import_folder(folder, tmp_path / "out", log=messages.append)
    assert messages == [
        "bench: warning: external: 2999 of 3000 images, PRES images missing for 1 of 30 subjects: "
        "scores cover what is there"
    ]


def test_broken_files_with_the_same_bytes_are_each_reported_and_the_rest_scores(cli, tmp_path, dreambench_dir):
    """Two empty files (one crashed job) share a SHA-256: each is a problem of its own, never a crash."""
    folder = tool_folder(tmp_path / "ext", {"dog": ["0_0.png", "0_1.png", "1_0.png"]})
    for name in ("5_0.png", "7_2.png"):
        (folder / "dog" / name).write_bytes(b"")
    result = cli("score", "--folder", folder, "--name", "ext", *score_args(dreambench_dir))
    # scores written, and a batch job notices what they left out
    assert result.exit_code == 1, result.output
    assert "bench: error: 2 image(s) left out of the scores" in result.stderr
    problems = [line for line in result.stderr.splitlines() if "corrupt image" in line]
    # one line per file, naming it as the user knows it (not via _scores/..), and only it
    assert [line.split(": ")[3] for line in problems] == [str(folder / "dog" / n) for n in ("5_0.png", "7_2.png")]
    assert "7_2" not in problems[0]
    lines = [json.loads(line) for line in (folder / "_scores" / "ext" / "scores.jsonl").read_text().splitlines()]
    assert sorted((line["prompt_index"], line.get("dino") is None) for line in lines) == [
        (0, False),
        (0, False),
        (1, False),
        (5, True),
        (7, True),
    ]
    # random-weight backbones: every line says its numbers mean nothing, as scores.json does
    assert {line["meaningful"] for line in lines} == {False}


# ------------------------------------------------------------------ what a user gets wrong
def test_folder_options_without_folder_and_a_bad_name_are_refused_before_anything_is_written(
    cli, tmp_path, dreambench_dir
):
    folder = tool_folder(tmp_path / "ext", {"dog": ["0_0.png", "0_1.png"]})
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    for extra in (["--name", "foo"], ["--output-dir", str(tmp_path / "x")], ["--manifest", "m.jsonl"]):
        result = cli("score", run, *extra, *score_args(dreambench_dir))
        assert_one_line_error(result, f"{extra[0]} only apply with --folder")
    assert_one_line_error(cli("score", folder, "--folder", "--method", "a", *score_args(dreambench_dir)), "--method")
    for name in ("../../escape", "a/b", ".hidden", "..", ""):
        result = cli("score", folder, "--folder", "--name", name, *score_args(dreambench_dir))
        assert_one_line_error(result, "the method's name becomes a folder")
    # a typo in --metrics, or a dataset that is not there: nothing imported, no half-made method folder
    assert_one_line_error(
        cli("score", folder, "--folder", *score_args(dreambench_dir), "--metrics", "dinov2"), "unknown metric(s) dinov2"
    )
    no_data = cli("score", folder, "--folder", "--profile", "tiny", "--dataset-dir", tmp_path / "none", "--quiet")
    assert_one_line_error(no_data, "does not exist")
    assert not (folder / "_scores").exists() and not (tmp_path / "escape").exists()


def test_image_indices_counted_from_one_are_refused_and_extra_images_are_said(cli, tmp_path, dreambench_dir):
    from_one = tool_folder(tmp_path / "one", {"dog": ["0_1.png", "0_2.png", "0_3.png", "0_4.png"]})
    result = cli("score", from_one, "--folder", *score_args(dreambench_dir))
    assert_one_line_error(result, "image indices count from 0, and these run 1..4 with no 0")
    five = tool_folder(tmp_path / "five", {"dog": [f"0_{i}.png" for i in range(5)]})
    result = cli("score", five, "--folder", *score_args(dreambench_dir))
    assert result.exit_code == 0, result.output
    assert "1 image(s) with image_index 4 or more (the protocol has 4 per prompt, 0..3): scored too" in result.stderr
    # what the log says, the table says too: a user who keeps only stdout still reads it
    assert "> **Note**: external: 1 of 30 subjects" in result.stdout
    assert "> **Note**: external: 1 image(s) with image_index 4 or more" in result.stdout


def test_keep_identifier_needs_the_prompts_as_generated(cli, tmp_path, dreambench_dir):
    folder = tool_folder(tmp_path / "ext", {"dog": ["0_0.png", "0_1.png"]})
    result = cli("score", folder, "--folder", "--keep-identifier", *score_args(dreambench_dir))
    assert_one_line_error(result, "--keep-identifier scores CLIP-T against each image's prompt as generated")
    manifest = tmp_path / "ext" / "images.jsonl"
    lines = [
        {
            "subject": "dog",
            "prompt_index": 0,
            "image_index": i,
            "file": f"dog/0_{i}.png",
            "prompt": "a zwx dog in the jungle",
        }
        for i in range(2)
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = cli("score", folder, "--folder", "--manifest", manifest, "--keep-identifier", *score_args(dreambench_dir))
    assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in (folder / "_scores" / "external" / "scores.jsonl").read_text().splitlines()]
    assert {line["clip_t_text"] for line in scored} == {"a zwx dog in the jungle"}


def test_a_manifest_line_with_an_unknown_subject_names_its_line(tmp_path):
    noise(tmp_path / "a.png")
    manifest = tmp_path / "images.jsonl"
    manifest.write_text(json.dumps({"subject": "doggo", "prompt_index": 0, "image_index": 0, "file": "a.png"}) + "\n")
    with pytest.raises(BenchError, match=rf"^{re.escape(str(manifest))}:1: unknown subject 'doggo'"):
        import_folder(tmp_path, tmp_path / "out", manifest=manifest)


def test_a_symlinked_output_folder_finds_every_image(cli, tmp_path, dreambench_dir):
    """Cluster scratch folders are often symlinks: the import's relative paths must still lead to the images."""
    folder = tool_folder(tmp_path / "data" / "imgs", {"dog": ["0_0.png", "0_1.png"]})
    real = tmp_path / "elsewhere" / "deep" / "out"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    result = cli("score", folder, "--folder", *score_args(dreambench_dir), "--output-dir", link)
    assert result.exit_code == 0, result.output
    assert "could not be scored" not in result.stdout
    lines = [json.loads(line) for line in (real / "external" / "scores.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(line["dino"] is not None for line in lines)


def test_images_of_different_sizes_in_one_prompt_are_said(tmp_path):
    """DIV stretches one image of a pair to the other's size: a reader must know the number rests on that."""
    folder = tmp_path / "ext"
    noise(folder / "dog" / "0_0.png", (64, 64))
    noise(folder / "dog" / "0_1.png", (64, 48), seed=1)
    noise(folder / "dog" / "1_0.png", (64, 64), seed=2)
    noise(folder / "dog" / "1_1.png", (64, 64), seed=3)
    messages = []
    import_folder(folder, tmp_path / "out", method="ext", log=messages.append)
    assert any("1 prompt(s) hold images of different sizes (e.g. dog/0: 64x48, 64x64)" in m for m in messages)


def test_div_is_never_paired_across_image_sizes(cli, tmp_path, dreambench_dir):
    """LPIPS is measured at the images' own resolution: 32 px and 64 px DIV are two instruments, not two methods."""
    from reports.comparisons import compare_runs

    names = {"dog": ["0_0.png", "0_1.png", "1_0.png", "1_1.png"]}
    outputs = {}
    for side in (32, 64):
        folder = tool_folder(tmp_path / f"ext{side}", names, size=(side, side))
        outputs[side] = tmp_path / f"scores{side}"
        args = ["--profile", "tiny", "--dataset-dir", dreambench_dir, "--metrics", "dino,div", "--quiet"]
        result = cli("score", "--folder", folder, "--name", "tool", "--output-dir", outputs[side], *args)
        assert result.exit_code == 0, result.output
        assert json.loads((outputs[side] / "tool" / "scores.json").read_text())["image_sizes"] == [f"{side}x{side}"]
    compared = compare_runs(outputs[32], outputs[64])
    rows = [line.split(" | ")[0] for line in compared.splitlines() if line.startswith("| ")]
    assert "| DINO ↑" in rows and "| DIV ↑" not in rows
    assert "DIV of tool (scores32) and tool (scores64) were scored with a different image size" in compared
    assert 'MIXED SCORING: DIV was not scored alike for every row (tool (scores32): image size "32x32"' in compared


def test_lossy_images_and_folders_that_are_not_read_are_said(tmp_path):
    folder = tool_folder(tmp_path / "ext", {"dog": ["0_0.jpg", "0_1.png"]})
    # an earlier attempt kept beside the images: never read
    noise(folder / "dog" / "old" / "0_0.png")
    messages = []
    import_folder(folder, tmp_path / "out", method="ext", log=messages.append)
    assert any("ext: 1 of 2 images are JPEG or WebP" in m and "0_0.jpg" in m for m in messages)
    assert any("1 folder(s) inside subject folders (e.g. dog/old/) are not read" in m for m in messages)
