"""The `bench` command line.

Every user mistake ends in one line on stderr and exit status 2 (click's own usage
errors included); an interrupted run says how to resume and exits 130 (143 for SIGTERM). Only a bug
in the harness shows a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from benchmark.errors import (
    BenchError,
    StorageFailure,
    Terminated,
    note_sigterm,
    raise_if_storage_failure,
    sigterm_received,
)

EPILOG = "Protocol: DreamBench (dreambench-v1). Docs: README.md. Errors exit 2; failed cells exit 1."


def _fail(message: str, code: int = 2):
    click.echo(f"bench: error: {message}", err=True)
    sys.exit(code)


def user_errors(func):
    """Turn BenchError, a full disk or denied write, and Ctrl-C into one line and an exit status."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BenchError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt as exc:
            if isinstance(exc, Terminated) or sigterm_received():
                _fail("terminated (SIGTERM); finished work is kept, re-run the same command to resume", 143)
            _fail("interrupted; finished work is kept, re-run the same command to resume", 130)
        except OSError as exc:
            try:
                raise_if_storage_failure(exc, exc.filename or "output")
            except StorageFailure as failure:
                _fail(str(failure), failure.exit_code)
            raise

    return wrapper


# click 8.2 shows a group's help for a bare `bench ls` by raising this; older versions print it themselves.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class OneLineErrors(click.Group):
    """Click's usage errors (an unknown command or option, a missing argument) as the one `bench: error:`
    line every other mistake gets, instead of a usage block, a hint and an `Error:` line."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except _NO_ARGS_IS_HELP as exc:
            # `bench ls` alone: its help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail(f"{exc.format_message()}{where}", exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            # an interrupt before a command's own handling began
            if sigterm_received():
                _fail("terminated (SIGTERM)", 143)
            _fail("interrupted", 130)
        # --help and --version return their exit code
        sys.exit(result if isinstance(result, int) else 0)


@click.group(
    cls=OneLineErrors,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(package_name="dreambench-harness")
def main():
    """Benchmark subject-driven text-to-image methods on DreamBench (DreamBooth's protocol)."""


# ------------------------------------------------------------------------- ls
@main.group("ls")
def ls():
    """List subjects, prompts, methods, a method's options, profiles or metrics."""


@ls.command("subjects")
@click.option("--profile", default=None, help="List the subjects of this profile's dataset (pocket: the pocket world).")
@user_errors
def ls_subjects(profile):
    """The 30 DreamBench subjects with class noun, kind and image count (and, in the pocket world, signature)."""
    from benchmark.profiles import get_profile
    from dataset.protocol import DEFAULT_PROTOCOL, load_protocol

    protocol = load_protocol(get_profile(profile).dataset if profile else DEFAULT_PROTOCOL)
    signatures = {}
    if protocol.version == "pocketbench-v1":
        from pocket.subjects import pocket_subjects

        signatures = {name: subject.signature for name, subject in pocket_subjects().items()}
    click.echo(f"{'subject':<20} {'class':<16} {'kind':<7} images" + ("  signature" if signatures else ""))
    for s in protocol.subjects.values():
        mark = signatures.get(s.name)
        what = f"  {mark.split_colour} half, {mark.emblem_colour} {mark.emblem}" if mark else ""
        click.echo(f"{s.name:<20} {s.class_noun:<16} {s.kind:<7} {len(s.images):<6}{what}".rstrip())
    live = sum(s.live for s in protocol.subjects.values())
    click.echo(
        f"{len(protocol.subjects)} subjects ({live} live, {len(protocol.subjects) - live} objects); 25 prompts each"
    )


@ls.command("prompts")
@click.argument("subject", required=False)
@user_errors
def ls_prompts(subject):
    """The protocol's prompts by index: what `bench score --folder` file names and manifests refer to.

    With a SUBJECT, its list (objects and live subjects have their own) with the class noun put in,
    as CLIP-T scores it; a method puts its own subject phrase where the class noun is ("a sks dog").
    """
    from dataset.protocol import load_protocol

    protocol = load_protocol()
    if subject:
        from benchmark.suggest import refuse_misspelled

        refuse_misspelled("subject", [subject], protocol.subjects, "bench ls subjects")
        entry = protocol.subject(subject)
        lists = [(f"{entry.name} ({entry.kind}, class noun '{entry.class_noun}')", protocol.prompts_for(entry))]
        phrase = entry.class_noun
    else:
        lists = [("object subjects", protocol.object_prompts), ("live subjects", protocol.live_prompts)]
        phrase = "{}"
    for title, prompts in lists:
        click.echo(f"{title}: index  category  prompt")
        for index, prompt in enumerate(prompts):
            click.echo(f"  {index:>5}  {prompt.category:<20} {prompt.render(phrase)}")
    prior = "a " + (phrase if subject else "{class noun}")
    click.echo(f"  {'class':>5}  {'prior preservation':<20} {prior}  (PRES images: class_<i>.png)")
    if not subject:
        click.echo("{}: the subject phrase (the class noun for CLIP-T; e.g. 'sks dog' when generating)")


@ls.command("methods")
@click.option("--include", "includes", multiple=True, type=click.Path(), help="Also load methods from this file.")
@user_errors
def ls_methods(includes):
    """Registered methods with a one-line description each."""
    from methods.registry import available_methods, broken_plugins, method_origin

    for name, cls in available_methods(list(includes)).items():
        origin = method_origin(cls)
        click.echo(f"{name:<28} {cls.description}" + (f"  [plug-in: {origin}]" if origin else ""))
    for line in broken_plugins():
        click.echo(f"bench: warning: {line}: its methods are not listed", err=True)


@ls.command("options")
@click.argument("method")
@click.option("--profile", default=None, help="Show the defaults this profile gives (default: the default profile).")
@click.option("--include", "includes", multiple=True, type=click.Path(), help="Also load methods from this file.")
@user_errors
def ls_options(method, profile, includes):
    """The options METHOD takes, with their defaults on the profile; set one with --set options.METHOD.KEY=VALUE."""
    import json

    from benchmark.config import RunConfig
    from benchmark.profiles import get_profile
    from benchmark.suggest import refuse_misspelled
    from methods.registry import available_methods, get_method_class

    # what `bench run` uses when no --profile is given
    profile = profile or RunConfig.profile
    get_profile(profile)
    refuse_misspelled("method", [method], available_methods(list(includes)), "bench ls methods")
    cls = get_method_class(method, list(includes))
    rows = method_option_rows(cls, profile)
    if not rows:
        click.echo(f"{method} has no options")
        return
    click.echo(
        f"options of {method} with the defaults of profile {profile} (set one with --set options.{method}.KEY=VALUE):"
    )
    click.echo(f"{'option':<28} {'default':<24} {'type':<10} what it does")
    for key, value, from_profile, kind, text in rows:
        note = f"  (profile {profile})" if from_profile else ""
        click.echo(f"{key:<28} {json.dumps(value) + note:<24} {kind:<10} {text}".rstrip())


# An option that only means something while another has a given value: Textual Inversion, whose prior preservation
# and identifier are fixed, takes none of the class-image options nor a rare-token draw.
OPTION_NEEDS = {
    "identifier_seed": ("identifier", "rare"),
    "prior_loss_weight": ("prior_preservation", True),
    "num_class_images": ("prior_preservation", True),
    "class_prompt": ("prior_preservation", True),
    "class_sampler": ("prior_preservation", True),
}


def method_option_rows(cls, profile: str) -> list[tuple[str, object, bool, str, str]]:
    """(option, default on `profile`, whether the profile changed it, type, help) for each option `cls` takes.

    Left out: an option the method refuses to change (its `check_options` turns down every value another method
    gives it by default), and an option that needs another one at a value the method keeps fixed elsewhere.
    """
    from methods.options import option_specs, resolve_options
    from methods.registry import available_methods

    options = resolve_options(cls, {}, profile)
    specs = option_specs(cls)
    others = [other for other in available_methods().values() if other is not cls]

    def fixed(key: str) -> bool:
        alternatives = []
        for other in others:
            value = other.default_options.get(key, options[key])
            if value != options[key] and value not in alternatives and type(value) is type(options[key]):
                alternatives.append(value)
        if isinstance(options[key], bool) and not alternatives:
            alternatives = [not options[key]]
        if not alternatives:
            return False
        for value in alternatives:
            try:
                cls.check_options({**options, key: value})
                return False
            except Exception:
                # refused: this value is not one the method takes
                continue
        return True

    fixed_keys = {key for key in options if fixed(key)}
    rows = []
    for key, value in options.items():
        needs = OPTION_NEEDS.get(key)
        if key in fixed_keys or (needs and needs[0] in fixed_keys and options.get(needs[0]) != needs[1]):
            continue
        spec = specs[key]
        rows.append((key, value, profile in spec.profiles, spec.kind, spec.help))
    return rows


@ls.command("profiles")
@user_errors
def ls_profiles():
    """Model profiles (shipped, and any in $BENCH_PROFILE_PATH), the dataset and the weights each uses."""
    from benchmark.profiles import PROFILES

    flags = {"random": "  [random weights: numbers NOT meaningful]", "pocket": "  [POCKET WORLD]"}
    for profile in PROFILES.values():
        click.echo(f"{profile.name:<6} {profile.description}{flags.get(profile.weights, '')}")
        click.echo(f"       dataset {profile.dataset}")
        for spec in profile.models.values():
            click.echo(f"       {spec.role:<6} {spec.source}  ({spec.purpose})")


@ls.command("metrics")
@click.option("--profile", default="sd15", show_default=True, help="Show the backbone ids of this profile.")
@user_errors
def ls_metrics(profile):
    """Metrics with direction, pairing and the exact backbone id behind each."""
    from benchmark.metrics import list_metrics

    for row in list_metrics(profile):
        arrow = "higher is better" if row["better"] == "higher" else "lower is better"
        click.echo(f"{row['id']:<7} {row['name']:<7} {arrow:<17} {row['description']}")
        click.echo(f"{'':<7} backbone: {row['backbone_id']}")
        click.echo(f"{'':<7} pairing:  {row['pairing']}")


# -------------------------------------------------------------------- dataset
@main.group("dataset")
def dataset_group():
    """Get or check the DreamBench images."""


@dataset_group.command("verify")
@click.option("--dataset-dir", type=click.Path(), help="Copy to check (default: $DREAMBENCH_DIR, then the cache).")
@user_errors
def dataset_verify(dataset_dir):
    """Check every image of a copy against the manifest's SHA-256; list each problem."""
    from dataset.locate import resolve_dataset_dir
    from dataset.protocol import load_protocol
    from dataset.validate import find_problems

    root = resolve_dataset_dir(dataset_dir)
    protocol = load_protocol()
    problems = find_problems(root, protocol)
    for problem in problems:
        click.echo(f"bench: {problem}", err=True)
    if problems:
        raise BenchError(f"{len(problems)} problem(s) in {root}")
    total = sum(len(s.images) for s in protocol.subjects.values())
    click.echo(f"ok: {root} holds all {len(protocol.subjects)} subjects and {total} images, every hash matches")


@dataset_group.command("download")
@click.option("--dest", type=click.Path(), help="Where to put it (default: the user cache).")
@click.option(
    "--url", help="Archive to fetch (default: $DREAMBENCH_URL, then the public google/dreambooth repository)."
)
@click.option("--force", is_flag=True, help="Replace an existing copy.")
@user_errors
def dataset_download(dest, url, force):
    """Fetch the public DreamBench images, verify every hash, install atomically."""
    from dataset.download import download_dataset, has_valid_copy

    target = Path(dest) if dest else None
    if not force and has_valid_copy(target):
        path = download_dataset(target, url)
        click.echo(f"ok: a verified copy is already at {path}")
        return
    path = download_dataset(target, url, force=force)
    click.echo(f"ok: downloaded and verified DreamBench into {path}")


# --------------------------------------------------------------------- models
@main.group("models")
def models_group():
    """Fetch or inspect model weights."""


@models_group.command("download")
@click.option("--profile", default="sd15", show_default=True, help="Profile whose models to fetch.")
@click.option("--set", "assignments", multiple=True, metavar="models.ROLE=ID", help="Override a model id.")
@user_errors
def models_download(profile, assignments):
    """Prefetch a profile's weights into the Hugging Face cache (on a connected machine)."""
    from benchmark.config import build_config
    from benchmark.models.loading import download_models
    from benchmark.profiles import get_profile

    config = build_config(assignments=list(assignments), overrides={"profile": profile})
    for status in download_models(get_profile(profile), config.model_sources()):
        click.echo(f"ok: {status.role:<6} {status.source} -> {status.where}")


# --------------------------------------------------------------------- doctor
@main.command("doctor")
@click.option("--profile", default=None, help="Also require this profile's weights (exit 1 if any is missing).")
@click.option("--dataset-dir", type=click.Path(), help="Dataset copy to check.")
@user_errors
def doctor(profile, dataset_dir):
    """Check Python, packages, GPUs, disk, caches, the dataset and weights; exit 1 if a run would fail.

    A problem is anything `bench run` needs and lacks: a required package, the dataset (missing or
    altered images) or, with --profile, one of that profile's weights.
    """
    from benchmark.doctor import run_checks

    checks = run_checks(profile, dataset_dir)
    for check in checks:
        click.echo(f"{check.topic:<16} {check.text}")
    problems = [check for check in checks if check.problem]
    if problems:
        click.echo(f"doctor: {len(problems)} problem(s): " + "; ".join(p.topic for p in problems), err=True)
        sys.exit(1)
    scope = f"profile {profile}" if profile else "the dataset and packages (pass --profile to check weights too)"
    click.echo(f"doctor: ok for {scope}")


# ------------------------------------------------------------------------ run
@main.command("run")
@click.option("--method", "methods", help="Method(s), comma-separated (see `bench ls methods`).")
@click.option("--subjects", help="all, live, object, or a comma-separated list of subjects.")
@click.option(
    "--profile",
    help="Model profile: tiny (default, random weights), pocket (the pocket world), sd15; `bench ls profiles`: all.",
)
@click.option("--output-dir", type=click.Path(), help="Run directory (default: runs/<profile>-<config hash>).")
@click.option("--dataset-dir", type=click.Path(), help="DreamBench images (default: $DREAMBENCH_DIR, then the cache).")
@click.option("--images-per-prompt", type=int, help="Images per prompt (protocol: 4).")
@click.option("--limit-prompts", type=int, help="Only the first K prompts of each subject (quick runs).")
@click.option("--seed", type=int, help="Base seed from which every image's seed is derived.")
@click.option("--device", help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--deterministic",
    is_flag=True,
    default=None,
    help="CUDA: deterministic kernels, so a rerun on the same GPU and software repeats every byte (slower).",
)
@click.option(
    "--executor",
    type=click.Choice(["auto", "local", "process", "ray"]),
    help="Run cells here, in worker processes, or on Ray (default auto: a process per core on CPU, here on a GPU).",
)
@click.option("--workers", type=int, help="Worker processes (process) or concurrent cells on a local Ray instance.")
@click.option("--ray-address", help="Join this Ray cluster instead of starting one (e.g. auto).")
@click.option(
    "--shard", help="Run only shard i/n of the cells, i from 0 (e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)."
)
@click.option(
    "--include",
    "includes",
    multiple=True,
    type=click.Path(),
    help="Load methods from a Python file (repeat for several).",
)
@click.option("--config", "config_file", type=click.Path(), help="YAML file of config keys.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Override any config key.")
@click.option("--score/--no-score", "score_after", default=None, help="Score after generating (default: yes).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--verbose", is_flag=True, help="End with every method's block, splits and paired tables, not the compact board."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check everything bench run checks and print the work left per method; write nothing, run nothing.",
)
@user_errors
def run(
    methods,
    subjects,
    profile,
    output_dir,
    dataset_dir,
    images_per_prompt,
    limit_prompts,
    seed,
    device,
    deterministic,
    executor,
    workers,
    ray_address,
    shard,
    includes,
    config_file,
    assignments,
    score_after,
    quiet,
    verbose,
    dry_run,
):
    """Personalize each subject with each method, generate the protocol's images, score them and write the report.

    Re-running the same command resumes: finished images are kept and only
    missing ones are generated. The HTML report goes to RUN_DIR/report/index.html.
    """
    from benchmark.config import build_config
    from benchmark.runner import execute_run
    from benchmark.weights_notice import not_meaningful_banner

    overrides = {
        # An empty value is an error below, never the defaults: a script's unset variable must not start 30 subjects.
        "methods": [name.strip() for name in methods.split(",")] if methods is not None else None,
        "subjects": subjects.split(",") if subjects is not None else None,
        "profile": profile,
        "output_dir": output_dir,
        "dataset_dir": dataset_dir,
        "images_per_prompt": images_per_prompt,
        "limit_prompts": limit_prompts,
        "seed": seed,
        "device": device,
        "deterministic": deterministic,
        "executor": executor,
        "workers": workers,
        "ray_address": ray_address,
        "shard": shard,
        "include": list(includes) or None,
        "score": score_after,
    }
    config = build_config(config_file, list(assignments), overrides)
    from benchmark.suggest import check_run_names

    check_run_names(config)
    if dry_run:
        from benchmark.dry_run import plan_run

        plan = plan_run(config)
        for warning in plan.warnings():
            click.echo(f"bench: warning: {warning}", err=True)
        click.echo(plan.table())
        click.echo(plan.summary())
        return
    interactive = sys.stderr.isatty()
    summary = execute_run(config, progress=not quiet and interactive, cell_lines=not quiet and not interactive)
    if summary.scores is not None:
        click.echo(summary.scores.markdown() if verbose else summary.scores.leaderboard())
    if verbose:
        for name, count in summary.records.items():
            click.echo(f"{name}: {count} image records in {summary.run_dir / name / 'generations.jsonl'}")
    click.echo(
        f"done in {human_seconds(summary.seconds)}: {summary.generated} images generated, "
        f"{summary.reused} reused -> {summary.run_dir}"
    )
    if summary.scores is not None:
        _write_run_report(summary.run_dir)
    from benchmark.profiles import get_profile

    if not get_profile(config.profile).meaningful:
        click.echo(not_meaningful_banner(config.profile), err=True)
    # the subjects asked for: a failed one makes the run incomplete, not a subset
    if summary.scores is not None:
        _note_subset({result.cell.subject for result in summary.results}, asked=True)
    if summary.scores is not None and not summary.failures:
        _fail_if_left_out(summary.scores)
    if summary.failures:
        for failure in summary.failures:
            click.echo(f"bench: FAILED {failure.cell.method}/{failure.cell.subject}: {failure.error}", err=True)
        first = summary.failures[0]
        record = summary.run_dir / first.cell.method / "failures" / f"{first.cell.subject}.json"
        _fail(
            f"{len(summary.failures)} cell(s) failed (each recorded with its traceback in "
            f"METHOD/failures/SUBJECT.json, e.g. {record}); re-run to retry them",
            1,
        )


def human_seconds(seconds: float) -> str:
    """'42.0 s', '6 min 1 s', '1 h 05 min': a duration as a person reads it."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _write_run_report(run_dir: Path) -> None:
    """The run's HTML report in RUN_DIR/report, so a first run ends in something to open. A report that cannot be
    written (an earlier one edited by hand, say) costs a warning, never the run's exit status."""
    from reports.html import write_report

    try:
        written = write_report([run_dir], run_dir / "report")
    except BenchError as exc:
        click.echo(f"bench: warning: no report written: {exc}", err=True)
        return
    click.echo(f"report: {written.index} (open it in a browser)")


def _note_subset(subjects: set[str], asked: bool = False) -> None:
    """Scores over some subjects print like DreamBench results: say what they average, as the report does.

    `asked`: the subjects a run asked for, failed ones included (a failure makes it incomplete, not a smaller
    subset), so the line speaks of the run, not of what the scores average.
    """
    from dataset.protocol import load_protocol

    total = len(load_protocol().subjects)
    if subjects and len(subjects) < total:
        what = "this run asked for" if asked else "these scores average"
        click.echo(
            f"note: {what} {len(subjects)} of DreamBench's {total} subjects (a subset): the scores do not "
            f"compare with {total}-subject results; `bench run --subjects all` into the same --output-dir adds "
            "the rest",
            err=True,
        )


# ---------------------------------------------------------------------- score
@main.command("score")
@click.argument("target", type=click.Path())
@click.option("--method", "methods", help="Only these methods of the run (comma-separated).")
@click.option("--folder", is_flag=True, help="TARGET is a folder of another tool's images, not a run.")
@click.option(
    "--manifest", type=click.Path(), help="With --folder: a JSONL listing subject, prompt_index, image_index, file."
)
@click.option("--name", help="With --folder: the method name to report (default: external).")
@click.option("--output-dir", type=click.Path(), help="With --folder: where to write scores (default TARGET/_scores).")
@click.option("--profile", help="Scoring models of this profile (default: the run's; sd15 for --folder).")
@click.option("--dataset-dir", type=click.Path(), help="DreamBench images (default: $DREAMBENCH_DIR, then the cache).")
@click.option(
    "--metrics",
    help="Comma-separated subset (see `bench ls metrics`): only these are recomputed; the others already scored "
    "under the same settings are kept, any scored otherwise are dropped with a warning.",
)
@click.option("--device", default="auto", show_default=True)
@click.option("--keep-identifier", is_flag=True, help="CLIP-T against the prompt as generated (identifier kept).")
@click.option("--set", "assignments", multiple=True, metavar="models.ROLE=ID", help="Override a scoring model.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@user_errors
def score(
    target,
    methods,
    folder,
    manifest,
    name,
    output_dir,
    profile,
    dataset_dir,
    metrics,
    device,
    keep_identifier,
    assignments,
    quiet,
):
    """Score a run directory (or, with --folder, images from any other tool) and print a Markdown table.

    Writes <method>/scores.jsonl (one line per image, every metric) and
    <method>/scores.json (definitions, per-subject table, means with 95% CIs, n).
    """
    from benchmark.config import build_config
    from benchmark.metrics import score_folder, score_run
    from benchmark.profiles import get_profile

    target = Path(target)
    folder_only = {"--manifest": manifest, "--name": name, "--output-dir": output_dir}
    if not folder and any(value is not None for value in folder_only.values()):
        given = ", ".join(flag for flag, value in folder_only.items() if value is not None)
        raise BenchError(f"{given} only apply with --folder (scoring another tool's images); a run is scored in place")
    if folder and methods:
        raise BenchError("--method picks methods of a run; with --folder, --name names the imported one")
    if not target.is_dir():
        raise BenchError(f"{target} is not a directory")
    if folder:
        profile = profile or "sd15"
        name = "external" if name is None else name
    else:
        run_file = target / "run.json"
        if not run_file.exists():
            raise BenchError(f"{target} is not a bench run directory (no run.json); use --folder for other images")
        from benchmark.store.run_dir import read_json_object

        manifest_data = read_json_object(run_file) or {}
        if not profile and not isinstance(manifest_data.get("profile"), str):
            raise BenchError(f"{run_file} is damaged (no profile in it): give --profile to score the images anyway")
        profile = profile or manifest_data["profile"]
        recorded = manifest_data.get("dataset_dir")
        if not dataset_dir and not os.environ.get("DREAMBENCH_DIR") and recorded and Path(recorded).is_dir():
            # the copy the run was generated from
            dataset_dir = recorded
    config = build_config(assignments=list(assignments), overrides={"profile": profile})
    from benchmark.devices import check_device_name

    check_device_name(device)
    options = {
        # looked up once, here: scoring takes the profile itself
        "profile": get_profile(config.profile),
        "model_sources": config.model_sources(),
        "device": device,
        "keep_identifier": keep_identifier,
        "metrics": metrics.split(",") if metrics else None,
        "progress": not quiet and sys.stderr.isatty(),
    }
    if folder:
        report = score_folder(
            target,
            dataset_dir,
            output_dir=Path(output_dir) if output_dir else None,
            method=name,
            manifest=Path(manifest) if manifest else None,
            **options,
        )
    else:
        from benchmark.store.lock import scoring_lock

        with scoring_lock(target):
            report = score_run(target, dataset_dir, methods=methods.split(",") if methods else None, **options)
    click.echo(report.markdown())
    for warning in report.warnings:
        click.echo(f"bench: warning: {warning}", err=True)
    # a folder's scoring already says which subjects, prompts and images it lacks
    if not folder:
        _note_unfinished_subjects(target, set(report.subjects), list(report.methods))
        _note_subset(report.subjects)
    _fail_if_left_out(report)


def _fail_if_left_out(report) -> None:
    """Exit 1 when scoring left images or subjects out (a batch job must notice, as it notices failed cells); the
    scores of the rest are written by then."""
    if report.left_out:
        _fail(
            f"subject(s) {', '.join(report.left_out)} left out of the scores (damaged dataset images, named "
            "above); the other subjects' scores are written",
            1,
        )
    if report.warnings:
        _fail(
            f"{len(report.warnings)} image(s) left out of the scores (listed above: missing, corrupt or altered); "
            "the other images' scores are written",
            1,
        )


def _note_unfinished_subjects(run_dir: Path, scored: set[str], labels: list[str]) -> None:
    """Subjects a `bench run` of the scored methods asked for that have no scores: a shard not run yet, or cells
    that failed. Said apart from the subset note, whose fix (`--subjects all`) is not this one."""
    from benchmark.store.run_dir import read_invocations, read_json_object

    names = set()
    # invocations name registered methods; the scored folders are labels
    for label in labels:
        record = read_json_object(run_dir / label / "method.json") or {}
        names.add((record.get("info") or {}).get("name") or label)
    asked = [
        s
        for line in read_invocations(run_dir)
        if names & set(line.get("methods") or [])
        for s in (line.get("subjects") or [])
    ]
    missing = [s for s in dict.fromkeys(asked) if s not in scored]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        click.echo(
            f"note: the run asked for {len(missing)} subject(s) that have no scores yet ({shown}): a shard still to "
            "run or failed cells; finish them with the same `bench run` (without --shard), which scores at its end",
            err=True,
        )


# --------------------------------------------------------------------- report
@main.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output-dir", "out_dir", required=True, type=click.Path(), help="Where to write index.html.")
@click.option(
    "--baseline", help="Method the significance marks compare against (default: base, else dreambooth, else the first)."
)
@user_errors
def report(run_dirs, out_dir, baseline):
    """Write an HTML report folder of one or more runs (it opens from disk); print the leaderboard as Markdown.

    CSV, LaTeX and Markdown tables are written beside index.html; the report opens
    from disk with no server and no network.
    """
    from reports.html import write_report

    written = write_report([Path(p) for p in run_dirs], Path(out_dir), baseline=baseline)
    # the board the report built, not a second build of it
    click.echo(written.markdown)
    click.echo(f"report: {written.index} (open it in a browser; CSV, LaTeX and Markdown beside it)")


@main.command("compare")
@click.argument("run_a", type=click.Path())
@click.argument("run_b", type=click.Path(), required=False)
@click.option("--a", "method_a", metavar="METHOD", help="The method of RUN_A to compare (default: shared labels).")
@click.option("--b", "method_b", metavar="METHOD", help="The method of RUN_B (or of RUN_A, without RUN_B).")
@user_errors
def compare(run_a, run_b, method_a, method_b):
    """Paired differences (B - A) per metric for the methods both runs hold, their single methods, or --a/--b.

    Either side may be a folder scored with `bench score --folder` (another tool's images). Without RUN_B,
    two methods of RUN_A: `bench compare RUN --a base --b dreambooth`.
    """
    from reports.comparisons import compare_runs

    if run_b is None and (method_a is None or method_b is None):
        raise BenchError("give a second run, or two methods of this one: bench compare RUN --a METHOD --b METHOD")
    click.echo(compare_runs(Path(run_a), Path(run_b or run_a), method_a, method_b))


# --------------------------------------------------------------------- pocket
@main.group("pocket")
def pocket_group():
    """The pocket world: a synthetic DreamBench whose models this project pre-trains itself."""


@pocket_group.command("build")
@click.option(
    "--work",
    type=click.Path(path_type=Path),
    default=None,
    help="Corpus, checkpoints and stage outputs (resumable) [default: pocket-build/work, or pocket-build/smoke/work "
    "with --smoke, so a smoke build never leaves its tiny stages where the real build would skip them].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the finished model folders and their manifest go [default: the package's pocket/weights/, "
    "where the pocket profile loads them from; pocket-build/smoke/weights with --smoke].",
)
@click.option("--smoke", is_flag=True, help="A few steps of every stage: proves the code runs, trains nothing useful.")
@user_errors
def pocket_build(work, out, smoke):
    """Pre-train every pocket model from the fixed seed (hours on 2 CPU cores; re-run to resume; see docs/pocket.md)."""
    from benchmark.models.loading import pocket_weights_dir
    from pocket.pretrain.build import FULL, SMOKE, build

    if smoke:
        work = work or Path("pocket-build/smoke/work")
        out = out or Path("pocket-build/smoke/weights")
    work = work or Path("pocket-build/work")
    out = out or pocket_weights_dir()
    build(work, out, SMOKE if smoke else FULL)
    click.echo(f"pocket models in {out}")


@pocket_group.command("gates")
@click.option("--renders", default=600, show_default=True, help="Held-out renders for the CLIP role's zero-shot gates.")
@click.option("--per-pair", default=1, show_default=True, help="Base-model images per (class, context) pair.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Also write the lines here.")
@user_errors
def pocket_gates(renders, per_pair, output):
    """Check the world gates: DINO tells subjects apart, CLIP reads class and context, the base model draws them."""
    from pocket.gates import all_gates

    gates = all_gates(renders, per_pair)
    lines = [gate.line() for gate in gates]
    click.echo("\n".join(lines))
    if output:
        output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    failed = [gate.name for gate in gates if not gate.holds]
    if failed:
        raise click.exceptions.Exit(1)


@pocket_group.command("findings")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Also write the table here.")
@user_errors
def pocket_findings(run_dir, output):
    """Test the DreamBooth paper's findings on a scored run (paired Wilcoxon over subjects, p < 0.01)."""
    from pocket.findings import ALPHA, Outcome, evaluate_all, markdown_table

    outcomes = evaluate_all(run_dir)
    table = markdown_table(outcomes)
    click.echo(table)
    if output:
        output.write_text(table + "\n", encoding="utf-8")
    required = [o for o in outcomes if (o.finding if isinstance(o, Outcome) else o[0]).required]
    held = sum(isinstance(o, Outcome) and o.holds for o in required)
    click.echo(f"{held} of {len(required)} required findings hold at p < {ALPHA}")


@pocket_group.command("sheet")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("pocket-sheet.png"),
    show_default=True,
    help="PNG to write.",
)
@user_errors
def pocket_sheet(output):
    """A contact sheet of the world: each subject's photos, then the subject in a context, as a cube, red, dressed."""
    from pocket.sheet import contact_sheet

    contact_sheet().save(output)
    click.echo(f"contact sheet written to {output}")


@pocket_group.command("photos")
@click.option(
    "--dest", type=click.Path(path_type=Path), default=None, help="Folder to write (default: the package's own copy)."
)
@user_errors
def pocket_photos(dest):
    """Re-render the subjects' photos and their manifest (pocketbench-v1)."""
    from pocket.photos import SHIPPED, write_dataset

    folder = write_dataset(dest or SHIPPED)
    click.echo(f"pocketbench-v1 photos written to {folder}")


def program() -> None:
    """The `bench` executable: `main`, plus what only a real process may do on its way out.

    After an interrupt, a second Ctrl-C (`timeout -s INT` and terminals send one to
    the whole process group) would land in the worker pool's exit-time cleanup and
    print a traceback under the one-line message; the exiting process ignores it.
    SIGTERM (SLURM's time limit and preemption, `kill`) is raised as `Terminated`, so a
    run stops as cleanly as after Ctrl-C and says so, instead of vanishing silently.
    Not in `main`, which tests call in-process.
    """
    import signal

    def terminated(signum, frame):
        note_sigterm()
        raise Terminated()

    signal.signal(signal.SIGTERM, terminated)
    try:
        main()
    except SystemExit as exc:
        if exc.code in (130, 143):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise


if __name__ == "__main__":
    program()
