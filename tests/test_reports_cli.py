"""`bench report` and `bench compare` on the shared tiny runs (skipped until the commands are in benchmark/cli.py)."""

from __future__ import annotations

import pytest

from benchmark.cli import main as bench_main
from reports.banner import not_meaningful_banner
from tests.browser.runs import FAILING, OTHER, report_runs

pytestmark = pytest.mark.skipif(
    not {"report", "compare"} <= set(bench_main.commands),
    reason="`bench report` / `bench compare` are not wired into benchmark/cli.py yet",
)


def test_bench_report_writes_the_html_and_prints_the_markdown_leaderboard(cli, tmp_path):
    runs = report_runs()
    result = cli("report", runs.main, runs.other, "-o", tmp_path / "report", "--baseline", "base")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "index.html").is_file()
    assert not_meaningful_banner("tiny") in result.output
    assert "| method | DINO ↑ |" in result.output and OTHER in result.output and "INCOMPLETE" in result.output
    assert FAILING in result.output


def test_bench_report_names_an_unknown_baseline_in_one_line(cli, tmp_path):
    runs = report_runs()
    result = cli("report", runs.other, "-o", tmp_path / "report", "--baseline", "nope")
    assert result.exit_code == 2 and "method 'nope' is not in the report" in result.output


def test_bench_compare_prints_paired_differences(cli):
    runs = report_runs()
    result = cli("compare", runs.main, runs.main)
    assert result.exit_code == 0, result.output
    assert "| DINO ↑ | base (run 1: main) | base (run 2: main) |" in result.output
    refused = cli("compare", runs.main, runs.other)
    assert refused.exit_code == 2 and "nothing to pair" in refused.output
