"""Every shipped method personalizes a subject and generates its images through `bench run`.

One subject, the dog, whose phrase and artifacts every assertion reads. A method training a second subject in
the same process is tested where it costs less: DreamBooth in test_training (class images, compilation), Textual
Inversion in test_training's placeholder test, LoRA in test_distributed's two-subject runs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import bench_run_args

METHODS = {
    # method: expected subject phrase for the dog (rare identifier drawn with seed 0)
    "base": "dog",
    "dreambooth": "{rare} dog",
    "dreambooth-no-prior": "{rare} dog",
    "dreambooth-wrong-class": "{rare} {wrong}",
    "dreambooth-no-class": "{rare}",
    "dreambooth-english-id": "special dog",
    "dreambooth-lora": "{rare} dog",
    "textual-inversion": "<dog>",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, dreambench_dir):
    from click.testing import CliRunner

    from benchmark.cli import main

    out = tmp_path_factory.mktemp("e2e") / "run"
    options = f"--method {','.join(METHODS)} --subjects dog --limit-prompts 1 --images-per-prompt 2 --quiet"
    args = bench_run_args(options, output_dir=out, dataset_dir=dreambench_dir)
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.mark.parametrize("method", METHODS)
def test_method_generates_with_its_subject_phrase(run_dir, method):
    from benchmark.models.tokenizer import clip_tokenizer
    from dataset.protocol import load_protocol
    from methods.dreambooth import wrong_class_noun
    from methods.identifiers import rare_identifier
    from methods.interface import SubjectInput

    records = [json.loads(line) for line in (run_dir / method / "generations.jsonl").read_text().splitlines()]
    # 1 prompt and PRES, 2 images each
    assert len(records) == 4 and {r["subject"] for r in records} == {"dog"}
    pres = [r for r in records if r["prompt_index"] == "class"]
    assert len(pres) == 2 and {(r["subject"], r["prompt"]) for r in pres} == {("dog", "a dog")}
    records = [r for r in records if r["prompt_index"] != "class"]
    dog = load_protocol().subject("dog")
    expected = METHODS[method].format(
        rare=rare_identifier(clip_tokenizer(), 0).text,
        wrong=wrong_class_noun(SubjectInput("dog", "dog", True, ()), load_protocol().class_nouns),
    )
    phrases = {r["subject_phrase"] for r in records if r["subject"] == dog.name}
    assert phrases == {expected}
    assert all(r["prompt"] == r["template"].format(r["subject_phrase"]) for r in records)
    artifact = json.loads((run_dir / method / "artifacts" / "dog" / "artifact.json").read_text())
    assert artifact["subject_phrase"] == expected


def test_artifacts_hold_only_what_changed_in_loadable_formats(run_dir):
    files = {m: sorted(p.name for p in (run_dir / m / "artifacts" / "dog").iterdir()) for m in METHODS}
    assert files["dreambooth"] == ["artifact.json", "text_encoder", "train_log.jsonl", "unet"]
    assert files["dreambooth-lora"] == ["artifact.json", "pytorch_lora_weights.safetensors", "train_log.jsonl"]
    assert files["textual-inversion"] == ["artifact.json", "learned_embeds.safetensors", "train_log.jsonl"]
    assert files["base"] == ["artifact.json"]
    info = json.loads((run_dir / "dreambooth" / "artifacts" / "dog" / "artifact.json").read_text())
    assert info["identifier_kind"] == "rare" and "seed=0" in info["identifier_procedure"]
    assert info["class_prompt"] == "a dog" and info["class_images"] == 3
    no_prior = json.loads((run_dir / "dreambooth-no-prior" / "artifacts" / "dog" / "artifact.json").read_text())
    assert no_prior["class_images"] == 0 and no_prior["class_prompt"] is None
    log = (run_dir / "dreambooth" / "artifacts" / "dog" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == list(range(1, 7))
    assert all(json.loads(line)["prior_loss"] is not None for line in log)
    # checkpoints, and the folder that says work is pending, are gone
    assert not list(run_dir.glob("*/scratch"))


def test_ls_methods_describes_every_method(cli):
    listing = cli("ls", "methods").stdout.splitlines()
    names = [line.split()[0] for line in listing]
    assert set(METHODS) <= set(names)
    assert all(len(line.split(maxsplit=1)) == 2 for line in listing)
