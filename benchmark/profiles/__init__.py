"""Model profiles: which weights a run uses, which dataset it runs on, and how it generates by default.

A profile is a data file (`<name>.json`), like open_clip's model configs: the ones
shipped sit beside this module, and a user adds a base model (a local SD-2.1, an
in-house checkpoint) by dropping a file into a folder named in $BENCH_PROFILE_PATH,
without editing the package. Three kinds of weights exist, and every log and report
says which a run used:

- `pretrained`: real weights (`sd15`), loaded from the Hugging Face cache or local paths;
- `random`: toy or full-size models with random weights (`tiny`, `sd15-random`), for
  tests and timings; their numbers mean nothing;
- `pocket`: the pocket world (`pocket`), models the project pre-trains itself on a
  synthetic DreamBench; its numbers show method differences in miniature, never
  real-model numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from benchmark.errors import BenchError

PATH_VAR = "BENCH_PROFILE_PATH"
BUILTIN_DIR = Path(__file__).parent
WEIGHT_KINDS = ("pretrained", "random", "pocket")
ROLES = ("base", "dino", "clip", "lpips")
GENERATION_TYPES = {"resolution": int, "steps": int, "guidance_scale": (float, int), "scheduler": str}
DATASETS = ("dreambench-v1", "pocketbench-v1")


@dataclass(frozen=True)
class ModelSpec:
    """One model a profile needs: a hub id or local path, and what it is for."""

    role: str
    # hub repo id, local path, "builtin:tiny" for the random-weight toys, or "pocket:<name>" for the pocket world's
    source: str
    purpose: str
    # allow-patterns for `bench models download`, empty = whole repo
    hub_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    weights: str
    models: dict[str, ModelSpec]
    generation: dict
    dataset: str = "dreambench-v1"

    @property
    def meaningful(self) -> bool:
        """Whether its numbers mean anything at all (random weights: no; pretrained and pocket: yes)."""
        return self.weights != "random"

    @property
    def pocket(self) -> bool:
        return self.weights == "pocket"


def _fail(path: Path, message: str) -> BenchError:
    return BenchError(f"profile file {path}: {message}")


def _model(path: Path, role: str, raw) -> ModelSpec:
    if role not in ROLES:
        raise _fail(path, f"unknown model role '{role}'; roles are {', '.join(ROLES)}")
    if isinstance(raw, str):
        raw = {"source": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("source"), str) or not raw["source"]:
        raise _fail(path, f'models.{role} needs a "source" (hub id, local path or builtin name)')
    unknown = set(raw) - {"source", "purpose", "hub_files"}
    if unknown:
        raise _fail(path, f"models.{role} has unknown key '{sorted(unknown)[0]}' (source, purpose, hub_files)")
    files = raw.get("hub_files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise _fail(path, f"models.{role}.hub_files must be a list of file patterns")
    return ModelSpec(role, raw["source"], str(raw.get("purpose", role)), tuple(files))


def parse_profile(path: Path) -> Profile:
    """One profile file, checked field by field so a mistake is one line naming the file and the field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    except ValueError as exc:
        raise _fail(path, f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _fail(path, "must hold a JSON object")
    allowed = {"description", "weights", "models", "generation", "dataset"}
    unknown = set(data) - allowed
    if unknown:
        raise _fail(path, f"unknown key '{sorted(unknown)[0]}'; keys are {', '.join(sorted(allowed))}")
    weights = data.get("weights")
    if weights not in WEIGHT_KINDS:
        raise _fail(path, f'"weights" must be one of {", ".join(WEIGHT_KINDS)}')
    models = data.get("models")
    if not isinstance(models, dict) or "base" not in models:
        raise _fail(path, '"models" must name at least the "base" model')
    generation = data.get("generation")
    # every run resolves its sampling defaults from here: a key left out would surface deep inside a worker
    if not isinstance(generation, dict) or set(generation) != set(GENERATION_TYPES):
        raise _fail(path, f'"generation" must give exactly {", ".join(GENERATION_TYPES)}')
    for key, kind in GENERATION_TYPES.items():
        if not isinstance(generation[key], kind) or isinstance(generation[key], bool):
            raise _fail(
                path, f"generation.{key} must be {'a number' if isinstance(kind, tuple) else 'an ' + kind.__name__}"
            )
    dataset = data.get("dataset", "dreambench-v1")
    if dataset not in DATASETS:
        raise _fail(path, f'"dataset" must be one of {", ".join(DATASETS)}')
    return Profile(
        name=path.stem,
        description=str(data.get("description", "")),
        weights=weights,
        models={role: _model(path, role, raw) for role, raw in models.items()},
        generation=dict(generation),
        dataset=dataset,
    )


def profile_dirs() -> list[Path]:
    """The shipped profiles' folder, then each folder in $BENCH_PROFILE_PATH (os.pathsep-separated)."""
    extra = [Path(p).expanduser() for p in os.environ.get(PATH_VAR, "").split(os.pathsep) if p]
    return [BUILTIN_DIR, *extra]


@lru_cache(maxsize=8)
def _load(dirs: tuple[Path, ...]) -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    where: dict[str, Path] = {}
    for folder in dirs:
        if folder != BUILTIN_DIR and not folder.is_dir():
            raise BenchError(f"${PATH_VAR} names {folder}, which is not a folder")
        for path in sorted(folder.glob("*.json"), key=lambda p: p.stem):
            profile = parse_profile(path)
            if profile.name in found:
                raise BenchError(f"profile '{profile.name}' is defined twice: {where[profile.name]} and {path}")
            found[profile.name], where[profile.name] = profile, path
    return found


def all_profiles() -> dict[str, Profile]:
    return _load(tuple(profile_dirs()))


class _Profiles(Mapping):
    """Every known profile by name, read from the profile folders when asked (so $BENCH_PROFILE_PATH set after
    import still counts)."""

    def __getitem__(self, name: str) -> Profile:
        return all_profiles()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(all_profiles())

    def __len__(self) -> int:
        return len(all_profiles())


PROFILES: Mapping[str, Profile] = _Profiles()


def get_profile(name: str) -> Profile:
    profiles = all_profiles()
    try:
        return profiles[name]
    except KeyError:
        raise BenchError(f"unknown profile '{name}'; choose one of: {', '.join(profiles)}") from None
