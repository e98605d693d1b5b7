"""Score a run directory: embed (through the cache), compute every metric, aggregate, write, report.

`score_run` is the one entry point `bench score` and `bench run` call. It reads each
method's `generations.jsonl`, checks every generated image (a missing, corrupt or
altered one is listed with its path and left out; the rest still scores), embeds
real and generated images once per backbone through the on-disk cache, and writes
atomically, per method:

- `<method>/scores.jsonl`: one line per image, its record plus every metric that applies;
- `<method>/scores.json`: every metric's definition and backbone id, the per-subject
  table, macro means with CIs and n, splits, the real-image oracle, copy flags, problems.

Scoring a subset of the metrics (`metrics=`) merges into what is already there: the
other metrics' earlier per-image values are kept where they are still true of the
same images under the same settings (the rule is in `score_run`'s docstring).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import environment
from benchmark.errors import BenchError
from benchmark.metrics import aggregate, similarity, sources
from benchmark.metrics.backbones import DEFAULT_BATCH_SIZE, load_clip, load_dino
from benchmark.metrics.embedding_cache import EmbeddingCache, ImageProblem, ImageRef, pair_key
from benchmark.metrics.records import (
    SCORES_JSON,
    SCORES_JSONL,
    SCORES_JSONL_SHA256,
    check_generated,
    clip_t_text,
    discover_methods,
    is_prior_preservation,
    read_generations,
    read_image_sizes,
    read_jsonl,
    require_div_sizes,
    scores_pair_problem,
    size_labels,
)
from benchmark.metrics.registry import METRICS, ORACLE_METRICS
from benchmark.metrics.report import MethodScores, ScoreReport, default_reference, scoring_signature
from benchmark.metrics.statistics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE, paired_comparison
from benchmark.profiles import Profile
from benchmark.store.atomic import atomic_write_json, atomic_write_text
from benchmark.store.run_dir import RUN_FILE
from dataset.protocol import Protocol, Subject, load_protocol

CLIP_T_TEXT = {
    False: "the prompt with the identifier removed and the class noun kept (template.format(class_noun))",
    True: "the prompt exactly as generated (identifier included)",
}


@dataclass
class Scorers:
    """The backbones one scoring needs, loaded on first use (a cached re-score never builds real models)."""

    profile: Profile
    model_sources: dict[str, str] | None
    device: str
    batch_size: int

    def source(self, role: str) -> str:
        return sources.resolve_source(role, self.profile, self.model_sources)

    @cached_property
    def dino(self):
        return load_dino(self.source("dino"), self.profile.name, self.device, self.batch_size)

    @cached_property
    def clip(self):
        return load_clip(self.source("clip"), self.profile.name, self.device, self.batch_size)

    @cached_property
    def lpips(self):
        from benchmark.metrics.perceptual import load_lpips

        return load_lpips(self.source("lpips"), self.profile.name, self.device, self.batch_size)

    def image_backbones(self, metrics: list[str]) -> list:
        wanted = []
        if {"dino", "pres"} & set(metrics):
            wanted.append(self.dino)
        if {"clip-i", "clip-t"} & set(metrics):
            wanted.append(self.clip)
        return wanted


def _metric_definitions(scorers: Scorers, metrics: list[str]) -> dict[str, dict]:
    """Each metric's definition with the exact backbone id and weights fingerprint (loads/locates the models)."""
    backbones = {
        "dino": lambda: scorers.dino,
        "clip-image": lambda: scorers.clip,
        "clip-text": lambda: scorers.clip,
        "lpips": lambda: scorers.lpips,
    }
    out = {}
    for metric in metrics:
        definition = METRICS[metric]
        backbone = backbones[definition.backbone]()
        is_text = definition.backbone == "clip-text"
        out[metric] = {
            "id": definition.id,
            "name": definition.name,
            "description": definition.description,
            "better": "higher" if definition.higher_is_better else "lower",
            "pairing": definition.pairing,
            "images": definition.images,
            "backbone_id": f"{backbone.id} + {backbone.text_id}" if is_text else backbone.id,
            "weights": backbone.weights,
        }
    return out


def _select_metrics(metrics: list[str] | None) -> list[str]:
    chosen = [m.strip() for m in metrics if m.strip()] if metrics else list(METRICS)
    if metrics and not chosen:
        raise BenchError(f"--metrics names no metric; `bench ls metrics` lists {', '.join(METRICS)}")
    unknown = [m for m in chosen if m not in METRICS]
    if unknown:
        raise BenchError(f"unknown metric(s) {', '.join(unknown)}; `bench ls metrics` lists {', '.join(METRICS)}")
    # registry order
    return [m for m in METRICS if m in chosen]


BACKBONE_ROLES = {"dino": "dino", "clip-image": "clip", "clip-text": "clip", "lpips": "lpips"}


def check_scoring_inputs(
    dataset_dir: Path | str | None, profile: Profile, model_sources: dict[str, str] | None, metrics: list[str] | None
) -> None:
    """The metric names, the dataset and each needed model's weights, checked without loading anything.

    `bench score --folder` calls it before its import writes a file: a typo in --metrics or a
    missing backbone must not leave a half-made method folder behind.
    """
    from benchmark.metrics.weights import locate_or_fail
    from dataset.locate import resolve_dataset_dir

    chosen = _select_metrics(metrics)
    resolve_dataset_dir(dataset_dir, profile.dataset)
    for role in dict.fromkeys(BACKBONE_ROLES[METRICS[m].backbone] for m in chosen):
        locate_or_fail(role, sources.resolve_source(role, profile, model_sources), profile.name)


def _subjects_of(protocol: Protocol, records_by_method: dict[str, list[dict]]) -> list[Subject]:
    names = {record["subject"] for records in records_by_method.values() for record in records}
    for name in names:
        # a one-line error for an unknown subject
        protocol.subject(name)
    return [s for s in protocol.subjects.values() if s.name in names]


# ------------------------------------------------------------------ real images
@dataclass
class RealSet:
    # backbone cache key -> subject -> (n_real, dim)
    embeddings: dict[str, dict[str, np.ndarray]]
    # subject -> oracle per metric, n_real
    oracle: pd.DataFrame


def _embed_real(
    cache: EmbeddingCache, scorers: Scorers, subjects: list[Subject], dataset_dir: Path, metrics: list[str], progress
) -> RealSet:
    # CLIP-T: no reals
    backbones = scorers.image_backbones([m for m in metrics if m in ("dino", "pres", "clip-i")])
    refs = {s.name: [ImageRef(e.sha256, dataset_dir / s.name / e.file) for e in s.images] for s in subjects}
    found, problems = cache.image_embeddings(backbones, [r for rs in refs.values() for r in rs], "real", progress)
    if problems:
        # validated beforehand; only a race could get here
        raise BenchError(f"dataset: {problems[0]}")
    embeddings = {
        b.cache_key: {name: np.stack([found[b.cache_key][r.sha256] for r in rs]) for name, rs in refs.items()}
        for b in backbones
    }
    oracle = pd.DataFrame(index=pd.Index([s.name for s in subjects], name="subject"))
    oracle["n_real"] = [len(s.images) for s in subjects]
    keys = {"dino": scorers.dino.cache_key if "dino" in metrics else None}
    keys["clip-i"] = scorers.clip.cache_key if "clip-i" in metrics else None
    for metric in ORACLE_METRICS:
        if keys[metric] is not None:
            oracle[metric] = [similarity.oracle_mean(embeddings[keys[metric]][s.name]) for s in subjects]
    return RealSet(embeddings, oracle)


# ------------------------------------------------------------------ one method
def _image_rows(records: list[dict], keep_identifier: bool) -> pd.DataFrame:
    """Records as a frame with object columns (64-bit seeds must not pass through float)."""
    keys = list(dict.fromkeys(key for record in records for key in record))
    for key in ("category", "kind", "seed"):
        if key not in keys:
            keys.append(key)
    rows = pd.DataFrame({key: pd.Series([r.get(key) for r in records], dtype=object) for key in keys})
    rows["prior"] = [is_prior_preservation(r) for r in records]
    rows["clip_t_text"] = [None if is_prior_preservation(r) else clip_t_text(r, keep_identifier) for r in records]
    rows["error"] = None
    return rows


def _fill_fidelity(rows, usable, embeddings, real: RealSet, backbone_key: str, column: str, prior: bool) -> None:
    """Per image: mean cosine over its subject's real images (DINO, CLIP-I; PRES for prior images)."""
    mask = usable & (rows["prior"] == prior)
    for subject, group in rows[mask].groupby("subject", sort=False):
        generated = np.stack([embeddings[backbone_key][sha] for sha in group["_sha"]])
        rows.loc[group.index, column] = similarity.per_generated_fidelity(
            generated, real.embeddings[backbone_key][subject]
        )


def _fill_clip_t(rows, usable, embeddings, cache: EmbeddingCache, clip) -> None:
    mask = usable & ~rows["prior"]
    if not mask.any():
        return
    texts = cache.text_embeddings(clip, list(rows.loc[mask, "clip_t_text"]))
    images = np.stack([embeddings[clip.cache_key][sha] for sha in rows.loc[mask, "_sha"]])
    text_rows = np.stack([texts[t] for t in rows.loc[mask, "clip_t_text"]])
    rows.loc[mask, "clip-t"] = similarity.rowwise_cosine(images, text_rows)


def _fill_div(rows, usable, refs: dict[int, ImageRef], cache: EmbeddingCache, lpips) -> list[tuple[int, ImageProblem]]:
    """Per image: mean LPIPS to the other images of its (subject, prompt)."""
    mask = usable & ~rows["prior"]
    groups = [g.index.tolist() for _, g in rows[mask].groupby(["subject", "prompt_index"], sort=False) if len(g) > 1]
    pairs = [(refs[a], refs[b]) for members in groups for i, a in enumerate(members) for b in members[i + 1 :]]
    distances, problems = cache.pair_distances(lpips, pairs)
    bad_paths = {p.path for p in problems}
    for members in groups:
        members = [m for m in members if str(refs[m].path) not in bad_paths]
        if len(members) < 2:
            continue
        matrix = np.zeros((len(members), len(members)))
        for i, a in enumerate(members):
            for j, b in enumerate(members[i + 1 :], start=i + 1):
                matrix[i, j] = matrix[j, i] = distances[pair_key(refs[a].sha256, refs[b].sha256)]
        per_image, _ = similarity.pairwise_distance_means(matrix)
        rows.loc[members, "div"] = per_image
    by_path = {str(ref.path): index for index, ref in refs.items()}
    return [(by_path[p.path], p) for p in problems if p.path in by_path]


def _method_meaning(records: list[dict], profile: Profile) -> tuple[bool, str | None]:
    reasons = []
    if any(r.get("meaningful") is False for r in records):
        reasons.append("the images come from random-weight models (records say meaningful=false)")
    if not profile.meaningful:
        reasons.append(f"scored with random-weight backbones (profile '{profile.name}')")
    return (not reasons), ("; ".join(reasons) + ": these numbers mean nothing") if reasons else None


# ------------------------------------------------------------------ earlier scores
@dataclass
class Earlier:
    """What a method's scores.json and scores.jsonl from an earlier scoring may lend to a subset scoring."""

    # not requested now, and scored under the current settings
    metrics: list[str]
    # image cell -> its earlier error-free line (cells seen twice are left out)
    lines: dict[tuple, dict]
    # (subject, prompt) -> its error-free (cell, sha256) then: what DIV compared
    groups: dict[tuple, frozenset]


NOTHING_EARLIER = Earlier([], {}, {})


def _cell(record: dict) -> tuple[str, str, str]:
    return str(record.get("subject")), str(record.get("prompt_index")), str(record.get("image_index"))


def _settings(profile: Profile, protocol: Protocol) -> dict:
    """The file-wide provenance scores.json records: per-image values are only comparable when all of it matches."""
    return {
        "protocol": protocol.version,
        "dataset_sha256": protocol.fingerprint,
        "scoring_profile": profile.name,
        "versions": _versions(),
    }


def _setting_differences(summary: dict, metric: str, settings: dict, definition: dict, clip_t: str) -> list[str]:
    """What differs between the settings an earlier value of `metric` was scored under and the current ones."""
    out = []
    for key, value in settings.items():
        then = summary.get(key)
        if then == value:
            continue
        if key == "versions" and isinstance(then, dict):
            changed = sorted(p for p in set(then) | set(value) if then.get(p) != value.get(p))
            out.append("versions of " + ", ".join(changed))
        else:
            out.append(key)
    recorded = summary.get("metrics", {}).get(metric)
    recorded = recorded if isinstance(recorded, dict) else {}
    out += [
        f"{metric} {key}" for key in sorted(set(definition) | set(recorded)) if definition.get(key) != recorded.get(key)
    ]
    if metric == "clip-t" and summary.get("clip_t_text") != clip_t:
        out.append("CLIP-T text (--keep-identifier)")
    return out


def _names(metrics) -> str:
    return ", ".join(METRICS[m].name for m in metrics)


def _earlier_scores(
    method: str, method_dir: Path, requested: list[str], settings: dict, clip_t: str, definition_of, warn
) -> Earlier:
    """The earlier metrics whose settings still match, with their lines; a one-line warning for any dropped."""
    summary_path = method_dir / SCORES_JSON
    if not summary_path.is_file():
        return NOTHING_EARLIER
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        recorded = summary.get("metrics", {})
        if not isinstance(recorded, dict):
            raise ValueError("its metrics are not a mapping")
        disagree = scores_pair_problem(method_dir, summary)
        if disagree:
            raise ValueError(disagree)
        candidates = [m for m in METRICS if m in recorded and m not in requested]
        lines = read_jsonl(method_dir / SCORES_JSONL) if candidates else []
    except (OSError, ValueError, AttributeError, BenchError) as exc:
        warn(f"{method}: kept no earlier score: cannot read {summary_path} or its {SCORES_JSONL} ({exc})")
        return NOTHING_EARLIER
    if not candidates:
        return NOTHING_EARLIER
    kept, reasons = [], {}
    for metric in candidates:
        definition, missing = definition_of(metric)
        differences = [missing] if definition is None else []
        differences += _setting_differences(summary, metric, settings, definition or {}, clip_t)
        if differences:
            reasons.update(dict.fromkeys(differences))
        else:
            kept.append(metric)
    dropped = [m for m in candidates if m not in kept]
    if dropped:
        warn(
            f"{method}: dropped the earlier {_names(dropped)} scores, computed under other settings "
            f"({'; '.join(reasons)}); score them again with --metrics {','.join(dropped)}"
        )
    counts = Counter(_cell(line) for line in lines)
    clean = [line for line in lines if not line.get("error") and line.get("sha256")]
    groups: dict[tuple, set] = {}
    for line in clean:
        if not is_prior_preservation(line):
            groups.setdefault(_cell(line)[:2], set()).add((_cell(line), line["sha256"]))
    return Earlier(
        kept,
        {_cell(line): line for line in clean if counts[_cell(line)] == 1},
        {key: frozenset(members) for key, members in groups.items()},
    )


def _keep_earlier(rows: pd.DataFrame, records: list[dict], earlier: Earlier) -> dict[str, tuple[int, int]]:
    """Copy into `rows` the earlier values still true of these images; per metric, (images lacking one, applicable).

    An earlier value holds for an image scored now without a problem whose cell, recorded
    SHA-256 (so its bytes, checked against it) and kind (protocol or prior) are unchanged;
    CLIP-T also needs the same text, and DIV, which compares an image with the others of
    its (subject, prompt), needs that whole group unchanged.
    """
    clean = rows["error"].isna()
    matched, members = {}, {}
    for index, record in enumerate(records):
        if not clean[index]:
            continue
        cell = _cell(record)
        if not rows.at[index, "prior"]:
            members.setdefault(cell[:2], []).append(index)
        line = earlier.lines.get(cell)
        if (
            line is not None
            and record.get("sha256")
            and line.get("sha256") == record["sha256"]
            and is_prior_preservation(line) == is_prior_preservation(record)
        ):
            matched[index] = line
    same_groups, paired = set(), set()
    for key, indexes in members.items():
        if len(indexes) > 1:
            paired.update(indexes)
        now = {(_cell(records[i]), records[i].get("sha256")) for i in indexes}
        if all(i in matched for i in indexes) and earlier.groups.get(key) == now:
            same_groups.update(indexes)
    coverage = {}
    for metric in earlier.metrics:
        for index, line in matched.items():
            value = line.get(metric)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if metric == "clip-t" and line.get("clip_t_text") != rows.at[index, "clip_t_text"]:
                continue
            if metric == "div" and index not in same_groups:
                continue
            rows.at[index, metric] = float(value)
        applies = clean & (rows["prior"] if metric in aggregate.PRIOR_METRICS else ~rows["prior"])
        if metric == "div":
            applies &= rows.index.isin(list(paired))
        coverage[metric] = (int((applies & rows[metric].isna()).sum()), int(applies.sum()))
    return coverage


def _merge_earlier(method, rows, records, earlier: Earlier, metrics: list[str], warn) -> tuple[list[str], dict]:
    """Kept metrics join the method's; one left with no value is dropped, since n.a. would blame the images.

    A kept metric that misses images is no longer comparable with a full scoring (its
    macro mean covers other images), hence the warning with the command that fills it in,
    and the returned {metric: (images with a value, images it applies to)}, which
    scores.json records so that the report never calls such a method complete.
    """
    for metric in earlier.metrics:
        rows[metric] = np.nan
    coverage = _keep_earlier(rows, records, earlier)
    lacking = [m for m, (missing, _) in coverage.items() if missing]
    empty = [m for m, (missing, applicable) in coverage.items() if applicable and missing == applicable]
    if lacking:
        parts = [
            f"{METRICS[m].name} for {applicable - missing} of {applicable}" + (", left out" if m in empty else "")
            for m, (missing, applicable) in coverage.items()
            if m in lacking
        ]
        warn(
            f"{method}: earlier scores kept only for images unchanged since ({'; '.join(parts)}); "
            f"score again with --metrics {','.join(lacking)} to cover every image"
        )
    for metric in empty:
        del rows[metric]
    partial = {
        m: (applicable - missing, applicable)
        for m, (missing, applicable) in coverage.items()
        if m in lacking and m not in empty
    }
    return [m for m in METRICS if m in metrics or (m in earlier.metrics and m not in empty)], partial


@dataclass
class Scoring:
    """What every step of one `score_run` reads: its arguments resolved once, so the steps take this, not a dozen."""

    run_dir: Path
    scorers: Scorers
    cache: EmbeddingCache
    keep_identifier: bool
    progress: bool
    # the bootstrap's n_resamples and seed, as aggregate and statistics take them
    stats: dict
    # what scores.json records of how it scored, the same for every method (see `_settings`)
    settings: dict
    warn: Callable[[str], None]
    say: Callable[[str], None]

    @property
    def clip_t_text(self) -> str:
        return CLIP_T_TEXT[self.keep_identifier]


def _score_method(
    scoring: Scoring, method: str, records: list[dict], metrics: list[str], real: RealSet, earlier: Earlier
) -> MethodScores:
    """One method's images scored on `metrics` (problems left out, one line each), then the earlier values kept."""
    run_dir, cache, scorers, stats = scoring.run_dir, scoring.cache, scoring.scorers, scoring.stats
    rows = _image_rows(records, scoring.keep_identifier)
    refs, problems = check_generated(run_dir, records)
    found, decode_problems = cache.image_embeddings(
        scorers.image_backbones(metrics), list(refs.values()), "generated", scoring.progress
    )
    bad = {p.path for p in decode_problems}
    problems += [(i, p) for i, ref in refs.items() for p in decode_problems if p.path == str(ref.path)]
    refs = {i: ref for i, ref in refs.items() if str(ref.path) not in bad}
    rows["_sha"] = [refs[i].sha256 if i in refs else None for i in range(len(records))]
    usable = rows["_sha"].notna()

    for metric in metrics:
        rows[metric] = np.nan
    if "dino" in metrics:
        _fill_fidelity(rows, usable, found, real, scorers.dino.cache_key, "dino", prior=False)
    if "pres" in metrics:
        _fill_fidelity(rows, usable, found, real, scorers.dino.cache_key, "pres", prior=True)
    if "clip-i" in metrics:
        _fill_fidelity(rows, usable, found, real, scorers.clip.cache_key, "clip-i", prior=False)
    if "clip-t" in metrics:
        _fill_clip_t(rows, usable, found, cache, scorers.clip)
    if "div" in metrics:
        problems += _fill_div(rows, usable, refs, cache, scorers.lpips)
    for index, problem in problems:
        rows.loc[index, "error"] = f"{problem.what}"
        rows.loc[index, metrics] = np.nan
    partial = {}
    if earlier.metrics:
        metrics, partial = _merge_earlier(method, rows, records, earlier, metrics, scoring.warn)

    table = aggregate.per_subject_table(rows, real.oracle.loc[pd.unique(rows["subject"])], metrics)
    meaningful, banner = _method_meaning(records, scorers.profile)
    method_dir = Path(run_dir) / method
    scores = MethodScores(
        method=method,
        meaningful=meaningful,
        banner=banner,
        summary=aggregate.summarize(rows, table, metrics, **stats),
        oracle=aggregate.oracle_summary(table, metrics, **stats),
        per_subject=table,
        splits=aggregate.splits(rows, metrics, **stats),
        flags=aggregate.copy_flags(table),
        problems=[p for _, p in sorted(problems, key=lambda item: item[0])],
        rows=rows.drop(columns=["_sha"]),
        n_records=len(records),
        scores_jsonl=method_dir / SCORES_JSONL,
        scores_json=method_dir / SCORES_JSON,
        partial_metrics=partial,
    )
    return scores


# ------------------------------------------------------------------ writing
def _plain(value):
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "to_dict") and not isinstance(value, pd.DataFrame):
        return _plain(value.to_dict())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _jsonl_line(record: dict, scored: dict, metrics: list[str], meaningful: bool) -> str:
    """The generation record plus every metric that applies to this image (or the reason it has none).

    `meaningful` is the numbers' (scores.json's): a record's own says only whether the model
    that drew the image had real weights, and a reader of this file reads it next to scores.
    """
    line = dict(record)
    line["meaningful"] = meaningful
    if is_prior_preservation(record):
        applies = [m for m in metrics if m in aggregate.PRIOR_METRICS]
    else:
        applies = [m for m in metrics if m not in aggregate.PRIOR_METRICS]
        line["clip_t_text"] = scored["clip_t_text"]
    if scored.get("error"):
        line["error"] = scored["error"]
    else:
        line.update({m: scored[m] for m in applies})
    return json.dumps(_plain(line), sort_keys=True)


def _write_method(scoring: Scoring, scores: MethodScores, records: list[dict], report: ScoreReport) -> None:
    """scores.jsonl first, then scores.json naming its hash: a scoring killed between the two leaves a pair that
    readers refuse (records.scores_pair_problem) instead of numbers that belong to other images."""
    metrics, stats = list(scores.summary), scoring.stats
    scored = scores.rows[[*metrics, "clip_t_text", "error"]].to_dict(orient="records")
    lines = [
        _jsonl_line(record, values, metrics, scores.meaningful) for record, values in zip(records, scored, strict=True)
    ]
    text = "\n".join(lines) + ("\n" if lines else "")
    atomic_write_text(scores.scores_jsonl, text)
    per_subject = scores.per_subject.reset_index().to_dict(orient="records")
    payload = {
        "method": scores.method,
        # what `_earlier_scores` compares before keeping a value
        **scoring.settings,
        "meaningful": scores.meaningful,
        "banner": scores.banner,
        "metrics": {m: report.metrics[m] for m in metrics},
        "clip_t_text": report.clip_t_text,
        # DIV is measured at these (reports pair DIV within one size only)
        "image_sizes": report.image_sizes[scores.method],
        # the scoring code's (a report flags uncommitted code, '+dirty')
        "git_revision": report.git_revision,
        "statistics": {
            "aggregation": "per-subject means, then the macro mean over subjects",
            "ci": f"{CONFIDENCE:.0%} percentile bootstrap over subjects",
            "bootstrap_resamples": stats.get("n_resamples", BOOTSTRAP_RESAMPLES),
            "bootstrap_seed": stats.get("seed", BOOTSTRAP_SEED),
        },
        "n_records": scores.n_records,
        "summary": scores.summary,
        "oracle": scores.oracle,
        "per_subject": per_subject,
        "splits": scores.splits,
        "flags": scores.flags,
        "problems": [{"path": p.path, "what": p.what} for p in scores.problems],
        # metrics kept from an earlier scoring for only some images: (images with a value, images it applies to)
        "partial_metrics": {m: {"scored": k, "applicable": n} for m, (k, n) in scores.partial_metrics.items()},
        # the scores.jsonl just written: a scoring killed between the two files leaves a pair readers refuse
        SCORES_JSONL_SHA256: hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }
    atomic_write_json(scores.scores_json, _plain(payload))


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for package in ("torch", "timm", "open_clip_torch", "lpips", "scipy", "numpy", "pillow", "dreambench-harness"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


# ------------------------------------------------------------------ entry point
def _refuse_other_dataset(run_dir: Path, protocol: Protocol, profile: str) -> None:
    """A run made on one dataset (DreamBench or the pocket world) is never scored against the other's photos."""
    try:
        made_on = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")).get("protocol")
    except (OSError, ValueError, AttributeError):
        return
    if made_on and made_on != protocol.version:
        raise BenchError(
            f"{run_dir} was made on {made_on}, but profile '{profile}' scores against {protocol.version}; "
            "score it with a profile of its own dataset"
        )


@dataclass
class RecordsToScore:
    """The methods a scoring scores, each with its records (damaged subjects left out) and image sizes."""

    methods: list[str]
    metrics: list[str]
    records: dict[str, list[dict]]
    sizes: dict[str, list]
    dataset_dir: Path | None
    # subject -> why its real images cannot be used
    left_out: dict[str, str]


def _records_to_score(
    run_dir: Path, dataset_dir, methods: list[str] | None, metrics: list[str] | None, protocol: Protocol, warn
) -> RecordsToScore:
    """Each method's records, less the subjects whose real images are damaged (warned of) and the methods left
    with none (warned of; an error when none is left); the metrics asked for, checked; every image's size
    checked for DIV."""
    from dataset.locate import resolve_dataset_dir
    from dataset.validate import unusable_subjects

    methods = list(methods) if methods else discover_methods(run_dir)
    if not methods:
        raise BenchError(f"no method in {run_dir} has a generations.jsonl; run `bench run` first")
    metrics = _select_metrics(metrics)
    records = {method: read_generations(run_dir, method) for method in methods}
    left_out = {}
    if any(records.values()):
        # A subject whose real images are damaged cannot be scored against them; the others can.
        dataset_dir = resolve_dataset_dir(dataset_dir, protocol.version)
        left_out = unusable_subjects(dataset_dir, _subjects_of(protocol, records))
        for name, why in left_out.items():
            warn(f"{why}: {name}'s images are left out of the scores; fix it and re-score")
        records = {method: [r for r in rows if r["subject"] not in left_out] for method, rows in records.items()}
    empty = [method for method, rows in records.items() if not rows]
    if len(empty) == len(methods):
        raise BenchError(f"no generated images recorded for {', '.join(empty)} in {run_dir}")
    # e.g. a method whose every cell failed: the others are still worth scoring
    if empty:
        warn(f"no generated images recorded for {', '.join(empty)} in {run_dir}: skipped, scoring the others")
        methods = [method for method in methods if method not in empty]
        records = {method: records[method] for method in methods}
    # headers, read once
    sizes = {method: read_image_sizes(run_dir, records[method]) for method in methods}
    if "div" in metrics:
        for method in methods:
            require_div_sizes(run_dir, records[method], sizes[method])
    return RecordsToScore(methods, metrics, records, sizes, dataset_dir, left_out)


@dataclass
class MetricDefinitions:
    """Each metric's definition: the requested ones computed up front (which locates their models, so a missing
    one fails before any image is read), an earlier metric's only when its kept values are checked against it."""

    scorers: Scorers
    known: dict[str, dict]

    def of(self, metric: str) -> tuple[dict | None, str | None]:
        """An earlier metric's current definition; a model missing here means its settings cannot be checked."""
        if metric not in self.known:
            try:
                self.known.update(_metric_definitions(self.scorers, [metric]))
            except BenchError as exc:
                # "missing weights: ROLE=SOURCE (where)"
                return None, str(exc).split(". ")[0]
        return self.known[metric], None


def _scoring_target(run_dir: Path | str, profile: Profile) -> tuple[Path, Protocol]:
    """The run directory and the protocol its images are scored against, refused before anything is read when the
    run was made on the other dataset."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BenchError(f"run directory {run_dir} does not exist")
    protocol = load_protocol(profile.dataset)
    _refuse_other_dataset(run_dir, protocol, profile.name)
    return run_dir, protocol


def _warner(log: Callable[[str], None] | None) -> Callable[[str], None]:
    """Warnings go to `log` when a caller collects the lines, else to stderr, apart from the table on stdout."""

    def warn(message: str) -> None:
        (log or (lambda line: print(line, file=sys.stderr)))(f"bench: warning: {message}")

    return warn


def _scoring_revision(warn: Callable[[str], None]) -> str | None:
    """The harness revision every scores.json records, asked once (git runs twice per ask); a checkout with
    uncommitted changes is warned of, since these scores cannot be traced to a commit."""
    revision = environment.git_revision()
    uncommitted = environment.uncommitted_warning(revision, "these scores")
    if uncommitted:
        warn(uncommitted)
    return revision


def _lendable_scores(
    scoring: Scoring, methods: list[str], metrics: list[str], definitions: MetricDefinitions
) -> dict[str, Earlier]:
    """Per method, what its earlier scores of the metrics not asked for now may lend (same settings only), said
    in one line each, so that scoring one metric again never erases the others."""
    earlier = {
        method: _earlier_scores(
            method,
            scoring.run_dir / method,
            metrics,
            scoring.settings,
            scoring.clip_t_text,
            definitions.of,
            scoring.warn,
        )
        for method in methods
    }
    for method, kept in earlier.items():
        if kept.metrics:
            scoring.say(f"{method}: keeping the earlier {_names(kept.metrics)} scores (same scoring settings)")
    return earlier


def _real_images(
    scoring: Scoring, subjects: list[Subject], dataset_dir: Path, metrics: list[str], earlier: dict[str, Earlier]
) -> RealSet:
    """The subjects' real images embedded once, for the metrics asked for and for the oracle of any kept one
    (a kept DINO needs its oracle row as much as a fresh one)."""
    oracle_metrics = {m for kept in earlier.values() for m in kept.metrics if m in ORACLE_METRICS}
    real_metrics = [m for m in METRICS if m in metrics or m in oracle_metrics]
    scoring.say(f"embedding {sum(len(s.images) for s in subjects)} real images of {len(subjects)} subjects")
    return _embed_real(scoring.cache, scoring.scorers, subjects, dataset_dir, real_metrics, scoring.progress)


def _score_and_write(
    scoring: Scoring, report: ScoreReport, found: RecordsToScore, real: RealSet, earlier: dict[str, Earlier]
) -> None:
    """Each method scored and its files written before the next one starts: a scoring killed midway keeps the
    methods it finished."""
    for method in found.methods:
        records = found.records[method]
        scoring.say(f"scoring {method}: {len(records)} images")
        scores = _score_method(scoring, method, records, found.metrics, real, earlier[method])
        report.image_sizes[method] = size_labels(found.sizes[method])
        _write_method(scoring, scores, records, report)
        report.methods[method] = scores


def _finish_report(scoring: Scoring, report: ScoreReport, definitions: MetricDefinitions) -> None:
    """The definitions of the metrics some method ended with (asked for or kept), the paired comparisons over
    them, and what the embedding cache computed and reused."""
    used = {m for scores in report.methods.values() for m in scores.summary}
    report.metrics = {m: definitions.known[m] for m in METRICS if m in used}
    report.comparisons = compare_methods(report, **scoring.stats)
    report.embeddings_computed = dict(scoring.cache.computed)
    report.embeddings_reused = dict(scoring.cache.reused)


def score_run(
    run_dir: Path,
    dataset_dir: Path | None,
    *,
    methods: list[str] | None = None,
    profile: Profile,
    model_sources: dict[str, str] | None = None,
    device: str = "cpu",
    keep_identifier: bool = False,
    progress: bool = False,
    metrics: list[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache: EmbeddingCache | None = None,
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES,
    bootstrap_seed: int = BOOTSTRAP_SEED,
    log: Callable[[str], None] | None = None,
) -> ScoreReport:
    """Score every (or the named) method of a run directory; see the module docstring for what is written.

    `profile` picks the scoring backbones (`tiny`: random toys; `sd15`: DINO ViT-S/16 and
    CLIP ViT-B/32 from the Hugging Face cache) and the dataset whose real images score;
    `model_sources` overrides the backbones by role ('dino', 'clip', 'lpips') with a hub id
    or local path. `metrics` limits what is computed (default: all of `list_metrics()`). A
    user-fixable problem raises BenchError.

    A subset merges into the method's earlier scores, so scoring one metric again never
    erases the others. The requested metrics are computed afresh for every image. Each
    other metric in the earlier scores.json is kept only if everything its values depend
    on still matches: the file-wide settings (protocol, dataset hash, scoring profile,
    package versions), its definition (backbone id, weights fingerprint, pairing) and, for
    CLIP-T, the text choice; otherwise all its values are dropped, with one warning line
    naming what differs. A kept metric keeps an image's value only where the image is the
    same (cell, recorded SHA-256, kind) and has no problem now; CLIP-T also needs the same
    text, DIV an unchanged (subject, prompt) group. Other images lack that metric (one
    warning line says how many), and a metric left with no value is left out. The tables,
    CIs, oracle and comparisons then cover every metric the method has. Warnings go to
    `log` if given, else to stderr.

    A method with no image (every cell of it failed, say) is skipped with one warning
    line, so that the others still score; only a scoring with nothing at all is an error.
    An image too small for DIV's LPIPS is an error before any model runs, not a crash in it.

    Args:
        run_dir: the run directory (each method's generations.jsonl in its folder).
        dataset_dir: the DreamBench copy with the real images (None: where the harness looks by default).
        methods: the method labels to score (default: every one with a generations.jsonl).
        profile: the profile whose backbones and dataset score, resolved (`benchmark.profiles.get_profile`):
            the caller looks the name up once, as `bench run` and `bench score` do.
        model_sources: the backbones by role instead of the profile's.
        device: where the backbones run.
        keep_identifier: CLIP-T reads the prompt with the rare identifier in it, not the class noun.
        progress: show progress bars.
        metrics: the metrics to compute (default: all); the others keep their earlier values.
        batch_size: images per backbone forward pass.
        cache: the embedding cache (default: the shared one).
        bootstrap_resamples, bootstrap_seed: the bootstrap of the CIs and paired tests.
        log: where one-line messages go (default: warnings to stderr, progress lines nowhere).

    Returns:
        The scores per method, their definitions and the paired comparisons (also written to disk).
    """
    run_dir, protocol = _scoring_target(run_dir, profile)
    warn = _warner(log)

    # 1. the records to score, less damaged subjects and methods with none
    found = _records_to_score(run_dir, dataset_dir, methods, metrics, protocol, warn)
    subjects = _subjects_of(protocol, found.records)

    # 2. the scoring models, each located now: a missing one fails up front
    revision = _scoring_revision(warn)
    scorers = Scorers(profile, model_sources, device, batch_size)
    definitions = MetricDefinitions(scorers, _metric_definitions(scorers, found.metrics))
    scoring = Scoring(
        run_dir=run_dir,
        scorers=scorers,
        cache=cache if cache is not None else EmbeddingCache(),
        keep_identifier=keep_identifier,
        progress=progress,
        stats={"n_resamples": bootstrap_resamples, "seed": bootstrap_seed},
        settings=_settings(profile, protocol),
        warn=warn,
        say=log or (lambda message: None),
    )

    # 3. what earlier scores of other metrics may lend, under the same settings
    earlier = _lendable_scores(scoring, found.methods, found.metrics, definitions)

    # 4. the real images
    real = _real_images(scoring, subjects, found.dataset_dir, found.metrics, earlier)

    # 5. each method's images, written as they are scored
    report = ScoreReport(
        run_dir=run_dir,
        profile=profile.name,
        metrics=definitions.known,
        clip_t_text=scoring.clip_t_text,
        methods={},
        left_out=found.left_out,
        git_revision=revision,
    )
    _score_and_write(scoring, report, found, real, earlier)

    # 6. the comparisons
    _finish_report(scoring, report, definitions)
    return report


def compare_methods(report: ScoreReport, **bootstrap_options) -> list:
    """Each method against the reference, on every metric both have (paired over shared cells).

    The reference is `default_reference`'s, else the first method named: the HTML report's
    default baseline too, so `bench run`'s table and the report's never show one difference
    with opposite signs.
    """
    names = list(report.methods)
    reference = default_reference({name: name.split("[", 1)[0] for name in names})
    if reference is not None:
        names.remove(reference)
        names.insert(0, reference)

    def scored_as(method: str) -> dict:
        """What this scoring writes to the method's scores.json about how it scored."""
        return {
            "metrics": report.metrics,
            "clip_t_text": report.clip_t_text,
            "image_sizes": report.image_sizes.get(method),
        }

    out = []
    for other in names[1:]:
        for metric in report.metrics:
            if metric not in report.methods[names[0]].summary or metric not in report.methods[other].summary:
                # a metric one of them kept from an earlier scoring and the other lacks
                continue
            if scoring_signature(scored_as(names[0]), metric) != scoring_signature(scored_as(other), metric):
                # two instruments (within one scoring only DIV's image size can differ), as reports say
                continue
            comparison = paired_comparison(
                report.methods[names[0]].rows,
                report.methods[other].rows,
                metric,
                method_a=names[0],
                method_b=other,
                **bootstrap_options,
            )
            if comparison is not None:
                out.append(comparison)
    return out
