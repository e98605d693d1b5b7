"""Reports tell the truth about the files they came from.

All tests read two real scored tiny runs and one report built from both
(tests/browser/runs.py): `main` (base, dreambooth, dreambooth-no-prior, and a `fake`
method that fails on dog) and `other` (fake[size=64]); the option tests add a third,
the DreamBooth arms run with `steps=3`. Numbers are checked against scores.json /
scores.jsonl, never against the report code's own helpers.
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import hashlib
import json
import os
import re
import shlex
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import reports.html
from benchmark.errors import BenchError
from benchmark.metrics import score_run
from benchmark.metrics.records import SCORES_JSONL_SHA256
from benchmark.profiles import get_profile
from reports.ablations import ABLATIONS, ablation_frame, build_ablation, build_ablations
from reports.banner import mixed_scoring_banners, not_meaningful_banner, report_banners, smoke_run_banners
from reports.comparisons import compare_methods, compare_runs, verdict
from reports.exports import markdown_leaderboard
from reports.html import write_report
from reports.leaderboard import build_leaderboard, leaderboard_frame
from reports.loading import load_runs
from reports.plots import subject_bars
from reports.published import PUBLISHED, published_table
from reports.tables import metric_table, training_table
from tests.browser.runs import FAILING, OTHER, report_runs
from tests.conftest import SHARED_DATASET


@pytest.fixture(scope="module")
def runs():
    return report_runs()


@pytest.fixture(scope="module")
def data(runs):
    return load_runs([runs.main, runs.other])


@pytest.fixture(scope="module")
def html(runs) -> str:
    return (runs.report / "index.html").read_text(encoding="utf-8")


def scores(run_dir: Path, method: str) -> dict:
    return json.loads((run_dir / method / "scores.json").read_text())


def cells(run_dir: Path, method: str) -> pd.DataFrame:
    lines = [json.loads(line) for line in (run_dir / method / "scores.jsonl").read_text().splitlines()]
    return pd.DataFrame(lines)


def same(value: float, recorded: float | None) -> bool:
    """A report number equals its scores.json number (None there, NaN here: no CI with one subject)."""
    return np.isnan(value) if recorded is None else value == recorded


class Cells(HTMLParser):
    """Collects (row data-method, column index, data-value) from the leaderboard table's sorted body."""

    def __init__(self):
        super().__init__()
        self.in_table = self.in_body = False
        self.header: list[str] = []
        self.values: dict[str, list[str | None]] = {}
        self.row = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "leaderboard-table":
            self.in_table = True
        elif self.in_table and tag == "th":
            self.header.append(attrs.get("data-metric") or "")
        elif self.in_table and tag == "tbody":
            self.in_body = "class" not in attrs
        elif self.in_body and tag == "tr":
            self.row = attrs["data-method"]
            self.values[self.row] = []
        elif self.in_body and tag == "td":
            self.values[self.row].append(attrs.get("data-value"))

    def handle_endtag(self, tag):
        if tag == "table" and self.in_table:
            self.in_table = self.in_body = False


# --------------------------------------------------------------- the numbers
def test_leaderboard_numbers_are_the_scores_json_numbers(runs, data, html):
    board = build_leaderboard(data, "base")
    for row in board.rows:
        run_dir = runs.other if row.key == OTHER else runs.main
        summary = scores(run_dir, row.key)["summary"]
        for metric in ("dino", "clip-i", "clip-t", "pres", "div"):
            cell, expected = row.cells[metric], summary[metric]
            assert cell.mean == expected["mean"] and cell.n_subjects == expected["n_subjects"]
            assert same(cell.ci_low, expected["ci_low"]) and same(cell.ci_high, expected["ci_high"])
    # the HTML cells carry the same numbers at full precision (they are what the browser sorts by)
    parser = Cells()
    parser.feed(html)
    columns = {metric: i for i, metric in enumerate(parser.header) if metric}
    assert set(columns) == {"dino", "clip-i", "clip-t", "pres", "div"}
    for key, values in parser.values.items():
        run_dir = runs.other if key == OTHER else runs.main
        summary = scores(run_dir, key)["summary"]
        for metric, column in columns.items():
            assert float(values[column]) == summary[metric]["mean"]
    # and the displayed text, rounded
    dino = scores(runs.main, "dreambooth")["summary"]["dino"]
    assert f"{dino['mean']:.3f}" in html and f"[{dino['ci_low']:.3f}, {dino['ci_high']:.3f}]" in html


def test_tidy_tables_keep_n_and_training_cost_from_the_artifacts(runs, data):
    table = metric_table(data)
    row = table[(table["method"] == "dreambooth-no-prior") & (table["metric"] == "pres")].iloc[0]
    expected = scores(runs.main, "dreambooth-no-prior")["summary"]["pres"]
    assert (row["mean"], row["n_subjects"], row["n_images"]) == (
        expected["mean"],
        expected["n_subjects"],
        expected["n_images"],
    )
    cost = training_table(data).set_index("method")
    artifacts = [json.loads(p.read_text()) for p in (runs.main / "dreambooth" / "artifacts").glob("*/artifact.json")]
    assert cost.loc["dreambooth", "train_seconds"] == pytest.approx(sum(a["train_seconds"] for a in artifacts))
    assert cost.loc["dreambooth", "peak_memory_mb"] == max(a["peak_memory_mb"] for a in artifacts)
    assert cost.loc["dreambooth", "device"] == "cpu"
    assert {a["hardware"] for a in artifacts} == {"cpu"} and cost.loc["dreambooth", "hardware"] == "cpu"
    # base trains nothing
    assert np.isnan(cost.loc["base", "train_seconds"])


def test_training_cost_names_every_gpu_model_that_trained_and_says_when_a_record_lacks_it():
    from types import SimpleNamespace

    from reports.formatting import fmt_training_time
    from reports.tables import training_cost

    def artifact(**fields):
        return {"train_seconds": 10.0, "peak_memory_mb": 1.0, **fields}

    method = SimpleNamespace(
        key="dreambooth",
        run=SimpleNamespace(name="r"),
        external=False,
        artifacts={
            "dog": artifact(device="cuda:0", hardware="cuda:NVIDIA H100 80GB HBM3"),
            "cat": artifact(device="cuda:1", hardware="cuda:NVIDIA A100-SXM4-80GB"),
            # trained before the model was recorded
            "can": artifact(device="cuda"),
        },
    )
    cost = training_cost(method)
    assert cost["device"] == "gpu" and cost["train_seconds"] == 30.0
    assert cost["hardware"] == "NVIDIA A100-SXM4-80GB; NVIDIA H100 80GB HBM3; cuda (model not recorded)"
    # wall-clock time in the unit a person reads (never "0.0083 h") and the device it ran on, never "GPU h" that
    # reads like a core-hour unit
    assert fmt_training_time(cost["train_seconds"], cost["device"]) == "30 s on GPU"
    assert fmt_training_time(7200.0, "cpu,gpu") == "2.00 h on CPU, GPU"


def test_durations_and_memory_read_in_human_units():
    from reports.formatting import fmt_duration, fmt_memory, memory_unit

    assert [fmt_duration(s) for s in (0.42, 5, 42.4, 90, 450, 3599, 3600, 5400)] == [
        "0.42 s",
        "5 s",
        "42 s",
        "1.5 min",
        "7.5 min",
        "60.0 min",
        "1.00 h",
        "1.50 h",
    ]
    # one unit for a column: a 900 MiB row beside a 3 GiB one reads 0.9 GiB, not "900 MiB" under "3.0 GiB"
    column = [900.0, 3072.0, float("nan")]
    assert memory_unit(column) == "GiB" and [fmt_memory(mb, memory_unit(column)) for mb in column] == [
        "0.9 GiB",
        "3.0 GiB",
        "n.a.",
    ]
    assert memory_unit([12.0, 900.0]) == "MiB" and fmt_memory(900.0, "MiB") == "900 MiB"


def test_the_run_metadata_says_whether_cuda_kernels_were_deterministic():
    from reports.html import _device_line

    assert _device_line({"device_type": "cpu"}) == "cpu"
    assert "deterministic kernels" in _device_line({"device_type": "cuda", "deterministic_kernels": True})
    assert "may differ" in _device_line({"device_type": "cuda", "deterministic_kernels": False})
    # a run recorded before the option
    assert "may differ" in _device_line({"device_type": "cuda"})


# --------------------------------------------------------------- published rows
def test_published_rows_are_data_with_their_source_and_never_mixed_with_measured_rows(runs, data, html):
    published = published_table()
    assert set(published["source"]) == {
        "DreamBooth paper, Table 1",
        "DreamBooth paper, Table 3",
        "DreamBooth paper, Table 4",
    }
    assert set(published["backbone"]) == {"Imagen", "SD", "real photos"}
    assert published["published"].all()
    sd = published[(published["setting"] == "DreamBooth (Stable Diffusion)") & (published["metric"] == "dino")]
    assert sd["value"].item() == 0.668

    frame = leaderboard_frame(build_leaderboard(data))
    settings = {row.setting for row in PUBLISHED}
    assert not settings & set(frame["method"])
    measured_csv = (runs.report / "leaderboard.csv").read_text()
    assert "DreamBooth paper" not in measured_csv and not any(setting in measured_csv for setting in settings)
    assert "DreamBooth (Stable Diffusion),SD" in (runs.report / "published.csv").read_text()

    leaderboard = html[
        html.index('id="leaderboard-table"') : html.index("</table>", html.index('id="leaderboard-table"'))
    ]
    assert "published" not in leaderboard.lower() and "DreamBooth paper" not in leaderboard
    block = html[html.index('id="published"') :]
    block = block[: block.index("</div>")]
    for row in PUBLISHED:
        if row.table == "Table 1":
            assert f'data-published="{row.setting}"' in block and row.source in block
    assert "not measured here" in block

    markdown = markdown_leaderboard([runs.main, runs.other])
    measured, published_part = markdown.split("Published (DreamBooth paper")
    assert "DreamBooth paper, Table" not in measured
    assert "| DreamBooth (Stable Diffusion) | DreamBooth paper, Table 1 | SD | 0.668 |" in published_part


# --------------------------------------------------------------- banner, failure, merge
def test_a_tiny_run_report_carries_the_not_meaningful_banner_everywhere(runs, html):
    banner = not_meaningful_banner("tiny")
    text = unescape(html)
    assert f'<li class="warning not-meaningful" id="not-meaningful"><b>{banner}</b>' in text
    # before any number
    assert text.index(banner) < text.index('id="leaderboard"')
    assert banner in (runs.report / "leaderboard.md").read_text()
    assert banner in (runs.report / "leaderboard.tex").read_text()
    assert banner in compare_runs(runs.main, runs.main)


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_banners_name_the_random_weight_profiles_and_only_those(runs, tmp_path):
    # random-weight images scored with real backbones: the run's profile is the random one, not the scoring's
    tiny_images = Path(shutil.copytree(runs.other, tmp_path / "tiny-images", ignore=shutil.ignore_patterns("images")))
    _edit_json(tiny_images / OTHER / "scores.json", scoring_profile="sd15")
    assert report_banners(load_runs([tiny_images])) == [not_meaningful_banner("tiny")]
    # real images scored with random-weight backbones: the scoring profile is named, in `bench compare` too
    real_images = Path(shutil.copytree(runs.other, tmp_path / "real-images", ignore=shutil.ignore_patterns("images")))
    _edit_json(real_images / "run.json", profile="sd15", meaningful=True)
    assert report_banners(load_runs([real_images])) == [not_meaningful_banner("tiny")]
    assert f"> **{not_meaningful_banner('tiny')}**" in compare_runs(real_images, real_images)


def test_a_failed_cell_is_shown_and_its_method_marked_incomplete(runs, data, html):
    failing = data.methods[FAILING]
    assert not failing.complete and failing.failed_subjects == ["dog"]
    assert failing.status.startswith("INCOMPLETE (1/2 subjects, 2/25 prompts, 2/4 images per prompt; failed: dog")
    # the others lack nothing but the prompts a 2-prompt smoke run leaves out
    assert all(
        m.status == "INCOMPLETE (2/2 subjects, 2/25 prompts, 2/4 images per prompt)"
        for k, m in data.methods.items()
        if k != FAILING
    )

    error = json.loads((runs.main / FAILING / "failures" / "dog.json").read_text())["error"]
    section = html[html.index('id="failures"') : html.index("</section>")]
    assert FAILING in section and "dog" in section and error in section
    assert html.index('id="failures"') < html.index('id="leaderboard"')
    row = re.search(rf'<tr data-method="{re.escape(FAILING)}" class="([^"]*)">(.*?)</tr>', html, re.S)
    assert "incomplete" in row.group(
        1
    ) and "INCOMPLETE (1/2 subjects, 2/25 prompts, 2/4 images per prompt; failed: dog" in row.group(2)
    # in the image grid too
    assert f"{FAILING} FAILED on dog: {error}" in html

    markdown = markdown_leaderboard([runs.main])
    failed = "failed: dog (re-run the same `bench run` to retry)"
    assert f"**INCOMPLETE (1/2 subjects, 2/25 prompts, 2/4 images per prompt; {failed})**" in markdown
    assert "fake[fail\\_on=dog,size=64]$^\\dagger$" in (runs.report / "leaderboard.tex").read_text()


def test_subjects_scored_counts_subjects_with_any_metric_not_the_first_metric(runs, tmp_path, dreambench_dir):
    # Without the earlier scores: a subset scoring would keep them (DINO included).
    ignore = shutil.ignore_patterns("scores.json", "scores.jsonl")
    clip_t_only = Path(shutil.copytree(runs.other, tmp_path / "clip-t-only", ignore=ignore))
    # scored, but has no DINO
    score_run(clip_t_only, dreambench_dir, profile=get_profile("tiny"), metrics=["clip-t"])
    html = write_report([runs.main, clip_t_only], tmp_path / "report", baseline="base").index.read_text()

    def subjects_cell(method: str) -> str:
        row = re.search(rf'<tr data-method="{re.escape(method)}"[^>]*>(.*?)</tr>', html, re.S).group(1)
        return re.findall(r'<td class="num" data-value="[^"]*">([^<]*)</td>', row)[0]

    # DINO, the first column, has n = 0 for it
    assert subjects_cell(OTHER) == "2 / 2"
    # failed on dog
    assert subjects_cell(FAILING) == "1 / 2"
    assert subjects_cell("base") == "2 / 2"


def test_rows_scored_with_other_settings_are_not_paired_and_the_report_says_so(runs, tmp_path, dreambench_dir):
    """`bench score --method X --keep-identifier` re-scores X's CLIP-T against another text than the other rows':
    a difference between them would measure the text as much as the methods."""
    run = Path(shutil.copytree(runs.main, tmp_path / "run"))
    score_run(
        run,
        dreambench_dir,
        methods=["dreambooth"],
        profile=get_profile("tiny"),
        metrics=["clip-t"],
        keep_identifier=True,
    )
    data = load_runs([run])
    base, dreambooth = data.methods["base"], data.methods["dreambooth"]
    compared = compare_methods(base, dreambooth)
    # DINO was scored alike
    assert "clip-t" not in set(compared["metric"]) and "dino" in set(compared["metric"])
    # both as before
    assert "clip-t" in set(compare_methods(base, data.methods["dreambooth-no-prior"])["metric"])
    board = build_leaderboard(data, baseline="base")
    marks = board.comparisons[board.comparisons["method_b"] == "dreambooth"]
    assert "clip-t" not in set(marks["metric"])
    # (and DIV: the fake's 64 px)
    (banner,) = [line for line in mixed_scoring_banners(data) if "CLIP-T" in line]
    assert banner.startswith("MIXED SCORING: CLIP-T was not scored alike for every row (")
    assert 'dreambooth: text "the prompt exactly as generated' in banner
    assert "MIXED SCORING" in markdown_leaderboard([run])
    compared_text = compare_runs(run, run, "base", "dreambooth")
    warning = next(line for line in compared_text.splitlines() if line.startswith("Warning: CLIP-T of base"))
    assert "were scored with a different text" in warning
    rows = [line.split(" | ")[0] for line in compared_text.splitlines() if line.startswith("| ")]
    # the CLIP-T row is left out, DINO is paired
    assert "| DINO ↑" in rows and "| CLIP-T ↑" not in rows
    html = write_report([run], tmp_path / "report", baseline="base").index.read_text()
    assert 'id="mixed-scoring"' in html and "dreambooth: the prompt exactly as generated" in unescape(html)
    captions = re.findall(r"\\caption\{(.*)\}", (tmp_path / "report" / "leaderboard.tex").read_text())
    assert any(r"\textbf{MIXED SCORING:} CLIP-T was not scored alike" in caption for caption in captions)


@pytest.mark.parametrize(("key", "what"), [("weights", "weights"), ("backbone_id", "backbone")])
def test_rows_scored_with_other_dino_weights_or_backbone_are_not_paired(runs, tmp_path, key, what):
    """A DINO column from another checkpoint or another backbone (`--set models.dino=...`) is another instrument:
    a difference would measure the instruments. scores.json records both; one method's is edited here."""
    run = Path(shutil.copytree(runs.main, tmp_path / "run"))
    path = run / "dreambooth" / "scores.json"
    edited = json.loads(path.read_text())
    original = edited["metrics"]["dino"][key]
    # scored alike until now
    assert original and original == scores(run, "base")["metrics"]["dino"][key]
    edited["metrics"]["dino"][key] = f"{original}-other"
    path.write_text(json.dumps(edited))
    data = load_runs([run])
    base, dreambooth = data.methods["base"], data.methods["dreambooth"]
    paired = set(compare_methods(base, dreambooth)["metric"])
    # CLIP was scored alike: still paired
    assert "dino" not in paired and "clip-i" in paired
    assert "dino" in set(compare_methods(base, data.methods["dreambooth-no-prior"])["metric"])
    (banner,) = [line for line in mixed_scoring_banners(data) if line.startswith("MIXED SCORING: DINO ")]
    assert f'dreambooth: {what} "{original}-other"' in banner and f'{what} "{original}"' in banner


def test_two_runs_of_different_methods_share_one_leaderboard_with_paired_comparisons(runs, data, html):
    # default baseline: base
    board = build_leaderboard(data)
    assert board.baseline == "base"
    assert [row.key for row in board.rows] == ["base", "dreambooth", "dreambooth-no-prior", FAILING, OTHER]
    assert {row.run for row in board.rows} == {"main", "other"}
    comparison = board.comparisons[(board.comparisons["method_b"] == OTHER) & (board.comparisons["metric"] == "dino")]
    base, other = cells(runs.main, "base"), cells(runs.other, OTHER)
    base, other = base[base["prompt_index"] != "class"], other[other["prompt_index"] != "class"]
    joined = base.merge(other, on=["subject", "prompt_index", "image_index"], suffixes=("_a", "_b"))
    per_subject = joined.groupby("subject")[["dino_a", "dino_b"]].mean()
    assert comparison["diff"].item() == pytest.approx((per_subject["dino_b"] - per_subject["dino_a"]).mean())
    assert comparison["n_cells"].item() == len(joined) == 8
    assert f'<tr data-method="{OTHER}"' in html and 'id="comparisons-table"' in html
    # a leaderboard row and a comparison row
    assert html.count(f'data-method="{OTHER}"') == 2


def test_compare_runs_pairs_shared_methods_and_refuses_when_nothing_pairs(runs):
    with pytest.raises(BenchError, match="nothing to pair"):
        # four methods against one, none shared
        compare_runs(runs.main, runs.other)
    text = compare_runs(runs.main, runs.main)
    assert "A and B are the same run" in text
    # one run, loaded once: its plain labels
    assert "| DINO ↑ | base | base |" in text
    # a run against itself: no difference
    assert "+0.000 | [0.000, 0.000] | 1 |" in text
    # two methods of one run are a real comparison, not the self-check
    two = compare_runs(runs.main, runs.main, "base", "dreambooth")
    assert "same run" not in two and "two methods of one run" in two
    assert "| DINO ↑ | base | dreambooth |" in two
    with pytest.raises(BenchError, match="--b dreambooh: .* has no scored method 'dreambooh'"):
        compare_runs(runs.main, runs.main, "base", "dreambooh")


def test_bench_compare_takes_two_methods_of_one_run_without_naming_it_twice(cli, runs):
    result = cli("compare", runs.main, "--a", "base", "--b", "dreambooth")
    assert result.exit_code == 0, result.output
    assert "two methods of one run" in result.stdout and "| DINO ↑ | base | dreambooth |" in result.stdout
    alone = cli("compare", runs.main)
    assert alone.exit_code == 2 and "bench compare RUN --a METHOD --b METHOD" in alone.stderr


def test_compare_runs_of_single_methods_prints_the_hand_computed_difference(runs, tmp_path):
    single = tmp_path / "single"
    shutil.copytree(runs.main, single, ignore=shutil.ignore_patterns("dreambooth*", "fake*", "artifacts", "images"))
    text = compare_runs(single, runs.other)
    base, other = cells(single, "base"), cells(runs.other, OTHER)
    base, other = base[base["prompt_index"] != "class"], other[other["prompt_index"] != "class"]
    joined = base.merge(other, on=["subject", "prompt_index", "image_index"], suffixes=("_a", "_b"))
    per_subject = joined.groupby("subject")[["clip-t_a", "clip-t_b"]].mean()
    diff = (per_subject["clip-t_b"] - per_subject["clip-t_a"]).mean()
    line = next(line for line in text.splitlines() if line.startswith("| CLIP-T ↑ |"))
    assert f"| base | {OTHER} |" in line and f"| {diff:+.3f} |" in line and line.endswith("| 2 | 8 |")


# --------------------------------------------------------------- ablations
def test_prior_preservation_ablation_deltas_equal_the_hand_computation(runs, data):
    result = build_ablation(data, next(a for a in ABLATIONS if a.id == "prior"))
    assert result.available and result.source == "DreamBooth paper, Table 3 (Imagen)"
    frame = ablation_frame(result).set_index(["method", "metric"])
    with_prior, without = cells(runs.main, "dreambooth"), cells(runs.main, "dreambooth-no-prior")
    for metric in ("pres", "div", "dino", "clip-i", "clip-t"):
        ours = frame.loc[("dreambooth-no-prior", metric)]
        assert ours["ours_mean"] == scores(runs.main, "dreambooth-no-prior")["summary"][metric]["mean"]
        joined = with_prior.merge(without, on=["subject", "prompt_index", "image_index"], suffixes=("_a", "_b"))
        joined = joined.dropna(subset=[f"{metric}_a", f"{metric}_b"])
        per_subject = joined.groupby("subject")[[f"{metric}_a", f"{metric}_b"]].mean()
        assert ours["delta"] == pytest.approx(
            (per_subject[f"{metric}_b"] - per_subject[f"{metric}_a"]).mean(), abs=1e-12
        )
        assert ours["delta_ci_low"] <= ours["delta"] <= ours["delta_ci_high"]
    published = {
        "pres": (0.493, 0.664),
        "div": (0.391, 0.371),
        "dino": (0.684, 0.712),
        "clip-i": (0.815, 0.828),
        "clip-t": (0.308, 0.306),
    }
    for metric, (first, second) in published.items():
        assert frame.loc[("dreambooth", metric), "published"] == first
        assert frame.loc[("dreambooth-no-prior", metric), "published"] == second
        assert frame.loc[("dreambooth-no-prior", metric), "published_delta"] == pytest.approx(second - first)
        # the reference row has no delta
        assert np.isnan(frame.loc[("dreambooth", metric), "delta"])


def test_an_ablation_appears_only_when_its_methods_ran_and_names_the_missing_ones(data, html):
    by_id = {a.id: build_ablation(data, a) for a in ABLATIONS}
    assert by_id["methods"].missing == ["textual-inversion"]
    assert by_id["class-noun"].missing == ["dreambooth-no-class", "dreambooth-wrong-class"]
    assert by_id["identifier"].missing == ["dreambooth-english-id"]
    assert 'id="ablation-table-prior"' in html
    for missing in ("methods", "class-noun", "identifier"):
        assert f'id="ablation-table-{missing}"' not in html
    assert "Not in these runs: needs <code>textual-inversion</code>" in html
    assert "bench run --method dreambooth,dreambooth-no-class,dreambooth-wrong-class" in html
    # dreambooth-no-prior is a preset of dreambooth that the paper's tables hold: no second table for it
    assert data.methods["dreambooth-no-prior"].info["preset_of"] == "dreambooth"
    assert [a.ablation.id for a in build_ablations(data)] == [a.id for a in ABLATIONS]


def test_methods_ablation_compares_real_images_against_dreambooth_per_subject(runs):
    data = load_runs([runs.main])
    ablation = next(a for a in ABLATIONS if a.id == "methods")
    fake_ti = type(ablation)(
        ablation.id,
        ablation.title,
        ablation.question,
        ablation.table,
        ablation.backbone,
        ablation.metrics,
        (ablation.arms[0], ablation.arms[2]),
    )
    result = build_ablation(data, fake_ti)
    real = result.arms[1]
    per_subject = scores(runs.main, "dreambooth")["per_subject"]
    expected = np.mean([row["oracle-dino"] - row["dino"] for row in per_subject])
    assert real.delta["dino"]["diff"] == pytest.approx(expected)
    assert real.ours["dino"]["mean"] == scores(runs.main, "dreambooth")["oracle"]["dino"]["mean"]
    assert real.published["dino"] == 0.774 and real.published["clip-t"] is None
    # real images have no prompt
    assert "clip-t" not in real.delta


# --------------------------------------------------------------- exports
def test_markdown_csv_and_latex_exports_carry_the_scores_json_numbers(runs, data):
    dino = scores(runs.main, "dreambooth")["summary"]["dino"]
    pres = scores(runs.main, "base")["summary"]["pres"]
    markdown = markdown_leaderboard([runs.main, runs.other], baseline="base")
    assert "| method | DINO ↑ | CLIP-I ↑ | CLIP-T ↑ | PRES ↓ | DIV ↑ |" in markdown
    line = next(line for line in markdown.splitlines() if line.startswith("| dreambooth |"))
    assert f"{dino['mean']:.3f} [{dino['ci_low']:.3f}, {dino['ci_high']:.3f}]" in line
    assert f"{pres['mean']:.3f} [{pres['ci_low']:.3f}, {pres['ci_high']:.3f}]" in markdown
    assert "real images (oracle)" in markdown

    with open(runs.report / "leaderboard.csv", newline="") as handle:
        rows = {row["method"]: row for row in csv.DictReader(handle)}
    assert float(rows["dreambooth"]["dino_mean"]) == pytest.approx(dino["mean"], abs=1e-6)
    assert float(rows["dreambooth"]["dino_ci_low"]) == pytest.approx(dino["ci_low"], abs=1e-6)
    assert rows["dreambooth"]["dino_n_subjects"] == "2"
    assert rows[FAILING]["complete"] == "False" and rows["real images (oracle)"]["row"] == "real-image oracle"
    oracle = scores(runs.main, "base")["oracle"]["dino"]
    assert float(rows["real images (oracle)"]["dino_mean"]) == pytest.approx(oracle["mean"], abs=1e-6)

    ablations = pd.read_csv(runs.report / "ablations.csv")
    line = ablations[(ablations["method"] == "dreambooth-no-prior") & (ablations["metric"] == "pres")].iloc[0]
    assert line["published_delta"] == pytest.approx(0.664 - 0.493)

    latex = (runs.report / "leaderboard.tex").read_text()
    # dagger: 2 of 25 prompts
    dreambooth = f"dreambooth$^\\dagger$ & {dino['mean']:.3f}"
    assert dreambooth + f" {{\\scriptsize [{dino['ci_low']:.3f}, {dino['ci_high']:.3f}]}}" in latex
    assert latex.count(r"\begin{table}") == 2 and "DreamBooth (Stable Diffusion) & SD & 0.668 & 0.803 & 0.305" in latex
    assert latex.index("Real images (oracle)") < latex.index("Published (DreamBooth paper)")
    ablations_tex = (runs.report / "ablations.tex").read_text()
    assert r"\quad $\Delta$ published & +0.171 & -0.020 & +0.028 & +0.013 & -0.002 \\" in ablations_tex


# --------------------------------------------------------------- self-contained
def test_the_report_is_self_contained_and_small(runs, html):
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    external = [s for s in sources if re.match(r"[a-z]+:", s) and not s.startswith("data:")]
    # a link to the licence, never loaded
    assert external == ["https://creativecommons.org/licenses/by/4.0/"]
    assert "<script src" not in html and 'rel="stylesheet"' not in html and "@import" not in html
    local = [s for s in sources if not re.match(r"[a-z]+:", s) and not s.startswith("#")]
    assert local and all((runs.report / s).is_file() for s in local)
    assert (runs.report / "plots" / "dino_vs_clip_t.png").is_file() and (
        runs.report / "plots" / "per_subject.png"
    ).is_file()
    assert "CC BY 4.0" in html and "Ruiz et al." in html
    for field in ("git revision", "package versions", "dataset SHA-256", "backbone id", "base seed", "builtin:tiny"):
        assert field in html
    real = [s for s in local if s.startswith("images/real/")]
    # backpack and dog's real photos, as thumbnails
    assert len(real) == 6 + 5
    from PIL import Image

    with Image.open(runs.report / real[0]) as image:
        assert max(image.size) <= 128


def test_write_report_rejects_an_unknown_baseline_and_a_non_run(runs, tmp_path):
    with pytest.raises(BenchError, match="method 'nope' is not in the report"):
        write_report([runs.other], tmp_path / "r", baseline="nope")
    with pytest.raises(BenchError, match="not a bench run directory"):
        write_report([tmp_path], tmp_path / "r")
    # a typo is not a folder of the wrong kind
    with pytest.raises(BenchError, match="nowhere does not exist"):
        write_report([tmp_path / "nowhere"], tmp_path / "r")


def test_a_single_method_report_has_no_significance_marks(runs, tmp_path):
    text = write_report([runs.other], tmp_path / "r").index.read_text()
    assert "No baseline" in text and OTHER in text and 'id="comparisons-table"' not in text


def test_two_runs_without_base_are_compared_against_the_first_runs_method(runs, tmp_path):
    only_dreambooth = tmp_path / "dreambooth-only"
    shutil.copytree(runs.main, only_dreambooth, ignore=shutil.ignore_patterns("base", "fake*", "dreambooth-no-prior"))
    board = build_leaderboard(load_runs([only_dreambooth, runs.other]))
    assert board.baseline == "dreambooth" and [row.key for row in board.rows] == ["dreambooth", OTHER]
    assert set(board.comparisons["method_b"]) == {OTHER}
    # every metric but DIV: the fake draws 64 px images, dreambooth 32 px, and DIV is never paired across sizes
    assert sorted(board.comparisons["metric"]) == ["clip-i", "clip-t", "dino", "pres"]
    # 2 subjects can never reach p < 0.05
    assert board.rows[1].cells["dino"].verdict == "n.s."


def test_write_report_refuses_a_directory_that_holds_something_else(runs, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BenchError, match="not empty and holds no earlier report"):
        write_report([runs.other], tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("metric", "diff", "p", "expected"),
    [
        ("dino", 0.1, 0.01, "better"),
        ("dino", -0.1, 0.01, "worse"),
        ("pres", -0.1, 0.01, "better"),
        ("pres", 0.1, 0.01, "worse"),
        ("dino", 0.1, 0.2, "n.s."),
    ],
)
def test_significance_follows_the_metric_direction(metric, diff, p, expected):
    assert verdict(metric, diff, p) == expected


# --------------------------------------------------------------- output folder
def test_write_report_into_a_file_or_an_unwritable_folder_is_a_one_line_error(runs, tmp_path, monkeypatch):
    a_file = tmp_path / "report.html"
    a_file.write_text("mine")
    with pytest.raises(BenchError, match="exists and is not a directory"):
        write_report([runs.other], a_file)
    with pytest.raises(BenchError, match="cannot write the report to .*: Not a directory"):
        write_report([runs.other], a_file / "report")
    assert a_file.read_text() == "mine"

    # root ignores chmod, so the denial is simulated
    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(BenchError, match="cannot write the report to .*: Permission denied"):
        write_report([runs.other], tmp_path / "read-only" / "report")


def test_a_report_that_fails_half_way_leaves_nothing_that_blocks_the_next_attempt(runs, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("a bug after the thumbnails were written")

    out = tmp_path / "report"
    with monkeypatch.context() as patch:
        patch.setattr(reports.html, "write_exports", crash)
        with pytest.raises(RuntimeError, match="a bug after"):
            write_report([runs.other], out)
    # no images/ or plots/ without an index.html
    assert not out.exists()
    first = write_report([runs.other], out).index.read_text()

    # a failed rebuild keeps the earlier report whole
    with monkeypatch.context() as patch:
        patch.setattr(reports.html, "write_exports", crash)
        with pytest.raises(RuntimeError, match="a bug after"):
            write_report([runs.other], out)
    assert (out / "index.html").read_text() == first
    local = [s for s in re.findall(r'src="([^"]+)"', first) if not s.startswith("data:")]
    assert local and all((out / s).is_file() for s in local)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    write_report([runs.other], out)


def test_only_a_report_of_ours_is_replaced_and_nothing_else_in_its_folder_is_touched(runs, tmp_path, monkeypatch):
    """`-o docs/` holding someone's own site must be refused; a report's folder may hold the user's notes."""
    site = tmp_path / "docs"
    (site / "images").mkdir(parents=True)
    (site / "index.html").write_text("<html>my project page</html>")
    (site / "images" / "logo.png").write_bytes(b"not ours")
    with pytest.raises(BenchError, match="holds no earlier report"):
        write_report([runs.other], site)
    assert (site / "images" / "logo.png").read_bytes() == b"not ours"

    out = tmp_path / "report"
    write_report([runs.other], out)
    (out / "notes.txt").write_text("my notes")
    # a concurrent build's folder
    live = out / f"{reports.html.STAGING_PREFIX}{os.getpid()}-other-build"
    live.mkdir()
    # a killed build's leftover
    dead = out / f"{reports.html.STAGING_PREFIX}999999999-killed"
    dead.mkdir()
    second = write_report([runs.other], out).index.read_text()
    assert (out / "notes.txt").read_text() == "my notes" and live.is_dir() and not dead.exists()
    assert reports.html.GENERATOR in second

    def fail_on_second_move(source, target, real=os.replace, calls=[]):  # noqa: B006 - a call counter
        if Path(target).parent == out and Path(source).parent.name.startswith(reports.html.STAGING_PREFIX):
            calls.append(target)
            if len(calls) == 2:
                raise OSError(13, "Permission denied", str(target))
        return real(source, target)

    # a swap that fails half-way puts the earlier report back whole
    with monkeypatch.context() as patch:
        patch.setattr(reports.html.os, "replace", fail_on_second_move)
        with pytest.raises(OSError):
            reports.html._move_into_place(_staged_copy(out, tmp_path), out)
    assert (out / "index.html").read_text() == second
    local = [s for s in re.findall(r'src="([^"]+)"', second) if not s.startswith("data:")]
    assert local and all((out / s).is_file() for s in local)


def _staged_copy(report: Path, tmp_path: Path) -> Path:
    """A finished report's files in a staging folder inside it, as `write_report` leaves them before the swap."""
    staging = report / f"{reports.html.STAGING_PREFIX}{os.getpid()}-test"
    staging.mkdir()
    for entry in report.iterdir():
        if entry.name in ("index.html", "images", "plots", "leaderboard.md"):
            copy = shutil.copytree if entry.is_dir() else shutil.copy2
            copy(entry, staging / entry.name)
    return staging


def test_a_truncated_image_is_shown_as_unreadable_and_the_report_finishes(runs, tmp_path, dataset_copy):
    run = Path(shutil.copytree(runs.other, tmp_path / "run"))
    _edit_json(run / "run.json", dataset_dir=str(dataset_copy))
    record = json.loads((run / OTHER / "generations.jsonl").read_text().splitlines()[0])
    # what a full disk or a killed copy leaves
    with open(run / record["file"], "r+b") as image:
        image.truncate(100)
    real = sorted((dataset_copy / record["subject"]).glob("*.jpg"))[0]
    with open(real, "r+b") as image:
        image.truncate(100)

    html = write_report([run], tmp_path / "report").index.read_text()
    title = f"{record['prompt']} (image {record['image_index']}, seed {record['seed']})"
    assert f'<div class="missing-img" title="{title}">unreadable image</div>' in unescape(html)
    assert '<div class="missing-img">unreadable real image</div>' in html
    # every other image has its thumbnail
    assert html.count('<div class="missing-img"') == 2


def test_a_subject_mean_outside_its_prompt_interval_still_gets_its_bar(runs, tmp_path):
    # scores.json's mean is over images, the bar's interval over prompt means: with a prompt that lost an
    # unreadable image the two can disagree, and a negative error bar used to stop the whole report
    run = Path(shutil.copytree(runs.other, tmp_path / "run", ignore=shutil.ignore_patterns("images")))
    scores_json = run / OTHER / "scores.json"
    scores = json.loads(scores_json.read_text())
    scores["per_subject"][0]["dino"] = 5.0
    scores_json.write_text(json.dumps(scores))
    assert subject_bars(load_runs([run]), tmp_path / "bars.png").is_file()


# --------------------------------------------------------------- coverage of the protocol
def _extend_to_every_prompt(run: Path, method: str, *, protocol_images: bool = False) -> None:
    """Lines for prompts 2..24 in the method's records and scores, as a `bench run` without --limit-prompts
    and its scoring would write them (coverage is counted from these lines, not from the images), and that
    invocation's line in the run's log. With `protocol_images`, also images 2 and 3 of every prompt and a
    run.json configured for the protocol's 4 images per prompt, as a run at the defaults has them."""
    with open(run / "invocations.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"methods": [method], "limit_prompts": None}) + "\n")
    if protocol_images:
        manifest = json.loads((run / "run.json").read_text())
        manifest["identity"]["images_per_prompt"] = 4
        (run / "run.json").write_text(json.dumps(manifest))
    for name in ("generations.jsonl", "scores.jsonl"):
        path = run / method / name
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        extra = [
            {**line, "prompt_index": prompt, "file": line["file"].replace("p00_", f"p{prompt:02d}_")}
            for line in lines
            if line["prompt_index"] == 0
            for prompt in range(2, 25)
        ]
        lines += extra
        if protocol_images:
            lines += [
                {**line, "image_index": line["image_index"] + 2, "file": line["file"].replace("_i", "_i+2")}
                for line in lines
            ]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    pair_scores_with_lines(run / method)


def pair_scores_with_lines(method_dir: Path) -> None:
    """As a scoring that wrote these scores.jsonl lines would: scores.json names the scores.jsonl it goes with."""
    scores_json = method_dir / "scores.json"
    scores = json.loads(scores_json.read_text())
    if SCORES_JSONL_SHA256 in scores:
        scores[SCORES_JSONL_SHA256] = hashlib.sha256((method_dir / "scores.jsonl").read_bytes()).hexdigest()
        scores_json.write_text(json.dumps(scores))


def test_a_method_on_fewer_prompts_than_the_protocol_is_incomplete_beside_one_on_every_prompt(runs, tmp_path):
    run = Path(shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("fake*", "*-no-prior")))
    _extend_to_every_prompt(run, "base")
    data = load_runs([run])
    base, dreambooth = data.methods["base"], data.methods["dreambooth"]
    # every prompt, but the run's 2 images per prompt: the status names that shortfall and only that one
    assert not base.complete and base.status == "INCOMPLETE (2/2 subjects, 2/4 images per prompt)"
    assert (
        not dreambooth.complete
        and dreambooth.status == "INCOMPLETE (2/2 subjects, 2/25 prompts, 2/4 images per prompt)"
    )

    board = build_leaderboard(data, "base")
    assert [(row.key, row.complete) for row in board.rows] == [("base", False), ("dreambooth", False)]
    # the comparison pairs the cells both have: 2 subjects x 2 prompts x 2 images, not base's 25 prompts
    # (PRES: the class prompt's 2 subjects x 2 images)
    n_cells = dict(zip(board.comparisons["metric"], board.comparisons["n_cells"], strict=True))
    assert n_cells == {"dino": 8, "clip-i": 8, "clip-t": 8, "pres": 4, "div": 8}

    html = write_report(data, tmp_path / "report").index.read_text()
    base_row = re.search(r'<tr data-method="base" class="([^"]*)">(.*?)</tr>', html, re.S).groups()
    dreambooth_row = re.search(r'<tr data-method="dreambooth" class="([^"]*)">(.*?)</tr>', html, re.S).groups()
    assert "incomplete" in base_row[0] and "INCOMPLETE (2/2 subjects, 2/4 images per prompt)" in base_row[1]
    assert (
        "incomplete" in dreambooth_row[0]
        and "INCOMPLETE (2/2 subjects, 2/25 prompts, 2/4 images per prompt)" in dreambooth_row[1]
    )
    # one method has every prompt, so the run is labelled for its 2 images per prompt only
    assert re.findall(r'<span class="smoke-line">([^<]*)</span>', html) == [
        "SMOKE RUN: run &#39;main&#39; has 2 of the protocol&#39;s 4 images per prompt (--images-per-prompt 2): its "
        "numbers are not DreamBench results and do not compare with full runs."
    ]

    # images generated after the last scoring: the numbers do not cover them
    extra = {"subject": "dog", "prompt_index": 2, "image_index": 0, "file": "dreambooth/images/dog/p02_i0.png"}
    with open(run / "dreambooth" / "generations.jsonl", "a") as handle:
        handle.write(json.dumps(extra) + "\n")
    status = load_runs([run]).methods["dreambooth"].status
    shortfall = "2/2 subjects, 2/25 prompts, 2/4 images per prompt"
    assert status == f"INCOMPLETE ({shortfall}; 1 image(s) not scored yet; run: bench score {run})"


def test_a_limited_run_is_labelled_a_smoke_run_in_every_format(runs, html):
    # two runs cut alike share one line instead of repeating it word for word
    line = (
        "SMOKE RUN: runs 'main' and 'other' have only the first 2 of the protocol's 25 prompts per subject "
        "(bench run --limit-prompts 2) and 2 of the protocol's 4 images per prompt (--images-per-prompt 2): "
        "their numbers are not DreamBench results and do not compare with full runs."
    )
    banner = re.search(r'<li class="warning smoke-run">(.*?)<small>', html, re.S).group(1)
    assert [unescape(text) for text in re.findall(r'<span class="smoke-line">([^<]*)</span>', banner)] == [line]
    assert html.index("smoke-run") < html.index('id="leaderboard"')
    # the Markdown escapes <, > and & (a viewer shows them as written)
    assert f"> **{line}**" in unescape((runs.report / "leaderboard.md").read_text())
    assert f"% {line}" in (runs.report / "leaderboard.tex").read_text()
    single = smoke_run_banners(load_runs([runs.main]))
    assert single == [line.replace("runs 'main' and 'other' have", "run 'main' has").replace("their", "its")]


def test_a_run_on_some_subjects_is_labelled_a_subset_in_every_format(runs, html):
    """A mean over 2 subjects sits beside the paper's 30-subject numbers: every output says it is a subset."""
    line = (
        "SUBSET: runs 'main' and 'other' cover 2 of the protocol's 30 subjects (backpack, dog): their means "
        "average those subjects only and do not compare with 30-subject DreamBench results, the published ones "
        "included. With 2 subject(s) the smallest possible Wilcoxon p is 0.5: no difference can reach p < 0.05, "
        "however large; significance needs at least 6 subjects."
    )
    banner = re.search(r'<li class="warning subset-run">(.*?)<small>', html, re.S).group(1)
    lines = [unescape(text) for text in re.findall(r'<span class="subset-line">([^<]*)</span>', banner)]
    assert lines == [line]
    assert html.index("subset-run") < html.index('id="leaderboard"')
    # the Markdown escapes <, > and & (a viewer shows them as written)
    assert f"> **{line}**" in unescape((runs.report / "leaderboard.md").read_text())
    tex = (runs.report / "leaderboard.tex").read_text()
    assert f"% {line}" in tex and "Rows average 1 to 2 of DreamBench's 30 subjects (a subset; n per row:" in tex
    one_run = line.replace("runs 'main' and 'other' cover", "run 'main' covers").replace("their means", "its means", 1)
    # one run, loaded once
    assert one_run in compare_runs(runs.main, runs.main)
    # the paired tables themselves say why they carry no mark: under the HTML table, in Markdown and LaTeX
    # (the fewest any comparison pairs: the plug-in that fails on dog is compared on backpack alone, the others
    # on both subjects, so the note speaks of the short rows)
    floor = "Some comparisons pair only 1 subject(s) (see n subjects): their smallest possible Wilcoxon p is 1, so"
    assert floor in unescape(re.search(r'<p class="note" id="significance-floor">([^<]*)</p>', html).group(1))
    # Markdown and LaTeX: no n column to "see"
    floor = "The smallest possible Wilcoxon p is 1 over 1 subject(s)"
    assert floor in (runs.report / "leaderboard.md").read_text() and floor in tex


def test_a_run_on_every_subject_is_no_subset(runs):
    from types import SimpleNamespace

    from dataset.protocol import load_protocol
    from reports.banner import subset_banners
    from reports.loading import RunInfo

    every = list(load_protocol().subjects)
    full, live = (RunInfo(path=runs.main, name=n, manifest={}, subjects=s) for n, s in (("f", every), ("l", every[:9])))
    assert subset_banners(SimpleNamespace(runs=[full])) == []
    (only,) = subset_banners(SimpleNamespace(runs=[full, live]))
    # 9 subjects can be significant: no p-value sentence, and the list is cut after 6 names
    assert only.startswith("SUBSET: run 'l' covers 9 of the protocol's 30 subjects") and "and 3 more" in only
    assert "Wilcoxon" not in only


def test_the_prompt_limit_asked_for_beats_the_guess_from_the_images(runs, tmp_path):
    """A full run killed inside its first subject has images for a few prompts only: not a smoke run."""
    from reports.loading import load_run

    run = Path(shutil.copytree(runs.other, tmp_path / "run"))
    # what these tests' runs asked for, logged
    assert load_run(run)[0].prompt_limit == 2
    lines = [json.loads(line) for line in (run / "invocations.jsonl").read_text().splitlines()]
    (run / "invocations.jsonl").write_text(
        "".join(json.dumps({**line, "limit_prompts": None}) + "\n" for line in lines)
    )
    assert load_run(run)[0].prompt_limit is None
    older = [{key: value for key, value in line.items() if key != "limit_prompts"} for line in lines]
    (run / "invocations.jsonl").write_text("".join(json.dumps(line) + "\n" for line in older))
    # an older directory: guessed from the images
    assert load_run(run)[0].prompt_limit == 2


def test_the_image_grid_counts_benchmark_prompts_not_the_class_prompt(html):
    assert 'backpack <span class="muted">(backpack, object, 2 prompts + class prompt)</span>' in html
    assert 'dog <span class="muted">(dog, live, 2 prompts + class prompt)</span>' in html


# --------------------------------------------------------------- ablation hint
def _hinted_config(cli, hint: str, monkeypatch):
    """The RunConfig `bench run` would execute for the hinted command (stopped before any work)."""
    import benchmark.runner

    seen = []

    def capture(config, **kwargs):
        seen.append(config)
        # the CLI's own way out: one line, exit 130, nothing run
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark.runner, "execute_run", capture)
    args = shlex.split(hint)
    assert args[:2] == ["bench", "run"]
    result = cli(*args[1:])
    assert result.exit_code == 130 and len(seen) == 1, result.output
    return seen[0]


def test_the_missing_ablation_hint_extends_the_run_it_names(runs, data, html, cli, monkeypatch):
    result = build_ablation(data, next(a for a in ABLATIONS if a.id == "identifier"))
    assert result.hint_run == "main" and f"--output-dir {runs.main.resolve()}" in result.hint
    assert f"Run <code>{result.hint}</code>" in unescape(html)
    assert f"`{result.hint}`" in (runs.report / "leaderboard.md").read_text()
    config = _hinted_config(cli, result.hint, monkeypatch)
    manifest = json.loads((runs.main / "run.json").read_text())
    assert Path(config.output_dir).resolve() == runs.main.resolve()
    # what `bench run` checks before it resumes a directory
    assert config.identity() == manifest["identity"]
    assert (config.methods, config.subjects) == (["dreambooth", "dreambooth-english-id"], ["backpack", "dog"])
    assert config.limit_prompts == 2 and config.images_per_prompt == 2


def test_the_ablation_hint_carries_a_non_default_seed_and_sampling_setting(runs, tmp_path, cli, monkeypatch):
    run = Path(shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("images", "artifacts")))
    manifest = json.loads((run / "run.json").read_text())
    manifest["identity"]["seed"] = 7
    manifest["identity"]["generation"]["steps"] = 9
    (run / "run.json").write_text(json.dumps(manifest))
    result = build_ablation(load_runs([run]), next(a for a in ABLATIONS if a.id == "identifier"))
    assert "--seed 7" in result.hint and "--set generation.steps=9" in result.hint
    assert _hinted_config(cli, result.hint, monkeypatch).identity() == manifest["identity"]


# --------------------------------------------------------------- methods run with options
OPTION_METHODS = ["dreambooth", "dreambooth-no-prior", "dreambooth-no-class"]


@pytest.fixture(scope="module")
def options_run(runs, tmp_path_factory) -> Path:
    """A real scored tiny run of the DreamBooth arms with one option set, as `--set options.M.steps=3` files them:
    `dreambooth[steps=3]`, `dreambooth-no-prior[steps=3]`, `dreambooth-no-class[steps=3]`."""
    from tests.conftest import SHARED_DATASET, tiny_run

    run = tmp_path_factory.mktemp("options") / "options"
    with pytest.MonkeyPatch.context() as patch:
        # the shared runs' class images and embeddings
        patch.setenv("BENCH_CACHE_DIR", str(runs.root / "cache"))
        tiny_run(
            run,
            SHARED_DATASET,
            methods=OPTION_METHODS,
            subjects=["backpack", "dog"],
            score=True,
            generate_pres=True,
            assignments=[f"options.{method}.steps=3" for method in OPTION_METHODS],
        )
    return run


def _ablation(ablation_id: str):
    return next(a for a in ABLATIONS if a.id == ablation_id)


def test_ablation_arms_are_found_by_method_name_whatever_their_options(options_run, tmp_path, cli, monkeypatch):
    data = load_runs([options_run])
    prior = build_ablation(data, _ablation("prior"))
    assert prior.available and prior.options == "[steps=3]"
    assert [arm.method for arm in prior.arms] == ["dreambooth[steps=3]", "dreambooth-no-prior[steps=3]"]
    frame = ablation_frame(prior).set_index(["method", "metric"])
    for metric in ("pres", "dino", "clip-t"):
        expected = scores(options_run, "dreambooth-no-prior[steps=3]")["summary"][metric]["mean"]
        assert frame.loc[("dreambooth-no-prior[steps=3]", metric), "ours_mean"] == expected

    # the class-noun table lacks only the wrong class; its hint adds it with the same options, so it lands in
    # the table, and reuses the arms already there
    class_noun = build_ablation(data, _ablation("class-noun"))
    assert class_noun.missing == ["dreambooth-wrong-class"] and not class_noun.arms
    config = _hinted_config(cli, class_noun.hint, monkeypatch)
    assert config.methods == ["dreambooth", "dreambooth-no-class", "dreambooth-wrong-class"]
    assert config.options == {method: {"steps": 3} for method in config.methods}
    assert config.identity() == json.loads((options_run / "run.json").read_text())["identity"]

    # what the walkthrough saw: the table in every output, its arms' labels shown
    out = tmp_path / "report"
    html = write_report([options_run], out).index.read_text()
    table = html[
        html.index('id="ablation-table-prior"') : html.index("</table>", html.index('id="ablation-table-prior"'))
    ]
    assert "<code>dreambooth[steps=3]</code>" in table and "<code>dreambooth-no-prior[steps=3]</code>" in table
    assert "Every arm ran with the options <code>[steps=3]</code>" in html
    csv_rows = pd.read_csv(out / "ablations.csv")
    assert set(csv_rows["method"]) == {"dreambooth[steps=3]", "dreambooth-no-prior[steps=3]"}
    assert set(csv_rows["options"]) == {"[steps=3]"}
    assert r"\texttt{dreambooth-no-prior[steps=3]}" in (out / "ablations.tex").read_text()
    assert (
        # †: 2 of 25 prompts
        "| Without prior preservation loss † | dreambooth-no-prior[steps=3] | PRES ↓ |"
        in (out / "leaderboard.md").read_text()
    )


def test_ablation_arms_never_mix_option_settings(runs, options_run, tmp_path):
    # both settings complete: the defaults win the tie; the suffix most arms share wins otherwise
    both = load_runs([runs.main, options_run])
    prior = build_ablation(both, _ablation("prior"))
    assert [arm.method for arm in prior.arms] == ["dreambooth", "dreambooth-no-prior"]
    assert prior.options == ""
    class_noun = build_ablation(both, _ablation("class-noun"))
    assert class_noun.options == "[steps=3]" and class_noun.missing == ["dreambooth-wrong-class"]

    # each arm present, but only with different options: no table, and the report says why
    defaults = shutil.copytree(
        runs.main, tmp_path / "defaults", ignore=shutil.ignore_patterns("fake*", "dreambooth-no-prior")
    )
    no_prior = shutil.copytree(
        options_run, tmp_path / "no-prior", ignore=shutil.ignore_patterns("dreambooth[[]*", "dreambooth-no-class*")
    )
    assert sorted(p.name for p in no_prior.iterdir() if p.is_dir()) == ["dreambooth-no-prior[steps=3]"]
    data = load_runs([defaults, no_prior])
    result = build_ablation(data, _ablation("prior"))
    assert not result.available and not result.arms and result.missing == []
    assert result.mixed == ["dreambooth", "dreambooth-no-prior[steps=3]"]
    # the defaults win the 1-1 tie: the hint adds the default arm
    assert "--set" not in result.hint
    out = tmp_path / "report"
    html = unescape(write_report(data, out).index.read_text())
    assert 'id="ablation-table-prior"' not in html
    assert "Not built: its arms ran with different options (<code>dreambooth</code>, " in html
    assert (
        "Not built: its arms ran with different options (dreambooth, dreambooth-no-prior[steps=3])"
        in (out / "leaderboard.md").read_text()
    )
    # no table, so no rows
    assert (out / "ablations.csv").read_text().strip() == ""


def test_the_default_baseline_is_dreambooth_when_there_is_no_base(runs, options_run, tmp_path):
    data = load_runs([options_run])
    # what the old default took: it sorts first
    assert next(iter(data.methods)) == "dreambooth-no-class[steps=3]"
    board = build_leaderboard(data)
    assert board.baseline == "dreambooth[steps=3]" and board.rows[0].key == "dreambooth[steps=3]"
    assert set(board.comparisons["method_a"]) == {"dreambooth[steps=3]"}
    assert build_leaderboard(load_runs([runs.main, options_run])).baseline == "base"
    # neither base nor DreamBooth: the first method still gets the others compared with it
    ablations_only = shutil.copytree(
        options_run, tmp_path / "ablations", ignore=shutil.ignore_patterns("dreambooth[[]*")
    )
    assert build_leaderboard(load_runs([ablations_only])).baseline == "dreambooth-no-class[steps=3]"


# --------------------------------------------------------------- every export carries the warnings
STATUS_CSVS = ("ablations.csv", "per_subject.csv", "per_category.csv", "comparisons.csv")


def test_every_export_says_when_its_numbers_are_random_weights_or_incomplete(runs, tmp_path):
    # the shared report: tiny (random weights), 2 of 25 prompts
    tex = (runs.report / "ablations.tex").read_text()
    smoke = "% SMOKE RUN: runs 'main' and 'other' have only the first 2"
    assert tex.startswith(f"% {not_meaningful_banner('tiny')}\n{smoke}")
    prior = tex[tex.index(r"\begin{table}") :]
    assert r"With prior preservation loss$^\dagger$ (ours)" in prior
    assert r"Without prior preservation loss$^\dagger$ (ours)" in prior
    assert r"\textbf{NOT MEANINGFUL: random-weight models.}" in prior and r"$^\dagger$incomplete" in prior
    for name in STATUS_CSVS:
        frame = pd.read_csv(runs.report / name)
        assert not frame.empty and not frame["complete"].any() and not frame["meaningful"].any(), name

    # the same methods on every prompt, their numbers marked meaningful: the exports stop saying otherwise
    run = Path(shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("fake*")))
    for method in ("base", "dreambooth", "dreambooth-no-prior"):
        _extend_to_every_prompt(run, method, protocol_images=True)
        _edit_json(run / method / "scores.json", meaningful=True)
    _edit_json(run / "run.json", meaningful=True)
    out = tmp_path / "report"
    write_report([run], out)
    tex = (out / "ablations.tex").read_text()
    assert "NOT MEANINGFUL" not in tex and r"\dagger" not in tex
    assert r"With prior preservation loss (ours)" in tex
    for name in STATUS_CSVS:
        frame = pd.read_csv(out / name)
        assert not frame.empty and frame["complete"].all() and frame["meaningful"].all(), name

    # one method cut back to its first prompts: its rows, and the comparisons and ablation arms it is in, say so
    for name in ("generations.jsonl", "scores.jsonl"):
        path = run / "dreambooth-no-prior" / name
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines if line["prompt_index"] in (0, 1, "class")))
    pair_scores_with_lines(run / "dreambooth-no-prior")
    out = tmp_path / "report-2"
    write_report([run], out)
    per_subject = pd.read_csv(out / "per_subject.csv")
    assert dict(per_subject.groupby("method")["complete"].all()) == {
        "base": True,
        "dreambooth": True,
        "dreambooth-no-prior": False,
    }
    comparisons = pd.read_csv(out / "comparisons.csv").set_index("method_b")
    assert (
        comparisons.loc["dreambooth", "complete"].all() and not comparisons.loc["dreambooth-no-prior", "complete"].any()
    )
    tex = (out / "ablations.tex").read_text()
    assert r"Without prior preservation loss$^\dagger$ (ours)" in tex and r"With prior preservation loss (ours)" in tex
    assert "NOT MEANINGFUL" not in tex


def test_the_real_image_oracle_arm_is_tagged_as_the_oracle_never_as_incomplete(runs, tmp_path, monkeypatch):
    ablation = _ablation("methods")
    without_ti = dataclasses.replace(ablation, arms=(ablation.arms[0], ablation.arms[2]))
    monkeypatch.setattr(reports.ablations, "ABLATIONS", (without_ti,))
    html = write_report([runs.main], tmp_path / "report").index.read_text()
    table = html[
        html.index('id="ablation-table-methods"') : html.index("</table>", html.index('id="ablation-table-methods"'))
    ]
    dreambooth, real = re.findall(r'<tr class="ours"><td rowspan="\d+">(.*?)</td>', table)
    # 2 of 25 prompts
    assert "<code>dreambooth</code>" in dreambooth and "incomplete" in dreambooth
    assert "real-image oracle" in real and "incomplete" not in real and "real-images" not in real


# --------------------------------------------------------------- a run given twice
def test_a_run_given_twice_is_refused_in_one_line(runs, tmp_path, cli):
    with pytest.raises(BenchError, match=r"run directory .*other is given twice: name each run once"):
        write_report([runs.other, runs.other], tmp_path / "report")
    alias = tmp_path / "alias"
    alias.symlink_to(runs.other)
    with pytest.raises(
        BenchError, match=rf"{re.escape(str(alias))} is the same directory as {re.escape(str(runs.other))}"
    ):
        write_report([runs.other, runs.main, alias], tmp_path / "report")
    result = cli("report", runs.other, f"{runs.other}/", "-o", tmp_path / "report")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1 and "name each run once" in result.stderr
    # refused before anything was written
    assert not (tmp_path / "report").exists()
    # a run against itself still compares
    assert "+0.000 | [0.000, 0.000]" in compare_runs(runs.main, runs.main)


# --------------------------------------------------------------- a metric dropped by a re-score
def test_a_method_missing_a_metric_is_incomplete_with_the_command_that_fills_it_in(
    runs, tmp_path, dreambench_dir, cli, monkeypatch
):
    run = Path(shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("dreambooth*", "fake*")))
    messages = []
    score_run(
        run, dreambench_dir, profile=get_profile("tiny"), metrics=["dino"], keep_identifier=True, log=messages.append
    )
    # the merge the walkthrough ran
    assert any("dropped the earlier CLIP-T scores" in m for m in messages)

    base = load_runs([run]).methods["base"]
    assert base.missing_metrics == ["clip-t"] and not base.complete
    status = base.status
    assert "CLIP-T not scored; run: " in status
    command = shlex.split(status.split("; run: ")[-1].removesuffix(")"))
    assert command == ["bench", "score", str(run), "--method", "base", "--metrics", "clip-t", "--keep-identifier"]

    # on every prompt it would be complete but for CLIP-T
    full = Path(shutil.copytree(run, tmp_path / "full", ignore=shutil.ignore_patterns("images")))
    _extend_to_every_prompt(full, "base", protocol_images=True)
    base = load_runs([full]).methods["base"]
    assert base.status == (
        f"INCOMPLETE (2/2 subjects; CLIP-T not scored; run: bench score {full} --method base --metrics clip-t "
        "--keep-identifier)"
    )
    assert not build_leaderboard(load_runs([full])).rows[0].complete

    # the printed command fills it in and keeps the rest
    monkeypatch.setenv("DREAMBENCH_DIR", str(dreambench_dir))
    result = cli(*command[1:], "--quiet")
    assert result.exit_code == 0, result.output
    base = load_runs([run]).methods["base"]
    assert base.missing_metrics == [] and not base.partial_metrics
    assert scores(run, "base")["clip_t_text"] == "the prompt exactly as generated (identifier included)"
    # what a 2-prompt run lacks, and only that
    assert base.status == "INCOMPLETE (2/2 subjects, 2/25 prompts, 2/4 images per prompt)"


# --------------------------------------------------------------- another tool's images
def _as_another_tools_folder(run: Path, method: str, folder: Path) -> Path:
    """A method's images copied into the layout `bench score --folder` reads, as outside code would write them."""
    for line in (run / method / "generations.jsonl").read_text().splitlines():
        record = json.loads(line)
        stem = "class" if record["prompt_index"] == "class" else str(record["prompt_index"])
        target = folder / record["subject"] / f"{stem}_{record['image_index']}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / record["file"], target)
    return folder


def test_another_tools_scored_folder_joins_the_report_and_compare(runs, tmp_path, cli, monkeypatch):
    """A researcher's own images sit in the leaderboard and pair cell by cell with the harness's methods."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(runs.root / "cache"))
    folder = _as_another_tools_folder(runs.main, "dreambooth", tmp_path / "theirs")
    scored = cli(
        "score", folder, "--folder", "--name", "theirs", "--profile", "tiny", "--quiet", "--dataset-dir", SHARED_DATASET
    )
    assert scored.exit_code == 0, scored.output

    # The same bytes as dreambooth's images, paired by (subject, prompt, image index): every difference is 0.
    compared = cli("compare", runs.main, folder, "--a", "dreambooth", "--b", "theirs")
    assert compared.exit_code == 0, compared.output
    rows = [line for line in compared.stdout.splitlines() if "| dreambooth | theirs |" in line]
    assert len(rows) == 5 and all("| +0.000 | [0.000, 0.000] | 1 |" in row for row in rows)
    assert "theirs: another tool's images" in compared.stdout and "different seeds" not in compared.stdout
    unnamed = cli("compare", runs.main, folder)
    assert unnamed.exit_code == 2 and "name the two to compare with --a METHOD --b METHOD" in unnamed.stderr

    # the image folder, its _scores or the one method in it: each is the same scored folder
    for given in (folder, folder / "_scores", folder / "_scores" / "theirs"):
        data = load_runs([runs.main, given])
        assert data.runs[1].name == "theirs" and data.runs[1].external and data.methods["theirs"].external
    report = cli("report", runs.main, folder, "-o", tmp_path / "report", "--baseline", "base")
    assert report.exit_code == 0, report.output
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    row = re.search(r'<tr data-method="theirs" class="[^"]*">(.*?)</tr>', html, re.S).group(1)
    assert ">external</span>" in row and "not measured (external)" in row
    assert "holds another tool&#39;s images (bench score --folder)" in html
    board = build_leaderboard(load_runs([runs.main, folder]), "base")
    dreambooth = board.comparisons.loc[board.comparisons["method_b"] == "dreambooth"].set_index("metric")
    theirs = board.comparisons.loc[board.comparisons["method_b"] == "theirs"].set_index("metric")
    assert (theirs["diff"] == dreambooth["diff"]).all() and (theirs["seed_mismatches"] == 0).all()
    assert "| theirs | " in report.stdout and "not measured (external)" in report.stdout
    # a pasted table still tells another tool's row from the harness's
    with open(tmp_path / "report" / "leaderboard.csv", newline="") as handle:
        external = {line["method"]: line["external"] for line in csv.DictReader(handle) if line["row"] == "method"}
    assert external["theirs"] == "True" and external["base"] == "False"
    tex = (tmp_path / "report" / "leaderboard.tex").read_text()
    (line,) = [line for line in tex.splitlines() if line.startswith("theirs")]
    assert line.split(" & ")[0].endswith("$^\\ddagger$") and "$^\\ddagger$another tool's images" in tex
    # short of 4 images per prompt, it is incomplete, not a SMOKE RUN with a `bench run` flag to fix it
    assert "SMOKE RUN: run 'theirs'" not in tex and "INCOMPLETE" in load_runs([folder]).methods["theirs"].status
    # named like a built-in and loaded first, another tool's images still never fill an ablation arm
    posing = tmp_path / "posing"
    cli(
        "score",
        folder,
        "--folder",
        "--name",
        "dreambooth",
        "--output-dir",
        posing,
        "--profile",
        "tiny",
        "--quiet",
        "--dataset-dir",
        SHARED_DATASET,
    )
    mixed = load_runs([posing, runs.main])
    prior = build_ablation(mixed, _ablation("prior"))
    assert prior.available and all(not mixed.methods[arm.method].external for arm in prior.arms)
    (folder / "_scores" / "theirs" / "scores.json").unlink()
    status = load_runs([folder]).methods["theirs"].status
    assert f"run: bench score {folder} --folder --name theirs --output-dir {folder / '_scores'})" in status


def test_a_folder_that_is_neither_a_run_nor_scored_is_one_line_saying_what_to_do(tmp_path):
    (tmp_path / "images" / "dog").mkdir(parents=True)
    with pytest.raises(BenchError, match="nor a folder scored by `bench score --folder`"):
        load_runs([tmp_path / "images"])


def test_an_ablation_takes_its_arms_from_one_run_where_one_run_holds_them_all(runs, tmp_path):
    """The first run's reference beside another run's arm pairs different noise: the run with every arm wins."""
    partial = Path(shutil.copytree(runs.main, tmp_path / "a", ignore=shutil.ignore_patterns("dreambooth-no-prior")))
    whole = Path(shutil.copytree(runs.main, tmp_path / "b"))
    data = load_runs([partial, whole])
    prior = build_ablation(data, _ablation("prior"))
    assert prior.available
    assert [data.methods[arm.method].run.name for arm in prior.arms if arm.method != "oracle"] == ["b", "b"]
    frame = ablation_frame(prior)
    assert "delta_seed_mismatches" in frame and (frame["delta_seed_mismatches"] == 0).all()


def test_a_small_nonzero_difference_never_prints_as_zero():
    """'-0.000 [-0.000, -0.000] p=0.25' hides an interval that excludes zero; float noise stays a plain zero."""
    from reports.formatting import fmt_ci, fmt_signed

    assert fmt_signed(-2.1e-5) == "-2.1e-05" and fmt_ci(-3e-5, -1e-5) == "[-3.0e-05, -1.0e-05]"
    assert fmt_signed(0.0) == "+0.000" and fmt_signed(1e-15) == "+0.000" and fmt_signed(0.0123) == "+0.012"
    assert fmt_ci(0.1, 0.2) == "[0.100, 0.200]"


def test_bold_marks_a_row_best_as_printed_and_never_one_of_a_tie():
    from types import SimpleNamespace

    from reports.html import _best

    def row(key, mean):
        return SimpleNamespace(key=key, complete=True, cells={"dino": SimpleNamespace(mean=mean)})

    board = SimpleNamespace(metrics=["dino"], rows=[row("base", 0.74412), row("dreambooth", 0.74449)])
    # both print 0.744
    assert _best(board) == {}
    board.rows.append(row("lora", 0.801))
    assert _best(board) == {"dino": "lora"}


def test_a_method_whose_every_cell_failed_is_told_to_re_run_not_to_score(tmp_path, dreambench_dir):
    from tests.conftest import FAKE_METHOD, tiny_run

    run = tmp_path / "run"
    tiny_run(
        run,
        dreambench_dir,
        methods=["base", "fake"],
        include=[str(FAKE_METHOD)],
        subjects=["dog"],
        limit_prompts=1,
        score=True,
        assignments=["options.fake.fail_on=dog", "metrics=[dino]"],
    )
    failed = load_runs([run]).methods["fake[fail_on=dog]"]
    assert failed.scores is None and not failed.records
    # nothing to score: scoring is not the fix
    assert "bench score" not in failed.status
    assert "failed: dog (re-run the same `bench run` to retry)" in failed.status

    # Which code made a plug-in's rows, for a reader of the report (a built-in has its version and the git revision).
    html = write_report([run], tmp_path / "report", baseline="base").index.read_text()
    fingerprint = json.loads((run / "fake[fail_on=dog]" / "method.json").read_text())["info"]["plugin_code"]
    assert f"(the run loaded <code>--include {FAKE_METHOD}</code>); code fingerprint <code>{fingerprint}</code>" in html
    # base is no plug-in
    assert html.count("code fingerprint") == 1
