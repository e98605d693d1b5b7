"""The HTML report in a real browser: headless Chromium opens it from disk, sorts, and finds nothing broken.

A report is only useful if it works where people open it, so this test does what a
reader does: open index.html as a file (no server), click the DINO column header, and
check that the rows are ordered by the DINO means of scores.json, that every image
decoded (naturalWidth > 0) and that the console shows no error (a missing file, a
JavaScript exception). The screenshot stays in test-artifacts/ for a human to look at.

Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the test
is skipped on a laptop but FAILS under CI (CI set), so CI can never pass by skipping.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from tests.browser.cdp import Chromium, find_chromium
from tests.browser.runs import report_runs

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


def _require_browser() -> str:
    binary = find_chromium()
    problem = None
    if binary is None:
        problem = "headless Chromium is not installed (apt-get install -y chromium, or set $CHROMIUM)"
    else:
        try:
            import websocket  # noqa: F401  (websocket-client, the CDP transport)
        except ImportError:
            problem = "websocket-client is not installed (pip install -e '.[test]')"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test cannot run in CI: {problem}")
        pytest.skip(problem)
    return binary


def _dino_order(runs, descending: bool) -> list[str]:
    """Leaderboard keys by DINO mean straight from each scores.json (methods without a value last)."""
    means = {}
    for run_dir in (runs.main, runs.other):
        for scores in sorted(run_dir.glob("*/scores.json")):
            key = scores.parent.name
            summary = json.loads(scores.read_text())["summary"].get("dino")
            means[key] = math.nan if summary is None else summary["mean"]
    measured = sorted((k for k in means if not math.isnan(means[k])), key=means.get, reverse=descending)
    return measured + [k for k in means if math.isnan(means[k])]


ROW_KEYS = "[...document.querySelector('#leaderboard-table').tBodies[0].rows].map(r => r.dataset.method)"
LOAD_ALL_IMAGES = """
(async () => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const images = [...document.images];
  images.forEach(img => img.loading = 'eager');
  await Promise.all(images.map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  return images.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth}));
})()
"""


def test_report_sorts_shows_every_image_and_logs_no_error_in_chromium():
    binary = _require_browser()
    runs = report_runs()
    index = runs.report / "index.html"
    with Chromium(binary) as browser:
        browser.open(index.resolve().as_uri())
        initial = browser.evaluate(ROW_KEYS)
        assert initial[0] == "base", "the baseline leads the unsorted leaderboard"

        browser.click("#leaderboard-table th[data-metric='dino']")
        assert browser.evaluate(ROW_KEYS) == _dino_order(runs, descending=True)
        assert browser.evaluate("document.querySelector(\"th[data-metric='dino']\").getAttribute('aria-sort')") == (
            "descending"
        )
        browser.click("#leaderboard-table th[data-metric='dino']")
        assert browser.evaluate(ROW_KEYS) == _dino_order(runs, descending=False)
        # back to best first for the screenshot
        browser.click("#leaderboard-table th[data-metric='dino']")

        # the oracle and the published rows are never moved into the sorted body
        assert browser.evaluate("document.querySelectorAll('#leaderboard-table tbody.reference tr').length") == 1
        assert browser.evaluate("document.querySelectorAll('#published-table tbody tr').length") == 4

        images = browser.evaluate(LOAD_ALL_IMAGES)
        broken = [image["src"] for image in images if not image["width"]]
        assert len(images) > 20 and not broken, f"broken images: {broken}"
        assert browser.evaluate("document.querySelector('#warnings li').textContent").startswith("NOT MEANINGFUL")

        browser.evaluate("window.scrollTo(0, 0)")
        shot = browser.screenshot(ARTIFACTS / "report-browser.png", full_page=True, max_height=3200)
        assert shot.stat().st_size > 10_000
        assert browser.console_errors() == []


# Every element whose right edge passes the viewport's, unless an ancestor clips it in a frame of its own that scrolls
# (an image grid wider than the screen scrolls inside its box; the page itself never scrolls sideways).
OVERFLOWING = """
(() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const width = document.documentElement.clientWidth;
  const framed = el => { for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return p; }
    return null; };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (!r.width || r.right <= width + 1) continue;
    const frame = framed(el);
    if (frame && frame.getBoundingClientRect().right <= width + 1) continue;
    out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className} right=${Math.round(r.right)}`);
  }
  return {width, scrollWidth: document.documentElement.scrollWidth, out: out.slice(0, 10)};
})()
"""


def test_report_with_seven_methods_fits_a_1400px_window():
    """At 1400 px the page never scrolls sideways: the seven-method image grid scrolls inside its own frame, and
    nothing else (tables, metadata, plots, the warning box) passes the window's edge. The screenshot stays in
    test-artifacts/ for a human to look at."""
    from tests.browser.runs import WIDE_METHODS, wide_report

    binary = _require_browser()
    report = wide_report()
    with Chromium(binary, width=1400) as browser:
        browser.open((report / "index.html").resolve().as_uri())
        found = browser.evaluate(OVERFLOWING)
        # the window less any scroll bar
        assert 1300 < found["width"] <= 1400
        assert found["out"] == [] and found["scrollWidth"] <= found["width"], found
        grid = browser.evaluate(
            "(() => { const s = document.querySelector('#subject-dog .scroll');"
            " return [s.scrollWidth, s.clientWidth, s.querySelectorAll('thead th').length]; })()"
        )
        # wider than the page: it scrolls
        assert grid[2] == 1 + len(WIDE_METHODS) and grid[0] > grid[1], grid
        # one warning box, every warning in it; INCOMPLETE is not repeated in a box under the table
        assert browser.evaluate("document.querySelectorAll('section.warnings').length") == 1
        items = browser.evaluate("[...document.querySelectorAll('#warnings li')].map(li => li.className)")
        assert {"warning not-meaningful", "warning smoke-run", "warning subset-run"} <= set(items), items
        assert browser.evaluate("document.querySelector('#warnings li').textContent").startswith("NOT MEANINGFUL")
        shot = browser.screenshot(ARTIFACTS / "report-1400px.png", full_page=True, max_height=2400)
        assert shot.stat().st_size > 10_000
        assert browser.console_errors() == []
