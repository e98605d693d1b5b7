"""End to end on a real tiny run (2 subjects x 2 prompts x 2 images): files, cache, problems, PRES, CLIP-T text."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import BenchError
from benchmark.metrics import import_folder, score_folder, score_run
from benchmark.metrics.backbones import load_backbone
from benchmark.metrics.embedding_cache import EmbeddingCache, decode_image
from benchmark.metrics.records import DIV_MIN_SIDE
from benchmark.metrics.similarity import cosine_matrix
from benchmark.profiles import get_profile
from dataset.protocol import load_protocol
from tests.conftest import tiny_run
from tests.test_cli import assert_one_line_error

# DIV is exercised in its own test, the rest stay quick
# resolved once, as `bench score` resolves --profile before it scores
TINY = get_profile("tiny")
NO_DIV = ["dino", "clip-i", "clip-t", "pres"]


@pytest.fixture(scope="session")
def source_run(tmp_path_factory, dreambench_dir) -> Path:
    root = tmp_path_factory.mktemp("metrics-source-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE_DIR", str(root / "cache"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        tiny_run(root / "run", dreambench_dir)
    return root / "run"


@pytest.fixture
def run(tmp_path, source_run) -> Path:
    """A private copy: tests damage images and rewrite records."""
    return Path(shutil.copytree(source_run, tmp_path / "run"))


def records(run_dir: Path, method: str = "base", name: str = "generations.jsonl") -> list[dict]:
    return [json.loads(line) for line in (run_dir / method / name).read_text().splitlines()]


def write_records(run_dir: Path, rows: list[dict], method: str = "base") -> None:
    (run_dir / method / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def real_paths(dataset_dir: Path, subject: str) -> list[Path]:
    return [dataset_dir / subject / entry.file for entry in load_protocol().subject(subject).images]


def test_scoring_writes_jsonl_json_and_a_markdown_table(run, dreambench_dir):
    report = score_run(run, dreambench_dir, profile=TINY)
    lines = records(run, name="scores.jsonl")
    assert len(lines) == 8 and all({"dino", "clip-i", "clip-t", "div"} <= set(line) for line in lines)
    assert all(-1 <= line["dino"] <= 1 and line["div"] >= 0 for line in lines)
    summary = json.loads((run / "base" / "scores.json").read_text())
    assert summary["metrics"]["dino"]["backbone_id"].startswith("dino:builtin:tiny")
    assert {row["subject"] for row in summary["per_subject"]} == {"backpack", "dog"}
    assert summary["summary"]["dino"]["n_images"] == 8 and summary["summary"]["dino"]["n_subjects"] == 2
    # backpack and dog real images
    assert summary["oracle"]["dino"]["n_images"] == 6 + 5
    # the macro mean is the mean of the two per-subject means, which are means over their images
    per_subject = {s: np.mean([line["dino"] for line in lines if line["subject"] == s]) for s in ("backpack", "dog")}
    assert summary["summary"]["dino"]["mean"] == pytest.approx(np.mean(list(per_subject.values())))
    text = report.markdown()
    assert "| metric | mean | 95% CI | n subjects | n images |" in text
    assert "NOT MEANINGFUL" in text and "| DINO ↑ |" in text and "real images (oracle) DINO" in text
    # the reports' spelling
    assert "| PRES ↓ | n.a. (no prior-preservation images) |" in text and "n/a" not in text
    assert summary["meaningful"] is False


def test_dino_per_image_is_the_mean_cosine_to_every_real_image_of_its_subject(run, dreambench_dir):
    score_run(run, dreambench_dir, profile=TINY, metrics=["dino"])
    # a dog image
    line = records(run, name="scores.jsonl")[5]
    dino = load_backbone("dino", "tiny")
    generated = dino.embed_images([decode_image(run / line["file"])])
    real = dino.embed_images([decode_image(p) for p in real_paths(dreambench_dir, line["subject"])])
    assert line["subject"] == "dog" and real.shape[0] == 5
    assert line["dino"] == pytest.approx(float(cosine_matrix(generated, real).mean()), abs=1e-5)


def test_rescoring_embeds_nothing_and_a_second_method_embeds_no_real_image(run, dreambench_dir, tmp_path):
    first = score_run(run, dreambench_dir, profile=TINY, metrics=NO_DIV)
    assert first.embeddings_computed["real"] == 2 * 11 and first.embeddings_computed["generated"] == 2 * 8
    again = score_run(run, dreambench_dir, profile=TINY, metrics=NO_DIV)
    assert again.computed_total == 0
    # a second method (another tool's images: the same cells, mirrored) scored against the same real images
    folder = tmp_path / "other-tool"
    for line in records(run):
        target = folder / line["subject"] / f"{line['prompt_index']}_{line['image_index']}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(run / line["file"]).transpose(Image.FLIP_LEFT_RIGHT).save(target)
    # never the run itself: an import refuses a run directory
    scored = tmp_path / "scored"
    import_folder(folder, scored, method="other")
    second = score_run(scored, dreambench_dir, profile=TINY, methods=["other"], metrics=NO_DIV)
    assert second.embeddings_computed.get("real", 0) == 0
    assert second.embeddings_computed["generated"] == 2 * 8
    # the run's own images beside it, through a manifest: the same bytes, so nothing to embed
    manifest = tmp_path / "base.jsonl"
    keys = ("subject", "prompt_index", "image_index", "seed")
    rows = [{key: line[key] for key in keys} | {"file": str(run / line["file"])} for line in records(run)]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_folder(tmp_path, scored, method="base", manifest=manifest)
    both = score_run(scored, dreambench_dir, profile=TINY, methods=["base", "other"], metrics=NO_DIV)
    assert both.computed_total == 0
    dino = next(c for c in both.comparisons if c.metric == "dino")
    assert (dino.method_a, dino.method_b, dino.n_cells, dino.n_subjects) == ("base", "other", 8, 2)
    assert "Paired comparisons" in both.markdown()
    # `base` is the reference wherever it is named, as in the HTML report: the same difference, the same sign
    swapped = score_run(scored, dreambench_dir, profile=TINY, methods=["other", "base"], metrics=NO_DIV)
    assert [(c.method_a, c.method_b) for c in swapped.comparisons if c.metric == "dino"] == [("base", "other")]


def test_corrupt_and_missing_images_are_reported_and_the_rest_scores(run, dreambench_dir):
    lines = records(run)
    corrupt, missing = run / lines[0]["file"], run / lines[5]["file"]
    # truncated PNG
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    missing.unlink()
    report = score_run(run, dreambench_dir, profile=TINY)
    assert any(str(corrupt) in w and "corrupt" in w for w in report.warnings)
    assert any(str(missing) in w and "missing" in w for w in report.warnings)
    assert str(corrupt) in report.markdown() and str(missing) in report.markdown()
    scored = records(run, name="scores.jsonl")
    assert "error" in scored[0] and "dino" not in scored[0] and "error" in scored[5]
    assert all("dino" in line and line["dino"] is not None for i, line in enumerate(scored) if i not in (0, 5))
    summary = json.loads((run / "base" / "scores.json").read_text())
    assert summary["summary"]["dino"]["n_images"] == 6
    assert {p["path"] for p in summary["problems"]} == {str(corrupt), str(missing)}
    # the corrupt image's partner in (backpack, prompt 0) has no pair left: no DIV, but its other metrics stand
    assert scored[1]["div"] is None and scored[1]["dino"] is not None


def test_prior_preservation_images_feed_pres_only(run, dreambench_dir):
    baseline = score_run(run, dreambench_dir, profile=TINY, metrics=NO_DIV).methods["base"]
    lines = records(run)
    reals = real_paths(dreambench_dir, "backpack")
    prior = []
    # the personalized model "generates" real photos 0 and 1 for "a backpack"
    for image_index in range(2):
        target = run / "base" / "class" / f"{image_index}.jpg"
        target.parent.mkdir(exist_ok=True)
        shutil.copy(reals[image_index], target)
        prior.append(
            {**lines[0], "prompt_index": "class", "category": "prior-preservation", "template": "a {}"}
            | {"prompt": "a backpack", "image_index": image_index, "file": f"base/class/{image_index}.jpg"}
            | {"sha256": None}
        )
    write_records(run, lines + prior)
    scores = score_run(run, dreambench_dir, profile=TINY, metrics=NO_DIV).methods["base"]
    for metric in ("dino", "clip-i", "clip-t"):
        assert scores.summary[metric].mean == pytest.approx(baseline.summary[metric].mean)
        assert scores.summary[metric].n_images == 8
    # PRES of a copy of real photo k is its mean DINO cosine to all 6 real photos (itself included: 1.0)
    real = load_backbone("dino", "tiny").embed_images([decode_image(p) for p in reals])
    expected = cosine_matrix(real[:2], real).mean()
    assert scores.summary["pres"].mean == pytest.approx(expected, abs=1e-5)
    assert scores.summary["pres"].n_images == 2 and scores.summary["pres"].n_subjects == 1
    scored = records(run, name="scores.jsonl")
    assert all(set(line) & {"dino", "clip-i", "clip-t"} == set() and "pres" in line for line in scored[8:])
    assert all("pres" not in line for line in scored[:8])


def test_clip_t_text_drops_the_identifier_by_default(run, dreambench_dir):
    lines = records(run)
    # as DreamBooth would record them
    for line in lines:
        line["subject_phrase"] = f"sks {line['class_noun']}"
        line["prompt"] = line["template"].format(line["subject_phrase"])
    write_records(run, lines)
    default = score_run(run, dreambench_dir, profile=TINY, metrics=["clip-t"])
    scored = records(run, name="scores.jsonl")
    assert all("sks" not in line["clip_t_text"] for line in scored)
    assert [line["clip_t_text"] for line in scored] == [ln["template"].format(ln["class_noun"]) for ln in lines]
    assert "identifier removed" in default.markdown()
    clip = load_backbone("clip", "tiny")
    image = clip.embed_images([decode_image(run / scored[0]["file"])])
    text = clip.embed_texts([scored[0]["clip_t_text"]])
    assert scored[0]["clip-t"] == pytest.approx(float(cosine_matrix(image, text)[0, 0]), abs=1e-5)

    score_run(run, dreambench_dir, profile=TINY, metrics=["clip-t"], keep_identifier=True)
    kept = records(run, name="scores.jsonl")
    assert all(line["clip_t_text"] == line["prompt"] and "sks" in line["clip_t_text"] for line in kept)
    assert kept[0]["clip-t"] != pytest.approx(scored[0]["clip-t"])


def test_a_folder_from_another_tool_scores_like_a_run(run, dreambench_dir, tmp_path):
    folder = tmp_path / "closed-method"
    (folder / "dog").mkdir(parents=True)
    for name, line in (("3_0.png", records(run)[4]), ("3_1.png", records(run)[5])):
        shutil.copy(run / line["file"], folder / "dog" / name)
    (folder / "dog" / "class_0.png").write_bytes(b"not an image")
    report = score_folder(folder, dreambench_dir, method="closed", profile=TINY, metrics=NO_DIV)
    scored = records(folder / "_scores", "closed", "scores.jsonl")
    protocol = load_protocol()
    prompt = protocol.prompts_for(protocol.subject("dog"))[3]
    assert scored[0]["template"] == prompt.template and scored[0]["category"] == prompt.category
    assert scored[0]["clip_t_text"] == prompt.template.format("dog")
    assert report.methods["closed"].summary["dino"].n_images == 2
    # the undecodable prior image, by path
    assert any("class_0.png" in w for w in report.warnings)
    with pytest.raises(BenchError, match="not a DreamBench subject"):
        (folder / "dragon").mkdir()
        import_folder(folder, tmp_path / "out")


def test_unknown_method_or_metric_is_a_one_line_error(run, dreambench_dir):
    with pytest.raises(BenchError, match="no generations.jsonl for method 'nope'.*base"):
        score_run(run, dreambench_dir, profile=TINY, methods=["nope"])
    with pytest.raises(BenchError, match="unknown metric"):
        score_run(run, dreambench_dir, profile=TINY, metrics=["fid"])


def test_a_line_that_is_not_a_json_object_is_a_one_line_error_naming_file_and_line(run, dreambench_dir, tmp_path):
    manifest = (tmp_path / "images.jsonl").resolve()
    first = {"subject": "dog", "prompt_index": 0, "image_index": 0, "file": "0_0.png"}
    # blank lines still count: line 3 is the array
    manifest.write_text(json.dumps(first) + "\n\n[1, 2]\n")
    with pytest.raises(BenchError, match=rf"^{re.escape(str(manifest))}:3: not a JSON object$"):
        import_folder(tmp_path, tmp_path / "out", manifest=manifest)
    generations = run / "base" / "generations.jsonl"
    lines = generations.read_text().splitlines()
    # a write cut short
    generations.write_text("\n".join(lines) + '\n{"subject": "dog", \n')
    cut = rf"^{re.escape(str(generations))}:{len(lines) + 1}: not a JSON object \(the same `bench run` rewrites it"
    # and says what repairs it
    with pytest.raises(BenchError, match=cut):
        score_run(run, dreambench_dir, profile=TINY, metrics=["dino"])
    # A record missing a field names its line in the file, blank lines counted, not its record number.
    incomplete = {key: value for key, value in json.loads(lines[0]).items() if key != "file"}
    generations.write_text("\n".join(lines) + "\n\n" + json.dumps(incomplete) + "\n")
    with pytest.raises(BenchError, match=rf"^{re.escape(str(generations))}:{len(lines) + 2}: lacks file$"):
        score_run(run, dreambench_dir, profile=TINY, metrics=["dino"])


# ------------------------------------------------------------------ scoring a subset of the metrics
def scores_json(run_dir: Path, method: str = "base") -> dict:
    return json.loads((run_dir / method / "scores.json").read_text())


def test_a_subset_merges_into_the_earlier_scores_as_if_everything_was_scored_at_once(run, dreambench_dir):
    # the first scoring: a subset
    score_run(run, dreambench_dir, profile=TINY, metrics=["dino", "div"])
    assert set(scores_json(run)["metrics"]) == {"dino", "div"}
    assert all(set(line) & {"clip-i", "clip-t", "pres"} == set() for line in records(run, name="scores.jsonl"))
    report = score_run(run, dreambench_dir, profile=TINY, metrics=["clip-i", "clip-t", "pres"])
    assert list(report.metrics) == ["dino", "clip-i", "clip-t", "pres", "div"]
    assert "| DIV ↑ |" in report.markdown() and "real images (oracle) DINO" in report.markdown()
    merged, merged_lines = scores_json(run), records(run, name="scores.jsonl")
    # every metric afresh
    score_run(run, dreambench_dir, profile=TINY)
    assert merged_lines == records(run, name="scores.jsonl")
    everything = scores_json(run)
    for key in ("metrics", "summary", "oracle", "per_subject", "splits", "flags"):
        assert merged[key] == everything[key], key


def test_earlier_scores_under_other_settings_are_dropped_with_one_warning(run, dreambench_dir, capsys):
    score_run(run, dreambench_dir, profile=TINY, metrics=NO_DIV)
    path = run / "base" / "scores.json"
    summary = scores_json(run)
    # as if other CLIP weights scored them
    summary["metrics"]["clip-i"]["weights"] = "params-0000000000000000"
    path.write_text(json.dumps(summary))
    capsys.readouterr()
    # another CLIP-T text
    score_run(run, dreambench_dir, profile=TINY, metrics=["dino"], keep_identifier=True)
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("bench: warning: base: dropped the earlier CLIP-I, CLIP-T ")
    assert "clip-i weights" in warnings[0] and "CLIP-T text" in warnings[0]
    assert warnings[0].endswith("--metrics clip-i,clip-t")
    # PRES: same settings, kept (no prior images)
    assert set(scores_json(run)["metrics"]) == {"dino", "pres"}
    assert all(set(line) & {"clip-i", "clip-t"} == set() for line in records(run, name="scores.jsonl"))

    summary = scores_json(run)
    # file-wide: no earlier value can be vouched for
    summary["versions"]["torch"] = "0.0"
    path.write_text(json.dumps(summary))
    messages = []
    score_run(run, dreambench_dir, profile=TINY, metrics=["dino"], log=messages.append)
    assert [m for m in messages if "warning" in m] == [
        "bench: warning: base: dropped the earlier PRES scores, computed under other settings (versions of torch); "
        "score them again with --metrics pres"
    ]
    assert set(scores_json(run)["metrics"]) == {"dino"}


def test_earlier_scores_are_kept_only_for_images_unchanged_since(run, dreambench_dir):
    score_run(run, dreambench_dir, profile=TINY)
    before, lines = records(run, name="scores.jsonl"), records(run)
    # the method made (backpack, prompt 0, image 0) again: new bytes, new hash
    remade = run / lines[0]["file"]
    Image.open(remade).transpose(Image.FLIP_LEFT_RIGHT).save(remade)
    lines[0]["sha256"] = hashlib.sha256(remade.read_bytes()).hexdigest()
    write_records(run, lines)
    messages = []
    report = score_run(run, dreambench_dir, profile=TINY, metrics=["dino"], log=messages.append)
    after = records(run, name="scores.jsonl")
    assert after[0]["dino"] != pytest.approx(before[0]["dino"])
    assert after[0]["clip-i"] is None and after[0]["clip-t"] is None and after[0]["div"] is None
    # its DIV compared the old image
    assert after[1]["clip-i"] == before[1]["clip-i"] and after[1]["div"] is None
    assert after[2:] == before[2:]
    summary = report.methods["base"].summary
    assert (summary["clip-i"].n_images, summary["clip-t"].n_images, summary["div"].n_images) == (7, 7, 6)
    (warning,) = [m for m in messages if "warning" in m]
    assert "(CLIP-I for 7 of 8; CLIP-T for 7 of 8; DIV for 6 of 8)" in warning
    assert warning.endswith("--metrics clip-i,clip-t,div to cover every image")
    # scores.json says so too, so the report never calls the method complete; a full re-score clears it
    partial = json.loads((run / "base" / "scores.json").read_text())["partial_metrics"]
    assert partial == {m: {"scored": k, "applicable": 8} for m, k in (("clip-i", 7), ("clip-t", 7), ("div", 6))}
    from reports.loading import load_run

    (base,) = load_run(run)[1]
    assert not base.complete and "CLIP-I on 7/8 images" in base.status and "--metrics clip-i,clip-t,div" in base.status
    score_run(run, dreambench_dir, profile=TINY, metrics=["clip-i", "clip-t", "div"])
    assert json.loads((run / "base" / "scores.json").read_text())["partial_metrics"] == {}


def test_methods_are_compared_only_on_metrics_both_have(run, dreambench_dir):
    score_run(run, dreambench_dir, profile=TINY, metrics=NO_DIV)
    # never scored
    shutil.copytree(run / "base", run / "again", ignore=shutil.ignore_patterns("scores.*"))
    report = score_run(run, dreambench_dir, profile=TINY, methods=["again", "base"], metrics=["dino"])
    assert set(report.methods["base"].summary) == set(NO_DIV) and set(report.methods["again"].summary) == {"dino"}
    assert set(report.metrics) == set(NO_DIV) and [c.metric for c in report.comparisons] == ["dino"]


# ------------------------------------------------------------------ methods without images, images too small
def test_methods_without_images_are_skipped_with_one_warning_and_the_others_scored(run, dreambench_dir, cli):
    # e.g. every cell of theirs failed
    for method in ("failed", "gone"):
        (run / method).mkdir()
        (run / method / "generations.jsonl").write_text("")
    messages = []
    report = score_run(run, dreambench_dir, profile=TINY, metrics=["dino"], log=messages.append)
    assert [m for m in messages if "warning" in m] == [
        f"bench: warning: no generated images recorded for failed, gone in {run}: skipped, scoring the others"
    ]
    assert list(report.methods) == ["base"] and report.methods["base"].summary["dino"].n_images == 8
    assert (run / "base" / "scores.json").is_file() and not (run / "failed" / "scores.json").exists()
    # what the report tells the user to run
    result = cli("score", run, "--metrics", "dino", "--quiet")
    assert result.exit_code == 0, result.output
    assert "bench: warning: no generated images recorded for failed, gone" in result.stderr
    assert "| DINO ↑ |" in result.stdout
    # naming only methods without images is still an error, one line
    assert_one_line_error(cli("score", run, "--method", "failed,gone"), "no generated images recorded for failed, gone")


def test_images_too_small_for_div_are_one_line_naming_the_first_before_any_scoring(run, dreambench_dir, cli):
    lines = records(run)
    # as a plug-in method making 17x23 images would leave them
    for line in lines:
        path = run / line["file"]
        Image.open(path).resize((17, 23)).save(path)
        line["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    write_records(run, lines)
    cache = EmbeddingCache(run / "cache")
    first = re.escape(str(run / lines[0]["file"]))
    with pytest.raises(BenchError, match=rf"^{first}: 17x23 pixels, smaller than the 31x31 that DIV's LPIPS"):
        score_run(run, dreambench_dir, profile=TINY, cache=cache)
    assert cache.computed == {} and not (run / "base" / "scores.jsonl").exists()
    result = cli("score", run, "--quiet")
    assert_one_line_error(result, str(run / lines[0]["file"]), "17x23", "31x31", "--metrics dino,clip-i,clip-t,pres")
    # the other scorers resize to 224 first: without DIV the same images score
    report = score_run(run, dreambench_dir, profile=TINY, metrics=NO_DIV)
    assert report.methods["base"].summary["dino"].n_images == 8 and not report.warnings


def test_div_min_side_is_where_lpips_stops_working_and_dino_clip_take_any_size():
    """The minimum in the error message is the real one, not a guess: LPIPS runs at it and fails one pixel below."""
    lpips = load_backbone("lpips", "tiny")
    ok = Image.new("RGB", (DIV_MIN_SIDE, DIV_MIN_SIDE), "gray")
    assert lpips.distances([(ok, ok)]).shape == (1,)
    for size in ((DIV_MIN_SIDE - 1, DIV_MIN_SIDE), (DIV_MIN_SIDE, DIV_MIN_SIDE - 1)):
        small = Image.new("RGB", size, "gray")
        with pytest.raises(RuntimeError, match="too small"):
            lpips.distances([(small, small)])
    for kind in ("dino", "clip"):
        assert (
            load_backbone(kind, "tiny").embed_images([Image.new("RGB", (1, 1)), Image.new("RGB", (17, 23))]).shape[0]
            == 2
        )


@pytest.mark.parametrize(
    "methods, reference",
    [
        (["dreambooth-no-class", "dreambooth", "base"], "base"),
        (["dreambooth-no-class[steps=3]", "dreambooth[steps=3]"], "dreambooth[steps=3]"),
        (["dreambooth-no-prior", "dreambooth"], "dreambooth"),
        (["textual-inversion", "fake"], "textual-inversion"),
    ],
)
def test_run_tables_compare_against_the_reports_default_baseline(monkeypatch, methods, reference):
    """`bench run`'s paired table and the report's marks take the same reference: base, else DreamBooth."""
    from types import SimpleNamespace

    from benchmark.metrics import scoring

    pairs = []
    monkeypatch.setattr(
        scoring,
        "paired_comparison",
        lambda rows_a, rows_b, metric, method_a, method_b, **kw: pairs.append((method_a, method_b)),
    )
    report = SimpleNamespace(
        metrics={"dino": {}},
        clip_t_text="t",
        image_sizes={},
        methods={name: SimpleNamespace(summary={"dino": {}}, rows=[]) for name in methods},
    )
    scoring.compare_methods(report)
    assert {a for a, _ in pairs} == {reference} and {b for _, b in pairs} == set(methods) - {reference}


def test_bench_runs_own_comparisons_never_pair_div_across_image_sizes(tmp_path, dreambench_dir):
    from tests.conftest import FAKE_METHOD

    summary = tiny_run(
        tmp_path / "run",
        dreambench_dir,
        methods=["base", "fake"],
        include=[str(FAKE_METHOD)],
        subjects=["dog"],
        limit_prompts=1,
        score=True,
        assignments=["options.fake.size=48", "metrics=[dino,div]"],
    )
    assert summary.scores.image_sizes == {"base": ["32x32"], "fake[size=48]": ["48x48"]}
    # DIV: 32 px against 48 px, not paired
    assert [c.metric for c in summary.scores.comparisons] == ["dino"]
    recorded = json.loads((tmp_path / "run" / "fake[size=48]" / "scores.json").read_text())["image_sizes"]
    assert recorded == ["48x48"]
