"""Which files of a report folder bench wrote, so that a new report replaces those and nothing else.

`bench report -o DIR` replaces an earlier report in DIR. File names prove nothing (a
user's own site has an index.html and an images/ folder too, and a report's page may be
saved into one), so every report carries a marker, `bench-report.json`, listing each
file it wrote with its SHA-256. A file is replaced or deleted only when that list names
it with its current bytes: a file added by hand, edited since, or reached through a link
is someone else's, and the report is refused in one line instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.store.run_dir import sha256_file

MARKER = "bench-report.json"
GENERATOR = "dreambench-harness report"


def write_marker(folder: Path) -> None:
    """List every file of a freshly built report (`folder`), with its hash, in the marker beside them."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            files[path.relative_to(folder).as_posix()] = sha256_file(path)
    files.pop(MARKER, None)
    text = json.dumps({"generator": GENERATOR, "files": dict(sorted(files.items()))}, indent=1) + "\n"
    (folder / MARKER).write_text(text, encoding="utf-8")


def recorded_files(out_dir: Path) -> dict[str, str] | None:
    """The files an earlier report in out_dir recorded writing (path -> SHA-256), or None without a marker."""
    marker = out_dir / MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        payload = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = payload.get("files") if isinstance(payload, dict) and payload.get("generator") == GENERATOR else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return None
    return files


def require_ours(out_dir: Path, names, recorded: dict[str, str]) -> None:
    """Raise unless every file under out_dir/NAME, for each name present, is one the marker lists with its
    current bytes: those are what a new report may move aside and delete. The marker itself is ours."""
    for name in names:
        entry = out_dir / name
        if name == MARKER or not (entry.exists() or entry.is_symlink()):
            continue
        for path in _files_under(entry):
            relative = path.relative_to(out_dir).as_posix()
            if relative not in recorded or path.is_symlink() or not path.is_file():
                raise BenchError(
                    f"{out_dir} holds {relative}, which bench did not write there: move it out of the way (a new "
                    "report replaces only the files the earlier one wrote), or choose another directory"
                )
            if sha256_file(path) != recorded[relative]:
                raise BenchError(
                    f"{out_dir} holds {relative}, which has changed since bench wrote it: move it out of the way "
                    "(a new report replaces only files it can prove it wrote), or choose another directory"
                )


def _files_under(entry: Path):
    """The entry itself when it is not a real folder (a file, a link, anything else), else every entry in it."""
    if entry.is_symlink() or not entry.is_dir():
        yield entry
        return
    for root, folders, names in os.walk(entry):
        for name in [*names, *(f for f in folders if (Path(root) / f).is_symlink())]:
            yield Path(root) / name
