"""Where the DreamBench images are: a flag, then $DREAMBENCH_DIR, then the user cache.

The images are never part of the package (their licence asks for attribution, and
they are 17 MB), so every command that needs them resolves the folder the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.errors import BenchError

ENV_VAR = "DREAMBENCH_DIR"


def cache_root() -> Path:
    """The harness's cache (dataset copy, built tokenizers, class images): $BENCH_CACHE_DIR or the OS default."""
    explicit = os.environ.get("BENCH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("dreambench-harness"))


def default_dataset_dir() -> Path:
    return cache_root() / "dreambench-v1" / "dataset"


def resolve_dataset_dir(flag: str | os.PathLike | None = None, protocol: str = "dreambench-v1") -> Path:
    """Return the first configured location; fail with a line that says how to get the data.

    The pocket world's photos ship with the package, so `pocketbench-v1` needs no download
    ($DREAMBENCH_DIR, which names real DreamBench photos, does not apply to it).
    """
    if protocol == "pocketbench-v1" and not flag:
        from dataset.protocol import POCKET_DATASET

        return POCKET_DATASET
    if flag:
        where, path = "--dataset-dir", Path(flag).expanduser()
    elif os.environ.get(ENV_VAR):
        where, path = f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()
    else:
        where, path = "the cache", default_dataset_dir()
        if not path.is_dir():
            raise BenchError(
                f"DreamBench images not found in {path}; run `bench dataset download`, "
                f"or point --dataset-dir or ${ENV_VAR} at a copy of google/dreambooth's dataset/ folder"
            )
    if path.exists() and not path.is_dir():
        raise BenchError(f"dataset folder {path} (from {where}) is a file; give the folder of subject folders")
    if not path.is_dir():
        raise BenchError(f"dataset folder {path} (from {where}) does not exist")
    return path
