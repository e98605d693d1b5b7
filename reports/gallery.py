"""Image grids per subject: the real photos, then each prompt's images for every method side by side.

Numbers summarise; the images are the evidence. The report copies small thumbnails
beside its HTML (never the originals: 3000 full-size images per method would make a
report nobody can mail), with relative links so it opens from disk. A generated image
that is missing or unreadable on disk (deleted, truncated by a full disk or a killed
copy), and a subject a method failed on, show as text, never as a broken image or a
report that stops at the first bad file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from benchmark.metrics.embedding_cache import decode_image
from reports.loading import MethodRun, ReportData

THUMBNAIL_PX = 128
IMAGES_DIR = "images"
PRIOR = "class"


@dataclass
class Thumb:
    # relative to the report, None when the image is missing
    src: str | None
    # the full prompt (or file name) and seed, shown on hover
    title: str
    problem: str | None = None


@dataclass
class PromptRow:
    index: int | str
    # the template around "[subject]"
    text: str
    category: str
    # method key -> thumbs or a failure text
    cells: dict[str, list[Thumb] | str] = field(default_factory=dict)


@dataclass
class SubjectGrid:
    subject: str
    class_noun: str
    kind: str
    real: list[Thumb]
    real_note: str | None
    methods: list[str]
    prompts: list[PromptRow]
    # method key -> error, for a failed (method, subject)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def n_prompts(self) -> int:
        """The benchmark prompts shown; the class prompt (PRES's "a [class]") is not one of them."""
        return sum(row.index != PRIOR for row in self.prompts)

    @property
    def has_class_prompt(self) -> bool:
        return any(row.index == PRIOR for row in self.prompts)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


# what Pillow raises on a bad file
UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def thumbnail(source: Path, target_stem: Path, size: int = THUMBNAIL_PX) -> Path | None:
    """A copy at most `size` px on its long side: JPEG for downscaled photos, PNG when already small.

    None when the source cannot be decoded: one bad file is shown as such, the rest of the
    report still gets written. Only reading is guarded; a failure to write the thumbnail
    (a full disk) still stops the report.
    """
    try:
        # every pixel, as scoring decodes it: a truncated file fails here
        image = decode_image(source)
    except UNREADABLE:
        return None
    if max(image.size) > size:
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        target = target_stem.with_suffix(".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, "JPEG", quality=85)
    else:
        target = target_stem.with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, "PNG")
    return target


def _real_thumbs(data: ReportData, subject: str, out_dir: Path, size: int) -> tuple[list[Thumb], str | None]:
    from dataset.protocol import DEFAULT_PROTOCOL, load_protocol

    tried = []
    for run in data.runs:
        root = run.dataset_dir
        if root is None:
            continue
        try:
            # the run's own dataset: DreamBench's photos, or the pocket world's
            entry = load_protocol(run.manifest.get("protocol") or DEFAULT_PROTOCOL).subject(subject)
        except Exception:
            return [], f"'{subject}' is not a subject of {run.manifest.get('protocol')}"
        tried.append(str(root))
        if not (root / subject).is_dir():
            continue
        thumbs = []
        for image in entry.images:
            source = root / subject / image.file
            if not source.is_file():
                thumbs.append(Thumb(None, image.file, "missing real image"))
                continue
            target = thumbnail(source, out_dir / IMAGES_DIR / "real" / _slug(subject) / Path(image.file).stem, size)
            if target is None:
                thumbs.append(Thumb(None, f"real photo {subject}/{image.file}", "unreadable real image"))
                continue
            thumbs.append(Thumb(target.relative_to(out_dir).as_posix(), f"real photo {subject}/{image.file}"))
        return thumbs, None
    where = ", ".join(tried) or "no dataset_dir in run.json"
    return [], f"real images not found (looked in {where})"


def _protocol_facts(subject: str) -> tuple[str, str]:
    from dataset.protocol import load_protocol

    try:
        entry = load_protocol().subject(subject)
    except Exception:
        return "unknown class", "unknown kind"
    return entry.class_noun, entry.kind


def _prompt_key(index) -> tuple:
    return (0, index, "") if isinstance(index, int) else (1, 0, str(index))


def _method_dir(method: MethodRun, position: int) -> str:
    return f"m{position:02d}-{_slug(method.key)}"


def build_grids(data: ReportData, out_dir: Path, size: int = THUMBNAIL_PX) -> list[SubjectGrid]:
    """Write thumbnails under out_dir/images and return one grid per subject (protocol order)."""
    out_dir = Path(out_dir)
    methods = list(data.methods.values())
    subjects = list(dict.fromkeys(s for run in data.runs for s in run.subjects))
    grids = []
    for subject in subjects:
        by_prompt: dict = {}
        class_noun, kind = "", ""
        for position, method in enumerate(methods):
            for record in method.records:
                if record.get("subject") != subject:
                    continue
                class_noun, kind = record.get("class_noun", class_noun), record.get("kind", kind)
                index = record.get("prompt_index")
                template = str(record.get("template", "{}"))
                row = by_prompt.setdefault(
                    index,
                    PromptRow(index, template.replace("{}", "[subject]"), str(record.get("category", ""))),
                )
                source = method.run.path / record["file"]
                title = f"{record.get('prompt', '')} (image {record.get('image_index')}, seed {record.get('seed')})"
                cell = row.cells.setdefault(method.key, [])
                if not source.is_file():
                    cell.append(Thumb(None, title, "missing image"))
                    continue
                stem = Path(record["file"]).stem
                target = thumbnail(
                    source, out_dir / IMAGES_DIR / _method_dir(method, position) / _slug(subject) / stem, size
                )
                if target is None:
                    cell.append(Thumb(None, title, "unreadable image"))
                    continue
                cell.append(Thumb(target.relative_to(out_dir).as_posix(), title))
        failures = {}
        for method in methods:
            failure = method.failures.get(subject)
            if failure is None:
                continue
            failures[method.key] = str(failure.get("error", "unknown error"))
            for row in by_prompt.values():
                row.cells.setdefault(method.key, f"FAILED: {failures[method.key]}")
        # every method failed on this subject: no record names its class
        if not class_noun:
            class_noun, kind = _protocol_facts(subject)
        real, note = _real_thumbs(data, subject, out_dir, size)
        prompts = [by_prompt[k] for k in sorted(by_prompt, key=_prompt_key)]
        for row in prompts:
            if row.index == PRIOR:
                row.text = f"{row.text}  (prior preservation: the class prompt, used by PRES)"
        grids.append(SubjectGrid(subject, class_noun, kind, real, note, [m.key for m in methods], prompts, failures))
    return grids
