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
        _raise_if_library_disk_full(exc, where)
        return
    if exc.errno == errno.ENOSPC:
        raise DiskFull(f"disk full while writing {where}; free space and re-run (finished work is kept)") from exc
    # a cluster's per-user quota: the usual "disk full" on shared storage
    if exc.errno == errno.EDQUOT:
        raise DiskFull(
            f"disk quota exceeded while writing {where}; free space in your quota (or write elsewhere) "
            "and re-run (finished work is kept)"
        ) from exc
    # `ulimit -f`, or a file system's largest file: every later save fails alike
    if exc.errno == errno.EFBIG:
        raise DiskFull(
            f"file too large while writing {where} (a file-size limit: `ulimit -f`, or the file "
            "system's); lift it and re-run (finished work is kept)"
        ) from exc
    if exc.errno == errno.EROFS:
        raise PermissionDenied(
            f"read-only file system: {exc.filename or where}; write to another folder and re-run "
            "(finished work is kept)"
        ) from exc
    if exc.errno in (errno.EACCES, errno.EPERM):
        target = exc.filename or where
        raise PermissionDenied(
            f"{exc.strerror}: {target}; fix its permissions and re-run (finished work is kept)"
        ) from exc


# How libraries that write files without raising OSError say the disk is full: safetensors (Rust's io error),
# torch.save (its zip writer's checks), and any message carrying the errno text.
_DISK_FULL_TEXT = ("No space left on device", "os error 28", "[Errno 28]")
_QUOTA_TEXT = ("Disk quota exceeded", "os error 122", "[Errno 122]")
_TOO_LARGE_TEXT = ("File too large", "os error 27", "[Errno 27]")
_TORCH_WRITE_FAILED = ("unexpected pos", "file write failed", "PytorchStreamWriter failed")
_SHARED_MEMORY_TEXT = ("/dev/shm", "</torch_", "shared memory")


def _raise_if_library_disk_full(exc: BaseException, where: object) -> None:
    """A full disk met inside a library that reports it as RuntimeError or its own error type: a trained
    model's save would otherwise fail its cell as if the method were at fault, and the run go on writing."""
    import errno
    import os

    text = str(exc)
    if any(marker in text for marker in _SHARED_MEMORY_TEXT):
        # /dev/shm full (a DataLoader in a container): not the disk that freeing space on would help
        return
    for markers, errno_code in (
        (_DISK_FULL_TEXT, errno.ENOSPC),
        (_QUOTA_TEXT, errno.EDQUOT),
        (_TOO_LARGE_TEXT, errno.EFBIG),
    ):
        if any(marker in text for marker in markers):
            raise_if_storage_failure(OSError(errno_code, os.strerror(errno_code)), where)
    if any(marker in text for marker in _TORCH_WRITE_FAILED):
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise DiskFull(
            f"a write failed while saving {where} ({first}), as a full disk makes it; free space and re-run "
            "(finished work is kept)"
        ) from exc


_SIGTERM_RECEIVED = False


def note_sigterm() -> None:
    """Remember that SIGTERM arrived: a library may turn the `Terminated` we raise into a plain
    KeyboardInterrupt on its way up (Ray's wait does), and the exit status must still say SIGTERM (143)."""
    global _SIGTERM_RECEIVED
    _SIGTERM_RECEIVED = True


def sigterm_received() -> bool:
    return _SIGTERM_RECEIVED


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's time limit or preemption, `kill`), raised like Ctrl-C so that every layer that
    cleans up after an interrupt (worker pools, background writers) does so, and reported as its own line."""
