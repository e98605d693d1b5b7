"""Read one or more run directories into plain Python objects, once, for every report output.

A report must never disagree with the files it was made from, so this module only
reads (run.json, each method's method.json, scores.json, scores.jsonl,
generations.jsonl, artifacts/*/artifact.json, failures/*.json) and decides nothing
beyond two things every output needs:

- a unique key per method across runs (the method label, plus the run name when two
  runs hold the same label), so two runs merge into one leaderboard without clashes;
- which subjects a method *should* have (every subject any method or `bench run`
  invocation of its run touched), so a method with a failed or missing subject is
  marked incomplete instead of being silently averaged over fewer subjects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.errors import BenchError
from benchmark.metrics.records import GENERATIONS, SCORES_JSON, SCORES_JSONL, read_jsonl
from benchmark.metrics.registry import METRICS
from benchmark.store.run_dir import RUN_FILE
from dataset.protocol import load_protocol

# RunStore writes these under literal names (it has no constants for them); the glob patterns
# below mirror its layout: <method>/method.json, artifacts/<subject>/artifact.json, failures/<subject>.json.
METHOD_JSON = "method.json"
INVOCATIONS = "invocations.jsonl"


@dataclass
class MethodRun:
    """Everything one method of one run left on disk."""

    key: str  # unique across the loaded runs
    label: str  # the directory name results are filed under, e.g. "dreambooth[lr=1e-05]"
    name: str  # the registered method name, e.g. "dreambooth"
    run: RunInfo
    info: dict  # method.json "info" (description, options, preset_of, version)
    scores: dict | None  # scores.json, None when the method was never scored
    cells: pd.DataFrame  # scores.jsonl: one row per image with its record and metrics
    records: list[dict]  # generations.jsonl
    artifacts: dict[str, dict]  # subject -> artifact.json
    failures: dict[str, dict]  # subject -> failures/<subject>.json

    @property
    def scored_subjects(self) -> list[str]:
        if not self.scores:
            return []
        return [row["subject"] for row in self.scores.get("per_subject", [])]

    @property
    def measured_subjects(self) -> list[str]:
        """Subjects with a value for at least one metric (the leaderboard's "subjects scored").

        `scored_subjects` also holds a subject whose every image was unscorable; a metric's own
        n_subjects can be lower than this (PRES where a subject has no class images, a metric a
        method was not scored on), which is why no single metric's n stands for the method.
        """
        if not self.scores:
            return []
        return [
            row["subject"]
            for row in self.scores.get("per_subject", [])
            if any(row.get(metric) is not None for metric in METRICS)
        ]

    @property
    def failed_subjects(self) -> list[str]:
        return sorted(self.failures)

    @property
    def missing_subjects(self) -> list[str]:
        """Subjects the run covers that this method neither scored nor recorded as failed."""
        have = set(self.scored_subjects) | set(self.failures)
        return [s for s in self.run.subjects if s not in have]

    @property
    def complete(self) -> bool:
        return self.scores is not None and not self.failures and not self.missing_subjects

    @property
    def meaningful(self) -> bool:
        if self.scores is not None:
            return bool(self.scores.get("meaningful", False))
        return bool(self.run.manifest.get("meaningful", False))

    def estimate(self, metric: str) -> dict | None:
        """scores.json's summary entry for a metric: mean, ci_low, ci_high, n_subjects, n_images."""
        if not self.scores:
            return None
        return self.scores.get("summary", {}).get(metric)

    @property
    def status(self) -> str:
        """One human line: why this row cannot be compared at face value, or 'complete'."""
        problems = []
        if self.scores is None:
            problems.append(f"not scored; run: bench score {self.run.path}")
        if self.failures:
            problems.append(f"failed: {', '.join(self.failed_subjects)}")
        if self.missing_subjects and self.scores is not None:
            problems.append(f"missing: {', '.join(self.missing_subjects)}")
        if not problems:
            return "complete"
        n_scored = len(self.scored_subjects)
        return f"INCOMPLETE ({n_scored}/{len(self.run.subjects)} subjects; {'; '.join(problems)})"


@dataclass
class RunInfo:
    """A run directory: its manifest (run.json) and the subjects its methods should cover."""

    path: Path
    name: str
    manifest: dict
    subjects: list[str] = field(default_factory=list)  # protocol order
    method_keys: list[str] = field(default_factory=list)

    @property
    def meaningful(self) -> bool:
        return bool(self.manifest.get("meaningful", False))

    @property
    def profile(self) -> str:
        return str(self.manifest.get("profile", "unknown"))

    @property
    def dataset_dir(self) -> Path | None:
        recorded = self.manifest.get("dataset_dir")
        return Path(recorded) if recorded else None


@dataclass
class ReportData:
    """All loaded runs and their methods, in the order given (methods sorted within a run)."""

    runs: list[RunInfo]
    methods: dict[str, MethodRun]

    @property
    def meaningful(self) -> bool:
        return all(run.meaningful for run in self.runs) and all(m.meaningful for m in self.methods.values())

    @property
    def metrics(self) -> list[str]:
        """Metric ids measured by at least one method, in registry order."""
        seen = {metric for m in self.methods.values() if m.scores for metric in m.scores.get("metrics", {})}
        return [metric for metric in METRICS if metric in seen]

    def find(self, name: str) -> MethodRun | None:
        """A method by its key, else the first one filed under that label (a label shared by two runs)."""
        if name in self.methods:
            return self.methods[name]
        for method in self.methods.values():
            if method.label == name:
                return method
        return None

    def require(self, name: str) -> MethodRun:
        found = self.find(name)
        if found is None:
            raise BenchError(f"method '{name}' is not in the report; methods: {', '.join(self.methods)}")
        return found


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise BenchError(f"{path} is not valid JSON") from None


def _read_jsonl(path: Path) -> list[dict]:
    return read_jsonl(path) if path.is_file() else []  # not written yet: nothing recorded


def cells_frame(lines: list[dict]) -> pd.DataFrame:
    """scores.jsonl lines as a frame; metric columns are floats (NaN where a metric does not apply), the rest
    stay Python objects (64-bit seeds must not pass through float)."""
    keys = list(dict.fromkeys(key for line in lines for key in line))
    for key in ("subject", "prompt_index", "image_index", "seed", "category", "kind", *METRICS):
        if key not in keys:
            keys.append(key)
    frame = pd.DataFrame({key: pd.Series([line.get(key) for line in lines], dtype=object) for key in keys})
    for metric in METRICS:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce").astype(float)
    return frame


def _per_dir(root: Path, pattern: str) -> dict[str, dict]:
    out = {}
    for path in sorted(root.glob(pattern)):
        data = _read_json(path)
        if data is not None:
            out[path.parent.name if path.name == "artifact.json" else path.stem] = data
    return out


def _expected_subjects(path: Path, seen: set[str]) -> list[str]:
    """Every subject a `bench run` on this directory asked for, plus every subject any method touched."""
    for line in _read_jsonl(path / INVOCATIONS):
        seen.update(line.get("subjects") or [])
    order = list(load_protocol().subjects)  # protocol order, so every table lists subjects alike
    rank = {name: i for i, name in enumerate(order)}
    return sorted(seen, key=lambda s: (rank.get(s, len(rank)), s))


def _method_dirs(path: Path) -> list[Path]:
    return sorted(p.parent for p in path.glob(f"*/{METHOD_JSON}"))


def load_run(path: Path) -> tuple[RunInfo, list[MethodRun]]:
    path = Path(path)
    manifest = _read_json(path / RUN_FILE)
    if manifest is None:
        raise BenchError(f"{path} is not a bench run directory (no {RUN_FILE})")
    run = RunInfo(path=path, name=path.resolve().name, manifest=manifest)
    methods = []
    for method_dir in _method_dirs(path):
        info = (_read_json(method_dir / METHOD_JSON) or {}).get("info", {})
        scores = _read_json(method_dir / SCORES_JSON)
        methods.append(
            MethodRun(
                key=method_dir.name,
                label=method_dir.name,
                name=str(info.get("name") or method_dir.name),
                run=run,
                info=info,
                scores=scores,
                cells=cells_frame(_read_jsonl(method_dir / SCORES_JSONL)),
                records=_read_jsonl(method_dir / GENERATIONS),
                artifacts=_per_dir(method_dir, "artifacts/*/artifact.json"),
                failures=_per_dir(method_dir, "failures/*.json"),
            )
        )
    if not methods:
        raise BenchError(f"{path} holds no method yet (no */method.json); run `bench run` first")
    seen = {s for m in methods for s in (*m.scored_subjects, *m.failures, *(r["subject"] for r in m.records))}
    run.subjects = _expected_subjects(path, seen)
    return run, methods


def load_runs(run_dirs: list[Path]) -> ReportData:
    """Load every run; a method label found in several runs gets the run name appended to its key."""
    if not run_dirs:
        raise BenchError("no run directory given")
    loaded = [load_run(Path(p)) for p in run_dirs]
    counts: dict[str, int] = {}
    for _, methods in loaded:
        for method in methods:
            counts[method.label] = counts.get(method.label, 0) + 1
    names = [run.name for run, _ in loaded]
    result: dict[str, MethodRun] = {}
    for index, (run, methods) in enumerate(loaded):
        run_tag = run.name if names.count(run.name) == 1 else f"run {index + 1}: {run.name}"
        for method in methods:
            if counts[method.label] > 1:
                method.key = f"{method.label} ({run_tag})"
            result[method.key] = method
            run.method_keys.append(method.key)
    return ReportData(runs=[run for run, _ in loaded], methods=result)
