"""Read one or more run directories into plain Python objects, once, for every report output.

A report must never disagree with the files it was made from, so this module only
reads (run.json, each method's method.json, scores.json, scores.jsonl,
generations.jsonl, artifacts/*/artifact.json, failures/*.json) and decides nothing
beyond what every output needs:

- a unique key per method across runs (the method label, plus the run name when two
  runs hold the same label), so two runs merge into one leaderboard without clashes;
- which subjects a method *should* have (every subject any method or `bench run`
  invocation of its run touched), so a method with a failed or missing subject is
  marked incomplete instead of being silently averaged over fewer subjects;
- how much of the protocol each method covers (prompts per subject, images per
  prompt), counted from its scores.jsonl / generations.jsonl lines, so a
  `--limit-prompts` run, or one method of a run extended to more prompts than the
  others, is never ranked as complete beside full runs. It is counted from the lines,
  not from a recorded limit, because the limit is per `bench run` invocation and older
  run directories do not record it;
- which of the protocol's metrics a method's scoring lacks or has for some images only
  (a `bench score --metrics` merge drops or keeps earlier ones), so a method is never
  complete without each metric on every image.

A folder that `bench score --folder` scored (another tool's images) loads as a run of
its own, marked external: it has no run.json, so its profile and meaningfulness come
from its scores, its subjects are the ones it has images for, and nothing about its
training is known. That is what lets such a method sit in the leaderboard beside the
harness's, paired on the same (subject, prompt, image index) cells.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from benchmark.config import RunConfig
from benchmark.errors import BenchError
from benchmark.metrics.external import DEFAULT_OUTPUT as SCORED_FOLDER_DEFAULT
from benchmark.metrics.external import SOURCE as SOURCE_JSON
from benchmark.metrics.records import GENERATIONS, SCORES_JSON, SCORES_JSONL, read_jsonl, scores_pair_problem
from benchmark.metrics.registry import METRICS
from benchmark.store.run_dir import RUN_FILE, read_invocations
from dataset.protocol import load_protocol

# RunStore writes these under literal names (it has no constants for them); the glob patterns
# below mirror its layout: <method>/method.json, artifacts/<subject>/artifact.json, failures/<subject>.json.
METHOD_JSON = "method.json"
# DreamBench's 4, the `bench run` default
PROTOCOL_IMAGES_PER_PROMPT = RunConfig.images_per_prompt


def _cell_keys(lines) -> set[tuple]:
    """(subject, prompt_index, image_index) of each line: the unit every count and pairing here is made of."""
    return {(line.get("subject"), line.get("prompt_index"), line.get("image_index")) for line in lines}


def protocol_prompts(subject: str) -> int | None:
    """How many prompts the protocol gives a subject (25 in DreamBench); None for a subject it does not know."""
    protocol = load_protocol()
    entry = protocol.subjects.get(subject)
    return None if entry is None else len(protocol.prompts_for(entry))


@dataclass(frozen=True)
class Coverage:
    """How much of the protocol a method's numbers stand on, per subject that has any image.

    Missing and failed subjects are reported apart (MethodRun.status); this is about the
    subjects that are there: all their benchmark prompts (never the class prompt, which
    only PRES uses), each with the run's images per prompt.
    """

    # subject -> benchmark prompts with at least one image
    prompts: dict[str, int]
    # subject -> the prompts the protocol gives it
    protocol_prompts: dict[str, int]
    # images of those prompts, at most images_per_prompt each
    images: int
    images_per_prompt: int
    # (subject, prompt) pairs with fewer than images_per_prompt images
    short_prompts: int

    @property
    def full(self) -> bool:
        return (
            bool(self.prompts)
            and not self.short_prompts
            and self.images_per_prompt >= PROTOCOL_IMAGES_PER_PROMPT
            and all(self.prompts[s] >= self.protocol_prompts[s] for s in self.prompts)
        )

    @property
    def text(self) -> str:
        """What falls short of the protocol: '3/25 prompts' (a range when subjects differ), '2/4 images
        per prompt' for a run configured with fewer (its status would otherwise read like a finished
        sweep of its prompts), and the images when a covered prompt lacks some."""
        if not self.prompts:
            return "no images"
        parts = []
        have = sorted(set(self.prompts.values()))
        want = sorted({self.protocol_prompts[s] for s in self.prompts})
        if any(self.prompts[s] < self.protocol_prompts[s] for s in self.prompts):
            have_text = str(have[0]) if len(have) == 1 else f"{have[0]}-{have[-1]}"
            parts.append(f"{have_text}/{'-'.join(map(str, want))} prompts")
        if self.images_per_prompt < PROTOCOL_IMAGES_PER_PROMPT:
            parts.append(f"{self.images_per_prompt}/{PROTOCOL_IMAGES_PER_PROMPT} images per prompt")
        if self.short_prompts:
            parts.append(f"{self.images}/{sum(self.prompts.values()) * self.images_per_prompt} images")
        return ", ".join(parts)


def measure_coverage(lines: list[dict], subjects: list[str], images_per_prompt: int) -> Coverage:
    """Counted per distinct (subject, prompt, image), so a line a resumed run wrote twice counts once."""
    per_prompt: dict[tuple[str, int], int] = {}
    for subject, prompt, _ in _cell_keys(lines):
        if subject in subjects and isinstance(prompt, int) and not isinstance(prompt, bool):
            per_prompt[subject, prompt] = per_prompt.get((subject, prompt), 0) + 1
    prompts: dict[str, int] = {}
    for subject, _ in per_prompt:
        prompts[subject] = prompts.get(subject, 0) + 1
    # an unknown subject: what it has
    expected = {s: protocol_prompts(s) or prompts[s] for s in prompts}
    return Coverage(
        prompts=prompts,
        protocol_prompts=expected,
        images=sum(min(n, images_per_prompt) for n in per_prompt.values()),
        images_per_prompt=images_per_prompt,
        short_prompts=sum(n < images_per_prompt for n in per_prompt.values()),
    )


@dataclass
class MethodRun:
    """Everything one method of one run left on disk."""

    # unique across the loaded runs
    key: str
    # the directory name results are filed under, e.g. "dreambooth[lr=1e-05]"
    label: str
    # the registered method name, e.g. "dreambooth"
    name: str
    run: RunInfo
    # method.json "info" (description, options, preset_of, version)
    info: dict
    # scores.json, None when the method was never scored
    scores: dict | None
    # scores.jsonl: one row per image with its record and metrics
    cells: pd.DataFrame
    # generations.jsonl
    records: list[dict]
    # subject -> artifact.json
    artifacts: dict[str, dict]
    # subject -> failures/<subject>.json
    failures: dict[str, dict]

    @property
    def external(self) -> bool:
        """Images another tool made, scored with `bench score --folder`: no seeds, no training record."""
        return bool(self.info.get("external"))

    def score_command(self, metrics: list[str] | None = None) -> str:
        """The `bench score` that (re-)scores this method where its scores are."""
        if self.external:
            source = Path(str(self.info.get("imported_from", "SOURCE")))
            manifest = self.info.get("from_manifest")
            manifest = source.is_file() if manifest is None else manifest
            target = ["bench", "score", str(source.parent), "--manifest"] if manifest else ["bench", "score"]
            args = [*target, str(source), "--folder", "--name", self.label, "--output-dir", str(self.run.path)]
            args += ["--profile", self.run.profile] if self.run.profile in _profile_names() else []
        else:
            args = ["bench", "score", str(self.run.path)] + (["--method", self.label] if metrics else [])
        if metrics:
            args += ["--metrics", ",".join(metrics)]
        return shlex.join(args)

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
    def scored_lines(self) -> bool:
        """Whether the numbers have their per-image lines (scores.jsonl), which coverage is counted from."""
        return self.scores is not None and not self.cells.empty

    @cached_property
    def coverage(self) -> Coverage:
        """Of the scored images when scored (what the numbers stand on), else of the generated ones."""
        lines = self.cells.to_dict(orient="records") if self.scored_lines else self.records
        return measure_coverage(lines, self.run.subjects, self.run.images_per_prompt)

    @cached_property
    def unscored_images(self) -> int:
        """Images generated after the last scoring (a `bench run --no-score` that extended the method)."""
        if not self.scored_lines:
            return 0
        return len(_cell_keys(self.records) - _cell_keys(self.cells.to_dict(orient="records")))

    @property
    def partial_metrics(self) -> dict[str, dict]:
        """Metrics a `bench score --metrics` merge kept for only some images (scores.json records them)."""
        recorded = (self.scores or {}).get("partial_metrics") or {}
        return recorded if isinstance(recorded, dict) else {}

    @property
    def missing_metrics(self) -> list[str]:
        """The protocol's metrics this scoring lacks, e.g. CLIP-T that a `--metrics dino --keep-identifier`
        merge dropped (computed with the other text).

        Against the protocol's set, not the other methods': a re-score of every method drops the
        metric from all of them, and the report must not then call them complete without it.
        """
        if self.scores is None:
            return []
        return [metric for metric in METRICS if metric not in (self.scores.get("metrics") or {})]

    @property
    def complete(self) -> bool:
        return (
            self.scores is not None
            and not self.failures
            and not self.missing_subjects
            and self.coverage.full
            and not self.unscored_images
            and not self.partial_metrics
            and not self.missing_metrics
        )

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
        """One human line: why this row cannot be compared at face value, or 'complete'.

        It leads with what the numbers cover (subjects, and prompts or images when short of the
        protocol), so a partial row says how partial it is, e.g. "INCOMPLETE (2/2 subjects, 3/25 prompts)".
        """
        if self.complete:
            return "complete"
        problems = []
        if self.scores is None and self.records:
            problems.append(f"not scored; run: {self.score_command()}")
        elif self.scores is None and not self.failures:
            # stopped before its first image: scoring has nothing
            problems.append("nothing generated yet; re-run the same `bench run`")
        # scoring cannot fix a failed cell: re-running does
        if self.failures:
            problems.append(f"failed: {', '.join(self.failed_subjects)} (re-run the same `bench run` to retry)")
        if self.missing_subjects and self.scores is not None:
            problems.append(f"missing: {', '.join(self.missing_subjects)}")
        if self.unscored_images:
            problems.append(f"{self.unscored_images} image(s) not scored yet; run: {self.score_command()}")
        rescore = [*self.partial_metrics, *(m for m in self.missing_metrics if m not in self.partial_metrics)]
        if rescore:
            parts = [
                f"{METRICS[m].name if m in METRICS else m} on {c.get('scored')}/{c.get('applicable')} images"
                for m, c in self.partial_metrics.items()
            ]
            if self.missing_metrics:
                parts.append(f"{', '.join(METRICS[m].name for m in self.missing_metrics)} not scored")
            problems.append(f"{', '.join(parts)}; run: {self.rescore_command(rescore)}")
        covered = [f"{len(self.scored_subjects)}/{len(self.run.subjects)} subjects"]
        if not self.coverage.full:
            covered.append(self.coverage.text)
        return f"INCOMPLETE ({'; '.join([', '.join(covered), *problems])})"

    def rescore_command(self, metrics: list[str]) -> str:
        """`bench score` filling in `metrics` under this scoring's CLIP-T text, so it keeps the other metrics.

        Without `--keep-identifier` where the scoring used it, the re-score would compute CLIP-T
        with another text than the one its scores.json records for the rest.
        """
        command = self.score_command(metrics)
        keeps = "clip-t" in metrics and _keeps_identifier(self.scores or {})
        return command + (" --keep-identifier" if keeps else "")


def _profile_names() -> set[str]:
    from benchmark.profiles import PROFILES

    return set(PROFILES)


def _keeps_identifier(scores: dict) -> bool:
    """Whether a scoring computed CLIP-T against the prompt as generated (`bench score --keep-identifier`)."""
    # imports torch: only asked for a CLIP-T to fill in
    from benchmark.metrics.scoring import CLIP_T_TEXT

    return scores.get("clip_t_text") == CLIP_T_TEXT[True]


@dataclass
class RunInfo:
    """A run directory: its manifest (run.json) and the subjects its methods should cover."""

    path: Path
    name: str
    manifest: dict
    # protocol order
    subjects: list[str] = field(default_factory=list)
    method_keys: list[str] = field(default_factory=list)
    # what the run was configured with
    images_per_prompt: int = PROTOCOL_IMAGES_PER_PROMPT
    # K of `--limit-prompts K` that its methods' images stay within; None: no limit
    prompt_limit: int | None = None
    # harness git revisions that generated or scored it, first first
    revisions: list[str] = field(default_factory=list)

    @property
    def uncommitted(self) -> list[str]:
        """Revisions with uncommitted changes ('+dirty'): code that no commit holds made some of its work."""
        return [revision for revision in self.revisions if revision.endswith("+dirty")]

    @property
    def reduced(self) -> bool:
        """A smoke run: fewer prompts or images per prompt than the protocol, for every method in it."""
        return self.prompt_limit is not None or self.images_per_prompt < PROTOCOL_IMAGES_PER_PROMPT

    @property
    def meaningful(self) -> bool:
        return bool(self.manifest.get("meaningful", False))

    @property
    def external(self) -> bool:
        """A folder `bench score --folder` scored, not a `bench run` directory."""
        return bool(self.manifest.get("external"))

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
        value = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:
        raise BenchError(f"{path} is not valid JSON") from None
    if not isinstance(value, dict):
        raise BenchError(f"{path} holds a {type(value).__name__}, not the JSON object it should: damaged or not ours")
    return value


def _read_scores(method_dir: Path) -> dict | None:
    """scores.json, once it is known to go with the scores.jsonl beside it: the report reads one and the
    comparisons the other, so a pair from two scorings (one killed between the files) is refused, not mixed."""
    scores = _read_json(method_dir / SCORES_JSON)
    problem = scores_pair_problem(method_dir, scores)
    if problem:
        raise BenchError(problem)
    return scores


def _read_jsonl(path: Path) -> list[dict]:
    # not written yet: nothing recorded
    return read_jsonl(path) if path.is_file() else []


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


def _expected_subjects(invocations: list[dict], seen: set[str]) -> list[str]:
    """Every subject a `bench run` on this directory asked for, plus every subject any method touched."""
    for line in invocations:
        seen.update(line.get("subjects") or [])
    # protocol order, so every table lists subjects alike
    order = list(load_protocol().subjects)
    rank = {name: i for i, name in enumerate(order)}
    return sorted(seen, key=lambda s: (rank.get(s, len(rank)), s))


def _method_dirs(path: Path) -> list[Path]:
    return sorted(p.parent for p in path.glob(f"*/{METHOD_JSON}"))


def _scored_folder(path: Path) -> tuple[Path, str | None] | None:
    """(the folder of scored imports, the one method asked for or None) for what a user may name, else None.

    Accepted: the scores folder itself (`DIR/_scores` or an --output-dir), one method in it, or the
    image folder whose default `_scores` holds them.
    """
    if (path / SOURCE_JSON).is_file():
        return path.parent, path.name
    if any(path.glob(f"*/{SOURCE_JSON}")):
        return path, None
    default = path / SCORED_FOLDER_DEFAULT
    if default.is_dir() and any(default.glob(f"*/{SOURCE_JSON}")):
        return default, None
    return None


def _load_scored_folder(path: Path, only: str | None) -> tuple[RunInfo, list[MethodRun]]:
    name = path.resolve().parent.name if path.name == SCORED_FOLDER_DEFAULT else path.resolve().name
    run = RunInfo(path=path, name=name, manifest={})
    methods = []
    for method_dir in sorted(p.parent for p in path.glob(f"*/{SOURCE_JSON}")):
        if only is not None and method_dir.name != only:
            continue
        source = _read_json(method_dir / SOURCE_JSON) or {}
        scores = _read_scores(method_dir)
        imported = str(source.get("imported_from", "unknown"))
        info = {
            "name": method_dir.name,
            "description": f"another tool's images, imported from {imported} by `bench score --folder`",
            "external": True,
            "imported_from": imported,
            # None: imported by a version that did not say
            "from_manifest": source.get("manifest"),
            "version": "",
            "options": {},
        }
        methods.append(
            MethodRun(
                key=method_dir.name,
                label=method_dir.name,
                name=method_dir.name,
                run=run,
                info=info,
                scores=scores,
                cells=cells_frame(_read_jsonl(method_dir / SCORES_JSONL)),
                records=_read_jsonl(method_dir / GENERATIONS),
                artifacts={},
                failures={},
            )
        )
    scored = [m.scores for m in methods if m.scores]
    first = scored[0] if scored else {}
    run.manifest = {
        "external": True,
        # the numbers are only as real as the backbones that scored them: the scoring profile stands in
        "profile": str(first.get("scoring_profile", "unknown")),
        "meaningful": bool(scored) and all(bool(s.get("meaningful")) for s in scored),
        "protocol": first.get("protocol"),
        "dataset_sha256": first.get("dataset_sha256"),
    }
    seen = {s for m in methods for s in (*m.scored_subjects, *(r["subject"] for r in m.records))}
    run.subjects = _expected_subjects([], seen)
    # another tool's choice of prompts and images is coverage (INCOMPLETE against the protocol's 4 images per
    # prompt), never a smoke run whose banner would name `bench run` flags
    run.images_per_prompt, run.prompt_limit = PROTOCOL_IMAGES_PER_PROMPT, None
    # the scoring's: another tool made the images
    run.revisions = _revisions([], methods)
    return run, methods


def load_run(path: Path) -> tuple[RunInfo, list[MethodRun]]:
    path = Path(path)
    if not path.exists():
        raise BenchError(f"{path} does not exist")
    if not path.is_dir():
        raise BenchError(f"{path} is a file; give a run directory (or a folder scored with `bench score --folder`)")
    manifest = _read_json(path / RUN_FILE)
    if manifest is None:
        scored = _scored_folder(path) if path.is_dir() else None
        if scored is None:
            raise BenchError(
                f"{path} is not a bench run directory (no {RUN_FILE}) nor a folder scored by `bench score --folder` "
                f"(no */{SOURCE_JSON}): score another tool's images with `bench score --folder` first"
            )
        return _load_scored_folder(*scored)
    run = RunInfo(path=path, name=path.resolve().name, manifest=manifest)
    methods = []
    for method_dir in _method_dirs(path):
        info = (_read_json(method_dir / METHOD_JSON) or {}).get("info", {})
        scores = _read_scores(method_dir)
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
    invocations = read_invocations(path)
    run.subjects = _expected_subjects(invocations, seen)
    run.images_per_prompt, run.prompt_limit = _run_shape(manifest, invocations, methods, run.subjects)
    first = (manifest.get("environment") or {}).get("git_revision")
    run.revisions = _revisions([first, *(line.get("git_revision") for line in invocations)], methods)
    return run, methods


def _revisions(runs: list, methods: list[MethodRun]) -> list[str]:
    """The harness revisions that made a run's images (its `bench run` invocations) and scored them (scores.json)."""
    scorings = [(method.scores or {}).get("git_revision") for method in methods]
    return [revision for revision in dict.fromkeys([*runs, *scorings]) if revision]


def _run_shape(
    manifest: dict, invocations: list[dict], methods: list[MethodRun], subjects: list[str]
) -> tuple[int, int | None]:
    """The run's images per prompt (its identity; else the most any prompt has) and its prompt limit.

    The limit is what the `bench run` invocations asked for (the largest; none if any asked
    for every prompt). Run directories from before invocations logged it get a guess: one
    past the highest prompt index any method has an image for, so a run whose methods all
    stopped at `--limit-prompts 3` says 3, and one with any method on every prompt says None.
    """
    keys = [key for m in methods for key in _cell_keys([*m.records, *m.cells.to_dict(orient="records")])]
    prompts = [k for k in keys if isinstance(k[1], int) and not isinstance(k[1], bool)]
    recorded = manifest.get("identity", {}).get("images_per_prompt")
    if isinstance(recorded, int) and recorded > 0:
        images_per_prompt = recorded
    else:
        counts: dict[tuple, int] = {}
        for subject, prompt, _ in set(prompts):
            counts[subject, prompt] = counts.get((subject, prompt), 0) + 1
        images_per_prompt = max(counts.values(), default=PROTOCOL_IMAGES_PER_PROMPT)
    protocol = min((n for n in map(protocol_prompts, subjects) if n is not None), default=None)
    asked = [line["limit_prompts"] for line in invocations if "limit_prompts" in line]
    if asked:
        limit = None if None in asked else max(asked)
        return images_per_prompt, (None if limit is None or (protocol is not None and limit >= protocol) else limit)
    # nothing to guess from, or nothing to compare the guess with
    if not prompts or protocol is None:
        return images_per_prompt, None
    limit = max(prompt for _, prompt, _ in prompts) + 1
    return images_per_prompt, (limit if limit < protocol else None)


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
