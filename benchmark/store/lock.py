"""One writer per run directory (and shard), enforced with an OS file lock.

The kernel drops the lock when its process dies, even by SIGKILL, so a killed run
never leaves a stale lock behind that blocks the re-run.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from benchmark.errors import BenchError


@contextmanager
def run_lock(run_dir: Path, shard: tuple[int, int]):
    index, count = shard
    name = ".lock" if count == 1 else f".lock-shard-{index}-of-{count}"
    lock = FileLock(str(run_dir / name))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise BenchError(
            f"another `bench run` is writing to {run_dir} (lock {name}); "
            "wait for it to finish or use another --output-dir"
        ) from None
    try:
        yield
    finally:
        lock.release()
