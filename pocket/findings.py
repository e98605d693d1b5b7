"""The DreamBooth paper's findings, tested on a scored run: does each one reappear, and by how much?

Each finding is a claim about two methods' per-subject means of one metric (or a method
against the real-image oracle): "DINO is higher for dreambooth than for
textual-inversion". It holds when the paired Wilcoxon signed-rank test over subjects
(two-sided, as every comparison the harness prints) gives p < `ALPHA` *and* the mean
difference has the claimed sign. A finding that does not hold is printed with its
measured effect, CI and p all the same: never forced, never dropped.

The numbers come from the run's `scores.json` files, written by the same scoring code
as any real-weights run; nothing here computes a metric.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import BenchError
from benchmark.metrics.statistics import paired_differences

ALPHA = 0.01
ORACLE = "oracle"


@dataclass(frozen=True)
class Finding:
    source: str  # where the paper shows it
    metric: str
    better: str  # method label, or "oracle" for the real-image oracle
    worse: str
    higher: bool = True  # the claim: `better` scores higher (False: lower, as PRES should be)
    required: bool = True  # False: reported for comparison, not a gate


def _paper_findings() -> tuple[Finding, ...]:
    table1 = [
        Finding("Table 1", metric, better, worse)
        for metric in ("dino", "clip-i")
        for better, worse in (("dreambooth", "textual-inversion"), ("textual-inversion", "base"))
    ]
    table1.append(Finding("Table 1", "clip-t", "dreambooth", "textual-inversion"))
    oracle = [
        Finding("Table 1 (oracle)", metric, ORACLE, method)
        for metric in ("dino", "clip-i")
        for method in ("dreambooth", "textual-inversion", "base")
    ]
    table3 = [
        Finding("Table 3", "pres", "dreambooth", "dreambooth-no-prior", higher=False),
        Finding("Table 3", "div", "dreambooth", "dreambooth-no-prior"),
    ]
    table4 = [
        Finding("Table 4", "dino", "dreambooth", other) for other in ("dreambooth-no-class", "dreambooth-wrong-class")
    ]
    reported = [
        Finding("LoRA", metric, "dreambooth-lora", "textual-inversion", required=False) for metric in ("dino", "clip-i")
    ] + [Finding("identifier", "dino", "dreambooth", "dreambooth-english-id", required=False)]
    return (*table1, *oracle, *table3, *table4, *reported)


FINDINGS = _paper_findings()


@dataclass(frozen=True)
class Outcome:
    finding: Finding
    n_subjects: int
    better_mean: float
    worse_mean: float
    difference: float  # better - worse, macro over subjects
    ci_low: float | None
    ci_high: float | None
    p_value: float

    @property
    def holds(self) -> bool:
        signed = self.difference if self.finding.higher else -self.difference
        return self.p_value < ALPHA and signed > 0


def per_subject_means(run_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """method -> subject -> metric -> mean, read from each method's scores.json (the oracle as method 'oracle')."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scores_json in sorted(Path(run_dir).glob("*/scores.json")):
        try:
            rows = json.loads(scores_json.read_text(encoding="utf-8"))["per_subject"]
        except (OSError, ValueError, KeyError) as exc:
            raise BenchError(f"{scores_json} is unreadable ({type(exc).__name__}); re-score the run") from None
        method = scores_json.parent.name
        for row in rows:
            values = {k: v for k, v in row.items() if isinstance(v, (int, float)) and not k.startswith("n_")}
            out.setdefault(method, {})[row["subject"]] = {k: v for k, v in values.items() if "oracle-" not in k}
            oracle = {k.removeprefix("oracle-"): v for k, v in values.items() if k.startswith("oracle-")}
            if oracle:
                out.setdefault(ORACLE, {})[row["subject"]] = oracle
    if not out:
        raise BenchError(f"no scores.json under {run_dir}; run `bench run` with scoring, or `bench score` first")
    return out


def evaluate(finding: Finding, means: dict[str, dict[str, dict[str, float]]]) -> Outcome | None:
    """The finding on the subjects both sides have a value for; None when one side was not run or scored."""
    better, worse = means.get(finding.better, {}), means.get(finding.worse, {})
    subjects = sorted(s for s in set(better) & set(worse) if finding.metric in better[s] and finding.metric in worse[s])
    values = [(better[s][finding.metric], worse[s][finding.metric]) for s in subjects]
    values = [(b, w) for b, w in values if np.isfinite(b) and np.isfinite(w)]
    if len(values) < 2:
        return None
    b, w = np.array(values).T
    tested = paired_differences(b - w)
    return Outcome(
        finding, len(values), float(b.mean()), float(w.mean()), tested.mean_diff, tested.ci_low, tested.ci_high,
        tested.p_value,
    )  # fmt: skip


def evaluate_all(run_dir: Path, findings: tuple[Finding, ...] = FINDINGS) -> list[Outcome | tuple[Finding, None]]:
    means = per_subject_means(run_dir)
    return [evaluate(f, means) or (f, None) for f in findings]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def markdown_table(outcomes: list) -> str:
    """The findings as a Markdown table: what, n, both means, difference with CI, p, and whether it holds."""
    lines = [
        "| source | claim | n | better | worse | difference (95% CI) | p (Wilcoxon) | holds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for outcome in outcomes:
        finding = outcome.finding if isinstance(outcome, Outcome) else outcome[0]
        sign = ">" if finding.higher else "<"
        claim = f"{finding.metric.upper()}: {finding.better} {sign} {finding.worse}"
        if not isinstance(outcome, Outcome):
            lines.append(f"| {finding.source} | {claim} | 0 | | | not run | | - |")
            continue
        verdict = ("yes" if outcome.holds else "**no**") if finding.required else ("yes" if outcome.holds else "no")
        verdict += "" if finding.required else " (reported)"
        ci = f"[{_number(outcome.ci_low)}, {_number(outcome.ci_high)}]"
        lines.append(
            f"| {finding.source} | {claim} | {outcome.n_subjects} | {outcome.better_mean:.4f} | "
            f"{outcome.worse_mean:.4f} | {outcome.difference:+.4f} {ci} | {outcome.p_value:.2g} | {verdict} |"
        )
    return "\n".join(lines)
