"""The Markdown, LaTeX and HTML exports read correctly once pasted into a paper.

Number cells print a mean and its CI in one notation; a value that was not measured is one
n.a.; LaTeX text compiles to what it says under the default OT1 encoding and each .tex file names
its packages; captions say what the comments say (SMOKE RUN, each row's subjects); an ablation
whose arms cover different subjects says so, and a † says what its row lacks. The run-based tests
read the shared tiny runs of tests/browser/runs.py (`main`: base, dreambooth, dreambooth-no-prior
and a `fake` plug-in failing on dog, on backpack and dog, 2 prompts x 2 images) and copies of them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

import reports.ablations
from reports.ablations import ABLATIONS, build_ablation
from reports.exports import ablation_markdown
from reports.formatting import NA, fmt_ci, fmt_estimate, fmt_signed
from reports.html import write_report
from reports.loading import load_runs
from tests.browser.runs import report_runs
from tests.test_reports import _extend_to_every_prompt, pair_scores_with_lines


@pytest.fixture(scope="module")
def runs():
    return report_runs()


def _ablation(ablation_id: str):
    return next(a for a in ABLATIONS if a.id == ablation_id)


# ------------------------------------------------------------------ one notation per cell
NUMBER = re.compile(r"[+-]?\d+\.\d+(?:e[+-]\d+)?")


def _notations(text: str) -> set[str]:
    """'e' and/or 'f' for the numbers in a printed cell, and their digits after the point."""
    return {("e" if "e" in n else "f", len(n.split(".")[1].split("e")[0])) for n in NUMBER.findall(text)}


@pytest.mark.parametrize(
    ("mean", "low", "high", "expected"),
    [
        # was "+3.9e-06 [-0.001, 3.9e-04]"
        (3.9e-06, -0.0012, 3.9e-04, "+3.9e-06 [-1.2e-03, 3.9e-04]"),
        # was "-0.001 [-0.001, 4.5e-04]"
        (-0.001, -0.0012, 4.5e-04, "-1.0e-03 [-1.2e-03, 4.5e-04]"),
        (-2.1e-05, -3e-05, -1e-05, "-2.1e-05 [-3.0e-05, -1.0e-05]"),
        # fixed (0.2 >= 0.01), with the decimals 1e-4 needs
        (0.2, 0.0001, 0.4, "+0.2000 [0.0001, 0.4000]"),
        # not "[-0.000, 0.075]": does the CI hold 0?
        (0.037, -0.0004, 0.075, "+0.0370 [-0.0004, 0.0750]"),
        # nothing prints as zero: three decimals
        (0.005, 0.001, 0.009, "+0.005 [0.001, 0.009]"),
        (0.0123, -0.006, 0.097, "+0.012 [-0.006, 0.097]"),
        # float noise is the zero it is
        (1e-15, -1e-4, 1e-4, "+0.0e+00 [-1.0e-04, 1.0e-04]"),
        (0.0, 0.0, 0.0, "+0.000 [0.000, 0.000]"),
    ],
)
def test_a_cell_prints_its_mean_and_ci_in_one_notation(mean, low, high, expected):
    text = fmt_estimate(mean, low, high, signed=True)
    assert text == expected
    assert len(_notations(text)) == 1
    # the pieces a template prints one by one agree with the whole when told the cell's numbers
    cell = (mean, low, high)
    assert f"{fmt_signed(mean, cell=cell)} {fmt_ci(low, high, cell=cell)}" == expected


def test_a_missing_mean_is_one_na_and_a_missing_ci_is_said_once():
    assert fmt_estimate(None, None, None) == NA and fmt_estimate(float("nan"), 0.1, 0.2, signed=True) == NA
    assert fmt_estimate(0.5, float("nan"), float("nan")) == "0.500"
    assert fmt_estimate(0.5, None, None, n_subjects=1) == "0.500 (n=1, no CI)"


def test_the_oracle_arm_prints_one_na_for_the_clip_t_it_cannot_have(runs):
    methods = _ablation("methods")
    without_ti = dataclasses.replace(methods, arms=(methods.arms[0], methods.arms[2]))
    text = ablation_markdown(build_ablation(load_runs([runs.main]), without_ti))
    assert "n.a. n.a." not in text
    (clip_t,) = [line for line in text.splitlines() if line.startswith("| Real images |") and "CLIP-T" in line]
    cells = [cell.strip() for cell in clip_t.strip("|").split("|")]
    # ours, published, delta: one n.a. each
    assert cells[3:6] == [NA, NA, NA]


def _tiny_deltas(monkeypatch) -> None:
    """Every ablation Δ becomes +3.9e-06 [-0.0012, 0.00039], a cell that once printed in two notations."""
    real = reports.ablations.compare_methods

    def compare(reference, method, metrics, **bootstrap):
        frame = real(reference, method, metrics, **bootstrap)
        return frame.assign(diff=3.9e-06, ci_low=-0.0012, ci_high=3.9e-04)

    monkeypatch.setattr(reports.ablations, "compare_methods", compare)


def test_every_format_prints_a_small_delta_in_one_notation(runs, tmp_path, monkeypatch):
    _tiny_deltas(monkeypatch)
    out = tmp_path / "report"
    write_report([runs.main], out)
    expected = "+3.9e-06 [-1.2e-03, 3.9e-04]"
    markdown = (out / "leaderboard.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| Without prior preservation loss")]
    assert rows and all(f"| {expected} |" in row for row in rows)
    tex = (out / "ablations.tex").read_text()
    (delta,) = [line for line in tex.splitlines() if line.startswith(r"\quad $\Delta$ ours")]
    assert delta.count(r"+3.9e-06 {\scriptsize [-1.2e-03, 3.9e-04]}") == len(_ablation("prior").metrics)
    html = (out / "index.html").read_text()
    table = html[html.index('id="ablation-table-prior"') :]
    row = re.search(r'<tr class="delta">(.*?)</tr>', table, re.S).group(1)
    cells = [" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert [cell.split(" p=")[0] for cell in cells[1:]] == [expected] * len(_ablation("prior").metrics)


# ------------------------------------------------------------------ LaTeX text
def _latex_text(tex: str) -> str:
    """What a .tex file prints as text: comment lines, math ($...$) and \\texttt{-{}-...} flags left out."""
    body = "\n".join(line for line in tex.splitlines() if not line.lstrip().startswith("%"))
    return re.sub(r"\$[^$]*\$", "", body.replace("-{}-", "").replace(r"\$", ""))


def _ot1_surprises(tex: str) -> list[str]:
    """Text that OT1 prints as something else: < > | (¡ ¿ —), -- (an en-dash), straight double quotes, and any
    character outside ASCII (pdflatex stops at one it cannot map)."""
    text = _latex_text(tex)
    return re.findall(r"[<>|\"]|--|[^\x00-\x7f]", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p < 0.05, p > 0.5", "p $<$ 0.05, p $>$ 0.5"),
        ("(bench score --folder)", r"(bench score \texttt{-{}-folder})"),
        ("bench run --limit-prompts 2", r"bench run \texttt{-{}-limit-prompts} 2"),
        ("re-run the same `bench run --seed 1`", r"re-run the same \texttt{bench run -{}-seed 1}"),
        ("run 'main' has", "run `main' has"),
        ('backbone "dino-vits16"', "backbone ``dino-vits16''"),
        ("DreamBench's 30 subjects", "DreamBench's 30 subjects"),
        ("a--b", "a-{}-b"),
        ("DINO ↑ Δ", r"DINO $\uparrow$ $\Delta$"),
        ("50% of a_b & c", r"50\% of a\_b \& c"),
    ],
)
def test_tex_prints_what_the_text_says_under_ot1(text, expected):
    from reports.exports import tex

    assert tex(text) == expected
    assert not _ot1_surprises(tex(text))


def test_no_latex_export_holds_text_that_ot1_prints_as_something_else(runs):
    from reports.exports import EXTERNAL_CAPTION, NOT_MEANINGFUL_CAPTION

    for name in ("leaderboard.tex", "ablations.tex"):
        tex = (runs.report / name).read_text()
        assert r"\caption{" in tex and not _ot1_surprises(tex), name
    # the significance note under the table
    assert "$<$ 0.05" in (runs.report / "leaderboard.tex").read_text()
    for caption in (EXTERNAL_CAPTION, NOT_MEANINGFUL_CAPTION):
        assert not _ot1_surprises(caption), caption
    assert r"\texttt{bench score -{}-folder}" in EXTERNAL_CAPTION


def _named_packages(tex: str) -> set[str]:
    return set(re.findall(r"^%\s+\\usepackage\{(\w+)\}", tex, re.M))


def test_each_latex_file_names_the_packages_its_tables_use_and_only_those(runs, tmp_path):
    leaderboard = (runs.report / "leaderboard.tex").read_text()
    ablations = (runs.report / "ablations.tex").read_text()
    # booktabs' rules everywhere; amssymb's triangles only where a significance mark or its legend is printed
    assert _named_packages(leaderboard) == {"booktabs", "amssymb"} and r"\blacktriangle" in leaderboard
    assert _named_packages(ablations) == {"booktabs"} and r"\blacktriangle" not in ablations
    # the package lines come after the warnings, which still lead the file
    assert leaderboard.startswith("% NOT MEANINGFUL") and leaderboard.index("NOT MEANINGFUL") < leaderboard.index(
        r"\usepackage"
    )
    # one method, no baseline to mark against: no triangle, no amssymb
    out = tmp_path / "single"
    write_report([runs.other], out)
    single = (out / "leaderboard.tex").read_text()
    assert r"\blacktriangle" not in single and _named_packages(single) == {"booktabs"}


# Debian's, as .ci/run installs them
TEX_PACKAGES = "texlive-latex-base texlive-latex-recommended poppler-utils"


def _require_tex() -> None:
    """pdflatex (with booktabs) and pdftotext: without them the test is skipped on a laptop but FAILS under CI
    (CI set), so CI can never pass by skipping it (as the browser test does with Chromium)."""
    missing = [tool for tool in ("pdflatex", "pdftotext") if not shutil.which(tool)]
    if missing:
        problem = f"{' and '.join(missing)} not installed (apt-get install -y {TEX_PACKAGES})"
        if os.environ.get("CI"):
            pytest.fail(f"the LaTeX test cannot run in CI: {problem}")
        pytest.skip(problem)


def test_the_latex_files_compile_with_the_packages_they_name_and_print_their_text(runs, tmp_path):
    """What the header names is enough for pdflatex, and no '<' comes out as '¡'."""
    _require_tex()
    for name in ("leaderboard.tex", "ablations.tex"):
        shutil.copy(runs.report / name, tmp_path / name)
    packages = _named_packages((tmp_path / "leaderboard.tex").read_text()) | _named_packages(
        (tmp_path / "ablations.tex").read_text()
    )
    preamble = "".join(rf"\usepackage{{{p}}}" for p in sorted(packages))
    (tmp_path / "doc.tex").write_text(
        rf"\documentclass{{article}}{preamble}\usepackage[landscape,margin=1cm]{{geometry}}"
        r"\begin{document}\input{leaderboard}\input{ablations}\end{document}"
    )
    subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    text = subprocess.run(
        ["pdftotext", "doc.pdf", "-"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout
    text = " ".join(text.split())
    assert "p < 0.05" in text and "¡" not in text and "¿" not in text


# ------------------------------------------------------------------ captions say what comments would
def _captions(tex: str) -> list[str]:
    return re.findall(r"^\\caption\{(.*)\}$", tex, re.M)


def test_a_smoke_run_is_said_in_every_latex_caption_of_its_numbers_not_only_in_comments(runs, tmp_path):
    cut = r"2 of the protocol's 4 images per prompt (\texttt{-{}-images-per-prompt} 2)"
    leaderboard, _published = _captions((runs.report / "leaderboard.tex").read_text())
    (prior,) = _captions((runs.report / "ablations.tex").read_text())
    for caption in (leaderboard, prior):
        assert r"\textbf{SMOKE RUN:}" in caption and cut in caption
        assert r"(bench run \texttt{-{}-limit-prompts} 2)" in caption
    # the report's runs
    assert "runs `main' and `other' have" in leaderboard
    # the runs its arms come from
    assert "run `main' has" in prior

    # the same methods on every prompt and 4 images each: no SMOKE RUN left in any caption
    run = Path(shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("fake*")))
    for method in ("base", "dreambooth", "dreambooth-no-prior"):
        _extend_to_every_prompt(run, method, protocol_images=True)
    write_report([run], tmp_path / "report")
    for name in ("leaderboard.tex", "ablations.tex"):
        assert "SMOKE RUN" not in (tmp_path / "report" / name).read_text(), name


def test_the_caption_says_how_many_subjects_each_row_averages(runs, tmp_path):
    # the failing plug-in averages backpack alone, every other row backpack and dog
    leaderboard = _captions((runs.report / "leaderboard.tex").read_text())[0]
    assert leaderboard.startswith(
        "Rows average 1 to 2 of DreamBench's 30 subjects (a subset; n per row: base 2, dreambooth 2, "
        r"dreambooth-no-prior 2, fake[fail\_on=dog,size=64] 1, fake[size=64] 2): mean over subjects"
    )
    # never "1/2 of DreamBench's 30 subjects"
    assert "/" not in leaderboard.split(":")[0]
    # every row on the same subjects: one number
    run = Path(shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("fake*")))
    write_report([run], tmp_path / "report")
    same = _captions((tmp_path / "report" / "leaderboard.tex").read_text())[0]
    assert same.startswith("Measured on 2 of DreamBench's 30 subjects (a subset): mean over subjects")


def test_the_significance_floor_names_each_rows_n_where_no_table_has_an_n_column(runs):
    markdown = (runs.report / "leaderboard.md").read_text()
    tex = (runs.report / "leaderboard.tex").read_text()
    # neither table has that column
    assert "see n subjects" not in markdown and "see n subjects" not in tex
    per_row = "n per row: dreambooth 2, dreambooth-no-prior 2, fake[fail_on=dog,size=64] 1, fake[size=64] 2"
    assert f"Comparisons with the baseline pair 1 to 2 subjects ({per_row})." in markdown
    assert "The smallest possible Wilcoxon p is 1 over 1 subject(s) and 0.5 over 2 subject(s)" in markdown
    assert per_row.replace("_", r"\_") in _captions(tex)[0]


# ------------------------------------------------------------------ ablation arms on different subjects
def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_lines(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _drop_subject(run: Path, method: str, subject: str) -> None:
    """The method as if it had never run `subject`: its images, records and scores of it gone (the others kept)."""
    for name in ("generations.jsonl", "scores.jsonl"):
        _write_lines(run / method / name, [line for line in _lines(run / method / name) if line["subject"] != subject])
    scores = json.loads((run / method / "scores.json").read_text())
    scores["per_subject"] = [row for row in scores["per_subject"] if row["subject"] != subject]
    for estimate in scores["summary"].values():
        estimate["n_subjects"] -= 1
    (run / method / "scores.json").write_text(json.dumps(scores))
    pair_scores_with_lines(run / method)


def _report(run: Path, out: Path) -> dict[str, str]:
    """Each format's text about the prior-preservation table: its Markdown section, LaTeX caption, and in HTML the
    notes under the table (`html`) and the table itself, whose INCOMPLETE tags say what an arm lacks (`html_table`)."""
    html = unescape(write_report([run], out).index.read_text())
    start = html.index('id="ablation-table-prior"')
    markdown = (out / "leaderboard.md").read_text()
    section = markdown[markdown.index("### Prior preservation") :]
    return {
        "markdown": section[: section.index("\n### ")],
        "latex": _captions((out / "ablations.tex").read_text())[0],
        "html": re.sub(r"<[^>]+>", "", html[html.index("</table>", start) : html.index("<h3", start)]),
        "html_table": re.sub(r"<[^>]+>", "", html[start : html.index("</table>", start)]),
    }


def _lacks(dagger: str) -> str:
    """The HTML tag's words for an arm's dagger note: 'Arm (what it lacks)' -> 'INCOMPLETE: what it lacks'."""
    return "INCOMPLETE: " + dagger[dagger.index("(") + 1 : -1]


def test_an_ablation_whose_arms_cover_different_subjects_says_so_in_every_format(runs, tmp_path):
    run = Path(shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("fake*")))
    _drop_subject(run, "dreambooth-no-prior", "dog")
    texts = _report(run, tmp_path / "report")
    coverage = (
        "The arms do not all cover the same subjects (With prior preservation loss: 2, Without prior preservation "
        "loss: 1): each arm's means average its own subjects, while each Δ pairs only the subjects the arm shares "
        "with With prior preservation loss (Without prior preservation loss: 1)."
    )
    dagger = "Without prior preservation loss (1/2 subjects, 2/25 prompts, 2/4 images per prompt; missing: dog)"
    assert coverage in texts["markdown"] and dagger in texts["markdown"]
    assert "| Without prior preservation loss † | dreambooth-no-prior | PRES ↓ |" in texts["markdown"]
    assert coverage.replace("Δ", r"$\Delta$") in texts["latex"] and dagger in texts["latex"]
    assert texts["latex"].startswith(
        "Prior preservation: with vs without the prior-preservation loss. Measured on a subset of DreamBench's 30 "
        "subjects. Ours:"
    )
    assert coverage in texts["html"] and _lacks(dagger) in texts["html_table"]

    # the arms on the same subjects: no coverage note, and the caption gives the one count
    same = _report(
        Path(shutil.copytree(runs.main, tmp_path / "same", ignore=shutil.ignore_patterns("fake*"))), tmp_path / "r2"
    )
    assert all("do not all cover the same subjects" not in text for text in same.values())
    assert "Measured on 2 of DreamBench's 30 subjects (a subset). Ours:" in same["latex"]


def test_the_dagger_says_what_an_arm_lacks_when_its_metrics_cover_different_subjects(runs, tmp_path):
    """A `--metrics dino` re-score that reached one subject only: DINO averages 1 subject, the rest 2."""
    run = Path(shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("fake*")))
    path = run / "dreambooth-no-prior" / "scores.json"
    scores = json.loads(path.read_text())
    scores["summary"]["dino"]["n_subjects"] = 1
    scores["partial_metrics"] = {"dino": {"scored": 4, "applicable": 8}}
    path.write_text(json.dumps(scores))
    texts = _report(run, tmp_path / "report")
    why = (
        "Without prior preservation loss (2/2 subjects, 2/25 prompts, 2/4 images per prompt; DINO on 4/8 images; "
        "its metrics average different numbers of subjects (DINO 1, CLIP-I 2, CLIP-T 2, PRES 2, DIV 2))"
    )
    assert why in texts["markdown"] and "† incomplete: " in texts["markdown"]
    assert why in texts["latex"] and r"$^\dagger$incomplete: " in texts["latex"]
    assert _lacks(why) in texts["html_table"]
    # the leaderboard's LaTeX dagger says it too, row by row
    leaderboard = _captions((tmp_path / "report" / "leaderboard.tex").read_text())[0]
    assert f"; dreambooth-no-prior {why.split(' loss ')[1]}" in leaderboard
    assert "base, dreambooth (2/2 subjects, 2/25 prompts, 2/4 images per prompt)" in leaderboard


def test_bench_score_and_compare_print_a_difference_and_its_ci_in_one_notation():
    from benchmark.metrics.report import comparisons_table

    row = {
        "metric": "dino",
        "method_a": "a",
        "method_b": "b",
        "mean_a": 0.743,
        "mean_b": 0.744,
        "mean_diff": 6.9e-4,
        "ci_low": 4.3e-5,
        "ci_high": 1.3e-3,
        "p_value": 0.5,
        "n_subjects": 2,
        "n_cells": 8,
    }
    line = next(line for line in comparisons_table([row]).splitlines() if line.startswith("| DINO"))
    # not "+0.001 | [4.3e-05, 0.001]"
    assert "| +6.9e-04 | [4.3e-05, 1.3e-03] |" in line
