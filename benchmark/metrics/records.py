"""Reading a method's generation records and checking its images before scoring.

A record is one generated image (see the README's run directory). Two kinds exist:
protocol images (prompt_index 0..24), scored by DINO, CLIP-I, CLIP-T and DIV; and
prior-preservation images (prompt_index "class", the personalized model's "a {class}"),
used only by PRES. Mixing them would pull subject fidelity towards the class.
A missing or altered image is a problem listed with its path, never a crash: the
rest of the method still scores.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.metrics.embedding_cache import ImageProblem, ImageRef, decode_image

PRIOR_CATEGORY = "prior-preservation"
PRIOR_PROMPT_INDEX = "class"
GENERATIONS = "generations.jsonl"
# What scoring writes beside it. Named here, not in `scoring`, so readers (the reports) need not import torch.
SCORES_JSONL = "scores.jsonl"
SCORES_JSON = "scores.json"
# LPIPS's AlexNet trunk (DIV) shrinks an image by conv1 (11x11, stride 4) and two 3x3 stride-2 max pools, and
# below 31 pixels a side the second pool has nothing to pool (checked against `lpips`: 31x31 runs, 30x31 fails).
# DINO and CLIP resize every image to 224x224 first, so they take any size down to 1x1.
DIV_MIN_SIDE = 31


def is_prior_preservation(record: dict) -> bool:
    return record.get("prompt_index") == PRIOR_PROMPT_INDEX or record.get("category") == PRIOR_CATEGORY


def clip_t_text(record: dict, keep_identifier: bool = False) -> str:
    """The text CLIP-T compares an image with.

    Default: the prompt template around the subject's class noun alone ("a backpack
    in the jungle" for "a sks backpack in the jungle"), so the rare identifier, which
    means nothing to CLIP, never enters the score, and methods with different phrases
    (no class, wrong class, placeholder tokens) are judged against the same text.
    `keep_identifier=True` uses the prompt exactly as generated.
    """
    if keep_identifier:
        return record["prompt"]
    return record["template"].format(record["class_noun"])


# Files the harness writes whole from other records: a damaged one is repaired by the command that writes it.
REBUILT_BY = {
    "generations.jsonl": " (the same `bench run` rewrites it from the per-prompt records)",
    "scores.jsonl": " (`bench score RUN --method METHOD` rewrites it)",
}


def numbered_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSONL file.

    The line numbers are for callers whose own checks (a missing key, a duplicate) must
    point at the line a person would open. A line that is not a JSON object is a
    one-line error naming the file and line, never a traceback or a later KeyError.
    """
    records = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise BenchError(f"{path}:{number}: not a JSON object{REBUILT_BY.get(Path(path).name, '')}")
        records.append((number, record))
    return records


# in scores.json: the scores.jsonl written with it
SCORES_JSONL_SHA256 = "scores_jsonl_sha256"


def scores_pair_problem(method_dir: Path, scores: dict | None) -> str | None:
    """Why a method's scores.json and scores.jsonl are not one scoring's, or None.

    The two files are written one after the other, so a scoring killed between them leaves the new per-image
    lines beside the old summary: the report reads one, `bench compare` the other, and they disagree about
    one run. scores.json records the SHA-256 of the scores.jsonl written just before it; a pair that does not
    match is refused. (A scores.json written before this was recorded has nothing to check against.)
    """
    if not scores or SCORES_JSONL_SHA256 not in scores:
        return None
    lines = Path(method_dir) / SCORES_JSONL
    if not lines.is_file():
        found = "is missing"
    elif hashlib.sha256(lines.read_bytes()).hexdigest() == scores[SCORES_JSONL_SHA256]:
        return None
    else:
        found = "is not the one"
    return (
        f"{lines} {found} that {Path(method_dir) / SCORES_JSON} was written with (a scoring stopped between the "
        f"two): score it again, `bench score RUN --method {Path(method_dir).name}`"
    )


def read_jsonl(path: Path) -> list[dict]:
    """Every non-blank line of a JSONL file as a dict (see `numbered_jsonl` for the errors)."""
    return [record for _, record in numbered_jsonl(path)]


def discover_methods(run_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in Path(run_dir).glob(f"*/{GENERATIONS}"))


def read_generations(run_dir: Path, method: str) -> list[dict]:
    path = Path(run_dir) / method / GENERATIONS
    if not path.is_file():
        found = discover_methods(run_dir)
        raise BenchError(
            f"no {GENERATIONS} for method '{method}' in {run_dir}; methods with images there: "
            f"{', '.join(found) or 'none (run `bench run` first)'}"
        )
    numbered = numbered_jsonl(path)
    required = {"subject", "prompt_index", "image_index", "file", "template", "class_noun", "prompt"}
    for number, record in numbered:
        missing = required - set(record)
        if missing:
            raise BenchError(f"{path}:{number}: lacks {', '.join(sorted(missing))}")
    return [record for _, record in numbered]


def image_location(run_dir: Path, record: dict) -> Path:
    # an absolute `file` (external manifests) stays absolute
    path = Path(run_dir) / record["file"]
    if ".." in Path(record["file"]).parts:
        # an imported folder's "../dog/0_0.png", relative to the scores folder as the import resolved it:
        # resolving follows a symlinked scores folder as the import did (collapsing ".." as text would not),
        # and names the file without the detour
        path = path.resolve()
    return path


def _mismatch_reason(path: Path) -> str:
    try:
        decode_image(path)
    except Exception:
        return "corrupt image (cannot be decoded; SHA-256 differs from its record)"
    return "altered image (SHA-256 differs from its record)"


def check_generated(run_dir: Path, records: list[dict]) -> tuple[dict[int, ImageRef], list[tuple[int, ImageProblem]]]:
    """Hash every generated image: {record index: ImageRef} for usable ones, and (index, problem) for the rest.

    The content hash (not the recorded one) is the cache key; an image whose bytes no
    longer match its record was changed after generation and is not the method's output.
    """
    refs: dict[int, ImageRef] = {}
    problems: list[tuple[int, ImageProblem]] = []
    for index, record in enumerate(records):
        path = image_location(run_dir, record)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            problems.append((index, ImageProblem(str(path), "missing image")))
            continue
        except OSError as exc:
            problems.append((index, ImageProblem(str(path), f"unreadable ({exc.strerror or exc})")))
            continue
        digest = hashlib.sha256(data).hexdigest()
        recorded = record.get("sha256")
        if recorded and recorded != digest:
            problems.append((index, ImageProblem(str(path), _mismatch_reason(path))))
            continue
        refs[index] = ImageRef(digest, path)
    return refs, problems


def read_image_sizes(run_dir: Path, records: list[dict]) -> dict[int, tuple[int, int]]:
    """(width, height) of each protocol image by its record's index, read from the headers once per scoring.

    An image that cannot be opened is left out: `check_generated` reports it with its path.
    """
    from PIL import Image

    sizes = {}
    for index, record in enumerate(records):
        if is_prior_preservation(record):
            continue
        try:
            with Image.open(image_location(run_dir, record)) as image:
                sizes[index] = image.size
        except Exception:
            continue
    return sizes


def size_labels(sizes: dict[int, tuple[int, int]]) -> list[str]:
    """The distinct sizes ("512x512") of a method's protocol images.

    DIV compares images at their own resolution, so DIV of 512 px images and DIV of 64 px images
    are two instruments; scores.json records the sizes, and reports never pair DIV across them.
    """
    return [f"{width}x{height}" for width, height in sorted(set(sizes.values()))]


def require_div_sizes(
    run_dir: Path, records: list[dict], sizes: dict[int, tuple[int, int]] | None = None
) -> dict[tuple[str, str], set[tuple[int, int]]]:
    """Refuse, before any model runs, an image too small for LPIPS, which would otherwise crash deep inside DIV.

    Only images DIV compares count: protocol images whose (subject, prompt) has another.
    `sizes`: `read_image_sizes`'s, when the caller has them already. Returns the sizes per
    (subject, prompt): an import says from them where DIV will stretch one image of a pair,
    without opening every file again.
    """
    sizes = read_image_sizes(run_dir, records) if sizes is None else sizes

    def group(record: dict) -> tuple[str, str]:
        return str(record["subject"]), str(record["prompt_index"])

    counts = Counter(group(r) for r in records if not is_prior_preservation(r))
    read: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for index, record in enumerate(records):
        if index not in sizes or counts[group(record)] < 2:
            continue
        width, height = sizes[index]
        read.setdefault(group(record), set()).add((width, height))
        if min(width, height) < DIV_MIN_SIDE:
            raise BenchError(
                f"{image_location(run_dir, record)}: {width}x{height} pixels, smaller than the {DIV_MIN_SIDE}x"
                f"{DIV_MIN_SIDE} that DIV's LPIPS (AlexNet) needs; DINO, CLIP-I, CLIP-T and PRES take any size: "
                "leave DIV out with --metrics dino,clip-i,clip-t,pres, or use larger images"
            )
    return read
