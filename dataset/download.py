"""Fetch DreamBench from the public google/dreambooth archive and install it only once verified.

A half-downloaded or tampered copy must never sit where the harness looks for the
images: it would either fail every later run or, worse, be scored against. So the
archive is streamed into a staging folder beside the destination (same filesystem),
unpacked and checked image by image against the manifest there, and only a copy
with no problems is renamed into place. Any failure removes the staging folder and
leaves the destination exactly as it was.
"""

from __future__ import annotations

import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from benchmark.errors import BenchError
from dataset.locate import default_dataset_dir
from dataset.protocol import Protocol, load_protocol
from dataset.validate import find_problems

DEFAULT_URL = "https://github.com/google/dreambooth/archive/refs/heads/main.zip"
URL_ENV_VAR = "DREAMBENCH_URL"
DATASET_FOLDER = "dataset"
CHUNK_BYTES = 1 << 16
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
GZIP_MAGIC = b"\x1f\x8b"


def download_dataset(
    dest: Path | None = None,
    url: str | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Make `dest` hold a verified DreamBench copy and return it; a valid copy is kept unless `force`.

    `url` may be http(s), file:// or a local path to a .zip or .tar.gz archive whose
    `dataset/` folder (at the top or one folder down) is DreamBench.
    """
    dest = Path(dest).expanduser() if dest is not None else default_dataset_dir()
    url = url or os.environ.get(URL_ENV_VAR) or DEFAULT_URL
    protocol = load_protocol()
    if _holds_copy(dest, protocol, force=force):
        return dest
    staging = _make_staging(dest)
    try:
        archive = _fetch(url, staging / "archive", progress=progress, timeout=timeout)
        unpacked = _unpack(archive, staging / "unpacked", url)
        _verify(unpacked, protocol, url)
        _install(unpacked, dest, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def has_valid_copy(dest: Path | None = None) -> bool:
    """Let the CLI tell "already there" from "downloaded" before it calls download_dataset."""
    dest = Path(dest).expanduser() if dest is not None else default_dataset_dir()
    return dest.is_dir() and not find_problems(dest, load_protocol())


def _holds_copy(dest: Path, protocol: Protocol, *, force: bool) -> bool:
    """Decide whether to skip the download; refuse to silently overwrite a folder that differs.

    An absent or empty folder is simply filled. A folder with other content may be a
    user's own (possibly edited) copy, so replacing it needs an explicit `force`.
    """
    if not dest.exists():
        return False
    if not dest.is_dir():
        raise BenchError(f"cannot download DreamBench into {dest}: it exists and is not a folder")
    if force or not any(dest.iterdir()):
        return False
    problems = find_problems(dest, protocol)
    if not problems:
        return True
    raise BenchError(
        f"{dest} already holds files that differ from DreamBench ({problems[0]}); use --force to replace it"
    )


def _make_staging(dest: Path) -> Path:
    """Stage beside `dest` so the final move is a rename on one filesystem, never a copy."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{dest.name}.download-", dir=dest.parent))
    except OSError as exc:
        raise BenchError(f"cannot write into {dest.parent}: {_one_line(exc.strerror or exc)}") from None


def _one_line(value: object) -> str:
    """BenchError messages are printed as a single line, whatever the OS or server put in them."""
    return " ".join(str(value).split())


# --- fetching ---------------------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    """Map a file:// URL or plain path to a Path; None means it must be fetched over HTTP(S)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    # no scheme, or a Windows drive letter
    if len(parsed.scheme) <= 1:
        return Path(url).expanduser()
    raise BenchError(f"cannot download {url}: only http(s)://, file:// URLs and local paths are supported")


def _fetch(url: str, target: Path, *, progress: bool, timeout: float) -> Path:
    """Return a local archive path; a local file is read in place rather than copied."""
    local = _local_path(url)
    if local is None:
        _stream(url, target, progress=progress, timeout=timeout)
        return target
    if not local.is_file():
        raise BenchError(f"cannot read DreamBench archive {local}: no such file")
    return local


def _stream(url: str, target: Path, *, progress: bool, timeout: float) -> None:
    """Translate every way a transfer can fail into one BenchError line naming the URL."""
    request = urllib.request.Request(url, headers={"User-Agent": "dreambench-harness"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            _copy_response(response, target, url, progress=progress)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise BenchError(f"download of {url} failed: HTTP {exc.code} {_one_line(exc.reason)}") from None
    except urllib.error.URLError as exc:
        raise BenchError(f"download of {url} failed: {_one_line(exc.reason)}") from None
    except TimeoutError:
        raise BenchError(f"download of {url} failed: no data for {timeout:g} s (timed out)") from None
    except (http.client.HTTPException, ConnectionError) as exc:
        raise BenchError(
            f"download of {url} failed: connection lost ({_one_line(exc) or type(exc).__name__})"
        ) from None
    except OSError as exc:
        raise BenchError(f"download of {url} failed: {_one_line(exc.strerror or exc)}") from None


def _copy_response(response, target: Path, url: str, *, progress: bool) -> None:
    """Stream to disk, because a server that closes early looks like a clean end of data to urllib."""
    expected = _content_length(response)
    received = 0
    with open(target, "wb") as out, _progress_bar(expected, progress) as bar:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if expected is not None and received < expected:
        raise BenchError(f"download of {url} failed: connection closed after {received} of {expected} bytes")


def _content_length(response) -> int | None:
    value = (response.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None


def _progress_bar(total: int | None, enabled: bool):
    """A bar only where someone watches: tqdm output would clutter logs and captured output."""
    from tqdm import tqdm

    show = enabled and sys.stderr.isatty()
    return tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="DreamBench", disable=not show, leave=False
    )


# --- unpacking --------------------------------------------------------------------------------


def _unpack(archive: Path, into: Path, url: str) -> Path:
    """Extract only the dataset/ folder and return where it landed inside `into`.

    The format is sniffed from the first bytes because mirrors and local copies are
    often named after something other than their content.
    """
    with open(archive, "rb") as handle:
        head = handle.read(4)
    into.mkdir()
    try:
        if head in ZIP_MAGIC:
            prefix = _unpack_zip(archive, into, url)
        elif head[:2] == GZIP_MAGIC:
            prefix = _unpack_tar(archive, into, url)
        else:
            raise BenchError(f"{url} is not a .zip or .tar.gz archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise BenchError(f"archive from {url} is damaged: {_one_line(exc)}") from None
    except OSError as exc:
        # gzip/zlib corruption surfaces as OSError too
        raise BenchError(f"archive from {url} could not be unpacked: {_one_line(exc.strerror or exc)}") from None
    return into.joinpath(*prefix)


def _unsafe(name: str) -> bool:
    """Zip-slip guard: a member must stay inside the extraction folder whatever its name says."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or (bool(parts) and ":" in parts[0])


def _reject_unsafe(names: list[str], url: str) -> None:
    """Refuse the whole archive, not just the bad member: an archive that tries this is not trustworthy."""
    for name in names:
        if _unsafe(name):
            raise BenchError(f"archive from {url} has an unsafe member path '{_one_line(name)}'; refusing to unpack it")


def _dataset_prefix(names: list[str], url: str) -> tuple[str, ...]:
    """Find the dataset/ folder at the top or one level down (GitHub archives add `<repo>-<ref>/`)."""
    candidates: set[tuple[str, ...]] = set()
    for name in names:
        parts = PurePosixPath(name).parts
        for depth in (0, 1):
            if len(parts) > depth + 1 and parts[depth] == DATASET_FOLDER:
                candidates.add(tuple(parts[: depth + 1]))
    if not candidates:
        raise BenchError(f"archive from {url} has no {DATASET_FOLDER}/ folder")
    shallowest = min(len(c) for c in candidates)
    best = sorted(c for c in candidates if len(c) == shallowest)
    if len(best) > 1:
        raise BenchError(
            f"archive from {url} has several {DATASET_FOLDER}/ folders: " + ", ".join("/".join(c) for c in best)
        )
    return best[0]


def _within(name: str, prefix: tuple[str, ...]) -> bool:
    parts = PurePosixPath(name).parts
    return len(parts) > len(prefix) and parts[: len(prefix)] == prefix


def _unpack_zip(archive: Path, into: Path, url: str) -> tuple[str, ...]:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        _reject_unsafe([m.filename for m in members], url)
        prefix = _dataset_prefix([m.filename for m in members], url)
        for member in members:
            if _within(member.filename, prefix):
                _write_zip_member(bundle, member, into)
    return prefix


def _write_zip_member(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, into: Path) -> None:
    """Write members ourselves: zipfile.extract silently rewrites bad names instead of refusing them."""
    target = into.joinpath(*PurePosixPath(member.filename).parts)
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with bundle.open(member) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK_BYTES)


def _unpack_tar(archive: Path, into: Path, url: str) -> tuple[str, ...]:
    """Extract regular files and folders only, through tarfile's "data" filter as a second guard."""
    with tarfile.open(archive, "r:gz") as bundle:
        members = bundle.getmembers()
        _reject_unsafe([m.name for m in members], url)
        prefix = _dataset_prefix([m.name for m in members], url)
        for member in members:
            if _within(member.name, prefix) and (member.isfile() or member.isdir()):
                bundle.extract(member, into, filter="data")
    return prefix


# --- verifying and installing -----------------------------------------------------------------


def _verify(root: Path, protocol: Protocol, url: str) -> None:
    """Name the first bad file relative to the dataset, since the staging path is gone by the time anyone reads it."""
    problems = find_problems(root, protocol)
    if not problems:
        return
    first = problems[0]
    where = first.path.relative_to(root).as_posix() if first.path.is_relative_to(root) else str(first.path)
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    raise BenchError(f"archive from {url} does not match DreamBench: {where}: {first.what}{more}")


def _install(new: Path, dest: Path, staging: Path) -> None:
    """Swap the verified copy in by renames only, so a reader sees the old copy or the new one, never a mix.

    An old copy is moved into the staging folder first, which the caller deletes; if
    the second rename fails the old copy is put back.
    """
    if dest.is_dir() and not any(dest.iterdir()):
        dest.rmdir()
    if not dest.exists():
        _rename(new, dest)
        return
    old = staging / "previous"
    _rename(dest, old)
    try:
        _rename(new, dest)
    except BaseException:
        os.rename(old, dest)
        raise


def _rename(source: Path, target: Path) -> None:
    try:
        os.rename(source, target)
    except OSError as exc:
        raise BenchError(
            f"could not move the verified dataset into {target}: {_one_line(exc.strerror or exc)}"
        ) from None
