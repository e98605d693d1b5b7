"""Progress bars inside a cell: training steps and class images, with their rate and an ETA.

Shown only where `bench run` shows its own bar (a terminal, not `--quiet`); a batch job's log gets
one line per cell instead. The cell's runner says whether bars are on and on which terminal line
they go, so the bars of parallel workers sit one per line under the run's own bar, and vanish
when their work is done.
"""

from __future__ import annotations

from tqdm.auto import tqdm

_state = {"enabled": False, "position": 1}


def configure(enabled: bool, position: int = 1) -> None:
    """Called once per process that runs cells (this one for the local executor, each worker otherwise)."""
    _state["enabled"], _state["position"] = bool(enabled), position


def enabled() -> bool:
    return _state["enabled"]


def bar(desc: str, total: int, unit: str, initial: int = 0) -> tqdm:
    """A bar of `total` units (starting at `initial`, a resumed training's step) that clears itself when closed;
    a disabled one costs nothing and prints nothing. Use it as a context manager and `update()` per unit."""
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        position=_state["position"],
        leave=False,
        disable=not _state["enabled"],
        dynamic_ncols=True,
    )
