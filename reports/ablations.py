"""The paper's ablation tables, in the paper's layout, with our numbers beside the published ones.

Each ablation is data: the paper table it mirrors, its arms (first = the reference arm,
always plain `dreambooth`), the harness method behind each arm and the metrics the paper
printed. For every arm we show our macro mean with its 95% CI and the published number;
for every non-reference arm the *effect* of the ablation, Δ = arm − reference: ours as a
paired difference over shared (subject, prompt, image) cells with its bootstrap CI and
Wilcoxon p, the paper's as the difference of its two printed numbers. Effects, not
levels, are what can be compared across backbones (the paper's are mostly Imagen).
Where the arms do not all cover the same subjects, a level averages each arm's own subjects
while Δ pairs the shared ones: `AblationResult.coverage_note` says so under the table in every
format, and `incomplete_note` says what each incomplete arm lacks (its † or "incomplete" tag).

Arms are found by registered method name (method.json's `name`), not by label, so a run of
`dreambooth[steps=3]` and `dreambooth-no-prior[steps=3]` still gets its table. The arms of
one table share one option suffix (`[steps=3]`, or none): arms run with different settings
would make the effect partly the ablation and partly the setting, so they are never mixed.
Of the suffixes present, the one shared by the most arms wins (the defaults on a tie); the
table shows each arm's label, so the reader sees which setting was ablated.

A table appears only when every arm's method is in the loaded runs with that suffix;
otherwise the report names the missing methods (or the arms whose options differ) and the
`bench run` command that adds them to the run (its directory, subjects, prompt limit,
identity and the chosen options), so that the new arms pair with the old ones instead of
starting a fresh 30-subject run elsewhere.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from benchmark.config import RunConfig, build_config
from benchmark.errors import BenchError
from benchmark.metrics.registry import METRICS
from benchmark.metrics.statistics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, paired_differences
from benchmark.store.run_dir import recorded_includes
from reports.comparisons import compare_methods
from reports.loading import MethodRun, ReportData, RunInfo
from reports.published import ORACLE, published_value
from reports.tables import estimate_fields


@dataclass(frozen=True)
class Arm:
    # the paper's row name
    label: str
    # harness method (ORACLE: the real-image oracle of the reference method's subjects)
    method: str


@dataclass(frozen=True)
class Ablation:
    id: str
    title: str
    question: str
    # the paper's table, None when the paper printed no numbers
    table: str | None
    # the backbone of the published numbers
    backbone: str | None
    metrics: tuple[str, ...]
    arms: tuple[Arm, ...]
    # False: a method's own presets (register_preset), which no paper printed
    from_paper: bool = True

    @property
    def methods(self) -> list[str]:
        return [arm.method for arm in self.arms if arm.method != ORACLE]


ABLATIONS: tuple[Ablation, ...] = (
    Ablation(
        "methods",
        "Methods: DreamBooth vs Textual Inversion vs real images",
        "How close does each method get to the subject, and to the prompt?",
        "Table 1",
        "SD",
        ("dino", "clip-i", "clip-t"),
        (Arm("DreamBooth", "dreambooth"), Arm("Textual Inversion", "textual-inversion"), Arm("Real images", ORACLE)),
    ),
    Ablation(
        "prior",
        "Prior preservation: with vs without the prior-preservation loss",
        "Does the prior loss keep the class from collapsing onto the subject (PRES down) and keep diversity (DIV)?",
        "Table 3",
        "Imagen",
        ("pres", "div", "dino", "clip-i", "clip-t"),
        (
            Arm("With prior preservation loss", "dreambooth"),
            Arm("Without prior preservation loss", "dreambooth-no-prior"),
        ),
    ),
    Ablation(
        "class-noun",
        "Class noun: correct, none, wrong",
        "Does the class noun in the subject phrase help the identifier bind to the subject?",
        "Table 4",
        "Imagen",
        ("dino", "clip-i"),
        (
            Arm("Correct class", "dreambooth"),
            Arm("No class noun", "dreambooth-no-class"),
            Arm("Wrong class", "dreambooth-wrong-class"),
        ),
    ),
    Ablation(
        "identifier",
        "Identifier: rare token vs English word",
        "Does a rare-token identifier beat a common English word that carries its own prior?",
        None,
        None,
        ("dino", "clip-i", "clip-t"),
        (Arm("Rare token (seeded draw)", "dreambooth"), Arm("English word (special)", "dreambooth-english-id")),
    ),
)


@dataclass
class ArmResult:
    label: str
    # our method key, or ORACLE
    method: str
    is_reference: bool
    # the oracle arm: True, since it is real photos, not a method that can fall short
    complete: bool
    # False for numbers from random weights (run or scoring backbones)
    meaningful: bool
    is_oracle: bool = False
    # metric -> mean, ci_low, ci_high, n_subjects, n_images
    ours: dict[str, dict] = field(default_factory=dict)
    published: dict[str, float | None] = field(default_factory=dict)
    # metric -> diff, ci_low, ci_high, p_value, n_subjects, seed_mismatches
    delta: dict[str, dict] = field(default_factory=dict)
    published_delta: dict[str, float | None] = field(default_factory=dict)
    # the subjects its means average (any metric)
    subjects: list[str] = field(default_factory=list)
    # what an incomplete arm lacks (see `shortfall`); "" when complete
    shortfall: str = ""


def shortfall(method: MethodRun) -> str:
    """What an incomplete method's numbers lack against the protocol, short enough for a caption or a note:
    '1/2 subjects, 2/25 prompts; failed: dog'. Unlike MethodRun.status it names no command (a caption is
    pasted into a paper); it also says when its metrics average different numbers of subjects, as a partial
    re-score leaves them."""
    if method.complete:
        return ""
    if method.scores is None:
        return "not scored"
    parts = [f"{len(method.scored_subjects)}/{len(method.run.subjects)} subjects"]
    if not method.coverage.full:
        parts.append(method.coverage.text)
    problems = []
    if method.failures:
        problems.append(f"failed: {', '.join(method.failed_subjects)}")
    if method.missing_subjects:
        problems.append(f"missing: {', '.join(method.missing_subjects)}")
    if method.unscored_images:
        problems.append(f"{method.unscored_images} image(s) not scored")
    for metric, counts in method.partial_metrics.items():
        name = METRICS[metric].name if metric in METRICS else metric
        problems.append(f"{name} on {counts.get('scored')}/{counts.get('applicable')} images")
    if method.missing_metrics:
        problems.append(f"{', '.join(METRICS[m].name for m in method.missing_metrics)} not scored")
    per_metric = {
        METRICS[m].name: int(e["n_subjects"]) for m in METRICS if (e := method.estimate(m)) and e.get("n_subjects")
    }
    if len(set(per_metric.values())) > 1:
        counts = ", ".join(f"{name} {n}" for name, n in per_metric.items())
        problems.append(f"its metrics average different numbers of subjects ({counts})")
    return "; ".join([", ".join(parts), *problems])


def incomplete_legend(shortfalls: dict[str, str]) -> str:
    """'incomplete: base, dreambooth (2/2 subjects, 2/25 prompts); fake (1/2 subjects; failed: dog).': what a
    row's incomplete mark means, row by row (rows short alike share one entry), for the line under a table."""
    groups: dict[str, list[str]] = {}
    for label, why in shortfalls.items():
        groups.setdefault(why, []).append(label)
    return "incomplete: " + "; ".join(f"{', '.join(labels)} ({why})" for why, labels in groups.items()) + "."


@dataclass
class AblationResult:
    ablation: Ablation
    # arm methods with no scored label at all in these runs
    missing: list[str]
    arms: list[ArmResult] = field(default_factory=list)
    # when not available: the `bench run` command that extends hint_run with the missing arms
    hint: str = ""
    hint_run: str = ""
    # the option suffix every arm shares, e.g. "[steps=3]"; "" for the defaults
    options: str = ""
    # when arms exist only with other options: every label found
    mixed: list[str] = field(default_factory=list)
    # arms whose plug-in code differs from the reference arm's (the file was edited between their runs): each
    # folder alone is guarded, but an effect between two codes is partly the edit
    other_code: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return not self.missing and not self.mixed

    @property
    def source(self) -> str | None:
        if self.ablation.table is None:
            return None
        return f"DreamBooth paper, {self.ablation.table} ({self.ablation.backbone})"

    @property
    def code_warning(self) -> str:
        """A line when arms were made from different code of one plug-in, else ''."""
        if not self.other_code:
            return ""
        return (
            f"Warning: {', '.join(self.other_code)} came from other code of the plug-in than "
            f"{self.arms[0].method if self.arms else 'the first row'} (its file was edited between their runs): "
            "each effect is partly that edit. Re-run the arms into a new --output-dir."
        )

    @property
    def coverage_note(self) -> str:
        """When the arms do not all average the same subjects, which arm covers how many, and what Δ pairs; else ''.

        A level column then averages different subjects from row to row (dreambooth on 5, its ablation on 3),
        while each Δ pairs the subjects both rows share: the two are not the same comparison.
        """
        if len({frozenset(arm.subjects) for arm in self.arms}) <= 1:
            return ""
        reference = self.arms[0]
        counts = ", ".join(f"{arm.label}: {len(arm.subjects)}" for arm in self.arms)
        paired = []
        for arm in self.arms[1:]:
            pairs = sorted({int(d["n_subjects"]) for d in arm.delta.values() if d.get("n_subjects")})
            shown = "none" if not pairs else str(pairs[0]) if len(pairs) == 1 else f"{pairs[0]}-{pairs[-1]}"
            paired.append(f"{arm.label}: {shown}")
        return (
            f"The arms do not all cover the same subjects ({counts}): each arm's means average its own subjects, "
            f"while each Δ pairs only the subjects the arm shares with {reference.label} ({', '.join(paired)})."
        )

    @property
    def incomplete_note(self) -> str:
        """What each incomplete arm lacks (the meaning of its mark), or '' when every arm is complete."""
        short = {arm.label: arm.shortfall for arm in self.arms if not arm.complete}
        return incomplete_legend(short) if short else ""

    @property
    def no_source(self) -> str:
        """Why a table has no published numbers: the paper printed none, or it is a method's own presets."""
        if self.ablation.from_paper:
            return "the paper prints no numbers for this ablation"
        return "none: a method's own presets (register_preset), declared by its code"


def _oracle_delta(reference: MethodRun, metric: str, **bootstrap) -> dict:
    """Real images − reference method, per subject (oracle and method over the same subjects).

    The oracle has no (prompt, image) cells to pair, so the pairs are scores.json's per-subject
    values; the test and CI over those differences are the paired comparison's own.
    """
    rows = [r for r in reference.scores.get("per_subject", []) if r.get(metric) is not None]
    rows = [r for r in rows if r.get(f"oracle-{metric}") is not None]
    if not rows:
        return {}
    tested = paired_differences([r[f"oracle-{metric}"] - r[metric] for r in rows], **bootstrap)
    return {
        "diff": tested.mean_diff,
        "ci_low": math.nan if tested.ci_low is None else tested.ci_low,
        "ci_high": math.nan if tested.ci_high is None else tested.ci_high,
        "p_value": tested.p_value,
        "n_subjects": tested.n_subjects,
    }


def _oracle_subjects(reference: MethodRun, metrics) -> list[str]:
    """The subjects of the reference method that have an oracle value of one of the table's metrics."""
    rows = reference.scores.get("per_subject", []) if reference.scores else []
    return [r["subject"] for r in rows if any(r.get(f"oracle-{m}") is not None for m in metrics)]


def _published(ablation: Ablation, method: str, metric: str) -> float | None:
    if ablation.table is None:
        return None
    return published_value(ablation.table, method, metric, ablation.backbone)


def option_suffix(method: MethodRun) -> str | None:
    """ "[steps=3]" of `dreambooth[steps=3]`, "" for a label that is just its name; None for any other label.

    A label is `name[opt=v,...]` (methods.registry.method_label): the suffix is what tells two
    settings of one method apart, and only arms with equal suffixes belong in one table.
    """
    if method.label == method.name:
        return ""
    suffix = method.label[len(method.name) :]
    return suffix if method.label.startswith(method.name) and suffix[:1] == "[" and suffix[-1:] == "]" else None


def _arms_by_options(data: ReportData, ablation: Ablation) -> dict[str, dict[str, MethodRun]]:
    """suffix -> {arm method name -> its scored method}, suffixes in load order.

    Where several runs hold an arm, it is taken from the run holding the most of the table's arms
    (the first such run on a tie), so that an effect pairs methods of one run, with one base seed
    and the same noise, rather than the first run's reference with another run's arm.
    """
    candidates: dict[str, dict[str, list[MethodRun]]] = {}
    for method in data.methods.values():
        suffix = option_suffix(method)
        if method.scores and suffix is not None and method.name in ablation.methods and not method.external:
            candidates.setdefault(suffix, {}).setdefault(method.name, []).append(method)
    found: dict[str, dict[str, MethodRun]] = {}
    for suffix, by_name in candidates.items():
        held: dict[str, int] = {}
        for methods in by_name.values():
            for run in dict.fromkeys(m.run.name for m in methods):
                held[run] = held.get(run, 0) + 1
        # max keeps the first of equals: load order
        home = max(held, key=held.get)
        found[suffix] = {
            name: next((m for m in methods if m.run.name == home), methods[0]) for name, methods in by_name.items()
        }
    return found


def build_ablation(
    data: ReportData, ablation: Ablation, *, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> AblationResult:
    by_options = _arms_by_options(data, ablation)
    # the suffix most arms share, the defaults on a tie (max keeps the first of equals: load order)
    options = max(by_options, key=lambda s: (len(by_options[s]), s == ""), default="")
    found = by_options.get(options, {})
    missing = [name for name in ablation.methods if not any(name in arms for arms in by_options.values())]
    result = AblationResult(ablation, missing, options=options)
    if missing or len(found) < len(ablation.methods):
        if not missing:
            result.mixed = [m.label for arms in by_options.values() for m in arms.values()]
        # the run holding the reference arm (else any arm), so the missing arms land beside it
        anywhere = [m for arms in (found, *by_options.values()) for m in arms.values()]
        holder = found.get(ablation.arms[0].method) or next(iter(anywhere), None)
        run = holder.run if holder is not None else data.runs[0]
        given = _given_options(next(iter(found.values()))) if found else {}
        result.hint = extend_command(run, ablation.methods, options=given)
        result.hint_run = run.name
        return result
    reference = found[ablation.arms[0].method]
    code = reference.info.get("plugin_code")
    result.other_code = [m.label for m in found.values() if code and m.info.get("plugin_code") not in (None, code)]
    bootstrap = {"n_resamples": n_resamples, "seed": seed}
    for index, arm in enumerate(ablation.arms):
        oracle = arm.method == ORACLE
        method = reference if oracle else found[arm.method]
        key, complete = (ORACLE, True) if oracle else (method.key, method.complete)
        out = ArmResult(arm.label, key, index == 0, complete, method.meaningful, oracle)
        out.subjects = _oracle_subjects(reference, ablation.metrics) if oracle else list(method.measured_subjects)
        out.shortfall = "" if oracle else shortfall(method)
        if not oracle and index > 0:
            comparison = compare_methods(reference, method, list(ablation.metrics), **bootstrap)
            for row in comparison.itertuples(index=False):
                out.delta[row.metric] = {
                    "diff": row.diff,
                    "ci_low": row.ci_low,
                    "ci_high": row.ci_high,
                    "p_value": row.p_value,
                    "n_subjects": row.n_subjects,
                    # an arm from another run with another base seed
                    "seed_mismatches": row.seed_mismatches,
                }
        for metric in ablation.metrics:
            if oracle:
                estimate = method.scores.get("oracle", {}).get(metric)
                if index > 0 and estimate is not None:
                    out.delta[metric] = _oracle_delta(reference, metric, **bootstrap)
            else:
                estimate = method.estimate(metric)
            out.ours[metric] = estimate_fields(estimate)
            out.published[metric] = _published(ablation, arm.method, metric)
            ref_published = _published(ablation, ablation.arms[0].method, metric)
            if index > 0 and out.published[metric] is not None and ref_published is not None:
                out.published_delta[metric] = out.published[metric] - ref_published
        result.arms.append(out)
    return result


def _given_options(method: MethodRun) -> dict:
    """The options a label's suffix names, with method.json's values (the label prints them with str()).

    Read back key by key in the label's sorted order against the recorded options, since a
    value may itself hold a comma; a suffix that does not read back gives {} (a hint without
    `--set`, which adds the arms at the defaults: a table still, never a mixed one).
    """
    rest = (option_suffix(method) or "")[1:-1]
    options = method.info.get("options") or {}
    given = {}
    for key in sorted(options):
        piece = f"{key}={options[key]}"
        if rest == piece or rest.startswith(piece + ","):
            given[key] = options[key]
            rest = rest[len(piece) + 1 :]
    return given if not rest else {}


def extend_command(run: RunInfo, methods: list[str], *, options: dict | None = None) -> str:
    """`bench run` adding `methods` to this run: same directory, subjects, prompt limit and identity.

    `bench run` resumes a directory only with the identity in its run.json (profile, seed,
    images per prompt, models, sampling settings) and otherwise plans all 30 subjects and
    25 prompts, so each of those the run differs in from the defaults is spelled out.
    Methods already in the run are listed too: their finished images are reused. `options`
    (the arms' shared settings) are set for every method, so the new arms get the same label
    suffix as the old ones and land in their table.
    """
    from dataset.protocol import load_protocol

    identity = run.manifest.get("identity", {})
    args = ["bench", "run", "--method", ",".join(methods), "--output-dir", str(Path(run.path).resolve())]
    all_subjects = list(load_protocol().subjects)
    if run.subjects and run.subjects != all_subjects:
        args += ["--subjects", ",".join(run.subjects)]
    if run.prompt_limit is not None:
        args += ["--limit-prompts", str(run.prompt_limit)]
    flags = {"profile": run.manifest.get("profile"), "seed": identity.get("seed")}
    flags["images_per_prompt"] = identity.get("images_per_prompt")
    defaults = {"profile": None, "seed": RunConfig.seed, "images_per_prompt": RunConfig.images_per_prompt}
    for key, value in flags.items():
        if value is not None and value != defaults[key]:
            args += ["--" + key.replace("_", "-"), str(value)]
    if run.manifest.get("dataset_dir"):
        args += ["--dataset-dir", str(run.manifest["dataset_dir"])]
    # a plug-in's presets are unknown methods without their file
    for plugin in recorded_includes(run.path):
        args += ["--include", plugin]
    for assignment in _identity_assignments(identity, {k: v for k, v in flags.items() if v is not None}):
        args += ["--set", assignment]
    for method in methods:
        for key, value in sorted((options or {}).items()):
            args += ["--set", f"options.{method}.{key}={_yaml_scalar(value)}"]
    return shlex.join(args)


def _yaml_scalar(value) -> str:
    """A value as `--set` reads it back (YAML): JSON's 1e-06 would come back as a string, YAML's 1.0e-06 a float."""
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 20).removesuffix("\n...\n").strip()


def _identity_assignments(identity: dict, flags: dict) -> list[str]:
    """`--set` values for the models and sampling settings in which the run differs from its profile's defaults."""
    try:
        default = build_config(overrides=flags).identity()
    except BenchError:
        # a profile this checkout does not know: nothing to compare with
        return []
    out = []
    for section in ("models", "generation"):
        for key, value in sorted(identity.get(section, {}).items()):
            if default.get(section, {}).get(key) != value:
                out.append(f"{section}.{key}={value if isinstance(value, str) else json.dumps(value)}")
    return out


def preset_ablations(data: ReportData) -> list[Ablation]:
    """One table per method whose presets (`register_preset`) are in these runs, besides the paper's.

    A plug-in author's ablations are presets of their method: each is the method with some
    options changed, so each arm's effect against the method at its defaults is what the
    preset leaves out. Presets the paper's tables already hold (DreamBooth's) are not repeated.
    """
    in_paper = {name for ablation in ABLATIONS for name in ablation.methods}
    presets: dict[str, set[str]] = {}
    for method in data.methods.values():
        parent = (method.info or {}).get("preset_of")
        if parent and method.name not in in_paper and method.scores and not method.external:
            presets.setdefault(parent, set()).add(method.name)
    # every metric these runs measured
    metrics = tuple(data.metrics)
    return [
        Ablation(
            f"presets-{parent}",
            f"{parent}: its presets against its defaults",
            f"What does each preset of {parent} change, against {parent} with its default options?",
            None,
            None,
            metrics,
            (
                Arm(f"{parent} (defaults)", parent),
                *(Arm(name, name) for name in sorted(named)),
            ),
            from_paper=False,
        )
        for parent, named in presets.items()
    ]


def build_ablations(data: ReportData, **bootstrap) -> list[AblationResult]:
    """The paper's ablation tables, then one per method whose presets were run."""
    ablations = (*ABLATIONS, *preset_ablations(data))
    return [build_ablation(data, ablation, **bootstrap) for ablation in ablations]


def ablation_frame(result: AblationResult) -> pd.DataFrame:
    """Tidy: one line per (arm, metric) with ours, published, Δ (ours, with CI and p) and the published Δ.

    Each line says whether its arm is complete and meaningful, as leaderboard.csv's rows do: a CSV
    travels without the report's banners.
    """
    lines = []
    for arm in result.arms:
        for metric in result.ablation.metrics:
            ours = arm.ours.get(metric, {})
            delta = arm.delta.get(metric, {})
            lines.append(
                {
                    "ablation": result.ablation.id,
                    "arm": arm.label,
                    "method": arm.method,
                    "reference": arm.is_reference,
                    "options": result.options,
                    "complete": arm.complete,
                    "meaningful": arm.meaningful,
                    "metric": metric,
                    "ours_mean": ours.get("mean", math.nan),
                    "ours_ci_low": ours.get("ci_low", math.nan),
                    "ours_ci_high": ours.get("ci_high", math.nan),
                    "ours_n_subjects": ours.get("n_subjects", 0),
                    "published": _nan(arm.published.get(metric)),
                    "published_source": result.source or "",
                    "delta": delta.get("diff", math.nan),
                    "delta_ci_low": delta.get("ci_low", math.nan),
                    "delta_ci_high": delta.get("ci_high", math.nan),
                    "delta_p": delta.get("p_value", math.nan),
                    "delta_seed_mismatches": delta.get("seed_mismatches", 0),
                    "published_delta": _nan(arm.published_delta.get(metric)),
                }
            )
    return pd.DataFrame(lines)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
