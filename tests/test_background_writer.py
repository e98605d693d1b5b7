"""The writer thread that overlaps image writing with sampling: order, errors and nothing lost."""

from __future__ import annotations

import threading
import time

import pytest

from benchmark.background import BackgroundWriter
from benchmark.errors import DiskFull


def test_jobs_run_in_order_and_callbacks_run_in_the_callers_thread():
    ran, callbacks = [], []
    caller = threading.get_ident()
    with BackgroundWriter(depth=2) as writer:
        for number in range(6):
            writer.submit(
                lambda n=number: ran.append((n, threading.get_ident())),
                done=lambda n=number: callbacks.append((n, threading.get_ident())),
            )
    assert [n for n, _ in ran] == list(range(6))
    # the work really left the sampling thread
    assert all(thread != caller for _, thread in ran)
    # progress is reported where the bar lives
    assert callbacks == [(n, caller) for n in range(6)]


def test_at_most_depth_jobs_wait():
    release = threading.Event()
    started = []
    with BackgroundWriter(depth=2) as writer:
        writer.submit(lambda: (started.append(1), release.wait(5)))
        writer.submit(lambda: started.append(2))
        blocked = threading.Thread(target=writer.submit, args=(lambda: started.append(3),))
        blocked.start()
        time.sleep(0.2)
        # a third job waits for the oldest: memory of queued images is bounded
        assert blocked.is_alive()
        release.set()
        blocked.join(5)
    assert started == [1, 2, 3]


def test_an_error_reaches_the_caller_and_jobs_queued_behind_it_still_ran():
    ran, queued = [], threading.Event()

    def fail():
        queued.wait(5)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        with BackgroundWriter(depth=4) as writer:
            writer.submit(fail)
            writer.submit(lambda: ran.append("after"))
            queued.set()
    # its images were sampled: written, not dropped
    assert ran == ["after"]


def test_leaving_by_an_exception_still_finishes_queued_writes():
    written = []
    with pytest.raises(KeyboardInterrupt):
        with BackgroundWriter(depth=4) as writer:
            writer.submit(lambda: (time.sleep(0.2), written.append("sampled image")))
            # Ctrl-C while the next batch samples
            raise KeyboardInterrupt
    # already sampled: not lost
    assert written == ["sampled image"]


def test_a_failed_write_stops_the_next_submit_not_a_batch_later():
    """With a full disk, sampling one more batch (minutes for a big one) before stopping is waste."""
    with pytest.raises(DiskFull):
        with BackgroundWriter(depth=2) as writer:
            writer.submit(lambda: (_ for _ in ()).throw(DiskFull("disk full writing p00")))
            # the next batch samples meanwhile
            time.sleep(0.2)
            writer.submit(lambda: pytest.fail("a submit after a failed write must raise, not queue more"))


def test_a_full_disk_is_not_hidden_by_another_error_of_the_cell():
    with pytest.raises(DiskFull) as raised:
        with BackgroundWriter(depth=4) as writer:
            writer.submit(lambda: (_ for _ in ()).throw(DiskFull("disk full writing p00")))
            # the next batch failed while the write was failing
            raise RuntimeError("CUDA out of memory")
    assert isinstance(raised.value.__cause__, RuntimeError)
    # the user's Ctrl-C stays what stops the run
    with pytest.raises(KeyboardInterrupt):
        with BackgroundWriter(depth=4) as writer:
            writer.submit(lambda: (_ for _ in ()).throw(DiskFull("disk full writing p00")))
            raise KeyboardInterrupt
