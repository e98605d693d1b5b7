"""The manifest is DreamBench: it must agree with upstream's prompts_and_classes.txt and images."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from dataset.protocol import load_protocol


def upstream(dreambench_dir):
    text = (dreambench_dir / "prompts_and_classes.txt").read_text()
    classes = dict(re.findall(r"^(\w+),([a-z ]+)$", text, flags=re.M))
    classes.pop("subject_name", None)
    object_block, live_block = text.split("Live Subject Prompts")

    def prompts(block):
        return [
            t.replace("{0}", "sks").replace("{1}", "CLASS")
            for t in re.findall(r"'(.*?)'\.format\(unique_token, class_token\)", block)
        ]

    return classes, prompts(object_block), prompts(live_block)


def test_subjects_and_classes_match_upstream(dreambench_dir):
    protocol = load_protocol()
    classes, _, _ = upstream(dreambench_dir)
    assert {name: s.class_noun for name, s in protocol.subjects.items()} == classes
    assert len(protocol.subjects) == 30
    live = sorted(name for name, s in protocol.subjects.items() if s.live)
    assert live == ["cat", "cat2", "dog", "dog2", "dog3", "dog5", "dog6", "dog7", "dog8"]
    assert len(protocol.class_nouns) == 15


def test_prompts_render_exactly_like_upstream(dreambench_dir):
    protocol = load_protocol()
    _, object_prompts, live_prompts = upstream(dreambench_dir)
    assert len(object_prompts) == len(live_prompts) == 25
    assert [p.render("sks CLASS") for p in protocol.object_prompts] == object_prompts
    assert [p.render("sks CLASS") for p in protocol.live_prompts] == live_prompts
    # The phrase is the only thing a method changes: "sks" alone (no-class ablation) must fit too.
    assert protocol.object_prompts[0].render("sks") == "a sks in the jungle"


def test_prompt_categories_follow_the_paper():
    protocol = load_protocol()
    assert Counter(p.category for p in protocol.object_prompts) == {"recontextualization": 20, "property": 5}
    assert Counter(p.category for p in protocol.live_prompts) == {
        "recontextualization": 10,
        "accessorization": 10,
        "property": 5,
    }
    assert protocol.live_prompts[10].render("x") == "a x wearing a red hat"
    assert protocol.live_prompts[10].category == "accessorization"
    assert protocol.object_prompts[20].render("x") == "a red x"
    assert protocol.object_prompts[20].category == "property"
    assert protocol.prompts_for(protocol.subject("dog")) is protocol.live_prompts
    assert protocol.prompts_for(protocol.subject("backpack")) is protocol.object_prompts


def test_manifest_hashes_every_image_of_the_shared_copy(dreambench_dir):
    protocol = load_protocol()
    listed = 0
    for subject in protocol.subjects.values():
        on_disk = sorted(p.name for p in (dreambench_dir / subject.name).iterdir())
        assert on_disk == [e.file for e in subject.images], subject.name
        for entry in subject.images:
            assert hashlib.sha256((dreambench_dir / subject.name / entry.file).read_bytes()).hexdigest() == entry.sha256
        listed += len(subject.images)
    assert listed == 158


def test_subject_selection_keeps_manifest_order_and_rejects_unknown_names():
    import pytest

    from benchmark.errors import BenchError

    protocol = load_protocol()
    assert [s.name for s in protocol.select("dog,backpack")] == ["backpack", "dog"]
    assert len(protocol.select("all")) == 30
    assert len(protocol.select("live")) == 9
    with pytest.raises(BenchError, match="unknown subject 'dgo'"):
        protocol.select("dog,dgo")
