"""The pocket world's dataset ("pocketbench-v1"): subject photos on disk and a manifest like DreamBench's.

The photos are rendered, so nothing is downloaded; they are still written as PNG
files with a manifest of SHA-256 hashes in DreamBench's own schema, so the harness
reads, verifies and cites them through the same code as the real dataset. The
package ships them (`pocket/dataset/`), and `write_dataset` rebuilds them.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from benchmark.store.atomic import atomic_write_bytes, atomic_write_text
from dataset.protocol import MANIFEST_PATH
from pocket.subjects import SUBJECTS, pocket_subjects, subject_photos

PROTOCOL = "pocketbench-v1"
SHIPPED = Path(__file__).with_name("dataset")
MANIFEST_NAME = "pocketbench_v1.json"
SOURCE = "rendered by pocket.photos (this project's procedural renderer); no third-party images"


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def build_manifest(files: dict[str, list[tuple[str, bytes]]]) -> dict:
    """DreamBench's manifest schema with the pocket photos; the prompts are DreamBench's, verbatim."""
    dreambench = json.loads(MANIFEST_PATH.read_text())
    subjects = []
    for name, _noun, _live, _count in SUBJECTS:
        subject = pocket_subjects()[name]
        images = [
            {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for file, data in files[name]
        ]
        subjects.append({"name": name, "class_noun": subject.class_noun, "live": subject.live, "images": images})
    return {"protocol": PROTOCOL, "source": SOURCE, "subjects": subjects, "prompts": dreambench["prompts"]}


def render_dataset() -> dict[str, list[tuple[str, bytes]]]:
    return {name: [(f"{k:02d}.png", png_bytes(p)) for k, p in enumerate(subject_photos(name))] for name, *_ in SUBJECTS}


def write_dataset(folder: Path = SHIPPED) -> Path:
    """Render every subject's photos into `folder` with the manifest beside them."""
    files = render_dataset()
    for name, items in files.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for file, data in items:
            atomic_write_bytes(folder / name / file, data)
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(build_manifest(files), indent=1) + "\n")
    return folder
