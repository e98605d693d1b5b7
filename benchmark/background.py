"""Writing finished images on a second thread while the device samples the next batch.

Why: encoding a 512 px PNG costs tens of milliseconds of CPU (Pillow's zlib at
its default level), against a few hundred milliseconds of GPU time per image, so
written in line it leaves the GPU waiting for its next batch for a noticeable
share of a sweep. zlib releases the GIL, so one writer thread overlaps that work
with the next batch's sampling. The bytes are the same as written in line: only
when they are written changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from benchmark.errors import StorageFailure


class BackgroundWriter:
    """One writer thread with a short queue; results and errors come back to the caller's thread.

    Jobs run in submission order. At most `depth` wait, which bounds the images held
    in memory. Each `submit` first collects the jobs already finished, so a job's
    error (a full disk) is raised in the caller's thread by the next `submit` after
    it happened, or at the end of the block, and each job's `done` callback (the
    progress bar) runs in the caller's thread soon after the job's files are in
    place. Leaving the block by an exception (Ctrl-C, a failed batch) still finishes
    the jobs already queued: those images are sampled, and a kill must not lose them.
    """

    def __init__(self, depth: int = 2):
        self.depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-writer")
        self._pending: deque[tuple[Future, Callable[[], None] | None]] = deque()

    def submit(self, job: Callable[[], None], done: Callable[[], None] | None = None) -> None:
        while self._pending and (self._pending[0][0].done() or len(self._pending) >= self.depth):
            self._collect_oldest()
        self._pending.append((self._pool.submit(job), done))

    def drain(self) -> None:
        """Wait for every queued job; raise the first error among them."""
        while self._pending:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        future, done = self._pending.popleft()
        future.result()
        if done is not None:
            done()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self.drain()
                return
            # Finish what is queued. The exception in flight is what counts, except that a full disk
            # must still stop the run (it would fail every later cell too) unless the user is stopping it.
            errors = [future.exception() for future, _ in self._pending]
            self._pending.clear()
            full = next((error for error in errors if isinstance(error, StorageFailure)), None)
            if full is not None and issubclass(exc_type, Exception):
                raise full from exc
        finally:
            self._pool.shutdown(wait=True)
