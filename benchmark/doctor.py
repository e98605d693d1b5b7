"""`bench doctor`: everything a run needs, checked before a job waits hours in a queue for it.

Each check gives one line; a check whose failure would stop `bench run` marks it a
problem, so the command's exit status can gate a job script (`bench doctor --profile
sd15 && sbatch ...`). Things that only limit what can be asked for (Ray for
`--executor ray`, bitsandbytes for 8-bit Adam, weights of a profile not asked about)
are shown but are not problems.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

from benchmark.environment import installed_version
from benchmark.errors import BenchError

DISTRIBUTION = "dreambench-harness"
# What each optional extra enables, for the line that says it is missing.
OPTIONAL_PACKAGES = {
    "ray": "needed for --executor ray",
    "bitsandbytes": "needed for 8-bit Adam on CUDA: options.dreambooth.use_8bit_adam",
}
# Under this much free space a full sweep's images, checkpoints and caches may not fit.
LOW_DISK_GIB = 20.0


@dataclass(frozen=True)
class Check:
    topic: str
    text: str
    problem: bool = False


def declared_requirements() -> list[tuple[str, str, str | None]]:
    """(name, version specifier, extra or None) of each dependency, read from the installed metadata so the floors
    never drift from pyproject.toml; from a source tree never installed, the tracked names without floors."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        declared = requires(DISTRIBUTION) or []
    except PackageNotFoundError:
        # run from a source tree that was never installed
        from benchmark.environment import TRACKED_PACKAGES

        return [(name, "", None) for name in TRACKED_PACKAGES if name != DISTRIBUTION]
    found = []
    for line in declared:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", str(requirement.marker or ""))
        found.append((requirement.name, str(requirement.specifier), extra.group(1) if extra else None))
    return found


def required_package_names() -> list[str]:
    """The harness's hard dependencies (no extra's)."""
    return list(dict.fromkeys(name for name, _, extra in declared_requirements() if extra is None))


def version_check(name: str, specifier: str, required: bool, purpose: str = "") -> Check:
    """One package against the versions pyproject.toml allows: missing or outside them is a problem when `bench run`
    needs the package (an open_clip below 3.0 cannot load real CLIP weights, say)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    found = installed_version(name)
    wanted = f" (needs {specifier})" if specifier else ""
    if found is None:
        if required:
            return Check(name, f"NOT INSTALLED{wanted}: pip install -e .", problem=True)
        return Check(name, f"not installed ({purpose})" if purpose else f"not installed{wanted}")
    try:
        allowed = not specifier or SpecifierSet(specifier).contains(Version(found), prereleases=True)
    except InvalidVersion:
        # a local build's odd version string: nothing to compare
        allowed = True
    if allowed:
        return Check(name, f"{found} (ok: {specifier})" if specifier else found)
    fix = "pip install -e ." if required else f"pip install '{name}{specifier}'"
    return Check(name, f"{found} is outside {specifier}: {fix}", problem=required)


def package_checks() -> list[Check]:
    checks = []
    harness = installed_version(DISTRIBUTION)
    checks.append(Check("harness", harness or "not installed as a package (run from source)"))
    declared = declared_requirements()
    for name, specifier, extra in declared:
        if extra is None:
            checks.append(version_check(name, specifier, required=True))
    extras = {name: specifier for name, specifier, extra in declared if extra is not None}
    for name, purpose in OPTIONAL_PACKAGES.items():
        checks.append(version_check(name, extras.get(name, ""), required=False, purpose=purpose))
    return checks


def torch_build_check() -> Check:
    """Which torch build is installed: a CUDA build on a machine without a GPU is gigabytes of libraries it cannot
    use, and a CPU-only build on a GPU machine runs everything on the CPU."""
    import torch

    cuda = torch.version.cuda
    if not cuda:
        text = f"{torch.__version__}: CPU-only build"
        if torch.cuda.is_available() is False and _has_nvidia_device():
            text += " on a machine with an NVIDIA GPU: install a CUDA build to use it"
        return Check("torch build", text)
    text = f"{torch.__version__}: CUDA {cuda} build"
    if not torch.cuda.is_available():
        text += (
            " with no usable GPU here; on a machine without one, the CPU-only build saves gigabytes "
            "(README: Quick start)"
        )
    return Check("torch build", text)


def _has_nvidia_device() -> bool:
    return Path("/proc/driver/nvidia/gpus").is_dir() and any(Path("/proc/driver/nvidia/gpus").iterdir())


def _free_gib(path: Path) -> float | None:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free / 2**30
    except OSError:
        return None


def storage_checks() -> list[Check]:
    from benchmark.models.loading import hub_cache_dir
    from dataset.locate import cache_root

    checks = []
    free = _free_gib(Path.cwd())
    low = free is not None and free < LOW_DISK_GIB
    text = f"{free:.1f} GiB free in {Path.cwd()}" if free is not None else f"cannot read free space of {Path.cwd()}"
    checks.append(Check("disk", text + (f" (under {LOW_DISK_GIB:.0f} GiB: a full sweep may not fit)" if low else "")))
    cache = cache_root()
    origin = "$BENCH_CACHE_DIR" if os.environ.get("BENCH_CACHE_DIR") else "default; $BENCH_CACHE_DIR moves it"
    free = _free_gib(cache)
    room = f", {free:.1f} GiB free" if free is not None else ""
    checks.append(Check("cache", f"{cache} ({origin}{room}): dataset copy, class images, embeddings"))
    offline = " (HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") else ""
    checks.append(Check("hf cache", f"{hub_cache_dir()}{offline}"))
    return checks


def dataset_check(dataset_dir: str | os.PathLike | None, protocol: str = "dreambench-v1") -> Check:
    from dataset.locate import resolve_dataset_dir
    from dataset.protocol import load_protocol
    from dataset.validate import find_problems, first_of

    try:
        root = resolve_dataset_dir(dataset_dir, protocol)
    except BenchError as exc:
        return Check("dataset", str(exc), problem=True)
    problems = find_problems(root, load_protocol(protocol))
    if not problems:
        return Check("dataset", f"{root}: ok, every hash matches")
    return Check("dataset", f"{root}: {first_of(problems)}", problem=True)


def weight_checks(profile_names: list[str], required: set[str]) -> list[Check]:
    """One line per model of each profile, then whether the profile can run; only `required` profiles count."""
    from benchmark.models.loading import POCKET_HINT, POCKET_PREFIX, model_statuses
    from benchmark.profiles import get_profile

    checks = []
    for name in profile_names:
        profile = get_profile(name)
        sources = {role: spec.source for role, spec in profile.models.items()}
        statuses = model_statuses(profile, sources)
        for status in statuses:
            mark = "present" if status.present else "MISSING"
            checks.append(Check("weights", f"{name}/{status.role:<5} {mark:<8} {status.source}  {status.where}"))
        missing = [s.role for s in statuses if not s.present]
        changed = _pocket_weight_problems(statuses) if not missing else []
        if changed:
            checks.append(Check("profile", f"{name}: not ready, {changed[0]}", problem=name in required))
            continue
        if missing:
            how = f"`bench models download --profile {name}` on a connected machine, or --set models.ROLE=/local/path"
            if any(s.source.startswith(POCKET_PREFIX) for s in statuses if not s.present):
                how = POCKET_HINT
            text = f"{name}: not ready, missing {', '.join(missing)} ({how})"
        else:
            text = f"{name}: ready" + ("" if profile.meaningful else " (random weights: timings only, no real numbers)")
        checks.append(Check("profile", text, problem=bool(missing) and name in required))
    return checks


def _pocket_weight_problems(statuses) -> list[str]:
    """What differs from the pocket weights' manifest, when a profile uses them."""
    from benchmark.models.loading import POCKET_PREFIX, pocket_weights_dir
    from benchmark.models.weights_manifest import manifest_problems

    if not any(s.source.startswith(POCKET_PREFIX) for s in statuses):
        return []
    return [f"pocket weights changed: {p}" for p in manifest_problems(pocket_weights_dir())]


def _guarded(topic: str, check) -> list[Check]:
    """A check that cannot even run (torch installed but broken, say) is itself the problem to report."""
    try:
        found = check()
    except BenchError:
        raise
    except Exception as exc:
        # the point of doctor is to say what is broken, not to die of it
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [Check(topic, f"cannot check: {type(exc).__name__}: {reason}", problem=True)]
    return found if isinstance(found, list) else [found]


def _device_check() -> Check:
    from benchmark.environment import device_description

    device = device_description()
    return Check("device", f"CUDA: {', '.join(device.get('cuda_devices', [])) or 'none (CPU only)'}")


def plugin_checks() -> list[Check]:
    """Installed method plug-ins: one that fails to import is a problem, since a job asking for its methods
    would stop at 'unknown method' after waiting in the queue (the other methods still run)."""
    from methods.registry import available_methods, broken_plugins, method_origin

    found = [name for name, cls in available_methods().items() if method_origin(cls) is not None]
    broken = broken_plugins()
    checks = [Check("plug-ins", f"installed methods: {', '.join(found)}")] if found else []
    return checks + [Check("plug-ins", line, problem=True) for line in broken]


def run_checks(profile: str | None, dataset_dir: str | os.PathLike | None) -> list[Check]:
    from benchmark.environment import git_revision
    from benchmark.profiles import PROFILES, get_profile

    if profile:
        # an unknown name fails before anything is checked
        get_profile(profile)
    checks = [Check("python", f"{sys.version.split()[0]} ({platform.platform()})")]
    checks += package_checks()
    checks.append(Check("git", git_revision() or "not a git checkout"))
    checks += _guarded("torch build", torch_build_check)
    checks += _guarded("device", _device_check)
    checks += _guarded("storage", storage_checks)
    # the dataset the named profile runs on (the pocket world's ships with the package); DreamBench otherwise
    protocol = get_profile(profile).dataset if profile else "dreambench-v1"
    checks += _guarded("dataset", lambda: dataset_check(dataset_dir, protocol))
    checks += _guarded("plug-ins", plugin_checks)
    names = [profile] if profile else list(PROFILES)
    checks += _guarded("weights", lambda: weight_checks(names, required={profile} if profile else set()))
    return checks
