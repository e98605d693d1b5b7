"""Scoring images made by any other tool, on the same footing as the harness's own methods.

A closed method (an API, another codebase) cannot run inside the harness, but its
images can be scored exactly like ours once they are turned into the same records.
Two input forms:

1. Folder layout: ``<folder>/<subject>/<prompt_index>_<image_index>.<png|jpg|jpeg|webp>``,
   e.g. ``backpack/0_3.png`` for the 4th image of backpack's prompt 0 (prompt indices
   follow ``dataset/dreambench_v1.json``, as listed by the protocol), plus optional
   ``<folder>/<subject>/class_<image_index>.png`` prior-preservation images for PRES.
2. A JSONL manifest, one object per image with ``subject``, ``prompt_index`` (int or
   "class"), ``image_index`` and ``file`` (relative to the manifest's folder or
   absolute); optional ``seed``, ``prompt`` and ``subject_phrase`` are kept.

`import_folder` writes ``<run_dir>/<method>/generations.jsonl`` pointing at the images
where they are (nothing is copied), so `score_run` then works unchanged. It never
writes into a `bench run` directory, nor over a method folder that an import of
another source (or anything else) made: either would pass one method's images off
as another's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from benchmark.config import RunConfig
from benchmark.errors import BenchError
from benchmark.metrics.records import (
    GENERATIONS,
    PRIOR_CATEGORY,
    PRIOR_PROMPT_INDEX,
    is_prior_preservation,
    numbered_jsonl,
    require_div_sizes,
)
from benchmark.store.atomic import atomic_write_json, atomic_write_text
from benchmark.store.run_dir import RUN_FILE
from dataset.protocol import Protocol, load_protocol

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# WebP may be lossless, but a tool's WebP rarely is
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")
_NAME = re.compile(r"^(?P<prompt>\d+|class)_(?P<image>\d+)$")
PRIOR_TEMPLATE = "a {}"
# what an import writes beside generations.jsonl: the mark that it may import again there
SOURCE = "source.json"
# where `bench score --folder DIR` writes, inside DIR, when not given --output-dir
DEFAULT_OUTPUT = "_scores"
# DreamBench's 4
PROTOCOL_IMAGES_PER_PROMPT = RunConfig.images_per_prompt


def _index(value) -> int | None:
    """An index as written by a person or a tool (3, "3"), or None: a bool, 2.5 or -1 must not become a cell."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        return int(value)
    return None


def _record(protocol: Protocol, entry: dict, file: Path, run_dir: Path, method: str, where: str) -> dict:
    try:
        subject = protocol.subject(str(entry["subject"]))
    except BenchError as exc:
        raise BenchError(f"{where}: {exc}") from None
    raw_prompt = entry["prompt_index"]
    image_index = _index(entry["image_index"])
    if image_index is None:
        raise BenchError(f"{where}: image_index {entry['image_index']!r} is not an integer >= 0")
    if raw_prompt == PRIOR_PROMPT_INDEX:
        prompt_index, category, template = PRIOR_PROMPT_INDEX, PRIOR_CATEGORY, PRIOR_TEMPLATE
    else:
        prompts = protocol.prompts_for(subject)
        prompt_index = _index(raw_prompt)
        if prompt_index is None or prompt_index >= len(prompts):
            from_one = prompt_index == len(prompts)
            hint = " (prompt indices count from 0; `bench ls prompts` lists them)" if from_one else ""
            raise BenchError(
                f"{where}: prompt_index {raw_prompt!r} is not one of 0..{len(prompts) - 1} or 'class' "
                f"for {subject.kind} subject {subject.name}{hint}"
            )
        prompt = prompts[prompt_index]
        category, template = prompt.category, prompt.template
    try:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
    except OSError:
        # scored as a missing image, with its path, by score_run
        digest = None
    try:
        relative = Path(os.path.relpath(file, run_dir)).as_posix()
    except ValueError:
        # another drive on Windows
        relative = str(file)
    return {
        "method": method,
        "subject": subject.name,
        "class_noun": subject.class_noun,
        "kind": subject.kind,
        "prompt_index": prompt_index,
        "category": category,
        "template": template,
        "prompt": entry.get("prompt") or template.format(subject.class_noun),
        "subject_phrase": entry.get("subject_phrase"),
        "image_index": image_index,
        "seed": entry.get("seed"),
        "file": relative,
        "sha256": digest,
        "profile": "external",
        # unknown: another tool drew it (the scores say whether their backbones are real)
        "meaningful": None,
    }


def _layout_entries(folder: Path, protocol: Protocol, say=None) -> list[tuple[dict, Path, str]]:
    entries, nested = [], []
    for subject_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if subject_dir.name not in protocol.subjects:
            raise BenchError(f"{subject_dir}: not a DreamBench subject (`bench ls subjects`)")
        for path in sorted(subject_dir.iterdir()):
            if path.is_dir() and not path.name.startswith("."):
                nested.append(path)
                continue
            if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            match = _NAME.match(path.stem)
            if not match:
                raise BenchError(f"{path}: expected <prompt_index>_<image_index>{path.suffix} or class_<image_index>")
            entry = {"subject": subject_dir.name, "prompt_index": match["prompt"], "image_index": match["image"]}
            if entry["prompt_index"] != PRIOR_PROMPT_INDEX:
                entry["prompt_index"] = int(entry["prompt_index"])
            entries.append((entry, path, str(path)))
    # e.g. an older attempt kept in dog/old/: never read, and the user should know
    if nested and say is not None:
        shown = nested[0].relative_to(folder).as_posix()
        say(
            f"bench: warning: {len(nested)} folder(s) inside subject folders (e.g. {shown}/) are not read: "
            "only <subject>/<prompt_index>_<image_index>.png files are"
        )
    return entries


def _manifest_entries(manifest: Path) -> list[tuple[dict, Path, str]]:
    entries = []
    for number, entry in numbered_jsonl(manifest):
        where = f"{manifest}:{number}"
        missing = {"subject", "prompt_index", "image_index", "file"} - set(entry)
        if missing:
            raise BenchError(f"{where}: missing {', '.join(sorted(missing))}")
        file = Path(entry["file"]).expanduser()
        entries.append((entry, file if file.is_absolute() else manifest.parent / file, where))
    return entries


def _check_destination(run_dir: Path, method: str, source: Path) -> None:
    """Refuse to write where the import would replace or join images it did not put there."""
    if (run_dir / RUN_FILE).exists():
        raise BenchError(
            f"{run_dir} is a bench run directory: other images would be mixed into the run (or replace "
            "its method's records and scores); choose another --output-dir"
        )
    method_dir = run_dir / method
    if not method_dir.exists() or (method_dir.is_dir() and not any(method_dir.iterdir())):
        return
    try:
        recorded = json.loads((method_dir / SOURCE).read_text(encoding="utf-8"))["imported_from"]
        same = Path(recorded).expanduser().resolve() == source
    except (OSError, ValueError, KeyError, TypeError):
        raise BenchError(
            f"{method_dir} already exists and was not made by `bench score --folder`; "
            "choose another --name or --output-dir"
        ) from None
    if not same:
        raise BenchError(
            f"{method_dir} holds the images imported from {recorded}, not {source}; "
            "choose another --name or --output-dir"
        )


def _check_image_indices(records: list[dict], entries: list[tuple[dict, Path, str]]) -> None:
    """Refuse image indices counted from 1: the cells would pair with the wrong images of every other method."""
    indices = {r["image_index"] for r in records if not is_prior_preservation(r)}
    # 1..4 where the protocol has 0..3
    if 0 not in indices and PROTOCOL_IMAGES_PER_PROMPT in indices:
        first = next(
            where for (entry, _, where), r in zip(entries, records, strict=True) if not is_prior_preservation(r)
        )
        raise BenchError(
            f"image indices count from 0, and these run {min(indices)}..{max(indices)} with no 0 (e.g. "
            f"{first}): renumber them 0..{PROTOCOL_IMAGES_PER_PROMPT - 1} (e.g. 0_1.png -> 0_0.png)"
        )


def _coverage(records: list[dict], protocol: Protocol) -> str | None:
    """What the images lack against the protocol, in one phrase (None when nothing): their scores cover less."""
    images = {(r["subject"], r["prompt_index"], r["image_index"]) for r in records if not is_prior_preservation(r)}
    prompts = {cell[:2] for cell in images}
    subjects = {r["subject"] for r in records}
    prior = {r["subject"] for r in records if is_prior_preservation(r)}
    expected_prompts = sum(len(protocol.prompts_for(s)) for s in protocol.subjects.values())
    expected_images = expected_prompts * PROTOCOL_IMAGES_PER_PROMPT
    in_protocol = sum(1 for cell in images if cell[2] < PROTOCOL_IMAGES_PER_PROMPT)
    parts = []
    if len(subjects) < len(protocol.subjects):
        parts.append(f"{len(subjects)} of {len(protocol.subjects)} subjects")
    if len(prompts) < expected_prompts:
        parts.append(f"{len(prompts)} of {expected_prompts} prompts")
    if in_protocol < expected_images:
        parts.append(f"{in_protocol} of {expected_images} images")
    if subjects - prior:
        parts.append(f"PRES images missing for {len(subjects - prior)} of {len(subjects)} subjects")
    return ", ".join(parts) or None


def import_folder(
    folder: Path,
    run_dir: Path,
    *,
    method: str = "external",
    manifest: Path | None = None,
    metrics: list[str] | None = None,
    log: Callable[[str], None] | None = None,
    keep_identifier: bool = False,
    protocol: Protocol | None = None,
) -> Path:
    """Turn a folder (documented layout) or a JSONL manifest into `<run_dir>/<method>/generations.jsonl`.

    `protocol` is the one the images are checked against (default: DreamBench's); the scoring
    profile's own, so that a pocket-world folder is read against the pocket world's prompts.

    `metrics` (default: all) are the ones about to be scored: images too small for DIV are
    refused here, before anything is written, only when DIV is among them. What the images
    lack against the protocol is one warning line, to `log` if given, else to stderr: the
    scores are still right for what is there, but cover less than a full method's.
    """
    protocol = protocol or load_protocol()
    folder, run_dir = Path(folder).resolve(), Path(run_dir).resolve()
    if manifest is None and not folder.is_dir():
        raise BenchError(f"image folder {folder} does not exist")
    if manifest is not None and not Path(manifest).is_file():
        raise BenchError(f"manifest {manifest} does not exist")
    source = Path(manifest).resolve() if manifest is not None else folder
    _check_destination(run_dir, method, source)
    say = log or (lambda line: print(line, file=sys.stderr))
    entries = _manifest_entries(source) if manifest else _layout_entries(folder, protocol, say)
    if not entries:
        raise BenchError(
            f"no images found in {manifest or folder} (layout: <subject>/<prompt_index>_<image_index>.png)"
        )
    lossy = [file for _, file, _ in entries if Path(file).suffix.lower() in LOSSY_SUFFIXES]
    if lossy:
        say(
            f"bench: warning: {method}: {len(lossy)} of {len(entries)} images are JPEG or WebP (e.g. {lossy[0]}): "
            "lossy compression moves every metric a little; score the tool's PNG output where it has one"
        )
    records, seen = [], {}
    for entry, file, where in entries:
        record = _record(protocol, entry, file, run_dir, method, where)
        cell = (record["subject"], str(record["prompt_index"]), record["image_index"])
        if cell in seen:
            raise BenchError(f"{where}: duplicate image for {cell} (also {seen[cell]})")
        seen[cell] = where
        records.append(record)
    _check_image_indices(records, entries)
    if keep_identifier:
        unprompted = [where for (entry, _, where) in entries if not entry.get("prompt")]
        if unprompted:
            more = f" (and {len(unprompted) - 1} more)" if len(unprompted) > 1 else ""
            raise BenchError(
                f"--keep-identifier scores CLIP-T against each image's prompt as generated, and {unprompted[0]}"
                f"{more} has none: give a --manifest with a 'prompt' per image, or drop the flag (CLIP-T then "
                "uses the protocol prompt with the class noun)"
            )
    div_sizes = require_div_sizes(run_dir, records) if metrics is None or "div" in metrics else {}
    lacking = _coverage(records, protocol)
    if lacking:
        say(f"bench: warning: {method}: {lacking}: scores cover what is there")
    mixed = [
        f"{subject}/{prompt}: " + ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
        for (subject, prompt), sizes in div_sizes.items()
        if len(sizes) > 1
    ]
    # only DIV compares two images of one prompt, so only a DIV scoring is told
    if mixed:
        say(
            f"bench: warning: {method}: {len(mixed)} prompt(s) hold images of different sizes (e.g. {mixed[0]}): "
            "DIV compares each pair at the first image's size, stretching the other"
        )
    beyond = sum(1 for r in records if r["image_index"] >= PROTOCOL_IMAGES_PER_PROMPT)
    if beyond:
        say(
            f"bench: warning: {method}: {beyond} image(s) with image_index {PROTOCOL_IMAGES_PER_PROMPT} or more "
            f"(the protocol has {PROTOCOL_IMAGES_PER_PROMPT} per prompt, 0..{PROTOCOL_IMAGES_PER_PROMPT - 1}): "
            "scored too, so their prompts' means average more images than a protocol run's"
        )
    target = run_dir / method / GENERATIONS
    atomic_write_text(target, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    atomic_write_json(
        run_dir / method / SOURCE,
        {"imported_from": str(source), "manifest": manifest is not None, "images": len(records)},
    )
    return target


def score_folder(
    folder: Path,
    dataset_dir: Path | None,
    *,
    output_dir: Path | None = None,
    method: str = "external",
    manifest: Path | None = None,
    **score_options,
):
    """Import `folder` (or `manifest`) into `output_dir` (default `<folder>/_scores`) and score it with `score_run`
    (`score_options` are its keyword arguments, `profile` a resolved `Profile` among them)."""
    from benchmark.metrics.scoring import check_scoring_inputs, score_run

    check_method_name(method)
    # before the import writes anything
    check_scoring_inputs(
        dataset_dir, score_options["profile"], score_options.get("model_sources"), score_options.get("metrics")
    )
    output_dir = Path(output_dir) if output_dir is not None else Path(folder) / DEFAULT_OUTPUT
    said: list[str] = []
    log = score_options.get("log") or (lambda line: print(line, file=sys.stderr))

    # the table must say what the log says: `> results.md` drops stderr
    def keep(line: str) -> None:
        said.append(line.removeprefix("bench: warning: "))
        log(line)

    import_folder(
        folder,
        output_dir,
        method=method,
        manifest=manifest,
        metrics=score_options.get("metrics"),
        log=keep,
        keep_identifier=score_options.get("keep_identifier", False),
        protocol=load_protocol(score_options["profile"].dataset),
    )
    report = score_run(output_dir, dataset_dir, methods=[method], **score_options)
    report.notes = said
    return report


def check_method_name(name: str) -> None:
    """A --name is one folder inside the output folder: never a path out of it, nor one the layout reader skips."""
    bad = set('/\\:*?"<>|') & set(name)
    if not name or name.startswith(".") or bad or not name.isprintable():
        raise BenchError(
            f"--name {name!r}: the method's name becomes a folder, so it may not hold / \\ : * ? \" < > | or "
            "control characters, nor start with . (e.g. my-method)"
        )
