"""How long the rest of a run will take, for the per-cell lines of a batch job's log.

A 30-subject sweep of several methods runs for hours; someone reading a SLURM log wants to
know whether it ends before the job's time limit. Cells of one method cost alike (the same
training steps and images), cells of different methods do not (`base` trains nothing), so
each pending cell is estimated from finished cells of its own method, and from all finished
cells while its method has none. Cells that found their work on disk (a resumed run) took
no time and would make the estimate far too short, so only cells that did work count.
"""

from __future__ import annotations

import time
from collections.abc import Sequence


def _did_work(result) -> bool:
    return not result.error and (result.trained or result.generated > 0)


def remaining_seconds(finished: Sequence, pending: Sequence, workers: int) -> float | None:
    """Seconds until the pending cells are done at the finished cells' pace, or None before any cell did work.

    `finished` holds CellResults, `pending` Cells; the work is spread evenly over the workers.
    """
    worked = [result for result in finished if _did_work(result)]
    if not worked or not pending:
        return None
    by_method: dict[str, list[float]] = {}
    for result in worked:
        by_method.setdefault(result.cell.method, []).append(result.seconds)
    overall = sum(result.seconds for result in worked) / len(worked)
    total = sum(
        sum(by_method[cell.method]) / len(by_method[cell.method]) if cell.method in by_method else overall
        for cell in pending
    )
    return total / max(1, min(workers, len(pending)))


def eta_text(seconds: float | None, now: float | None = None) -> str:
    """'; about 12 min left (until 18:05)', or nothing while there is no estimate."""
    if seconds is None:
        return ""
    if seconds < 90:
        left = f"{seconds:.0f} s"
    elif seconds < 90 * 60:
        left = f"{seconds / 60:.0f} min"
    else:
        left = f"{seconds / 3600:.1f} h"
    end = time.localtime((time.time() if now is None else now) + seconds)
    until = time.strftime("%H:%M" if seconds < 86400 else "%Y-%m-%d %H:%M", end)
    return f"; about {left} left (until {until})"
