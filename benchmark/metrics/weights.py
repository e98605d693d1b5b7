"""Finding a scoring backbone's weight file on this machine, and fingerprinting it.

Scoring never downloads: a missing model is a one-line BenchError that names it and
says how to fetch it. The fingerprint (hub revision or file SHA-256) goes into the
embedding cache key, so replacing the weights can never reuse stale embeddings.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

import torch

from benchmark.errors import BenchError
from benchmark.models.loading import POCKET_PREFIX, locate

_REVISION = re.compile(r"^[0-9a-f]{40}$")


def missing_model(role: str, source: str, why: str, profile: str) -> BenchError:
    if source.startswith(POCKET_PREFIX):
        return BenchError(f"missing weights: {role}={source} ({why})")
    return BenchError(
        f"missing weights: {role}={source} ({why}). Fetch them with `bench models download --profile {profile}` "
        f"on a connected machine, or point --set models.{role}=/local/path at a copy"
    )


def locate_or_fail(role: str, source: str, profile: str) -> Path:
    """The local file or folder holding `source` (hub id or local path), without network access."""
    status = locate(role, source)
    if not status.present:
        raise missing_model(role, source, status.where, profile)
    return Path(status.where)


def pick_file(location: Path, preferred: tuple[str, ...], role: str, source: str, profile: str) -> Path:
    """`location` itself if it is a file, else the first of `preferred` inside the folder."""
    if location.is_file():
        return location
    for name in preferred:
        candidate = location / name
        if candidate.is_file():
            return candidate
    raise missing_model(role, source, f"none of {', '.join(preferred)} in {location}", profile)


@lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(weights_file: Path) -> str:
    """The hub revision when the file sits in a hub snapshot, else the file's SHA-256 (both are stable ids)."""
    resolved = Path(weights_file)
    for parent in resolved.parents:
        if parent.parent.name == "snapshots" and _REVISION.match(parent.name):
            return f"rev-{parent.name[:12]}"
    stat = resolved.stat()
    return f"sha256-{_file_sha256(str(resolved), stat.st_size, stat.st_mtime_ns)[:16]}"


def parameter_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 over a module's tensors: identifies random-weight toys exactly, whatever library versions built them."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"params-{digest.hexdigest()[:16]}"


def read_state_dict(path: Path) -> dict:
    """A state dict from .safetensors or a torch checkpoint (tensors only, never arbitrary pickles)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BenchError(f"cannot read weights {path}: {str(exc).splitlines()[0]}") from None
    for key in ("state_dict", "model", "teacher"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    return {k.removeprefix("module.").removeprefix("backbone."): v for k, v in data.items()}
