"""One exception type for everything a user can fix.

The CLI turns a BenchError into a single line on stderr and exit status 2; any other
exception is a bug in the harness and keeps its traceback.
"""


class BenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class StorageFailure(BenchError):
    """Storage refuses the run (output, caches): stops the whole run, as every further cell would fail too.

    Finished work stays: every file is written to a temporary name and renamed into place.
    """


class DiskFull(StorageFailure):
    """No space left."""


class PermissionDenied(StorageFailure):
    """No permission, or a read-only file system."""


def raise_if_storage_failure(exc: BaseException, where: object = "output") -> None:
    """Raise the StorageFailure that `exc` is, if it is one; otherwise return (the caller re-raises)."""
    import errno

    if not isinstance(exc, OSError):
        return
    if exc.errno == errno.ENOSPC:
        raise DiskFull(f"disk full while writing {where}; free space and re-run (finished work is kept)") from exc
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        target = exc.filename or where
        raise PermissionDenied(
            f"{exc.strerror}: {target}; fix its permissions and re-run (finished work is kept)"
        ) from exc


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's time limit or preemption, `kill`), raised like Ctrl-C so that every layer that
    cleans up after an interrupt (worker pools, background writers) does so, and reported as its own line."""
