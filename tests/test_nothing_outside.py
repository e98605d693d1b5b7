"""Nothing outside the run directory and the cache is ever written or deleted (issue #20).

A report folder is replaced only where bench can prove it wrote every file it removes; a link
inside a run directory that leads out of it stops the run before anything is touched; an output
folder on a kernel pseudo file system is refused before any work, dry runs included.
"""

from __future__ import annotations

import pytest

from benchmark.dry_run import plan_run
from benchmark.errors import BenchError
from reports.html import write_report
from tests.conftest import FAKE_METHOD, tiny_config, tiny_run

# A plug-in's option value is part of its method's label, which the reports print.
HTML = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory, dreambench_dir):
    """One subject, one prompt, two images, scored: enough for a report. Beside `base`, the fake plug-in with
    HTML in its label (images of 64 px: DIV needs 31 or more)."""
    run_dir = tmp_path_factory.mktemp("scored") / "run"
    settings = [f"options.fake.fail_on={HTML}", "options.fake.size=64"]
    methods = {"methods": ["base", "fake"], "include": [str(FAKE_METHOD)], "assignments": settings}
    tiny_run(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1, score=True, **methods)
    return run_dir


# --------------------------------------------------------------------------- report folders
def _own_site(folder):
    """Someone's folder whose file names happen to be those of a report."""
    (folder / "images").mkdir(parents=True)
    files = {
        "index.html": "<html>my project page</html>",
        "leaderboard.csv": "method,score\nmine,1\n",
        "leaderboard.md": "| method | score |\n",
        "images/logo.png": "not a report's",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return files


def test_a_folder_with_a_reports_file_names_is_refused_and_left_as_it_was(scored_run, tmp_path):
    site = tmp_path / "docs"
    files = _own_site(site)
    with pytest.raises(BenchError, match="holds no earlier report") as caught:
        write_report([scored_run], site)
    assert "\n" not in str(caught.value)
    assert {name: (site / name).read_text() for name in files} == files


def test_a_page_carrying_the_generator_tag_is_not_proof_either(scored_run, tmp_path):
    """A report's index.html saved into a site of one's own (with the site's images/) is not a report bench
    wrote there: only the marker file bench writes, listing each file with its hash, proves that."""
    site = tmp_path / "docs"
    report = tmp_path / "report"
    write_report([scored_run], report)
    files = _own_site(site)
    (site / "index.html").write_text((report / "index.html").read_text())
    files["index.html"] = (site / "index.html").read_text()
    with pytest.raises(BenchError, match="holds no earlier report"):
        write_report([scored_run], site)
    assert {name: (site / name).read_text() for name in files} == files


def test_a_file_added_to_or_changed_in_an_earlier_report_is_never_deleted(scored_run, tmp_path):
    out = tmp_path / "report"
    write_report([scored_run], out)
    (out / "images" / "mine.png").write_text("added by hand")
    with pytest.raises(BenchError, match=r"images/mine\.png.*did not write") as caught:
        write_report([scored_run], out)
    assert "\n" not in str(caught.value)
    assert (out / "images" / "mine.png").read_text() == "added by hand"

    (out / "images" / "mine.png").unlink()
    (out / "leaderboard.md").write_text("edited by hand")
    with pytest.raises(BenchError, match=r"leaderboard\.md.*changed"):
        write_report([scored_run], out)
    assert (out / "leaderboard.md").read_text() == "edited by hand"

    # what is gone needs no proof: the report is replaced
    (out / "leaderboard.md").unlink()
    (out / "notes.txt").write_text("beside the report, not in it")
    write_report([scored_run], out)
    assert (out / "leaderboard.md").is_file() and (out / "notes.txt").read_text() == "beside the report, not in it"


# --------------------------------------------------------------------------- links out of the run
def test_a_link_that_leads_out_of_the_run_directory_is_refused_before_anything_is_touched(tmp_path, dreambench_dir):
    """A `scratch` link to another folder lost that folder's `dog/` when the cell finished."""
    run_dir = tmp_path / "run"
    tiny_run(run_dir, dreambench_dir, subjects=["backpack"], limit_prompts=1)
    victim = tmp_path / "elsewhere"
    (victim / "dog").mkdir(parents=True)
    (victim / "dog" / "keep.txt").write_text("not the run's")
    (run_dir / "base" / "scratch").symlink_to(victim, target_is_directory=True)
    before = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*"))
    for dry_run in (True, False):
        with pytest.raises(BenchError, match=r"base/scratch is a link to .*elsewhere, outside the run") as caught:
            if dry_run:
                plan_run(tiny_config(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1))
            else:
                tiny_run(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1)
        assert "\n" not in str(caught.value)
    assert (victim / "dog" / "keep.txt").read_text() == "not the run's"
    assert sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")) == before


def test_a_link_that_stays_inside_the_run_and_a_run_directory_reached_by_a_link_are_fine(tmp_path, dreambench_dir):
    """A cluster's usual layout: runs/x is a link to the big file system; only links out of the run are refused."""
    real = tmp_path / "big" / "run"
    real.mkdir(parents=True)
    (tmp_path / "run").symlink_to(real, target_is_directory=True)
    tiny_run(tmp_path / "run", dreambench_dir, subjects=["dog"], limit_prompts=1)
    (real / "base" / "images-link").symlink_to(real / "base" / "images", target_is_directory=True)
    summary = tiny_run(tmp_path / "run", dreambench_dir, subjects=["dog"], limit_prompts=1)
    assert summary.reused == 2 and not summary.failures


def test_a_guarded_delete_never_follows_a_link_made_after_the_check(tmp_path):
    """Defence in depth: a link made while a run works is met where the harness deletes, not followed."""
    from benchmark.store.run_dir import RunStore

    run_dir, victim = tmp_path / "run", tmp_path / "elsewhere"
    (run_dir / "base").mkdir(parents=True)
    (victim / "dog").mkdir(parents=True)
    (victim / "dog" / "keep.txt").write_text("not the run's")
    (run_dir / "base" / "scratch").symlink_to(victim, target_is_directory=True)
    with pytest.raises(BenchError, match="outside the run"):
        RunStore(run_dir).remove_scratch("base", "dog")
    assert (victim / "dog" / "keep.txt").is_file()


# --------------------------------------------------------------------------- smaller refusals (case 7)
@pytest.mark.parametrize("folder", ["/proc/bench-run", "/sys/bench-run"])
def test_an_output_folder_on_a_kernel_pseudo_file_system_fails_the_dry_run(folder, cli, dreambench_dir):
    result = cli("run", "--dry-run", "--output-dir", folder, "--dataset-dir", dreambench_dir)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"bench: error: output directory {folder} is under /") and "pseudo file system" in line


@pytest.mark.parametrize("setting", ["generation.steps=1000000000000", "generation.resolution=100000"])
def test_an_absurd_sampling_value_is_refused_before_any_work(setting, tmp_path, dreambench_dir):
    with pytest.raises(BenchError, match=rf"^{setting.split('=')[0]}=\d+ is more than \d+: "):
        tiny_run(tmp_path / "run", dreambench_dir, subjects=["dog"], limit_prompts=1, assignments=[setting])
    assert not (tmp_path / "run").exists()


def test_a_run_that_lost_its_run_json_is_refused_naming_run_json(scored_run, tmp_path, dreambench_dir):
    import shutil

    run_dir = shutil.copytree(scored_run, tmp_path / "run")
    (run_dir / "run.json").unlink()
    with pytest.raises(BenchError, match="lost its run.json") as caught:
        tiny_run(run_dir, dreambench_dir, subjects=["dog"], limit_prompts=1, score=True)
    assert "WARNING-RANDOM-WEIGHTS" not in str(caught.value).split("(it holds")[0]


def test_a_run_started_while_bench_score_works_is_told_it_is_a_scoring(tmp_path):
    from benchmark.store.lock import run_lock, scoring_lock

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with scoring_lock(run_dir):
        for shard in ((0, 1), (1, 2)):
            with pytest.raises(BenchError, match=r"^a `bench score` is scoring .*run; wait for it"):
                with run_lock(run_dir, shard):
                    pass
    with run_lock(run_dir, (0, 1)), pytest.raises(BenchError, match="another `bench run` is writing"):
        with run_lock(run_dir, (0, 1)):
            pass


def test_plugin_text_in_the_markdown_leaderboard_is_shown_not_rendered(scored_run, tmp_path):
    """A Markdown viewer (a README, a pull request) rendered the label's HTML."""
    written = write_report([scored_run], tmp_path / "report")
    text = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "<img" not in text and "<img" not in written.markdown
    assert "fake[fail_on=&lt;img src=x onerror=alert(1)&gt;,size=64]" in text


def test_scores_jsonl_and_scores_json_of_two_scorings_are_refused_not_mixed(
    scored_run, tmp_path, monkeypatch, dreambench_dir
):
    """A scoring killed between writing scores.jsonl and scores.json left the report (scores.json) and `bench
    compare` (scores.jsonl) disagreeing about one run."""
    import shutil

    import benchmark.metrics.scoring as scoring
    from benchmark.metrics import score_run
    from benchmark.profiles import get_profile
    from reports.comparisons import compare_runs
    from reports.loading import load_runs

    run_dir = shutil.copytree(scored_run, tmp_path / "run")
    # the plug-in's, whose prompts hold an identifier: `--keep-identifier` changes its CLIP-T text and values
    label = next(path.name for path in run_dir.iterdir() if path.name.startswith("fake"))
    before = (run_dir / label / "scores.jsonl").read_text()
    real = scoring.atomic_write_json

    def killed_before_scores_json(path, payload):
        if path.name == "scores.json":
            raise KeyboardInterrupt
        real(path, payload)

    monkeypatch.setattr(scoring, "atomic_write_json", killed_before_scores_json)
    with pytest.raises(KeyboardInterrupt):
        score_run(
            run_dir,
            dreambench_dir,
            methods=[label],
            profile=get_profile("tiny"),
            metrics=["clip-t"],
            keep_identifier=True,
        )
    monkeypatch.undo()
    # the kill left the two files disagreeing
    assert (run_dir / label / "scores.jsonl").read_text() != before
    refused = r"scores\.jsonl is not the one that .*scores\.json was written .*`bench score"
    for read in (lambda: load_runs([run_dir]), lambda: compare_runs(run_dir, run_dir, "base", label)):
        with pytest.raises(BenchError, match=refused):
            read()
