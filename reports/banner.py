"""The warning every output of a random-weight profile carries.

A number from the `tiny` profile looks exactly like a real one; the only thing that
stops it from being pasted into a paper is this banner, so it is loud and repeated
in logs, run directories and reports (the lines themselves are benchmark.weights_notice's,
which the runner writes before any report exists). `report_banners` decides, for every report
output (HTML, Markdown, LaTeX, `bench compare`), which banners a set of runs needs;
`smoke_run_banners` does the same for runs cut short of the protocol (`--limit-prompts`,
fewer images per prompt), whose numbers look just as final, and `subset_banners` for runs
on some of the protocol's subjects: a mean over 3 subjects reads like a DreamBench result
and sits beside the paper's 30-subject numbers in every table. `protocol_banners` is both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.profiles import PROFILES
from benchmark.weights_notice import not_meaningful_banner, pocket_world_banner

# only for annotations: the banners stay free of pandas and the loading code
if TYPE_CHECKING:
    from reports.loading import ReportData


def pocket_banners(data: ReportData) -> list[str]:
    """One POCKET WORLD line per pocket-world profile among the runs (their numbers are real, but in miniature)."""
    pocket = {run.profile for run in data.runs if run.profile in PROFILES and PROFILES[run.profile].pocket}
    return [pocket_world_banner(profile) for profile in sorted(pocket)]


def report_banners(data: ReportData) -> list[str]:
    """One NOT MEANINGFUL line per random-weight profile among the runs and their scorings; none iff meaningful.

    A real run scored with random-weight backbones is just as meaningless, so a scoring profile
    counts too, but only when it is itself a random-weight one: a random-weight run scored with
    real backbones is not meaningful because of its run profile, and the real scoring profile
    must not be called random. Should neither explain a method that says it is not meaningful,
    the banner still appears, naming the profile 'unknown': a warning is never dropped.
    """
    profiles = {run.profile for run in data.runs if not run.meaningful}
    for method in data.methods.values():
        if method.scores and not method.meaningful:
            scoring = str(method.scores.get("scoring_profile", "unknown"))
            if scoring not in PROFILES or not PROFILES[scoring].meaningful:
                profiles.add(scoring)
    if not profiles and not data.meaningful:
        profiles.add("unknown")
    return [not_meaningful_banner(profile) for profile in sorted(profiles)]


def _runs_phrase(names: list[str]) -> tuple[str, str, str, str]:
    """("run 'a'", "has", "covers", "its") for one run, ("runs 'a' and 'b'", "have", "cover", "their") for several:
    runs cut alike share one banner instead of repeating it word for word."""
    quoted = [f"'{name}'" for name in names]
    if len(quoted) == 1:
        return f"run {quoted[0]}", "has", "covers", "its"
    listed = ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
    return f"runs {listed}", "have", "cover", "their"


def _grouped(data: ReportData, key) -> dict:
    """Runs by `key(run)` (None: left out), in load order."""
    groups: dict = {}
    for run in data.runs:
        value = key(run)
        if value is not None:
            groups.setdefault(value, []).append(run)
    return groups


def smoke_run_banners(data: ReportData) -> list[str]:
    """One SMOKE RUN line per set of runs whose methods all stop short of the protocol's prompts or images per prompt
    in the same way.

    A run with a single method extended to every prompt is not one: its short methods are
    marked INCOMPLETE row by row instead (MethodRun.status).
    """
    from reports.loading import PROTOCOL_IMAGES_PER_PROMPT, protocol_prompts

    def cuts(run) -> tuple[str, ...] | None:
        if not run.reduced:
            return None
        out = []
        if run.prompt_limit is not None:
            protocol = max((n for n in map(protocol_prompts, run.subjects) if n is not None), default=0)
            out.append(
                f"only the first {run.prompt_limit} of the protocol's {protocol} prompts per subject "
                f"(bench run --limit-prompts {run.prompt_limit})"
            )
        if run.images_per_prompt < PROTOCOL_IMAGES_PER_PROMPT:
            out.append(
                f"{run.images_per_prompt} of the protocol's {PROTOCOL_IMAGES_PER_PROMPT} images per prompt "
                f"(--images-per-prompt {run.images_per_prompt})"
            )
        return tuple(out)

    lines = []
    for shared, runs in _grouped(data, cuts).items():
        who, has, _, its = _runs_phrase([run.name for run in runs])
        lines.append(
            f"SMOKE RUN: {who} {has} {' and '.join(shared)}: {its} numbers are not DreamBench results "
            "and do not compare with full runs."
        )
    return lines


def subset_banners(data: ReportData) -> list[str]:
    """One SUBSET line per set of runs on the same subjects, fewer than the protocol has, with what that does to
    their significance."""
    from benchmark.metrics.statistics import too_few_subjects_note
    from dataset.protocol import load_protocol

    total = len(load_protocol().subjects)
    lines = []
    groups = _grouped(data, lambda run: tuple(run.subjects) if run.subjects and len(run.subjects) < total else None)
    for subjects, runs in groups.items():
        who, _, covers, its = _runs_phrase([run.name for run in runs])
        shown = ", ".join(subjects[:6]) + (f" and {len(subjects) - 6} more" if len(subjects) > 6 else "")
        line = (
            f"SUBSET: {who} {covers} {len(subjects)} of the protocol's {total} subjects ({shown}): "
            f"{its} means average those subjects only and do not compare with {total}-subject DreamBench results, "
            "the published ones included."
        )
        # the comparisons' own note says it
        note = too_few_subjects_note(len(subjects), about_ci=False)
        lines.append(line + (f" {note}" if note else ""))
    return lines


def mixed_scoring_banners(data: ReportData) -> list[str]:
    """One MIXED SCORING line per metric whose rows were not all scored alike (backbone, weights, CLIP-T text, and
    for DIV the image size).

    A column then holds numbers from different instruments; the leaderboard, comparisons and ablations
    pair only rows scored alike (`reports.scoring_match.scoring_mismatch`), and this line says why some
    pairs are missing.
    """
    from benchmark.metrics.registry import METRICS
    from reports.scoring_match import mismatch_remedy, scoring_signature

    lines = []
    for metric in data.metrics:
        signatures = {
            method.key: dict(scoring_signature(method, metric))
            for method in data.methods.values()
            if method.scores and metric in (method.scores.get("summary") or {})
        }
        recorded = list(signatures.values())
        differing = sorted(
            {
                what
                for one in recorded
                for other in recorded
                for what in one
                if what in other and one[what] != other[what]
            }
        )
        if not differing:
            continue
        groups: dict[tuple, list[str]] = {}
        for key, signature in signatures.items():
            groups.setdefault(tuple(signature.get(what, "not recorded") for what in differing), []).append(key)
        shown = "; ".join(
            f"{', '.join(keys)}: " + ", ".join(f'{what} "{v}"' for what, v in zip(differing, values, strict=True))
            for values, keys in groups.items()
        )
        remedy = mismatch_remedy(differing).replace(
            "re-score one as the other was scored", f"re-score them alike (bench score RUN --metrics {metric})"
        )
        lines.append(
            f"MIXED SCORING: {METRICS[metric].name} was not scored alike for every row ({shown}): rows scored "
            f"differently are not compared with each other; {remedy}."
        )
    return lines


def uncommitted_code_banners(data: ReportData) -> list[str]:
    """One UNCOMMITTED CODE line per run that a checkout with local changes worked on.

    A built-in method marks a change of its outputs by its version, but an edit that was never
    committed changes outputs under the same version and the same revision: such numbers cannot
    be traced to any code, so a report about to be published says so.
    """
    lines = []
    for run in data.runs:
        if run.uncommitted:
            lines.append(
                f"UNCOMMITTED CODE: run '{run.name}' was (in part) made by a harness checkout with uncommitted "
                f"changes ({', '.join(run.uncommitted)}): its numbers cannot be traced to a commit; re-run it from "
                "a clean checkout before publishing them."
            )
    return lines


def protocol_banners(data: ReportData) -> list[str]:
    """Every line saying a run falls short of the protocol (SMOKE RUN: prompts or images; SUBSET: subjects), that
    a column mixes scorings (MIXED SCORING) or that uncommitted code made it (UNCOMMITTED CODE)."""
    return [
        *smoke_run_banners(data),
        *subset_banners(data),
        *mixed_scoring_banners(data),
        *uncommitted_code_banners(data),
    ]
