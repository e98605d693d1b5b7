"""The world gates: is the pocket world good enough that a finding measured in it means something?

Three checks, each through the harness's own loaders (the same code that scores a run):

- the DINO role tells subjects apart: each subject photo's nearest other photo is of the same subject;
- the CLIP role reads the world: zero-shot class and context of renders no judge was trained on;
- the base model draws what it is asked: its "a {class} {context}" images get the right class
  and context from the CLIP role.

If the first fails, DINO and CLIP-I cannot see personalization; if the second, CLIP-T cannot see
prompt fidelity; if the third, there is no class prior for DreamBooth to preserve or lose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pocket.corpus import sample
from pocket.render.classes import CLASSES
from pocket.world import CONTEXTS, caption

# Added to the build's seed: a stream no pre-training stage uses (those are SEED, SEED + 1 and SEED + 2).
HELD_OUT_OFFSET = 100
THRESHOLDS = {
    "dino_retrieval": 0.95,
    "clip_class": 0.90,
    "clip_context": 0.90,
    "base_class": 0.70,
    "base_context": 0.70,
}


@dataclass(frozen=True)
class Gate:
    name: str
    value: float
    threshold: float
    count: int
    what: str

    @property
    def holds(self) -> bool:
        return self.value >= self.threshold

    def line(self) -> str:
        mark = "holds" if self.holds else "FAILS"
        return f"{self.name:<15} {self.value:6.1%}  (>= {self.threshold:.0%}, n = {self.count})  {mark}  {self.what}"


def nearest_neighbour_accuracy(embeddings: np.ndarray, labels: list[str]) -> float:
    """Share of rows whose most cosine-similar *other* row has the same label."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    return float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]))


def zero_shot(clip, images: list, classes: list[str], contexts: list[str]) -> tuple[float, float]:
    """(class accuracy, context accuracy): class among "a {noun}", context among "a {true noun} {context}"."""
    image_rows = clip.embed_images(images)
    class_rows = clip.embed_texts([caption(noun) for noun in CLASSES])
    predicted = (image_rows @ class_rows.T).argmax(axis=1)
    class_accuracy = float(np.mean([CLASSES[p] == c for p, c in zip(predicted, classes, strict=True)]))
    names = list(CONTEXTS)
    context_rows = {noun: clip.embed_texts([caption(noun, name) for name in names]) for noun in set(classes)}
    hits = []
    for row, noun, context in zip(image_rows, classes, contexts, strict=True):
        hits.append(names[int((context_rows[noun] @ row).argmax())] == context)
    return class_accuracy, float(np.mean(hits))


def held_out_renders(count: int) -> tuple[list, list[str], list[str]]:
    """`count` renders from a stream no model was trained on, each with a context."""
    # here, not at the top: the build module imports diffusers, seconds that the gates' other users need not pay
    from pocket.pretrain.build import SEED
    from pocket.render.compose import render

    images, classes, contexts = [], [], []
    index = 0
    while len(images) < count:
        drawn = sample(SEED + HELD_OUT_OFFSET, index)
        index += 1
        if drawn.context is None or drawn.accessory or drawn.prop:
            continue
        images.append(render(drawn.scene))
        classes.append(drawn.cls)
        contexts.append(drawn.context)
    return images, classes, contexts


def dino_gate(profile: str = "pocket") -> Gate:
    from PIL import Image

    from benchmark.metrics.backbones import load_backbone
    from benchmark.profiles import get_profile
    from dataset.locate import resolve_dataset_dir
    from dataset.protocol import load_protocol

    protocol = load_protocol(get_profile(profile).dataset)
    folder = resolve_dataset_dir(None, protocol.version)
    images, labels = [], []
    for subject in protocol.subjects.values():
        for entry in subject.images:
            images.append(Image.open(folder / subject.name / entry.file).convert("RGB"))
            labels.append(subject.name)
    dino = load_backbone("dino", profile)
    accuracy = nearest_neighbour_accuracy(dino.embed_images(images), labels)
    what = "nearest other photo: same subject"
    return Gate("dino_retrieval", accuracy, THRESHOLDS["dino_retrieval"], len(images), what)


def clip_gates(clip, count: int = 600) -> list[Gate]:
    images, classes, contexts = held_out_renders(count)
    class_accuracy, context_accuracy = zero_shot(clip, images, classes, contexts)
    return [
        Gate("clip_class", class_accuracy, THRESHOLDS["clip_class"], count, "zero-shot class of held-out renders"),
        Gate("clip_context", context_accuracy, THRESHOLDS["clip_context"], count, "zero-shot context of the same"),
    ]


def base_model_images(
    per_pair: int, profile: str = "pocket", nouns=CLASSES, contexts=tuple(CONTEXTS)
) -> tuple[list, list[str], list[str]]:
    """The base model's images of "a {class} {context}" for every class and context, sampled as a run samples."""
    import torch

    from benchmark.config import RunConfig
    from benchmark.models.loading import load_base_components, require_models
    from benchmark.profiles import get_profile
    from methods.diffusion import build_pipeline
    from methods.diffusion import sample as sample_images

    config = RunConfig(profile=profile, images_per_prompt=per_pair)
    generation = config.resolved_generation()
    source = config.model_sources()["base"]
    location = require_models(get_profile(profile), {"base": source}, ["base"])["base"]
    pipe = build_pipeline(load_base_components(source, location), generation, torch.device("cpu"), torch.float32)
    images, classes, asked = [], [], []
    for noun in nouns:
        for n, context in enumerate(contexts):
            seeds = [1000 * n + k for k in range(per_pair)]
            images += sample_images(pipe, [caption(noun, context)] * per_pair, seeds, generation)
            classes += [noun] * per_pair
            asked += [context] * per_pair
    return images, classes, asked


def base_gates(clip, per_pair: int = 1, profile: str = "pocket", **subset) -> list[Gate]:
    """`subset` (nouns=, contexts=) narrows the grid, for tests; the gate itself is every class and context."""
    images, classes, contexts = base_model_images(per_pair, profile, **subset)
    class_accuracy, context_accuracy = zero_shot(clip, images, classes, contexts)
    count = len(images)
    return [
        Gate("base_class", class_accuracy, THRESHOLDS["base_class"], count, "CLIP role reads the asked class"),
        Gate("base_context", context_accuracy, THRESHOLDS["base_context"], count, "CLIP role reads the asked context"),
    ]


def all_gates(renders: int = 600, per_pair: int = 1, profile: str = "pocket") -> list[Gate]:
    """Every gate; the CLIP role is loaded once for both of its uses."""
    from benchmark.metrics.backbones import load_backbone

    clip = load_backbone("clip", profile)
    return [dino_gate(profile), *clip_gates(clip, renders), *base_gates(clip, per_pair, profile)]
