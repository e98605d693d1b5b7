"""Check a copy of DreamBench image by image against the manifest.

A benchmark number is only comparable if it came from the same 158 images, so a
missing, extra, unreadable or altered file is an error that names the file, not a
warning: a run fails the cells of a subject that has one (and runs the others), and
scoring leaves it out. Hashing all 17 MB takes well under a second, so every run does it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchError
from dataset.protocol import Protocol, Subject

IGNORED_NAMES = {".DS_Store", "Thumbs.db"}


@dataclass(frozen=True)
class Problem:
    """A file the harness cannot use: where it is and what is wrong with it (printed as one line)."""

    path: Path | str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def _decodes(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:
        return False


def subject_problems(root: Path, subject: Subject) -> list[Problem]:
    folder = root / subject.name
    if not folder.is_dir():
        return [Problem(folder, f"missing subject folder ({len(subject.images)} images expected)")]
    problems = []
    expected = {entry.file: entry for entry in subject.images}
    for entry in subject.images:
        path = folder / entry.file
        if not path.exists():
            problems.append(Problem(path, "missing image"))
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(Problem(path, f"unreadable ({exc.strerror or exc})"))
            continue
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            what = (
                "SHA-256 mismatch (file differs from DreamBench)"
                if _decodes(path)
                else "corrupt image (cannot be decoded)"
            )
            problems.append(Problem(path, what))
    for path in sorted(folder.iterdir()):
        if path.name not in expected and path.name not in IGNORED_NAMES:
            problems.append(Problem(path, "unexpected extra file in a subject folder"))
    return problems


def find_problems(root: Path, protocol: Protocol, subjects: list[Subject] | None = None) -> list[Problem]:
    problems: list[Problem] = []
    for subject in subjects if subjects is not None else protocol.subjects.values():
        problems.extend(subject_problems(root, subject))
    return problems


def first_of(problems: list[Problem]) -> str:
    """The first problem and how many more there are, as one line."""
    more = f" (and {len(problems) - 1} more problems; `bench dataset verify` lists them)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


def describe(problems: list[Problem]) -> str:
    return f"dataset: {first_of(problems)}"


def unusable_subjects(root: Path, subjects: list[Subject]) -> dict[str, str]:
    """Subject name -> one line saying why its images cannot be used, for the subjects with a problem.

    Why per subject: one damaged image of a 30-subject sweep should cost its subject's cells,
    not the night's run. Only when no subject asked for is usable is the run refused outright
    (a wrong --dataset-dir, say), since there is nothing to run then.
    """
    unusable, every = {}, []
    for subject in subjects:
        problems = subject_problems(root, subject)
        if problems:
            unusable[subject.name] = describe(problems)
            every += problems
    if subjects and len(unusable) == len(subjects):
        raise BenchError(describe(every))
    return unusable


def instance_images(root: Path, subject: Subject) -> list[Path]:
    return [root / subject.name / entry.file for entry in subject.images]
