"""The pocket world is DreamBench in miniature: same subjects and prompts, each prompt a visible change.

These tests pin what makes the world a fair test of personalization: every protocol
prompt is rendered as a real change, a subject's signature is its own, and the
generator's corpus never shows a signature, so only personalization can draw one.
"""

from __future__ import annotations

import numpy as np
import pytest

from dataset.protocol import MANIFEST_PATH, load_protocol
from pocket import corpus
from pocket.render.classes import CLASSES
from pocket.render.compose import Pose, Scene, render
from pocket.subjects import SUBJECTS, pocket_subjects, subject_photos
from pocket.world import caption, prompt_change

POSE = Pose(height=0.62, centre=0.5, bottom=0.9)


def pixels(image) -> np.ndarray:
    return np.asarray(image).astype(np.float32)


def test_the_world_has_dreambench_subjects_classes_and_photo_counts():
    protocol = load_protocol()
    assert [s[0] for s in SUBJECTS] == list(protocol.subjects)
    for name, noun, live, count in SUBJECTS:
        real = protocol.subjects[name]
        assert (noun, live, count) == (real.class_noun, real.live, len(real.images)), name
    assert sorted(CLASSES) == protocol.class_nouns


def test_every_protocol_prompt_names_a_change_the_renderer_draws_in_the_prompts_words():
    protocol = load_protocol()
    for prompt in protocol.object_prompts + protocol.live_prompts:
        change = prompt_change(prompt.template)
        assert caption("dog", **change) == prompt.render("dog")


@pytest.mark.parametrize("name", ["dog", "backpack", "pink_sunglasses"])
def test_every_prompt_is_a_visible_change_of_the_subject(name):
    subject = pocket_subjects()[name]
    protocol = load_protocol()
    plain = pixels(render(subject.scene(pose=POSE, seed=5)))
    for prompt in protocol.prompts_for(protocol.subjects[name]):
        changed = pixels(render(subject.scene(pose=POSE, seed=5, **prompt_change(prompt.template))))
        # at least a 6 x 7 patch changed by more than 40 levels: visible at 64 px
        assert (np.abs(changed - plain).max(axis=-1) > 40).mean() > 0.01, (name, prompt.template)


def test_rendering_is_a_pure_function_of_the_scene():
    first = corpus.sample(seed=3, index=17)
    again = corpus.sample(seed=3, index=17)
    assert first == again
    assert render(first.scene).tobytes() == render(again.scene).tobytes()
    other = corpus.sample(seed=3, index=18)
    assert render(other.scene).tobytes() != render(first.scene).tobytes()


def test_the_generator_corpus_never_shows_a_signature_and_the_judges_never_a_subjects():
    assert all(corpus.sample(seed=1, index=i).scene.signature is None for i in range(300))
    taken = {
        (s.signature.split_colour, s.signature.emblem, s.signature.emblem_colour) for s in pocket_subjects().values()
    }
    marks = [corpus.sample(seed=2, index=i, signatures=1.0).scene.signature for i in range(300)]
    assert all(m is not None for m in marks)
    assert not {(m.split_colour, m.emblem, m.emblem_colour) for m in marks} & taken


def test_no_two_subjects_share_a_signature_and_photos_show_the_subject_in_varied_poses():
    subjects = pocket_subjects().values()
    signatures = {
        (s.signature.split_colour, s.signature.emblem, s.signature.emblem_colour, s.signature.split_angle)
        for s in subjects
    }
    assert len(signatures) == len(SUBJECTS)
    photos = [pixels(p) for p in subject_photos("dog2")]
    assert len(photos) == 6
    assert min(np.abs(a - b).mean() for i, a in enumerate(photos) for b in photos[i + 1 :]) > 3
    assert [p.tobytes() for p in subject_photos("dog2")] == [p.astype(np.uint8).tobytes() for p in photos]


def test_the_signature_is_what_sets_a_subject_apart_from_its_class():
    """Without its signature, a subject's photo is an ordinary member; with it, colours no member wears appear."""
    from pocket.render.palette import COLOURS, SIGNATURE_COLOURS

    subject = pocket_subjects()["dog3"]
    with_mark = pixels(render(subject.scene(pose=POSE, seed=1)))
    without = pixels(render(Scene(subject.member, POSE, seed=1)))
    loud = np.array([COLOURS[c] for c in SIGNATURE_COLOURS], np.float32)

    def loud_share(image):
        distance = np.linalg.norm(image[:, :, None, :] - loud[None, None], axis=-1).min(-1)
        return (distance < 40).mean()

    assert loud_share(with_mark) > 0.03
    assert loud_share(without) < 0.002


def test_the_shipped_photos_are_the_rendered_ones_and_their_manifest_is_dreambenchs_schema():
    import hashlib
    import json

    from PIL import Image

    from pocket.photos import MANIFEST_NAME, PROTOCOL, SHIPPED

    manifest = json.loads((SHIPPED / MANIFEST_NAME).read_text())
    dreambench = json.loads(MANIFEST_PATH.read_text())
    assert manifest["protocol"] == PROTOCOL
    assert manifest["prompts"] == dreambench["prompts"]
    assert [(s["name"], s["class_noun"], s["live"], len(s["images"])) for s in manifest["subjects"]] == [
        (s["name"], s["class_noun"], s["live"], len(s["images"])) for s in dreambench["subjects"]
    ]
    for subject in manifest["subjects"]:
        for entry in subject["images"]:
            data = (SHIPPED / subject["name"] / entry["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
    sixth = manifest["subjects"][6]
    shipped = [np.asarray(Image.open(SHIPPED / sixth["name"] / e["file"])) for e in sixth["images"]]
    rendered = [np.asarray(p) for p in subject_photos(manifest["subjects"][6]["name"])]
    assert all((a == b).all() for a, b in zip(shipped, rendered, strict=True))


def test_bench_pocket_sheet_writes_the_contact_sheet(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from benchmark.cli import main

    result = CliRunner().invoke(main, ["pocket", "sheet", "-o", str(tmp_path / "sheet.png")])
    assert result.exit_code == 0, result.output
    sheet = Image.open(tmp_path / "sheet.png")
    # 15 rows of subjects per half, each 64 px tall at scale 2
    assert sheet.height == 15 * 64 * 2
