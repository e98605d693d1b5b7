"""Rebuild `dreambench_v1.json` from a trusted copy of the dataset (maintainers only).

The manifest is the protocol's single source of truth: subjects, classes, live or
object, the file name and SHA-256 of every image, and the two prompt lists with
their categories. Run `python -m dataset.build_manifest PATH/TO/dataset` after an
upstream change, review the diff, and bump the protocol version if anything moved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

LIVE_CLASSES = {"cat", "dog"}
OBJECT_CATEGORIES = ["recontextualization"] * 20 + ["property"] * 5
LIVE_CATEGORIES = ["recontextualization"] * 10 + ["accessorization"] * 10 + ["property"] * 5


def _parse_prompts_file(text: str) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    classes = re.findall(r"^([a-z0-9_]+),([a-z ]+)$", text, flags=re.M)
    classes = [(name, cls) for name, cls in classes if name != "subject_name"]
    blocks = text.split("prompt_list = [")[1:]
    lists = []
    for block in blocks:
        body = block.split("]", 1)[0]
        lists.append([t.replace("{0} {1}", "{}") for t in re.findall(r"'(.*?)'\.format", body)])
    return classes, lists[0], lists[1]


def build(dataset_dir: Path) -> dict:
    classes, object_prompts, live_prompts = _parse_prompts_file(
        (dataset_dir / "prompts_and_classes.txt").read_text(encoding="utf-8")
    )
    subjects = []
    for name, cls in classes:
        files = sorted(p for p in (dataset_dir / name).iterdir() if p.is_file())
        subjects.append(
            {
                "name": name,
                "class_noun": cls,
                "live": cls in LIVE_CLASSES,
                "images": [
                    {"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
                    for p in files
                ],
            }
        )
    return {
        "protocol": "dreambench-v1",
        "source": "google/dreambooth (dataset/), CC-BY-4.0",
        "subjects": subjects,
        "prompts": {
            "object": [{"template": t, "category": c} for t, c in zip(object_prompts, OBJECT_CATEGORIES, strict=True)],
            "live": [{"template": t, "category": c} for t, c in zip(live_prompts, LIVE_CATEGORIES, strict=True)],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("dreambench_v1.json"))
    args = parser.parse_args()
    args.out.write_text(json.dumps(build(args.dataset_dir), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
