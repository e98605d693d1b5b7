"""The time-left estimate in a batch job's log: per method, from cells that did work, spread over workers."""

from __future__ import annotations

import time

from benchmark.eta import eta_text, remaining_seconds
from benchmark.generation import CellResult
from benchmark.planning import Cell


def _done(method: str, subject: str, seconds: float, **fields) -> CellResult:
    return CellResult(Cell(method, subject), seconds=seconds, **fields)


def test_each_pending_cell_costs_what_its_own_method_cost():
    finished = [_done("base", "dog", 2.0, generated=8), _done("dreambooth", "dog", 30.0, trained=True, generated=8)]
    pending = [Cell("dreambooth", "cat"), Cell("dreambooth", "can"), Cell("base", "cat")]
    # not 3 x the 16 s mean of both
    assert remaining_seconds(finished, pending, workers=1) == 62.0
    assert remaining_seconds(finished, pending, workers=2) == 31.0
    # more workers than cells left: the last cells run side by side, no faster than one each
    assert remaining_seconds(finished, pending[:1], workers=8) == 30.0


def test_a_method_not_seen_yet_costs_the_mean_of_all_finished_cells():
    finished = [_done("base", "dog", 2.0, generated=8), _done("dreambooth", "dog", 30.0, trained=True)]
    assert remaining_seconds(finished, [Cell("textual-inversion", "dog")], workers=1) == 16.0


def test_cells_found_on_disk_or_failed_do_not_shorten_the_estimate():
    """A resumed run finds its first cells done in milliseconds; counting them would promise minutes for hours."""
    reused = _done("dreambooth", "dog", 0.05, reused=8)
    failed = _done("dreambooth", "cat", 0.5, error="NaN loss")
    pending = [Cell("dreambooth", "can")]
    assert remaining_seconds([reused, failed], pending, workers=1) is None
    worked = _done("dreambooth", "backpack", 40.0, trained=True, generated=8)
    assert remaining_seconds([reused, failed, worked], pending, workers=1) == 40.0
    # nothing left: no estimate to print
    assert remaining_seconds([worked], [], workers=1) is None


def test_the_text_says_how_long_and_until_when():
    now = time.mktime((2026, 11, 26, 17, 0, 0, 0, 0, -1))
    assert eta_text(None) == ""
    assert eta_text(45, now) == "; about 45 s left (until 17:00)"
    assert eta_text(12 * 60, now) == "; about 12 min left (until 17:12)"
    assert eta_text(3 * 3600, now) == "; about 3.0 h left (until 20:00)"
    assert eta_text(2 * 86400, now) == "; about 48.0 h left (until 2026-11-28 17:00)"


def test_a_batch_log_says_after_each_cell_how_long_the_rest_will_take(tmp_path, dreambench_dir):
    from benchmark.config import build_config
    from benchmark.runner import execute_run

    lines = []
    overrides = {"methods": ["base"], "subjects": ["dog", "backpack"], "limit_prompts": 1, "images_per_prompt": 1}
    overrides |= {"generate_pres": False, "score": False, "output_dir": str(tmp_path / "run")}
    config = build_config(overrides={**overrides, "dataset_dir": str(dreambench_dir)})
    execute_run(config, progress=False, log=lines.append, cell_lines=True)
    cells = [line for line in lines if line.startswith("bench: [")]
    assert len(cells) == 2 and " left (until " in cells[0]
    # the last cell leaves nothing to estimate
    assert " left " not in cells[1]
