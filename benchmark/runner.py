"""`bench run`: check everything up front, then execute the planned cells.

All checks that can fail on user input (subjects, methods and their options, the
dataset, the weights, the output directory) run before any work starts, so a
mistake costs seconds, not a half-finished sweep. Work that fails inside a cell is
recorded and the rest of the run goes on; the run then exits non-zero.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmark import determinism
from benchmark.config import RunConfig
from benchmark.devices import resolve_device
from benchmark.environment import environment_record, uncommitted_warning
from benchmark.errors import BenchError
from benchmark.eta import eta_text, remaining_seconds
from benchmark.executors import check_ray_address, resolve_executor, run_local, run_processes, run_ray
from benchmark.generation import CellResult, CellSpec
from benchmark.metrics.records import DIV_MIN_SIDE
from benchmark.models.loading import require_models, weights_stamp
from benchmark.planning import plan_cells, plan_groups, shard_cells
from benchmark.profiles import Profile, get_profile
from benchmark.seeds import SEED_SCHEME
from benchmark.store.atomic import atomic_write_text
from benchmark.store.containment import refuse_links_out
from benchmark.store.lock import run_lock
from benchmark.store.run_dir import LAYOUT_VERSION, RunStore, recorded_includes
from benchmark.weights_notice import BANNER_FILE, not_meaningful_banner, pocket_world_banner
from dataset.locate import cache_root, resolve_dataset_dir
from dataset.protocol import ATTRIBUTION, load_protocol
from dataset.validate import unusable_subjects
from methods.interface import Method
from methods.labels import earlier_labels, identity_options, method_label, same_outputs_as
from methods.options import resolve_options
from methods.provenance import builtin_versions, plugin_code_fingerprint
from methods.registry import available_methods, broken_plugins, get_method_class


@dataclass
class RunSummary:
    run_dir: Path
    results: list[CellResult] = field(default_factory=list)
    seconds: float = 0.0
    records: dict[str, int] = field(default_factory=dict)
    # benchmark.metrics.ScoreReport when the run was scored
    scores: object | None = None

    @property
    def generated(self) -> int:
        return sum(r.generated for r in self.results)

    @property
    def reused(self) -> int:
        return sum(r.reused for r in self.results)

    @property
    def failures(self) -> list[CellResult]:
        return [r for r in self.results if r.error]


# A batch system's job identity, logged with each invocation so a run directory's history names its jobs.
SCHEDULER_VARIABLES = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST")


def default_output_dir(config: RunConfig) -> Path:
    return Path("runs") / f"{config.profile}-{config.identity_hash()[:10]}"


def run_manifest(
    config: RunConfig,
    protocol,
    dataset_dir: Path,
    device: torch.device,
    locations: dict[str, str] | None,
    profile: Profile,
) -> dict:
    """What run.json records of a run (`profile`: the config's, resolved by `prepare_run`)."""
    stamp = weights_stamp(locations["base"]) if locations and "base" in locations else None
    return {
        # the bytes behind models.base: checked on every resume
        **({"base_weights": stamp} if stamp else {}),
        "layout_version": LAYOUT_VERSION,
        "protocol": protocol.version,
        "dataset_sha256": protocol.fingerprint,
        # where `bench score` looks first for the real images
        "dataset_dir": str(Path(dataset_dir).resolve()),
        "profile": profile.name,
        "meaningful": profile.meaningful,
        "identity": config.identity(),
        "identity_sha256": config.identity_hash(),
        # CPU and GPU kernels round differently: images of one run all come from one kind of device.
        "device_type": device.type,
        **determinism.manifest_entry(device, config.deterministic),
        "models": {
            role: {"source": source, "purpose": profile.models[role].purpose}
            for role, source in config.model_sources().items()
        },
        "seeds": {"base_seed": config.seed, "scheme": SEED_SCHEME},
        "attribution": ATTRIBUTION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": environment_record(),
    }


# Which model each metric needs, so a run checks them before generating anything.
METRIC_ROLES = {"dino": "dino", "pres": "dino", "clip-i": "clip", "clip-t": "clip", "div": "lpips"}


def scoring_roles(config: RunConfig, profile: Profile) -> list[str]:
    """Scoring models a real profile must have on disk (random profiles score with built-in toys)."""
    metrics = config.metrics or list(METRIC_ROLES)
    unknown = [m for m in metrics if m not in METRIC_ROLES]
    if unknown:
        raise BenchError(f"unknown metric '{unknown[0]}'; `bench ls metrics` lists {', '.join(METRIC_ROLES)}")
    if not config.score or not profile.meaningful:
        return []
    return [role for role in dict.fromkeys(METRIC_ROLES[m] for m in metrics) if role in profile.models]


def refuse_resolution_below_div(config: RunConfig) -> None:
    """DIV's LPIPS needs images of DIV_MIN_SIDE pixels or more: a smaller resolution is said before any work,
    not after every image was generated."""
    resolution = config.resolved_generation().resolution
    metrics = config.metrics or list(METRIC_ROLES)
    if (
        config.score
        and "div" in metrics
        and config.images_per_prompt > 1
        and (resolution or DIV_MIN_SIDE) < DIV_MIN_SIDE
    ):
        raise BenchError(
            f"generation.resolution={resolution} is smaller than the {DIV_MIN_SIDE} pixels DIV's LPIPS "
            f"needs; sample at {DIV_MIN_SIDE + (-DIV_MIN_SIDE) % 8} or more, or leave DIV out "
            "(metrics=[dino,clip-i,clip-t,pres])"
        )


# NAME_MAX of ext4, xfs, Lustre and GPFS
MAX_FOLDER_NAME_BYTES = 255


# Kernel pseudo file systems: files there are the kernel's, and a run written there would hold nothing.
PSEUDO_FILE_SYSTEMS = (Path("/proc"), Path("/sys"))


def refuse_unwritable_place(run_dir: Path) -> None:
    """An output directory no run could write, said before any work and by `--dry-run` too: under /proc or /sys,
    or below a file or a folder this user may not write."""
    resolved = Path(run_dir).resolve()
    for pseudo in PSEUDO_FILE_SYSTEMS:
        if resolved.is_relative_to(pseudo):
            what = f"{pseudo}, a kernel pseudo file system that holds no files"
            raise BenchError(f"output directory {run_dir} is under {what}: choose a folder on disk")
    existing = next(path for path in (resolved, *resolved.parents) if path.exists())
    # (the folder itself a file: the run directory check says)
    if existing != resolved and not existing.is_dir():
        raise BenchError(f"output directory {run_dir}: {existing} is a file, not a folder; choose another --output-dir")
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise BenchError(f"output directory {run_dir}: {existing} is not writable by this user; use another one")


def _log_to_stderr(message: str) -> None:
    from tqdm.auto import tqdm

    # above a progress bar instead of through it
    tqdm.write(message, file=sys.stderr)


@dataclass(frozen=True)
class PlannedMethod:
    """One method of a run, resolved once: its class, the label its results are filed under, its options."""

    label: str
    cls: type[Method]
    options: dict

    @property
    def name(self) -> str:
        return self.cls.name


def plan_methods(config: RunConfig, run_dir: Path | None = None) -> tuple[list[PlannedMethod], dict[str, type[Method]]]:
    """Each method of the run resolved (its class, label and options), and every method known by name.

    A folder that an earlier version labelled otherwise (an option at its default value,
    `dreambooth[steps=6]` on tiny, now `dreambooth`; an int for a float option) keeps its
    label in `run_dir`, so resuming it finds its finished work instead of training it again.
    """
    unknown = sorted(set(config.options) - set(config.methods))
    if unknown:
        presets = _presets_in_run(config, unknown[0], _known_or_none(config))
        hint = (
            f" (its preset {presets[0]} is a method of its own: options.{presets[0]}.KEY=V sets it)" if presets else ""
        )
        raise BenchError(f"options.{unknown[0]}: '{unknown[0]}' is not among the methods of this run{hint}")
    planned = []
    for name in dict.fromkeys(config.methods):
        try:
            cls = get_method_class(name, config.include)
        except BenchError as exc:
            raise BenchError(f"{exc}{_recorded_include_hint(config, run_dir)}") from None
        given = config.options.get(name)
        label = method_label(cls, given, config.profile)
        if run_dir is not None and not (Path(run_dir) / label / "method.json").exists():
            # as labels were made before
            for earlier in earlier_labels(cls, given, config.profile):
                if (Path(run_dir) / earlier / "method.json").exists():
                    label = earlier
                    break
        # refused before run.json, not at the first mkdir
        if len(label.encode("utf-8")) > MAX_FOLDER_NAME_BYTES:
            raise BenchError(
                f"options of method '{name}' make a results folder name of {len(label.encode())} bytes "
                f"(file systems allow {MAX_FOLDER_NAME_BYTES}): {label[:60]}...; shorten the values, "
                "or register a preset with them as its defaults"
            )
        planned.append(PlannedMethod(label, cls, resolve_options(cls, given, config.profile)))
    return planned, available_methods(config.include)


def _known_or_none(config: RunConfig) -> dict[str, type[Method]]:
    """Every method known, or none when loading them fails (said with its own message later)."""
    with contextlib.suppress(BenchError):
        return available_methods(config.include)
    return {}


def _presets_in_run(config: RunConfig, base: str, known: dict[str, type[Method]]) -> list[str]:
    """The run's methods that are presets (`register_preset`) of `base`."""
    return [name for name in dict.fromkeys(config.methods) if getattr(known.get(name), "preset_of", None) == base]


def run_warnings(prepared: PreparedRun) -> list[str]:
    """What a run says before any work: installed plug-ins that failed to import (their methods cannot run;
    the others can), then `preset_notes`."""
    return [f"{line}: its methods cannot run" for line in broken_plugins()] + preset_notes(prepared)


def preset_notes(prepared: PreparedRun) -> list[str]:
    """Where options and presets do not meet as a user would think, one note each, said before any work.

    - `--method dreambooth,dreambooth-no-prior --set options.dreambooth.steps=400` reads as "every arm
      at 400 steps", but a preset is a method of its own and keeps its defaults. The report never pairs
      arms run with different options, so nothing is mixed; the note saves a night of GPU time spent
      on arms that cannot be compared.
    - `dreambooth[prior_preservation=False]` trains what the preset `dreambooth-no-prior` does, under a
      label the ablation tables and other runs do not look for.
    """
    config, known, notes = prepared.config, prepared.known_methods, []
    for method in prepared.methods:
        twin = None
        if method.label != method.name:
            twin = same_outputs_as(method.cls, method.options, config.profile, known)
        if twin:
            notes.append(
                f"{method.label} trains what {twin} trains (its defaults are these options): --method {twin} files "
                "the results where the ablation tables and other runs look for them"
            )
    for base, given in config.options.items():
        base_cls = known[base]
        for preset in _presets_in_run(config, base, known):
            preset_cls = known[preset]
            resolved = resolve_options(preset_cls, config.options.get(preset), config.profile)
            missing = sorted(
                key
                for key in given
                # checkpointing and such change no output
                if key not in base_cls.run_options
                # not what it ablates
                and preset_cls.default_options.get(key) == base_cls.default_options.get(key)
                # the preset does not run with that value anyway
                and resolved.get(key) != given[key]
            )
            if missing:
                keys = " and ".join(f"options.{base}.{key}" for key in missing)
                sets = " ".join(f"--set options.{preset}.{key}={given[key]}" for key in missing)
                notes.append(
                    f"{keys} {'does' if len(missing) == 1 else 'do'} not reach {preset} (a preset is a method of "
                    f"its own, run at its own defaults): add {sets} if the two are to be compared as an ablation"
                )
    return notes


def _recorded_include_hint(config: RunConfig, run_dir: Path | None) -> str:
    """'; this run loaded plug-ins with --include FILE' when resuming a run without the files that define its
    methods (config.yaml records them), so the fix is in the message."""
    if run_dir is None:
        return ""
    missing = [path for path in recorded_includes(run_dir) if path not in [str(p) for p in config.include]]
    if not missing:
        return ""
    flags = " ".join(f"--include {path}" for path in missing)
    return f"; this run's methods were loaded with {flags}: give it again to resume"


@dataclass
class PreparedRun:
    """A configuration checked against everything outside it (subjects, methods, dataset, weights, device), its
    names resolved to the objects they stand for: nothing after `prepare_run` looks a method or profile up."""

    config: RunConfig
    protocol: object
    subjects: list
    profile: Profile
    methods: list[PlannedMethod]
    # every method known by name (the run's and the others): what presets and their twins are looked for in
    known_methods: dict[str, type[Method]]
    dataset_dir: Path
    locations: dict[str, str]
    device: torch.device
    run_dir: Path
    # subject -> why its dataset images cannot be used
    unusable: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [method.label for method in self.methods]

    @property
    def method_names(self) -> dict[str, str]:
        """label -> registered method name (what worker processes look the class up by)."""
        return {method.label: method.name for method in self.methods}

    @property
    def method_options(self) -> dict[str, dict]:
        return {method.label: method.options for method in self.methods}

    def method(self, label: str) -> PlannedMethod:
        return next(method for method in self.methods if method.label == label)

    @property
    def store(self) -> RunStore:
        return RunStore(self.run_dir)

    def manifest(self) -> dict:
        return run_manifest(self.config, self.protocol, self.dataset_dir, self.device, self.locations, self.profile)

    def method_record(self, label: str) -> tuple[dict, frozenset[str]]:
        """What `method.json` holds for a method of this run, and the options that stay out of its key."""
        method = self.method(label)
        cls = method.cls
        info = {
            "name": cls.name,
            "preset_of": getattr(cls, "preset_of", None),
            "version": cls.version,
            "options": identity_options(cls, method.options),
            "run_identity": self.config.identity_hash(),
        }
        code = plugin_code_fingerprint(cls)
        # built-ins leave it out: their keys, and so their finished images, stay as they were
        if code is not None:
            info["plugin_code"] = code
        built_on = builtin_versions(cls)
        # a plug-in subclassing DreamBooth changes with DreamBooth's version, not only with its own
        if built_on:
            info["base_versions"] = built_on
        return info, cls.run_options

    def cells(self) -> list:
        index, count = self.config.shard_spec()
        return shard_cells(plan_cells(self.labels, self.subjects), index, count)

    def groups(self, subject: str, images_per_prompt: int) -> list:
        """The planned groups (one prompt's images) of a subject's cell."""
        config = self.config
        return plan_groups(
            self.protocol,
            self.protocol.subject(subject),
            config.seed,
            images_per_prompt,
            config.limit_prompts,
            pres=config.generate_pres,
        )


def images_on_disk(prepared: PreparedRun, store: RunStore, cell) -> tuple[int, int]:
    """(images the configuration asks of the cell, of those recorded in finished groups and present on disk).

    Read-only, without hashing: what a dry run reports as left, and how a run tells a finished cell of a
    subject whose dataset images were damaged since (kept) from an unfinished one (failed).
    """
    groups = prepared.groups(cell.subject, prepared.config.images_per_prompt)
    on_disk = 0
    for group in groups:
        try:
            payload = json.loads(store.group_path(cell.method, cell.subject, group.prompt.index).read_text("utf-8"))
            records = payload["records"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not isinstance(records, list):
            continue
        # Each image's own file and seed, no record missing or twice (no hashing here: the run checks them whole).
        files = [store.image_path(cell.method, cell.subject, group.prompt.index, i) for i in range(len(group.seeds))]
        planned = [(path.relative_to(store.root).as_posix(), group.seeds[i]) for i, path in enumerate(files)]
        said = [(r.get("file"), r.get("seed")) if isinstance(r, dict) else None for r in records]
        if said == planned and all(path.exists() for path in files):
            on_disk += len(files)
    return sum(len(g.seeds) for g in groups), on_disk


def prepare_run(config: RunConfig, *, device_must_exist: bool = True) -> PreparedRun:
    """Every check that can fail on user input, before any work: a mistake costs seconds.

    Args:
        config: the run's configuration.
        device_must_exist: False for a dry run on a login node without the GPU the jobs will get: the device
            named is taken as the one the work will run on.

    Returns:
        The run with its names resolved (methods, profile, dataset, weights, device).
    """
    profile = get_profile(config.profile)
    protocol = load_protocol(profile.dataset)
    subjects = protocol.select(config.subjects)
    most = max(len(protocol.prompts_for(subject)) for subject in subjects)
    if config.limit_prompts is not None and config.limit_prompts > most:
        # Not capped silently: the run would be filed as a smoke run of "the first 26 of 25 prompts".
        raise BenchError(
            f"limit_prompts {config.limit_prompts} is more than the {most} prompts a subject has; "
            "leave --limit-prompts out to run them all"
        )
    run_dir = Path(config.output_dir) if config.output_dir else default_output_dir(config)
    # before anything is written, moved or deleted through one
    refuse_links_out(run_dir)
    refuse_unwritable_place(run_dir)
    methods, known_methods = plan_methods(config, run_dir)
    dataset_dir = resolve_dataset_dir(config.dataset_dir, profile.dataset)
    if run_dir.resolve().is_relative_to(Path(dataset_dir).resolve()):
        # its files would sit among the subjects' photos: every later run would call the dataset damaged
        raise BenchError(f"output directory {run_dir} is inside the dataset {dataset_dir}; put runs elsewhere")
    # raises when no subject asked for is usable
    unusable = unusable_subjects(dataset_dir, subjects)
    locations = require_models(profile, config.model_sources(), ["base", *scoring_roles(config, profile)])
    refuse_resolution_below_div(config)
    device = resolve_device(config.device, must_exist=device_must_exist)
    if config.executor == "ray":
        check_ray_address(config.ray_address or os.environ.get("RAY_ADDRESS"))
    return PreparedRun(
        config=config,
        protocol=protocol,
        subjects=subjects,
        profile=profile,
        methods=methods,
        known_methods=known_methods,
        dataset_dir=dataset_dir,
        locations=locations,
        device=device,
        run_dir=run_dir,
        unusable=unusable,
    )


class CellProgress:
    """The cells of a run as they finish: each recorded at once (a run killed later still shows a failure), and
    said in a line with the time left where no progress bar shows (a batch job's log)."""

    def __init__(self, store: RunStore, cells: list, workers: int, log, cell_lines: bool):
        self.store = store
        self.cells = cells
        # Ray on a cluster says its own count (`set_workers`)
        self.workers = workers
        self.log = log
        self.cell_lines = cell_lines
        self.finished: list[CellResult] = []

    def set_workers(self, count: int) -> None:
        self.workers = count

    def __call__(self, result: CellResult) -> None:
        """One cell finished. A resumed training is said either way, since it is what a user re-running a
        killed job wants to see."""
        self.finished.append(result)
        if result.error:
            self.store.record_failure(result.cell.method, result.cell.subject, result.error, result.detail)
        else:
            self.store.clear_failure(result.cell.method, result.cell.subject)
        if self.cell_lines:
            self.log(
                f"bench: [{len(self.finished)}/{len(self.cells)} {time.strftime('%H:%M:%S')}] {result.summary()}"
                f"{eta_text(self.seconds_left())}"
            )
        elif result.resumed_from_step:
            self.log(
                f"bench: {result.cell.method}/{result.cell.subject}: training resumed from its step "
                f"{result.resumed_from_step} checkpoint"
            )
        for note in result.notes:
            self.log(f"bench: warning: {note}")

    def seconds_left(self) -> float | None:
        done = {result.cell for result in self.finished}
        return remaining_seconds(self.finished, [cell for cell in self.cells if cell not in done], self.workers)


@dataclass
class Triage:
    """The cells of a run sorted before any work: a subject whose dataset images are damaged fails its unfinished
    cells (recorded like any failure) and keeps those finished before the damage; the rest run."""

    runnable: list
    failed: list
    # finished cell -> its images on disk
    kept: dict

    def settled(self, unusable: dict[str, str]) -> list[CellResult]:
        """The damaged subjects' cells, settled without a worker."""
        results = [CellResult(cell, error=f"{unusable[cell.subject]}; fix it and re-run") for cell in self.failed]
        return results + [CellResult(cell, reused=on_disk) for cell, on_disk in self.kept.items()]


def triage_cells(prepared: PreparedRun, store: RunStore, cells: list) -> Triage:
    triage = Triage([], [], {})
    for cell in cells:
        if cell.subject not in prepared.unusable:
            triage.runnable.append(cell)
            continue
        planned, on_disk = images_on_disk(prepared, store, cell)
        if planned and on_disk == planned:
            triage.kept[cell] = on_disk
        else:
            triage.failed.append(cell)
    return triage


def _say_triage(prepared: PreparedRun, triage: Triage, log) -> None:
    for subject in dict.fromkeys(cell.subject for cell in [*triage.failed, *triage.kept]):
        done = sum(cell.subject == subject for cell in triage.kept)
        left = sum(cell.subject == subject for cell in triage.failed)
        if not done:
            fate = f"{subject}'s cells fail"
        elif not left:
            fate = f"{subject}'s cells had finished: kept as they are, and left out of scoring"
        else:
            fate = f"{subject}'s {done} finished cell(s) are kept, its {left} other(s) fail"
        log(f"bench: warning: {prepared.unusable[subject]}: {fate}, the other subjects run")


@dataclass
class CellJob:
    """What an executor is handed: the cells to run, the plain-data spec its workers rebuild the run from, and
    where each finished cell goes."""

    prepared: PreparedRun
    spec: CellSpec
    cells: list
    progress: bool
    on_cell: CellProgress
    log: object


def _run_locally(job: CellJob) -> list[CellResult]:
    total_groups = sum(len(job.prepared.groups(cell.subject, 1)) for cell in job.cells)
    return run_local(job.spec, job.cells, total_groups, job.progress, job.on_cell)


def _run_on_processes(job: CellJob) -> list[CellResult]:
    config = job.prepared.config
    return run_processes(job.spec, job.cells, config.workers, job.progress, job.on_cell, job.log)


def _run_on_ray(job: CellJob) -> list[CellResult]:
    config = job.prepared.config
    return run_ray(
        job.spec,
        job.cells,
        config.workers,
        config.ray_address,
        job.progress,
        job.on_cell,
        on_workers=job.on_cell.set_workers,
    )


# The executor of `--executor`: one process's loop, a pool of spawned workers, or a Ray cluster.
EXECUTORS = {"local": _run_locally, "process": _run_on_processes, "ray": _run_on_ray}


def executor_for(config: RunConfig):
    """The executor that runs the cells (`process` with one worker is the local loop)."""
    if config.executor == "process" and config.workers <= 1:
        return _run_locally
    return EXECUTORS.get(config.executor, _run_locally)


def _say_before_work(prepared: PreparedRun, log) -> None:
    config, profile, device = prepared.config, prepared.profile, prepared.device
    # the cells' processes switch; nothing here
    if config.deterministic and not determinism.applies(device):
        log(f"bench: deterministic=true is for CUDA: it changes nothing on {device.type}")
    if not profile.meaningful:
        log(f"bench: {not_meaningful_banner(profile.name)}")
    if profile.pocket:
        log(f"bench: {pocket_world_banner(profile.name)}")
    for note in run_warnings(prepared):
        log(f"bench: warning: {note}")


def _make_run_dir(prepared: PreparedRun) -> None:
    prepared.store.refuse_foreign_directory()
    try:
        prepared.run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot create output directory {prepared.run_dir}: {exc.strerror}") from None


def _open_run(prepared: PreparedRun, store: RunStore) -> tuple[dict[str, str], dict]:
    """run.json, the banner of a random-weight profile and each method's method.json: (each method's key, this
    invocation's environment; run.json keeps the first invocation's)."""
    manifest = prepared.manifest()
    store.open(prepared.config, manifest)
    if not prepared.profile.meaningful:
        atomic_write_text(prepared.run_dir / BANNER_FILE, not_meaningful_banner(prepared.profile.name) + "\n")
    method_keys = {label: store.open_method(label, *prepared.method_record(label)) for label in prepared.labels}
    return method_keys, manifest["environment"]


def _log_invocation(prepared: PreparedRun, store: RunStore, environment: dict, log) -> None:
    config = prepared.config
    uncommitted = uncommitted_warning(environment.get("git_revision"), "what this run makes")
    if uncommitted:
        log(f"bench: warning: {uncommitted}")
    store.log_invocation(
        {
            "argv": sys.argv,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "methods": config.methods,
            "subjects": [s.name for s in prepared.subjects],
            "shard": config.shard,
            # a smoke run, as the report labels it
            "limit_prompts": config.limit_prompts,
            "executor": config.executor,
            "workers": config.workers,
            "device": str(prepared.device),
            "deterministic": config.deterministic,
            # Where and with what: a relative --dataset-dir in argv means something only with the cwd; a
            # shard on another node may run other code or libraries than run.json's first invocation.
            "cwd": os.getcwd(),
            "git_revision": environment["git_revision"],
            "torch": environment["packages"].get("torch"),
            **{key.lower(): os.environ[key] for key in SCHEDULER_VARIABLES if key in os.environ},
        }
    )


def cell_spec(prepared: PreparedRun, method_keys: dict[str, str], progress: bool = False) -> CellSpec:
    """The run as plain data, for worker processes to rebuild it from."""
    return CellSpec(
        run_dir=str(prepared.run_dir),
        config=prepared.config.to_dict(),
        dataset_dir=str(prepared.dataset_dir),
        model_locations=prepared.locations,
        method_keys=method_keys,
        method_options=prepared.method_options,
        method_names=prepared.method_names,
        device=str(prepared.device),
        cache_dir=str(cache_root()),
        meaningful=prepared.profile.meaningful,
        progress=progress,
    )


def _run_cells(prepared: PreparedRun, store: RunStore, job: CellJob, triage: Triage) -> list[CellResult]:
    """The settled cells, then the rest on the executor; each method's generations.jsonl written either way."""
    order = [s.name for s in prepared.protocol.subjects.values()]
    try:
        settled = triage.settled(prepared.unusable)
        # recorded, counted and logged like any finished cell
        for result in settled:
            job.on_cell(result)
        results = executor_for(prepared.config)(job) if job.cells else []
        return settled + results
    except BaseException:
        # Killed (Ctrl-C, SIGTERM) or stopped (a full disk): the finished groups' records still make each
        # method's generations.jsonl, so `bench report` and `bench score` see the work done so far.
        for label in prepared.labels:
            with contextlib.suppress(Exception):
                store.write_generations_jsonl(label, order)
        raise


def _write_records(prepared: PreparedRun, store: RunStore) -> dict[str, int]:
    order = [s.name for s in prepared.protocol.subjects.values()]
    return {label: store.write_generations_jsonl(label, order) for label in prepared.labels}


def _score(prepared: PreparedRun, records: dict[str, int], results: list[CellResult], progress: bool, log):
    """Score the methods with records, when the run scores and is not one shard of several."""
    config = prepared.config
    _, count = config.shard_spec()
    if not config.score:
        return None
    if count > 1:
        # a shard scores nothing: the run is complete only with all shards
        log(
            f"bench: shard {config.shard} done; scores come from the same command without --shard once every "
            "shard has finished"
        )
        return None
    from benchmark.metrics import score_run

    scored = [label for label in prepared.labels if records[label]]
    if not scored:
        return None
    log(f"bench: scoring {', '.join(scored)}")
    try:
        return score_run(
            prepared.run_dir,
            prepared.dataset_dir,
            methods=scored,
            profile=prepared.profile,
            model_sources=config.model_sources(),
            device=str(prepared.device),
            keep_identifier=config.clip_t_keep_identifier,
            metrics=config.metrics or None,
            progress=progress,
            log=log,
        )
    # its one line ends the run: the failed cells must not vanish behind it
    except BenchError:
        for failed in (result for result in results if result.error):
            log(f"bench: FAILED {failed.cell.method}/{failed.cell.subject}: {failed.error}")
        raise


def execute_run(config: RunConfig, *, progress: bool = True, log=None, cell_lines: bool = False) -> RunSummary:
    """Run (or resume) every cell of the config, then score the run.

    Args:
        config: the run's configuration; every check that can fail on it runs before any work (`prepare_run`).
        progress: show progress bars.
        log: where one-line messages go (default: stderr, above any progress bar).
        cell_lines: a line per finished cell with the time left, for a batch job's log where no bar shows.

    Returns:
        The cells' results, the records written per method, the time taken and the scores (None when the run
        did not score: `score=false`, one shard of several, or nothing generated).

    Raises:
        BenchError: a mistake in the configuration or its surroundings, in one line, before any work; or the
            scoring's, after the failed cells were named.
    """
    log = log or _log_to_stderr
    started = time.monotonic()
    # 1. check everything, names resolved once
    prepared = prepare_run(config)
    # `executor: auto` becomes a process per core on a CPU (never more than cells): same bytes, sooner
    config = prepared.config = resolve_executor(config, prepared.device, len(prepared.cells()))
    store = prepared.store
    # 2. say what the run is, then open its directory (under its lock from here on)
    _say_before_work(prepared, log)
    _make_run_dir(prepared)
    with run_lock(prepared.run_dir, config.shard_spec()):
        method_keys, environment = _open_run(prepared, store)
        # 3. log this invocation
        _log_invocation(prepared, store, environment, log)
        # 4. triage the cells of subjects whose dataset images are damaged
        cells = prepared.cells()
        triage = triage_cells(prepared, store, cells)
        on_cell = CellProgress(store, cells, config.workers if config.executor != "local" else 1, log, cell_lines)
        job = CellJob(prepared, cell_spec(prepared, method_keys, progress), triage.runnable, progress, on_cell, log)
        # a batch job's log starts by saying what this job does
        if cell_lines:
            shard = f" (shard {config.shard})" if config.shard else ""
            log(
                f"bench: {time.strftime('%Y-%m-%d %H:%M:%S')} {len(cells)} cells{shard} of "
                f"{', '.join(prepared.labels)} into {prepared.run_dir} on {prepared.device}, {config.executor} "
                f"executor x{config.workers}"
            )
        _say_triage(prepared, triage, log)
        # 5. run the cells on the executor
        results = _run_cells(prepared, store, job, triage)
        # 6. write each method's records, then 7. score them
        records = _write_records(prepared, store)
        scores = _score(prepared, records, results, progress, log)
    return RunSummary(prepared.run_dir, results, time.monotonic() - started, records, scores)
