"""One writer per run directory (and shard), enforced with an OS file lock.

The kernel drops the lock when its process dies, even by SIGKILL, so a killed run
never leaves a stale lock behind that blocks the re-run.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from benchmark.errors import BenchError

# held by `bench score` (with the run locks), so a refused run is told it is a scoring
SCORING = ".lock-scoring"


def _held(path: Path) -> bool:
    """Whether another process (or lock) holds the lock at `path` now."""
    if not path.is_file():
        return False
    probe = FileLock(str(path))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False


@contextmanager
def run_lock(run_dir: Path, shard: tuple[int, int]):
    index, count = shard
    name = ".lock" if count == 1 else f".lock-shard-{index}-of-{count}"
    scoring = BenchError(f"a `bench score` is scoring {run_dir}; wait for it to finish (or use another --output-dir)")
    lock = FileLock(str(run_dir / name))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        # a scoring holds the run's locks while it works: say that it is one
        if _held(run_dir / SCORING):
            raise scoring from None
        raise BenchError(
            f"another `bench run` is writing to {run_dir} (lock {name}); "
            "wait for it to finish or use another --output-dir"
        ) from None
    # a shard whose lock the scoring could not know of (made since it began)
    if _held(run_dir / SCORING):
        lock.release()
        raise scoring
    try:
        yield
    finally:
        lock.release()


@contextmanager
def scoring_lock(run_dir: Path):
    """`bench score` of a run: refused while a `bench run` writes to it, whole or as a shard.

    A concurrent run adds images and then writes its own scores; a scoring that started
    before would write older scores over them when it ends later. The run's lock and every
    shard lock found are held until the scoring ends, so no run or shard starts meanwhile
    (a shard whose lock did not exist yet finds `.lock-scoring` held and stops).
    """
    busy = BenchError(
        f"a `bench run` is writing to {run_dir}: score it once the run has finished (a run without --shard "
        "scores itself at its end)"
    )
    held = []
    try:
        for path in [run_dir / SCORING, run_dir / ".lock", *sorted(run_dir.glob(".lock-shard-*"))]:
            if path.exists() and not path.is_file():
                continue
            lock = FileLock(str(path))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if path.name == SCORING:
                    raise BenchError(f"another `bench score` is scoring {run_dir}; wait for it to finish") from None
                raise busy from None
            held.append(lock)
        yield
    finally:
        for lock in reversed(held):
            lock.release()
