"""Facts about the software and machine that produced a result.

Recorded with every run so that a number can be traced to the exact code and
libraries behind it, and shown by `bench doctor`.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

TRACKED_PACKAGES = (
    "dreambench-harness",
    "torch",
    "torchvision",
    "diffusers",
    "transformers",
    "open_clip_torch",
    "timm",
    "numpy",
    "pillow",
)


def installed_version(name: str) -> str | None:
    """The installed distribution's version, None when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    return {name: installed_version(name) for name in TRACKED_PACKAGES}


def git_revision() -> str | None:
    """The harness checkout's commit (with '+dirty' for local changes), or None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def uncommitted_warning(revision: str | None, what: str) -> str | None:
    """The warning for work done by a checkout with uncommitted changes ('+dirty'), or None for a clean one."""
    if not str(revision or "").endswith("+dirty"):
        return None
    return (
        f"the harness checkout has uncommitted changes ({revision}): {what} cannot be traced to a commit, "
        "and reports of it will say so"
    )


def device_description() -> dict:
    import torch

    info = {"cuda_available": torch.cuda.is_available(), "cpu": platform.processor() or platform.machine()}
    if torch.cuda.is_available():
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def environment_record() -> dict:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_revision": git_revision(),
    }
