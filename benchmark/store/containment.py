"""Every path the harness writes, moves or deletes stays inside the run directory (or the cache).

A link inside a run directory that leads elsewhere would make the harness's own
clean-up delete someone else's files: a `scratch` link to another folder lost that
folder's `dog/` when a cell finished and removed `scratch/dog`. So a run directory
holding such a link is refused before any work, and each delete checks again where
its path really leads (a link made while the run works is met there, not followed).
The run directory itself may be reached through a link (runs/x -> /big/fs/x): what
counts is the folder it resolves to.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmark.errors import BenchError


def _inside(root: Path, path: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def link_out_of(root: Path) -> tuple[Path, Path] | None:
    """(a link under `root`, where it leads) for the first link that leads out of `root`, else None."""
    root = Path(root)
    if not root.is_dir():
        return None
    real = root.resolve()
    for folder, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = Path(folder) / name
            if path.is_symlink() and not path.resolve().is_relative_to(real):
                return path, Path(os.readlink(path))
    return None


def refuse_links_out(root: Path, what: str = "run directory", fix: str = "or use another --output-dir") -> None:
    """One line naming the link, when `root` holds a link that leads out of it."""
    found = link_out_of(root)
    if found is not None:
        link, target = found
        raise BenchError(
            f"{link} is a link to {target}, outside the {what} {root}: bench writes, moves and deletes only inside "
            f"it, never through a link; replace the link with a real folder or file, {fix}"
        )


def require_inside(root: Path, path: Path, what: str = "run directory") -> None:
    """Raise unless `path` (followed through any link) resolves inside `root`."""
    if not _inside(root, path):
        raise BenchError(
            f"{path} leads to {Path(path).resolve()}, outside the {what} {root} (through a link): bench writes, moves "
            "and deletes only inside it; replace the link with a real folder"
        )


def remove_tree(root: Path, path: Path, what: str = "run directory") -> None:
    """`shutil.rmtree(path, ignore_errors=True)`, only once `path` is known to lead inside `root`."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    require_inside(root, path, what)
    shutil.rmtree(path, ignore_errors=True)
