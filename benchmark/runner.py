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
from benchmark.profiles import get_profile
from benchmark.seeds import SEED_SCHEME
from benchmark.store.atomic import atomic_write_text
from benchmark.store.containment import refuse_links_out
from benchmark.store.lock import run_lock
from benchmark.store.run_dir import LAYOUT_VERSION, RunStore, recorded_includes
from dataset.locate import cache_root, resolve_dataset_dir
from dataset.protocol import ATTRIBUTION, load_protocol
from dataset.validate import unusable_subjects
from methods.registry import (
    broken_plugins,
    builtin_versions,
    earlier_labels,
    get_method_class,
    identity_options,
    method_label,
    plugin_code_fingerprint,
    resolve_options,
    same_outputs_as,
)
from reports.banner import BANNER_FILE, not_meaningful_banner


@dataclass
class RunSummary:
    run_dir: Path
    results: list[CellResult] = field(default_factory=list)
    seconds: float = 0.0
    records: dict[str, int] = field(default_factory=dict)
    scores: object | None = None  # benchmark.metrics.ScoreReport when the run was scored

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
    config: RunConfig, protocol, dataset_dir: Path, device: torch.device, locations: dict[str, str] | None = None
) -> dict:
    profile = get_profile(config.profile)
    stamp = weights_stamp(locations["base"]) if locations and "base" in locations else None
    return {
        **({"base_weights": stamp} if stamp else {}),  # the bytes behind models.base: checked on every resume
        "layout_version": LAYOUT_VERSION,
        "protocol": protocol.version,
        "dataset_sha256": protocol.fingerprint,
        "dataset_dir": str(Path(dataset_dir).resolve()),  # where `bench score` looks first for the real images
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


def scoring_roles(config: RunConfig) -> list[str]:
    """Scoring models a real profile must have on disk (random profiles score with built-in toys)."""
    profile = get_profile(config.profile)
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
        raise BenchError(f"generation.resolution={resolution} is smaller than the {DIV_MIN_SIDE} pixels DIV's LPIPS "
                         f"needs; sample at {DIV_MIN_SIDE + (-DIV_MIN_SIDE) % 8} or more, or leave DIV out "
                         "(metrics=[dino,clip-i,clip-t,pres])")  # fmt: skip


MAX_FOLDER_NAME_BYTES = 255  # NAME_MAX of ext4, xfs, Lustre and GPFS


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
    if existing != resolved and not existing.is_dir():  # (the folder itself a file: the run directory check says)
        raise BenchError(f"output directory {run_dir}: {existing} is a file, not a folder; choose another --output-dir")
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise BenchError(f"output directory {run_dir}: {existing} is not writable by this user; use another one")


def _log_to_stderr(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)  # above a progress bar instead of through it


def plan_methods(config: RunConfig, run_dir: Path | None = None) -> tuple[list[str], dict[str, str], dict[str, dict]]:
    """Each method's label (its folder and name in results), registered name and resolved options.

    A folder that an earlier version labelled otherwise (an option at its default value,
    `dreambooth[steps=6]` on tiny, now `dreambooth`; an int for a float option) keeps its
    label in `run_dir`, so resuming it finds its finished work instead of training it again.
    """
    unknown = sorted(set(config.options) - set(config.methods))
    if unknown:
        presets = _presets_in_run(config, unknown[0])
        hint = (f" (its preset {presets[0]} is a method of its own: options.{presets[0]}.KEY=V sets it)"
                if presets else "")  # fmt: skip
        raise BenchError(f"options.{unknown[0]}: '{unknown[0]}' is not among the methods of this run{hint}")
    labels, names, options = [], {}, {}
    for name in dict.fromkeys(config.methods):
        try:
            cls = get_method_class(name, config.include)
        except BenchError as exc:
            raise BenchError(f"{exc}{_recorded_include_hint(config, run_dir)}") from None
        label = method_label(cls, config.options.get(name), config.profile)
        if run_dir is not None and not (Path(run_dir) / label / "method.json").exists():
            for earlier in earlier_labels(cls, config.options.get(name), config.profile):  # as labels were made before
                if (Path(run_dir) / earlier / "method.json").exists():
                    label = earlier
                    break
        if len(label.encode("utf-8")) > MAX_FOLDER_NAME_BYTES:  # refused before run.json, not at the first mkdir
            raise BenchError(f"options of method '{name}' make a results folder name of {len(label.encode())} bytes "
                             f"(file systems allow {MAX_FOLDER_NAME_BYTES}): {label[:60]}...; shorten the values, "
                             "or register a preset with them as its defaults")  # fmt: skip
        labels.append(label)
        names[label] = name
        options[label] = resolve_options(cls, config.options.get(name), config.profile)
    return labels, names, options


def _presets_in_run(config: RunConfig, base: str) -> list[str]:
    """The run's methods that are presets (`register_preset`) of `base`."""
    presets = []
    for name in dict.fromkeys(config.methods):
        with contextlib.suppress(BenchError):  # an unknown method is refused with its own message later
            if getattr(get_method_class(name, config.include), "preset_of", None) == base:
                presets.append(name)
    return presets


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
    config, notes = prepared.config, []
    for label in prepared.labels:
        cls = get_method_class(prepared.method_names[label], config.include)
        options = prepared.method_options[label]
        twin = same_outputs_as(cls, options, config.profile, config.include) if label != cls.name else None
        if twin:
            notes.append(
                f"{label} trains what {twin} trains (its defaults are these options): --method {twin} files the "
                "results where the ablation tables and other runs look for them"
            )
    for base, given in config.options.items():
        base_cls = get_method_class(base, config.include)
        for preset in _presets_in_run(config, base):
            preset_cls = get_method_class(preset, config.include)
            resolved = resolve_options(preset_cls, config.options.get(preset), config.profile)
            missing = sorted(
                key for key in given
                if key not in base_cls.run_options  # checkpointing and such change no output
                and preset_cls.default_options.get(key) == base_cls.default_options.get(key)  # not what it ablates
                and resolved.get(key) != given[key]  # the preset does not run with that value anyway
            )  # fmt: skip
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
    """A configuration checked against everything outside it (subjects, methods, dataset, weights, device)."""

    config: RunConfig
    protocol: object
    subjects: list
    profile: object
    labels: list[str]
    method_names: dict[str, str]
    method_options: dict[str, dict]
    dataset_dir: Path
    locations: dict[str, str]
    device: torch.device
    run_dir: Path
    unusable: dict[str, str] = field(default_factory=dict)  # subject -> why its dataset images cannot be used

    @property
    def store(self) -> RunStore:
        return RunStore(self.run_dir)

    def manifest(self) -> dict:
        return run_manifest(self.config, self.protocol, self.dataset_dir, self.device, self.locations)

    def method_record(self, label: str) -> tuple[dict, frozenset[str]]:
        """What `method.json` holds for a method of this run, and the options that stay out of its key."""
        cls = get_method_class(self.method_names[label], self.config.include)
        info = {
            "name": cls.name,
            "preset_of": getattr(cls, "preset_of", None),
            "version": cls.version,
            "options": identity_options(cls, self.method_options[label]),
            "run_identity": self.config.identity_hash(),
        }
        code = plugin_code_fingerprint(cls)
        if code is not None:  # built-ins leave it out: their keys, and so their finished images, stay as they were
            info["plugin_code"] = code
        built_on = builtin_versions(cls)
        if built_on:  # a plug-in subclassing DreamBooth changes with DreamBooth's version, not only with its own
            info["base_versions"] = built_on
        return info, cls.run_options

    def cells(self) -> list:
        index, count = self.config.shard_spec()
        return shard_cells(plan_cells(self.labels, self.subjects), index, count)


def images_on_disk(prepared: PreparedRun, store: RunStore, cell) -> tuple[int, int]:
    """(images the configuration asks of the cell, of those recorded in finished groups and present on disk).

    Read-only, without hashing: what a dry run reports as left, and how a run tells a finished cell of a
    subject whose dataset images were damaged since (kept) from an unfinished one (failed).
    """
    config = prepared.config
    subject = prepared.protocol.subject(cell.subject)
    groups = plan_groups(
        prepared.protocol, subject, config.seed, config.images_per_prompt, config.limit_prompts,
        pres=config.generate_pres,
    )  # fmt: skip
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

    `device_must_exist=False` (a dry run on a login node without the GPU the jobs will
    get) takes the device named as the one the work will run on.
    """
    protocol = load_protocol()
    subjects = protocol.select(config.subjects)
    most = max(len(protocol.prompts_for(subject)) for subject in subjects)
    if config.limit_prompts is not None and config.limit_prompts > most:
        # Not capped silently: the run would be filed as a smoke run of "the first 26 of 25 prompts".
        raise BenchError(f"limit_prompts {config.limit_prompts} is more than the {most} prompts a subject has; "
                         "leave --limit-prompts out to run them all")  # fmt: skip
    profile = get_profile(config.profile)
    run_dir = Path(config.output_dir) if config.output_dir else default_output_dir(config)
    refuse_links_out(run_dir)  # before anything is written, moved or deleted through one
    refuse_unwritable_place(run_dir)
    labels, method_names, method_options = plan_methods(config, run_dir)
    dataset_dir = resolve_dataset_dir(config.dataset_dir)
    if run_dir.resolve().is_relative_to(Path(dataset_dir).resolve()):
        # its files would sit among the subjects' photos: every later run would call the dataset damaged
        raise BenchError(f"output directory {run_dir} is inside the dataset {dataset_dir}; put runs elsewhere")
    unusable = unusable_subjects(dataset_dir, subjects)  # raises when no subject asked for is usable
    locations = require_models(profile, config.model_sources(), ["base", *scoring_roles(config)])
    refuse_resolution_below_div(config)
    device = resolve_device(config.device, must_exist=device_must_exist)
    if config.executor == "ray":
        check_ray_address(config.ray_address or os.environ.get("RAY_ADDRESS"))
    return PreparedRun(
        config, protocol, subjects, profile, labels, method_names, method_options, dataset_dir, locations, device,
        run_dir, unusable,
    )  # fmt: skip


def execute_run(config: RunConfig, *, progress: bool = True, log=None, cell_lines: bool = False) -> RunSummary:
    """Run (or resume) every cell of the config. `progress` shows bars; `cell_lines` logs a line per cell."""
    log = log or _log_to_stderr
    started = time.monotonic()
    prepared = prepare_run(config)
    config = prepared.config = resolve_executor(config, prepared.device, len(prepared.cells()))
    protocol, subjects, profile, device = prepared.protocol, prepared.subjects, prepared.profile, prepared.device
    labels, method_names, method_options = prepared.labels, prepared.method_names, prepared.method_options
    dataset_dir, locations, run_dir, store = prepared.dataset_dir, prepared.locations, prepared.run_dir, prepared.store
    if config.deterministic and not determinism.applies(device):  # the cells' processes switch; nothing here
        log(f"bench: deterministic=true is for CUDA: it changes nothing on {device.type}")
    if not profile.meaningful:
        log(f"bench: {not_meaningful_banner(profile.name)}")
    for note in run_warnings(prepared):
        log(f"bench: warning: {note}")
    store.refuse_foreign_directory()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot create output directory {run_dir}: {exc.strerror}") from None
    with run_lock(run_dir, config.shard_spec()):
        manifest = prepared.manifest()
        store.open(config, manifest)
        if not profile.meaningful:
            atomic_write_text(run_dir / BANNER_FILE, not_meaningful_banner(profile.name) + "\n")
        method_keys = {label: store.open_method(label, *prepared.method_record(label)) for label in labels}
        environment = manifest["environment"]  # this invocation's (run.json keeps the first invocation's)
        uncommitted = uncommitted_warning(environment.get("git_revision"), "what this run makes")
        if uncommitted:
            log(f"bench: warning: {uncommitted}")
        store.log_invocation(
            {
                "argv": sys.argv,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "methods": config.methods,
                "subjects": [s.name for s in subjects],
                "shard": config.shard,
                "limit_prompts": config.limit_prompts,  # a smoke run, as the report labels it
                "executor": config.executor,
                "workers": config.workers,
                "device": str(device),
                "deterministic": config.deterministic,
                # Where and with what: a relative --dataset-dir in argv means something only with the cwd; a
                # shard on another node may run other code or libraries than run.json's first invocation.
                "cwd": os.getcwd(),
                "git_revision": environment["git_revision"],
                "torch": environment["packages"].get("torch"),
                **{key.lower(): os.environ[key] for key in SCHEDULER_VARIABLES if key in os.environ},
            }
        )
        _, count = config.shard_spec()
        cells = prepared.cells()
        # A subject whose dataset images are damaged fails its unfinished cells here, recorded like any failure; its
        # cells finished before the damage are kept as they are; the rest run.
        unusable, kept, runnable = [], {}, []
        for cell in cells:
            if cell.subject not in prepared.unusable:
                runnable.append(cell)
                continue
            planned, on_disk = images_on_disk(prepared, store, cell)
            if planned and on_disk == planned:
                kept[cell] = on_disk
            else:
                unusable.append(cell)
        spec = CellSpec(
            run_dir=str(run_dir),
            config=config.to_dict(),
            dataset_dir=str(dataset_dir),
            model_locations=locations,
            method_keys=method_keys,
            method_options=method_options,
            method_names=method_names,
            device=str(device),
            cache_dir=str(cache_root()),
            meaningful=profile.meaningful,
            progress=progress,
        )
        total_groups = sum(
            len(
                plan_groups(
                    protocol,
                    protocol.subject(c.subject),
                    config.seed,
                    1,
                    config.limit_prompts,
                    pres=config.generate_pres,
                )
            )
            for c in runnable
        )
        finished = []
        parallel = [config.workers if config.executor != "local" else 1]  # Ray on a cluster says its own count

        def on_cell(result) -> None:
            """A line per finished cell where no progress bar shows (a batch job's log); a resumed training
            is said either way, since it is what a user re-running a killed job wants to see. A failure is
            recorded at once, so a run killed later still shows it."""
            finished.append(result)
            if result.error:
                store.record_failure(result.cell.method, result.cell.subject, result.error, result.detail)
            else:
                store.clear_failure(result.cell.method, result.cell.subject)
            if cell_lines:
                done = {r.cell for r in finished}
                left = remaining_seconds(finished, [c for c in cells if c not in done], parallel[0])
                log(f"bench: [{len(finished)}/{len(cells)} {time.strftime('%H:%M:%S')}] {result.summary()}"
                    f"{eta_text(left)}")  # fmt: skip
            elif result.resumed_from_step:
                log(f"bench: {result.cell.method}/{result.cell.subject}: training resumed from its step "
                    f"{result.resumed_from_step} checkpoint")  # fmt: skip
            for note in result.notes:
                log(f"bench: warning: {note}")

        if cell_lines:  # a batch job's log starts by saying what this job does
            shard = f" (shard {config.shard})" if config.shard else ""
            log(f"bench: {time.strftime('%Y-%m-%d %H:%M:%S')} {len(cells)} cells{shard} of {', '.join(labels)} "
                f"into {run_dir} on {device}, {config.executor} executor x{config.workers}")  # fmt: skip
        for subject in dict.fromkeys(cell.subject for cell in [*unusable, *kept]):
            done = sum(c.subject == subject for c in kept)
            left = sum(c.subject == subject for c in unusable)
            if not done:
                fate = f"{subject}'s cells fail"
            elif not left:
                fate = f"{subject}'s cells had finished: kept as they are, and left out of scoring"
            else:
                fate = f"{subject}'s {done} finished cell(s) are kept, its {left} other(s) fail"
            log(f"bench: warning: {prepared.unusable[subject]}: {fate}, the other subjects run")
        order = [s.name for s in protocol.subjects.values()]
        try:
            # Settled without a worker: the damaged subject's unfinished cells (failed) and finished ones (kept).
            settled = [CellResult(c, error=f"{prepared.unusable[c.subject]}; fix it and re-run") for c in unusable]
            settled += [CellResult(c, reused=on_disk) for c, on_disk in kept.items()]
            for result in settled:
                on_cell(result)  # recorded, counted and logged like any finished cell
            if not runnable:
                results = []
            elif config.executor == "ray":
                results = run_ray(spec, runnable, config.workers, config.ray_address, progress, on_cell,
                                  on_workers=lambda count: parallel.__setitem__(0, count))  # fmt: skip
            elif config.executor == "process" and config.workers > 1:
                results = run_processes(spec, runnable, config.workers, progress, on_cell, log)
            else:
                results = run_local(spec, runnable, total_groups, progress, on_cell)
            results = settled + results
        except BaseException:
            # Killed (Ctrl-C, SIGTERM) or stopped (a full disk): the finished groups' records still make each
            # method's generations.jsonl, so `bench report` and `bench score` see the work done so far.
            for label in labels:
                with contextlib.suppress(Exception):
                    store.write_generations_jsonl(label, order)
            raise
        records = {label: store.write_generations_jsonl(label, order) for label in labels}
        scores = None
        if config.score and count > 1:
            log(f"bench: shard {config.shard} done; scores come from the same command without --shard once every "
                "shard has finished")  # fmt: skip
        if config.score and count == 1:  # a shard scores nothing: the run is complete only with all shards
            from benchmark.metrics import score_run

            scored = [label for label in labels if records[label]]
            if scored:
                log(f"bench: scoring {', '.join(scored)}")
                try:
                    scores = score_run(
                        run_dir, dataset_dir, methods=scored, profile=config.profile,
                        model_sources=config.model_sources(), device=str(device),
                        keep_identifier=config.clip_t_keep_identifier, metrics=config.metrics or None,
                        progress=progress, log=log,
                    )  # fmt: skip
                except BenchError:  # its one line ends the run: the failed cells must not vanish behind it
                    for failed in (result for result in results if result.error):
                        log(f"bench: FAILED {failed.cell.method}/{failed.cell.subject}: {failed.error}")
                    raise
    return RunSummary(run_dir, results, time.monotonic() - started, records, scores)
