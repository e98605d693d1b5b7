"""Writing finished images on a second thread while the device samples the next batch.

Why: encoding one 512 px PNG takes 25-95 ms of CPU (Pillow's zlib at its default
level; measured on the development machine), so the four images of a batch cost
a tenth to a fifth of an H200's sampling time when written in line, time in which
the GPU waits for its next batch. zlib releases the GIL, so one writer thread
overlaps that work with the next batch's sampling. The bytes are the same as
written in line: only when they are written changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class BackgroundWriter:
    """One writer thread with a short queue; results and errors come back to the caller's thread.

    Jobs run in submission order. At most `depth` wait, which bounds the images held
    in memory. A job's error (a full disk) is raised in the caller's thread at the
    next `submit` or at the end of the block, and each job's `done` callback (the
    progress bar) runs in the caller's thread after the job's files are in place.
    Leaving the block by an exception (Ctrl-C, a failed batch) still finishes the
    jobs already queued: those images are sampled, and a kill must not lose them.
    """

    def __init__(self, depth: int = 2):
        self.depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-writer")
        self._pending: deque[tuple[Future, Callable[[], None] | None]] = deque()

    def submit(self, job: Callable[[], None], done: Callable[[], None] | None = None) -> None:
        while len(self._pending) >= self.depth:
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
            else:
                for future, _ in self._pending:  # finish what is queued; the exception in flight is what counts
                    future.exception()
                self._pending.clear()
        finally:
            self._pool.shutdown(wait=True)
