"""Every kind of damaged dataset is reported in one line that names the file, per subject."""

from __future__ import annotations

import shutil

import pytest

from benchmark.errors import BenchError
from dataset.locate import resolve_dataset_dir
from dataset.protocol import load_protocol
from dataset.validate import find_problems, unusable_subjects

SUBJECTS = ["backpack", "dog", "cat"]


def problems(root):
    protocol = load_protocol()
    return [str(p) for p in find_problems(root, protocol, protocol.select(SUBJECTS))]


def test_a_clean_copy_has_no_problems(dataset_copy):
    assert problems(dataset_copy) == []


def test_missing_subject(dataset_copy):
    shutil.rmtree(dataset_copy / "dog")
    assert problems(dataset_copy) == [f"{dataset_copy / 'dog'}: missing subject folder (5 images expected)"]


def test_missing_image(dataset_copy):
    (dataset_copy / "cat" / "02.jpg").unlink()
    assert problems(dataset_copy) == [f"{dataset_copy / 'cat' / '02.jpg'}: missing image"]


def test_extra_image(dataset_copy):
    shutil.copy(dataset_copy / "cat" / "00.jpg", dataset_copy / "cat" / "99.jpg")
    assert problems(dataset_copy) == [f"{dataset_copy / 'cat' / '99.jpg'}: unexpected extra file in a subject folder"]


def test_corrupt_image(dataset_copy):
    path = dataset_copy / "backpack" / "01.jpg"
    path.write_bytes(path.read_bytes()[:300])
    assert problems(dataset_copy) == [f"{path}: corrupt image (cannot be decoded)"]


def test_altered_but_decodable_image_is_a_hash_mismatch(dataset_copy):
    from PIL import Image

    path = dataset_copy / "backpack" / "01.jpg"
    Image.open(path).rotate(90).save(path, format="JPEG")
    assert problems(dataset_copy) == [f"{path}: SHA-256 mismatch (file differs from DreamBench)"]


def test_unreadable_image(dataset_copy):
    import os

    path = dataset_copy / "dog" / "00.jpg"
    path.unlink()
    # reading a directory fails like an unreadable file, even as root
    path.mkdir()
    message = problems(dataset_copy)[0]
    assert message.startswith(f"{path}: unreadable")
    assert os.path.isdir(path)


def test_a_refusal_reports_the_first_problem_and_the_count(dataset_copy):
    (dataset_copy / "cat" / "00.jpg").unlink()
    (dataset_copy / "cat" / "01.jpg").unlink()
    (dataset_copy / "dog" / "00.jpg").unlink()
    # over every subject
    with pytest.raises(BenchError, match=r"cat/00.jpg: missing image \(and 2 more problems"):
        unusable_subjects(dataset_copy, load_protocol().select(["cat", "dog"]))


def test_a_run_loses_only_the_damaged_subjects_unless_none_is_left(dataset_copy):
    protocol = load_protocol()
    (dataset_copy / "cat" / "00.jpg").unlink()
    (dataset_copy / "cat" / "01.jpg").write_bytes(b"junk")
    unusable = unusable_subjects(dataset_copy, protocol.select(SUBJECTS))
    # backpack and dog still run
    assert list(unusable) == ["cat"]
    assert unusable["cat"].startswith(f"dataset: {dataset_copy / 'cat' / '00.jpg'}: missing image (and 1 more")
    # nothing asked for is usable: refused
    with pytest.raises(BenchError, match="cat/00.jpg: missing image"):
        unusable_subjects(dataset_copy, protocol.select(["cat"]))


def test_location_order_is_flag_then_env_then_cache(tmp_path, monkeypatch):
    flag, env = tmp_path / "flag", tmp_path / "env"
    flag.mkdir()
    env.mkdir()
    monkeypatch.setenv("DREAMBENCH_DIR", str(env))
    assert resolve_dataset_dir(flag) == flag
    assert resolve_dataset_dir(None) == env
    monkeypatch.delenv("DREAMBENCH_DIR")
    with pytest.raises(BenchError, match="run `bench dataset download`"):
        resolve_dataset_dir(None)
    monkeypatch.setenv("DREAMBENCH_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(BenchError, match=r"nowhere \(from \$DREAMBENCH_DIR\) does not exist"):
        resolve_dataset_dir(None)
