"""Run configuration: defaults, then a YAML file, then `--set key=value`, then CLI flags.

A config is data (like an lm-eval task), validated strictly: an unknown key or a
value of the wrong type is a one-line error, because a typo that silently falls
back to a default produces numbers that look valid and are not.

`identity()` is the part of the config that changes what is generated. Runs whose
identities differ never share an output directory; the subset of subjects or
methods, the executor and the number of workers are not part of it, since they
change how much is done, not what.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.devices import check_device_name
from benchmark.errors import BenchError
from benchmark.profiles import get_profile

SCHEDULERS = ("ddim", "pndm", "euler_ancestral", "dpm")
# Values no run can sample with, refused up front: each would fail every cell in turn, or run for ever.
# the schedulers' training timesteps (SD-1.x and tiny): diffusers refuses more
MAX_STEPS = 1000
# 64x SD-1.5's native area; 100000 px asks 40 GB for one latent batch
MAX_RESOLUTION = 4096
LIMITS = (
    ("steps", MAX_STEPS, "the schedulers have 1000 training timesteps, so no sampler takes more steps"),
    ("resolution", MAX_RESOLUTION, "no GPU holds the latents of a larger image (SD-1.5 draws 512)"),
)
EXECUTORS = ("auto", "local", "process", "ray")
DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass
class GenerationConfig:
    """Sampling settings; None means the profile's default."""

    resolution: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    # Images per sampling batch (None: one prompt's images). Up to a prompt's
    # images, batches stay inside one (subject, prompt); larger ones run through
    # consecutive prompts of the cell (full batches for a big GPU). It is part of
    # the run's identity because batching changes results by float rounding.
    batch_size: int | None = None
    dtype: str = "auto"
    # Intra-op threads for CPU generation. CPU kernels round differently with
    # different thread counts, so the count is fixed and part of the identity;
    # CPU parallelism comes from worker processes instead.
    cpu_threads: int = 1
    # Speed-ups of the sampling UNet and VAE (each can be switched off; results equal up to rounding).
    sdpa_attention: bool = True
    channels_last: bool = True
    # torch.compile of the sampling UNet: faster sampling after a compile paid once per process (minutes with
    # inductor on SD-1.5). Off by default; backend and mode count only when it is on.
    compile: bool = False
    compile_backend: str = "inductor"
    compile_mode: str = "default"


@dataclass
class RunConfig:
    profile: str = "tiny"
    methods: list[str] = field(default_factory=lambda: ["base"])
    subjects: list[str] = field(default_factory=lambda: ["all"])
    seed: int = 0
    images_per_prompt: int = 4
    limit_prompts: int | None = None
    # Also generate images_per_prompt images of "a {class}" per subject (for the PRES metric).
    generate_pres: bool = True
    # Score after generating (`bench score` does it later otherwise); metrics: empty = all registered.
    score: bool = True
    metrics: list[str] = field(default_factory=list)
    # CLIP-T text: the prompt without the identifier (default, class noun kept) or exactly as generated.
    clip_t_keep_identifier: bool = False
    output_dir: str | None = None
    dataset_dir: str | None = None
    device: str = "auto"
    # CUDA only: deterministic kernels, so the same GPU model and software repeat a run's bytes, trained weights
    # included (slower). Not part of the identity but recorded in run.json: one setting per run directory.
    deterministic: bool = False
    # auto: on a CPU the process executor with one worker per core (each pins its threads, so the bytes are those of
    # any other executor); on a GPU one cell at a time in this process. workers None: as many as that choice takes.
    executor: str = "auto"
    workers: int | None = None
    shard: str | None = None
    # an existing Ray cluster ("auto", "ray://host:10001"); none: start one here
    ray_address: str | None = None
    include: list[str] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived
    def resolved_generation(self) -> GenerationConfig:
        defaults = get_profile(self.profile).generation
        values = dataclasses.asdict(self.generation)
        for key, value in values.items():
            if value is None and key in defaults:
                values[key] = defaults[key]
        if values["batch_size"] is None:
            values["batch_size"] = self.images_per_prompt
        return GenerationConfig(**values)

    def model_sources(self) -> dict[str, str]:
        profile = get_profile(self.profile)
        unknown = set(self.models) - set(profile.models)
        if unknown:
            raise BenchError(
                f"models.{sorted(unknown)[0]}: profile '{self.profile}' has no such model "
                f"(it has: {', '.join(profile.models)})"
            )
        return {role: self.models.get(role, spec.source) for role, spec in profile.models.items()}

    def shard_spec(self) -> tuple[int, int]:
        if self.shard is None:
            return 0, 1
        return parse_shard(self.shard)

    def identity(self) -> dict:
        """What determines the bytes of every generated image (see module docstring)."""
        return {
            "profile": self.profile,
            "seed": self.seed,
            "images_per_prompt": self.images_per_prompt,
            "models": self.model_sources(),
            "generation": generation_identity(self.resolved_generation()),
        }

    def identity_hash(self) -> str:
        return stable_hash(self.identity())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


COMPILE_KEYS = ("compile", "compile_backend", "compile_mode")
# What torch.compile wraps and how; part of every key of compiled outputs, so a change of it never mixes
# bytes compiled the old way with new ones. 2: static shapes (one graph per batch shape) and, in training,
# the trained text encoder compiled too.
COMPILE_SCHEME = 2


def compile_identity(generation: GenerationConfig) -> dict:
    """The compile settings, when compiling: what they add to any key of generated bytes.

    Compilation changes kernels, hence rounding, so its settings count when it is
    on; when off they change nothing and are left out, which also keeps every key
    made before the option existed (run directories, class-image caches).
    """
    if not generation.compile:
        return {}
    return {**{key: getattr(generation, key) for key in COMPILE_KEYS}, "compile_scheme": COMPILE_SCHEME}


def generation_identity(generation: GenerationConfig) -> dict:
    """The sampling settings that decide an image's bytes."""
    values = {key: value for key, value in dataclasses.asdict(generation).items() if key not in COMPILE_KEYS}
    return {**values, **compile_identity(generation)}


def stable_hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or int(match[2]) < 1 or int(match[1]) >= int(match[2]):
        hint = ""
        # counted from 1, as a SLURM array --array=1-N does
        if match and int(match[1]) == int(match[2]) >= 1:
            hint = f"; shards count from 0, so the last of {match[2]} is {int(match[2]) - 1}/{match[2]} (--array=0-N)"
        raise BenchError(f"shard '{text}' must look like i/n with 0 <= i < n, e.g. 0/4{hint}")
    return int(match[1]), int(match[2])


# ---------------------------------------------------------------------- parsing
def _check(path: str, value: Any, annotation: Any) -> Any:
    """Validate (and lightly coerce) one value against its field's type annotation."""
    text = str(annotation)
    optional = "None" in text
    if value is None:
        if optional:
            return None
        raise BenchError(f"config key '{path}' may not be empty")
    if text.startswith("list"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BenchError(f"config key '{path}' must be a list of strings, got {value!r}")
        return value
    if text.startswith("dict"):
        if not isinstance(value, dict):
            raise BenchError(f"config key '{path}' must be a mapping, got {value!r}")
        return value
    for kind in (bool, int, float, str):
        if kind.__name__ in text.replace("dict", ""):
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if kind is float and isinstance(value, float) and not math.isfinite(value):
                # NaN would also make the run's identity unequal to itself: the run could never be resumed
                raise BenchError(f"config key '{path}' must be a finite number, got {value!r}")
            if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
                return value
            if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
    expected = " or ".join(kind.__name__ for kind in (bool, int, float, str) if kind.__name__ in text)
    raise BenchError(f"config key '{path}' must be {expected or text}, got {value!r} ({type(value).__name__})")


def _build(cls, data: dict, prefix: str = ""):
    if not isinstance(data, dict):
        raise BenchError(f"config section '{prefix.rstrip('.') or 'top level'}' must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise BenchError(f"unknown config key '{prefix}{unknown[0]}' (known: {', '.join(fields)})")
    kwargs = {}
    for name, value in data.items():
        f = fields[name]
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
            kwargs[name] = _build(f.default_factory, value or {}, f"{prefix}{name}.")
        else:
            kwargs[name] = _check(prefix + name, value, f.type)
    return cls(**kwargs)


def _validate(config: RunConfig) -> RunConfig:
    get_profile(config.profile)
    gen = config.generation
    if config.images_per_prompt < 1:
        raise BenchError("images_per_prompt must be at least 1")
    if config.limit_prompts is not None and config.limit_prompts < 1:
        raise BenchError("limit_prompts must be at least 1")
    if config.workers is not None and config.workers < 1:
        raise BenchError("workers must be at least 1")
    if config.executor not in EXECUTORS:
        raise BenchError(f"executor '{config.executor}' is not one of: {', '.join(EXECUTORS)}")
    if (config.workers or 1) > 1 and config.executor == "local":
        raise BenchError(
            f"workers={config.workers} needs --executor process or ray (the local executor runs one cell at a time)"
        )
    check_device_name(config.device)
    if config.ray_address and config.executor != "ray":
        raise BenchError(
            f"ray_address={config.ray_address} needs --executor ray (the {config.executor} executor would ignore it)"
        )
    if gen.scheduler is not None and gen.scheduler not in SCHEDULERS:
        raise BenchError(f"generation.scheduler '{gen.scheduler}' is not one of: {', '.join(SCHEDULERS)}")
    if gen.dtype not in DTYPES:
        raise BenchError(f"generation.dtype '{gen.dtype}' is not one of: {', '.join(DTYPES)}")
    for key in ("output_dir", "dataset_dir"):
        value = getattr(config, key)
        # an unset variable in a job script: not "the default"
        if value is not None and not str(value).strip():
            raise BenchError(f"{key} is empty; give a folder, or leave it out for the default")
    for key in ("resolution", "steps", "batch_size", "cpu_threads"):
        value = getattr(gen, key)
        if value is not None and value < 1:
            raise BenchError(f"generation.{key} must be at least 1")
    if gen.resolution is not None and gen.resolution % 8:
        raise BenchError("generation.resolution must be a multiple of 8")
    for key, most, why in LIMITS:
        value = getattr(gen, key)
        # found here, before any work, not by every cell in turn
        if value is not None and value > most:
            raise BenchError(f"generation.{key}={value} is more than {most}: {why}")
    # defaults need no check (nor torch)
    if gen.compile or gen.compile_mode != GenerationConfig.compile_mode:
        from methods.speedups import check_compile_settings

        check_compile_settings(gen.compile_backend, gen.compile_mode, "generation.", compiling=gen.compile)
    if not any(name.strip() for name in config.methods):
        raise BenchError("no methods given; use --method NAME[,NAME...] (`bench ls methods` lists them)")
    for role, source in config.models.items():
        if not isinstance(source, str) or not source:
            raise BenchError(f"models.{role} must be a hub id or a path, got {source!r}")
    for method, options in config.options.items():
        if not isinstance(options, dict):
            raise BenchError(f"options.{method} must map option names to values, e.g. options.{method}.steps=400")
    config.shard_spec()
    config.model_sources()
    return config


class _Loader(yaml.SafeLoader):
    """YAML as people write numbers: PyYAML follows YAML 1.1, where `1e-6` (no dot) is a string, so
    `--set options.dreambooth.learning_rate=1e-6` was refused as not a float; YAML 1.2 and Python read it
    as a number, and so does this loader."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def parse_assignment(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise BenchError(f"--set expects key=value, got '{text}'")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise BenchError(f"--set expects key=value, got '{text}'")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return parts, value


def load_config_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise BenchError(f"config file {path} does not exist") from None
    except UnicodeDecodeError:
        raise BenchError(f"config file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise BenchError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BenchError(f"config file {path}{where} is not valid YAML") from None
    if not isinstance(data, dict):
        raise BenchError(f"config file {path} must hold a mapping of keys to values")
    return data


def build_config(
    file: str | Path | None = None, assignments: list[str] = (), overrides: dict | None = None
) -> RunConfig:
    """Merge the layers in order of precedence and validate the result."""
    data: dict = load_config_file(file) if file else {}
    for text in assignments:
        parts, value = parse_assignment(text)
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise BenchError(f"--set {text}: '{part}' is not a section")
        node[parts[-1]] = value
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    return _validate(_build(RunConfig, data))


def config_from_dict(data: dict) -> RunConfig:
    return _validate(_build(RunConfig, data))
