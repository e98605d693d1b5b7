"""One exception type for everything a user can fix.

The CLI turns a BenchError into a single line on stderr and exit status 2; any other
exception is a bug in the harness and keeps its traceback.
"""


class BenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class DiskFull(BenchError):
    """No space left: stops the whole run (every further cell would fail the same way), keeping finished work."""


def raise_if_disk_full(exc: BaseException, where: object = "output") -> None:
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        raise DiskFull(f"disk full while writing {where}; free space and re-run (finished work is kept)") from exc
