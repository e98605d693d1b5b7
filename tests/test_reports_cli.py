"""`bench report` and `bench compare` on the shared tiny runs."""

from __future__ import annotations

import shutil
import sys

import reports.leaderboard
from reports.banner import not_meaningful_banner
from tests.browser.runs import FAILING, OTHER, report_runs


def test_bench_report_writes_the_html_and_prints_the_markdown_leaderboard(cli, tmp_path):
    runs = report_runs()
    result = cli("report", runs.main, runs.other, "-o", tmp_path / "report", "--baseline", "base")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "index.html").is_file()
    assert not_meaningful_banner("tiny") in result.output
    assert "| method | DINO ↑ |" in result.output and OTHER in result.output and "INCOMPLETE" in result.output
    assert FAILING in result.output


def test_bench_report_builds_the_leaderboard_once_and_prints_leaderboard_md(cli, tmp_path, monkeypatch):
    runs = report_runs()
    original, calls = reports.leaderboard.build_leaderboard, []

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    # every module that imported it by name, however it is reached
    for module in list(sys.modules.values()):
        if getattr(module, "build_leaderboard", None) is original:
            monkeypatch.setattr(module, "build_leaderboard", counted)
    result = cli("report", runs.main, runs.other, "-o", tmp_path / "report", "--baseline", "base")
    assert result.exit_code == 0, result.output
    # its bootstrap comparisons are the slow part of a report
    assert len(calls) == 1
    board_section = (tmp_path / "report" / "leaderboard.md").read_text(encoding="utf-8").split("\n## Ablations\n")[0]
    printed, _, last = result.stdout.rpartition("\nreport: ")
    assert printed == board_section and last.startswith(str(tmp_path / "report" / "index.html"))


def test_bench_score_and_bench_compare_print_one_comparison_table(cli, tmp_path):
    runs = report_runs()
    scored = shutil.copytree(runs.main, tmp_path / "main", ignore=shutil.ignore_patterns("fake*"))
    only_base = shutil.copytree(runs.main, tmp_path / "a", ignore=shutil.ignore_patterns("dreambooth*", "fake*"))
    only_dreambooth = shutil.copytree(runs.main, tmp_path / "b", ignore=shutil.ignore_patterns("base", "fake*"))
    shutil.rmtree(only_dreambooth / "dreambooth-no-prior")
    score = cli("score", scored, "--method", "base,dreambooth", "--metrics", "dino,clip-t", "--quiet")
    # one method each: base against dreambooth
    compare = cli("compare", only_base, only_dreambooth)
    assert score.exit_code == 0 and compare.exit_code == 0, score.output + compare.output

    def table(text: str) -> list[str]:
        start = text.index("| metric | A | B |")
        return [line for line in text[start:].splitlines() if line.startswith("|")]

    score_table, compare_table = table(score.stdout), table(compare.stdout)
    # header and rule
    assert score_table[:2] == compare_table[:2]
    dino = [line for line in score_table if line.startswith("| DINO ↑ | base | dreambooth |")]
    # the same pairs, numbers and spelling
    assert len(dino) == 1 and dino[0] in compare_table


def test_bench_report_names_an_unknown_baseline_in_one_line(cli, tmp_path):
    runs = report_runs()
    result = cli("report", runs.other, "-o", tmp_path / "report", "--baseline", "nope")
    assert result.exit_code == 2 and "method 'nope' is not in the report" in result.output


def test_bench_compare_prints_paired_differences(cli):
    runs = report_runs()
    result = cli("compare", runs.main, runs.main)
    assert result.exit_code == 0, result.output
    # one run, loaded once: its own labels
    assert "| DINO ↑ | base | base |" in result.output
    refused = cli("compare", runs.main, runs.other)
    assert refused.exit_code == 2 and "nothing to pair" in refused.output


def test_bench_report_into_an_existing_file_is_a_one_line_error(cli, tmp_path):
    runs = report_runs()
    (tmp_path / "taken").write_text("mine")
    for target in (tmp_path / "taken", tmp_path / "taken" / "report"):
        # a traceback would raise here (catch_exceptions=False)
        result = cli("report", runs.other, "-o", target)
        assert result.exit_code == 2 and result.stderr.startswith("bench: error: ") and "Traceback" not in result.output
        assert len(result.stderr.splitlines()) == 1 and str(target) in result.stderr
    assert (tmp_path / "taken").read_text() == "mine"
