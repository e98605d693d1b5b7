"""DreamBench ("dreambench-v1") and the pocket world's "pocketbench-v1" as typed data: subjects, images, prompts.

DreamBench is read from `dreambench_v1.json`, which `dataset.build_manifest` derived
from the upstream `prompts_and_classes.txt`; the tests check the two agree. The
pocket world's manifest has the same schema, subjects and prompts with rendered
photos (`pocket/dataset/`); a profile names which of the two it runs on.
Prompts are templates around a *subject phrase* because the phrase is what a
method chooses ("sks backpack", "backpack", "sks can", ...), never the harness.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from benchmark.errors import BenchError

MANIFEST_PATH = Path(__file__).with_name("dreambench_v1.json")
# the pocket world's rendered photos ship inside the `pocket` package (found without importing it)
POCKET_DATASET = Path(find_spec("pocket").origin).parent / "dataset"
MANIFESTS = {"dreambench-v1": MANIFEST_PATH, "pocketbench-v1": POCKET_DATASET / "pocketbench_v1.json"}
DEFAULT_PROTOCOL = "dreambench-v1"
ATTRIBUTION = (
    "DreamBench images: Ruiz et al., DreamBooth (CVPR 2023), google/dreambooth dataset, "
    "licensed CC-BY-4.0; per-image credits in references_and_licenses.txt."
)


@dataclass(frozen=True)
class ImageEntry:
    file: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Prompt:
    # position in the protocol's list; "class" for the PRES prompt
    index: int | str
    template: str
    # recontextualization | accessorization | property (| prior-preservation)
    category: str

    def render(self, subject_phrase: str) -> str:
        return self.template.format(subject_phrase)


@dataclass(frozen=True)
class Subject:
    name: str
    class_noun: str
    live: bool
    images: tuple[ImageEntry, ...]

    @property
    def kind(self) -> str:
        return "live" if self.live else "object"


# what --subjects takes alone, instead of a list of names
SUBJECT_GROUPS = ("all", "live", "object")


@dataclass(frozen=True)
class Protocol:
    version: str
    subjects: dict[str, Subject]
    object_prompts: tuple[Prompt, ...]
    live_prompts: tuple[Prompt, ...]
    # SHA-256 of the manifest: the "dataset hash" recorded with every run
    fingerprint: str

    def prompts_for(self, subject: Subject) -> tuple[Prompt, ...]:
        return self.live_prompts if subject.live else self.object_prompts

    def subject(self, name: str) -> Subject:
        try:
            return self.subjects[name]
        except KeyError:
            group = f" ('{name}' is a group: give it alone, --subjects {name})" if name in SUBJECT_GROUPS else ""
            raise BenchError(
                f"unknown subject '{name}'{group}; `bench ls subjects` lists the {len(self.subjects)} subjects"
            ) from None

    def select(self, spec: str | list[str]) -> list[Subject]:
        """Resolve 'all', 'live', 'object' or a comma-separated list, keeping the manifest's order."""
        names = spec.split(",") if isinstance(spec, str) else list(spec)
        names = [n.strip() for n in names if n.strip()]
        if not names:
            raise BenchError("no subjects given; use --subjects all or a comma-separated list")
        if names == ["all"]:
            return list(self.subjects.values())
        if names in (["live"], ["object"]):
            return [s for s in self.subjects.values() if s.kind == names[0]]
        chosen = {self.subject(n).name for n in names}
        return [s for s in self.subjects.values() if s.name in chosen]

    @property
    def class_nouns(self) -> list[str]:
        return sorted({s.class_noun for s in self.subjects.values()})


@lru_cache(maxsize=len(MANIFESTS))
def load_protocol(name: str = DEFAULT_PROTOCOL) -> Protocol:
    """A protocol by name; the default is DreamBench (a profile's `dataset` names the one its runs use)."""
    if name not in MANIFESTS:
        raise BenchError(f"unknown dataset protocol '{name}'; known: {', '.join(MANIFESTS)}")
    raw = MANIFESTS[name].read_bytes()
    data = json.loads(raw)

    def prompts(items):
        return tuple(Prompt(i, p["template"], p["category"]) for i, p in enumerate(items))

    subjects = {
        s["name"]: Subject(s["name"], s["class_noun"], s["live"], tuple(ImageEntry(**i) for i in s["images"]))
        for s in data["subjects"]
    }
    return Protocol(
        version=data["protocol"],
        subjects=subjects,
        object_prompts=prompts(data["prompts"]["object"]),
        live_prompts=prompts(data["prompts"]["live"]),
        fingerprint=hashlib.sha256(raw).hexdigest(),
    )
