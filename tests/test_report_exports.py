"""The Markdown, LaTeX and HTML exports read correctly once pasted into a paper.

Number cells print a mean and its CI in one notation; a value that was not measured is one
n.a.; LaTeX text compiles to what it says under the default OT1 encoding. The run-based tests
read the shared tiny runs of tests/browser/runs.py (`main`: base, dreambooth, dreambooth-no-prior
and a `fake` plug-in failing on dog, on backpack and dog, 2 prompts x 2 images) and copies of them.
"""

from __future__ import annotations

import dataclasses
import re
from html import unescape

import pytest

import reports.ablations
from reports.ablations import ABLATIONS, build_ablation
from reports.exports import ablation_markdown
from reports.formatting import NA, fmt_ci, fmt_estimate, fmt_signed
from reports.html import write_report
from reports.loading import load_runs
from tests.browser.runs import report_runs


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
        (3.9e-06, -0.0012, 3.9e-04, "+3.9e-06 [-1.2e-03, 3.9e-04]"),  # was "+3.9e-06 [-0.001, 3.9e-04]"
        (-0.001, -0.0012, 4.5e-04, "-1.0e-03 [-1.2e-03, 4.5e-04]"),  # was "-0.001 [-0.001, 4.5e-04]"
        (-2.1e-05, -3e-05, -1e-05, "-2.1e-05 [-3.0e-05, -1.0e-05]"),
        (0.2, 0.0001, 0.4, "+0.200 [0.000, 0.400]"),  # a number >= 0.01 keeps its cell in three decimals
        (0.005, 0.001, 0.009, "+0.005 [0.001, 0.009]"),  # nothing prints as zero: three decimals
        (0.0123, -0.006, 0.097, "+0.012 [-0.006, 0.097]"),
        (1e-15, -1e-4, 1e-4, "+0.0e+00 [-1.0e-04, 1.0e-04]"),  # float noise is the zero it is
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
    assert cells[3:6] == [NA, NA, NA]  # ours, published, delta: one n.a. each


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
