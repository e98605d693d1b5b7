"""What a run has to do, as a list of independent cells, and how to split it.

A cell is one (method, subject): personalize once, then generate every prompt's
group of images. Cells are the unit of sharding and of distribution because
training must not be repeated, and a cell's output depends only on the cell
(seeds come from `benchmark.seeds`), so any split gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.seeds import image_seed
from dataset.protocol import Prompt, Protocol, Subject


@dataclass(frozen=True)
class Cell:
    method: str
    subject: str


@dataclass(frozen=True)
class Group:
    """The images of one (subject, prompt): generated together, in a fixed batch layout."""

    prompt: Prompt
    seeds: tuple[int, ...]
    # The phrase to render the prompt with when it is not the method's subject phrase.
    fixed_phrase: str | None = None


# PRES asks the personalized model for "a {class}" (no identifier): if the class prior survived,
# these images show generic members of the class, not the subject.
PRES_PROMPT = Prompt(index="class", template="a {}", category="prior-preservation")


def plan_cells(methods: list[str], subjects: list[Subject]) -> list[Cell]:
    """Every (method, subject), each method's subjects in rounds: the first subject of every class, then the second...

    Subjects of one class share its class images, which the first of them to train
    generates while the others wait on the cache's lock. In the protocol's order,
    workers starting together would get backpack and backpack_dog, cat and cat2,
    or five of the seven dogs, and all but one would sit idle for minutes; in rounds
    the first 15 cells are 15 classes. The order decides only who runs what when:
    every cell's bytes are the same in any order.
    """
    seen: dict[str, int] = {}
    rounds = {}
    for subject in subjects:
        rounds[subject.name] = seen.get(subject.class_noun, 0)
        seen[subject.class_noun] = rounds[subject.name] + 1
    # stable: protocol order within a round
    ordered = sorted(subjects, key=lambda subject: rounds[subject.name])
    return [Cell(method, subject.name) for method in methods for subject in ordered]


def shard_cells(cells: list[Cell], index: int, count: int) -> list[Cell]:
    """Round-robin over the planned order: shard i of n takes cells i, i+n, i+2n, ..."""
    return cells[index::count]


def plan_groups(
    protocol: Protocol,
    subject: Subject,
    base_seed: int,
    images_per_prompt: int,
    limit_prompts: int | None,
    pres: bool = False,
) -> list[Group]:
    """The protocol's prompts (the first `limit_prompts`), then the PRES prompt when asked for."""

    def seeds(key):
        return tuple(image_seed(base_seed, subject.name, key, i) for i in range(images_per_prompt))

    groups = [Group(prompt, seeds(prompt.index)) for prompt in protocol.prompts_for(subject)[: limit_prompts or None]]
    if pres:
        groups.append(Group(PRES_PROMPT, seeds(PRES_PROMPT.index), fixed_phrase=subject.class_noun))
    return groups


# (group index in the cell's plan, image index in the group)
Slot = tuple[int, int]


def sampling_batches(group_sizes: list[int], batch_size: int, starts: tuple[int, ...] = ()) -> list[list[Slot]]:
    """The fixed batches in which a cell's images are sampled.

    Up to a group's size, batches stay inside one (subject, prompt) group. Larger
    batches run on through consecutive groups, which keeps a big GPU busy (one
    group is only 4 images) at the price of each image's rounding depending on
    its batch companions; a group in `starts` always opens a new batch (PRES, so
    that switching PRES on or off leaves the protocol prompts' bytes alone).
    Either way the plan depends only on the cell's groups and the batch size,
    never on what is already on disk or which executor runs it, so a resumed or
    sharded run samples the very same batches.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {batch_size}")
    cuts = sorted({0, len(group_sizes), *(start for start in starts if 0 < start < len(group_sizes))})
    if len(cuts) > 2:
        return [
            [(first + group, image) for group, image in batch]
            for first, end in zip(cuts, cuts[1:], strict=False)
            for batch in sampling_batches(group_sizes[first:end], batch_size)
        ]
    if batch_size <= min(group_sizes, default=0):
        return [
            [(group, image) for image in range(start, min(start + batch_size, size))]
            for group, size in enumerate(group_sizes)
            for start in range(0, size, batch_size)
        ]
    slots = [(group, image) for group, size in enumerate(group_sizes) for image in range(size)]
    return [slots[start : start + batch_size] for start in range(0, len(slots), batch_size)]
