"""Each image's seed depends on what the image is, never on the order work was done in."""

import hashlib

import pytest

from benchmark.planning import plan_cells, plan_groups, sampling_batches, shard_cells
from benchmark.seeds import image_seed
from dataset.protocol import load_protocol


def test_seed_is_the_documented_hash():
    expected = int.from_bytes(hashlib.sha256(b"dreambench-v1/7/dog/3/2").digest()[:8], "big") & (2**63 - 1)
    assert image_seed(7, "dog", 3, 2) == expected


def test_every_image_of_a_full_run_has_its_own_seed():
    protocol = load_protocol()
    seeds = [
        seed
        for subject in protocol.subjects.values()
        for group in plan_groups(protocol, subject, 0, 4, None)
        for seed in group.seeds
    ]
    assert len(seeds) == 3000 == len(set(seeds))


def test_seeds_do_not_depend_on_limits_or_order():
    protocol = load_protocol()
    dog = protocol.subject("dog")
    full = plan_groups(protocol, dog, 0, 4, None)
    limited = plan_groups(protocol, dog, 0, 2, 3)
    assert [g.seeds[:2] for g in limited] == [g.seeds[:2] for g in full[:3]]
    assert plan_groups(protocol, dog, 1, 4, None)[0].seeds != full[0].seeds


def test_shards_partition_the_cells():
    protocol = load_protocol()
    cells = plan_cells(["a", "b"], list(protocol.subjects.values()))
    shards = [shard_cells(cells, i, 4) for i in range(4)]
    assert sorted((c.method, c.subject) for s in shards for c in s) == sorted((c.method, c.subject) for c in cells)
    assert sum(len(s) for s in shards) == len(cells) == 60


def test_cells_start_with_one_subject_per_class_so_parallel_workers_do_not_wait_on_one_classes_images():
    protocol = load_protocol()
    subjects = list(protocol.subjects.values())
    cells = plan_cells(["a", "b"], subjects)
    classes = len({s.class_noun for s in subjects})
    for method in ("a", "b"):
        order = [protocol.subject(c.subject) for c in cells if c.method == method]
        # each subject once per method
        assert sorted(s.name for s in order) == sorted(s.name for s in subjects)
        # 15 workers: 15 different classes
        assert len({s.class_noun for s in order[:classes]}) == classes
    assert [c.method for c in cells] == ["a"] * 30 + ["b"] * 30
    dogs = [c.subject for c in cells[:30] if protocol.subject(c.subject).class_noun == "dog"]
    # protocol order within a class
    assert dogs == ["dog", "dog2", "dog3", "dog5", "dog6", "dog7", "dog8"]


def test_batches_up_to_a_group_stay_inside_it_and_larger_ones_run_through_groups():
    # Within a group: the historical layout (each group alone; 4 then 1 when 5 do not divide by 2).
    assert sampling_batches([5, 5], 2) == [
        [(0, 0), (0, 1)],
        [(0, 2), (0, 3)],
        [(0, 4)],
        [(1, 0), (1, 1)],
        [(1, 2), (1, 3)],
        [(1, 4)],
    ]
    assert sampling_batches([4, 4], 4) == [[(0, 0), (0, 1), (0, 2), (0, 3)], [(1, 0), (1, 1), (1, 2), (1, 3)]]
    # Larger: consecutive slots of the whole cell, so a big GPU gets full batches; a group may straddle two.
    assert sampling_batches([2, 2, 2], 3) == [[(0, 0), (0, 1), (1, 0)], [(1, 1), (2, 0), (2, 1)]]
    assert sampling_batches([2, 2, 2], 8) == [[(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]]
    every = [slot for batch in sampling_batches([4] * 26, 16) for slot in batch]
    # each image exactly once, in plan order
    assert every == [(g, i) for g in range(26) for i in range(4)]
    # PRES opens its own batch, so switching it on or off leaves the protocol prompts' batches alone.
    assert sampling_batches([2, 2, 2], 3, starts=(2,)) == [[(0, 0), (0, 1), (1, 0)], [(1, 1)], [(2, 0), (2, 1)]]
    assert sampling_batches([2, 2, 2], 2, starts=(2,)) == sampling_batches([2, 2, 2], 2)
    with pytest.raises(ValueError):
        sampling_batches([4], 0)


def test_the_seed_scheme_written_in_run_json_computes_the_seeds():
    """run.json and the report print the scheme so a reader can re-derive a seed: the text must be the code."""
    import hashlib

    from benchmark.seeds import SEED_SCHEME, image_seed

    def sha256(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()

    for base, subject, prompt, image in [(0, "backpack", 0, 0), (7, "dog", "class", 3), (123, "cat2", 24, 1)]:
        filled = SEED_SCHEME.format(base=base, subject=subject, prompt=prompt, image=image)
        assert eval(filled, {"sha256": sha256}) == image_seed(base, subject, prompt, image)


def test_a_seeded_block_draws_the_same_whatever_came_before_and_leaves_the_process_generators_as_they_were():
    """A plug-in's global draws inside a cell repeat on any worker, and the process's own stream is untouched."""
    import random

    import numpy as np
    import torch

    from benchmark.seeds import seeded_global_rngs

    def draws():
        return torch.randn(3).tolist(), random.random(), float(np.random.rand())

    seen = []
    for earlier in (0, 7):
        torch.manual_seed(earlier), random.seed(earlier), np.random.seed(earlier)
        before = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
        with seeded_global_rngs(123, "cpu"):
            seen.append(draws())
        assert torch.equal(torch.get_rng_state(), before[0])
        assert random.getstate() == before[1] and (np.random.get_state()[1] == before[2]).all()
    assert seen[0] == seen[1]
    with seeded_global_rngs(124, "cpu"):
        assert draws() != seen[0]
