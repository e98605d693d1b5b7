"""Finding and loading a profile's weights: local path, Hugging Face cache, or builtin toy.

Runs never download implicitly: a sweep that silently pulls 4 GB on a cluster node
with no internet hangs or dies deep inside a library. Instead every run checks up
front that each model it needs is present and, if not, names each missing one and
the command that fetches it (`bench models download`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.profiles import Profile

BUILTIN_TINY = "builtin:tiny"
BUILTIN_SD15_SIZED = "builtin:sd15-sized-random"
BUILTINS = (BUILTIN_TINY, BUILTIN_SD15_SIZED)
# Weights torchvision keeps in torch hub's cache (LPIPS's AlexNet trunk), named by file.
TORCHHUB_PREFIX = "torchhub:"
# The pocket world's weights, shipped inside the `pocket` package (`pocket:base`, `pocket:lpips/alexnet-pocket.pth`).
POCKET_PREFIX = "pocket:"
POCKET_HINT = "the pocket world's weights are built by `bench pocket build` (see docs/pocket.md)"


def pocket_weights_dir() -> Path:
    """Where the shipped pocket weights live (found without importing the `pocket` package)."""
    from importlib.util import find_spec

    return Path(find_spec("pocket").origin).parent / "weights"


def pocket_file(source: str) -> Path:
    return pocket_weights_dir() / source[len(POCKET_PREFIX) :]


def torchhub_file(source: str) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / source[len(TORCHHUB_PREFIX) :]


@dataclass(frozen=True)
class ModelStatus:
    role: str
    source: str
    present: bool
    # resolved folder/file, or why it is missing
    where: str


def hub_cache_dir() -> str:
    """The Hugging Face cache, read from the environment at call time (the library reads it at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def _looks_local(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(source))


def locate(role: str, source: str, allow_patterns: tuple[str, ...] = ()) -> ModelStatus:
    """Where the weights for `source` are on this machine, without any network access."""
    if source in BUILTINS:
        return ModelStatus(role, source, True, "built in (random weights)")
    if source.startswith(TORCHHUB_PREFIX):
        path = torchhub_file(source)
        if path.is_file():
            return ModelStatus(role, source, True, str(path))
        return ModelStatus(role, source, False, f"not in torch hub's cache ({path})")
    if source.startswith(POCKET_PREFIX):
        path = pocket_file(source)
        if path.exists():
            return ModelStatus(role, source, True, str(path))
        return ModelStatus(role, source, False, f"not built yet: {path} does not exist; {POCKET_HINT}")
    if _looks_local(source):
        path = Path(source).expanduser()
        if path.exists():
            return ModelStatus(role, source, True, str(path))
        return ModelStatus(role, source, False, f"local path {path} does not exist")
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            source, local_files_only=True, allow_patterns=list(allow_patterns) or None, cache_dir=hub_cache_dir()
        )
    except Exception:
        return ModelStatus(role, source, False, "not in the Hugging Face cache")
    if not any(Path(folder).rglob("*")):
        return ModelStatus(role, source, False, "Hugging Face cache entry is empty")
    return ModelStatus(role, source, True, folder)


def model_statuses(profile: Profile, sources: dict[str, str], roles: list[str] | None = None) -> list[ModelStatus]:
    wanted = roles if roles is not None else list(sources)
    return [locate(role, sources[role], profile.models[role].hub_files) for role in wanted]


def require_models(profile: Profile, sources: dict[str, str], roles: list[str]) -> dict[str, str]:
    """Return role -> local location, or fail naming every missing model and how to get it."""
    statuses = model_statuses(profile, sources, roles)
    missing = [s for s in statuses if not s.present]
    local = [s for s in missing if _looks_local(s.source)]
    # a mistyped path: downloading would not help
    if local:
        named = "; ".join(f"models.{s.role}={s.source}" for s in local)
        raise BenchError(f"missing weights: {named}: no such folder or file on this machine")
    pocket = [s for s in missing if s.source.startswith(POCKET_PREFIX)]
    if pocket:
        named = "; ".join(f"{s.role}={s.source}" for s in pocket)
        raise BenchError(f"missing weights: {named}: {POCKET_HINT}")
    if missing:
        named = "; ".join(f"{s.role}={s.source} ({s.where})" for s in missing)
        raise BenchError(
            f"missing weights: {named}. Fetch them with `bench models download --profile {profile.name}` "
            f"on a connected machine, or point --set models.ROLE=/local/path at a copy"
        )
    if any(s.source.startswith(POCKET_PREFIX) for s in statuses):
        refuse_changed_pocket_weights()
    return {s.role: s.where for s in statuses}


def refuse_changed_pocket_weights() -> None:
    """The shipped pocket weights are part of the protocol: every file must match its SHA-256 in the manifest."""
    from benchmark.models.weights_manifest import manifest_problems

    problems = manifest_problems(pocket_weights_dir())
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BenchError(
            f"pocket weights changed: {problems[0]}{more}; reinstall the package or rebuild them ({POCKET_HINT})"
        )


def download_models(profile: Profile, sources: dict[str, str]) -> list[ModelStatus]:
    """Prefetch every hub model of the profile into the Hugging Face cache."""
    from huggingface_hub import snapshot_download

    results = []
    for role, source in sources.items():
        status = locate(role, source, profile.models[role].hub_files)
        if status.present or source in BUILTINS or _looks_local(source) or source.startswith(POCKET_PREFIX):
            results.append(status)
            continue
        try:
            if source.startswith(TORCHHUB_PREFIX):
                folder = _download_torchvision_alexnet(source)
            else:
                folder = snapshot_download(
                    source, allow_patterns=list(profile.models[role].hub_files) or None, cache_dir=hub_cache_dir()
                )
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BenchError(f"could not download {role}={source}: {reason}") from None
        results.append(ModelStatus(role, source, True, folder))
    return results


def _download_torchvision_alexnet(source: str) -> str:
    """torchvision's ImageNet AlexNet (the LPIPS trunk) into torch hub's cache, where scoring reads it."""
    from torchvision.models import AlexNet_Weights

    weights = AlexNet_Weights.IMAGENET1K_V1
    if not weights.url.endswith(source[len(TORCHHUB_PREFIX) :]):
        raise BenchError(f"{source} is not torchvision's AlexNet ({weights.url.rsplit('/', 1)[-1]})")
    weights.get_state_dict(progress=True)
    return str(torchhub_file(source))


def load_base_components(source: str, location: str, device=None) -> dict:
    """The base diffusion model's parts (unet, vae, text_encoder, tokenizer) and its scheduler config.

    Parts come back on the CPU; `device` (the run's) only says where the SD-1.5-sized
    random weights may be drawn, which is much faster on a GPU. The tiny weights are
    always drawn on the CPU: they are part of a tiny run's protocol on every machine.
    """
    if source in BUILTINS:
        from benchmark.models.tiny import sd15_sized_components, tiny_components, tiny_noise_scheduler_config

        parts = tiny_components() if source == BUILTIN_TINY else sd15_sized_components(device)
        return {**parts, "scheduler_config": tiny_noise_scheduler_config()}
    from diffusers import StableDiffusionPipeline

    try:
        if location.endswith((".safetensors", ".ckpt")):
            pipe = StableDiffusionPipeline.from_single_file(location, local_files_only=True, safety_checker=None)
        else:
            pipe = StableDiffusionPipeline.from_pretrained(
                location, local_files_only=True, safety_checker=None, requires_safety_checker=False
            )
    except (OSError, ValueError) as exc:
        raise BenchError(f"could not load base model {source} from {location}: {str(exc).splitlines()[0]}") from None
    return {
        "unet": pipe.unet,
        "vae": pipe.vae,
        "text_encoder": pipe.text_encoder,
        "tokenizer": pipe.tokenizer,
        "scheduler_config": dict(pipe.scheduler.config),
    }


# read at each end of every weights file
STAMP_BYTES = 1 << 20
# and at this many evenly spaced places between
STAMP_SAMPLES, STAMP_SAMPLE_BYTES = 64, 1 << 16


def weights_stamp(location: str) -> str | None:
    """A fingerprint of the weights at a local location (folder or file): each file's relative path, size, first
    and last megabyte, and 64 evenly spaced 64 KB samples between. None for built-in random weights.

    A run's identity names its models by path or hub id; weights replaced at the same path (a retrained
    checkpoint copied over the old one) would otherwise mix images of two models in one run folder. Samples,
    not every byte, keep this well under a second for SD-1.5 (fine-tuning or merging an adapter changes
    tensors all through a file; a change confined to bytes no sample reads is not seen), and, unlike
    modification times, the stamp survives copying the folder to another node.
    """
    import hashlib

    path = Path(location)
    if path.is_file():
        files = {path.name: path}
    elif path.is_dir():
        # hidden entries (.cache/, .gitattributes) are no weights
        files = {
            p.relative_to(path).as_posix(): p
            for p in sorted(path.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        }
    else:
        return None
    digest = hashlib.sha256()
    for name, file in files.items():
        size = file.stat().st_size
        digest.update(f"{name}\0{size}\0".encode())
        with open(file, "rb") as handle:
            digest.update(handle.read(STAMP_BYTES))
            if size > 2 * STAMP_BYTES:
                step = (size - 2 * STAMP_BYTES) // (STAMP_SAMPLES + 1)
                for sample in range(1, STAMP_SAMPLES + 1):
                    handle.seek(STAMP_BYTES + sample * step)
                    digest.update(handle.read(STAMP_SAMPLE_BYTES))
                handle.seek(size - STAMP_BYTES)
                digest.update(handle.read(STAMP_BYTES))
    return digest.hexdigest()[:16]
