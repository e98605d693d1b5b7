"""A SHA-256 manifest for a folder of shipped weights (the pocket world's), written once and checked on use.

Weights that ship with the package are part of the protocol: a pocket number is only
comparable with another if both came from the same bytes. `bench pocket build` writes
`manifest.json` beside the models; `bench doctor` and every run that uses them check
each file's size and hash, and name the first one that differs.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.store.atomic import atomic_write_text
from benchmark.store.run_dir import sha256_file

MANIFEST_NAME = "manifest.json"


def _files(folder: Path) -> list[Path]:
    """Every file a model folder holds, hidden ones and the manifest itself aside."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name != MANIFEST_NAME
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def write_manifest(folder: Path, about: dict | None = None) -> Path:
    """List every file under `folder` with its size and SHA-256; `about` says how the weights were made."""
    files = {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in _files(folder)
    }
    path = folder / MANIFEST_NAME
    atomic_write_text(path, json.dumps({"about": about or {}, "files": files}, indent=1, sort_keys=True) + "\n")
    return path


def manifest_problems(folder: Path) -> list[str]:
    """What differs from the manifest (empty when every file is there, unchanged, and nothing is added)."""
    path = folder / MANIFEST_NAME
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return [f"{path} is missing"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{path} is unreadable ({type(exc).__name__})"]
    problems = []
    for name, entry in listed.items():
        file = folder / name
        if not file.is_file():
            problems.append(f"{file}: missing")
        elif file.stat().st_size != entry.get("bytes") or sha256_file(file) != entry.get("sha256"):
            problems.append(f"{file}: differs from its SHA-256 in {MANIFEST_NAME}")
    known = set(listed)
    problems += [
        f"{p}: not in {MANIFEST_NAME}" for p in _files(folder) if p.relative_to(folder).as_posix() not in known
    ]
    return problems
