"""DreamBooth's objective and training loop, checked against independent computations."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from diffusers import DDPMScheduler

from benchmark.config import build_config
from benchmark.models.tiny import tiny_noise_scheduler_config, tiny_text_encoder, tiny_unet
from dataset.protocol import load_protocol
from methods import class_images
from methods import training as T
from methods.dreambooth import RELATED_CLASSES, DreamBooth, wrong_class_noun
from methods.interface import MethodContext, SubjectInput
from methods.registry import get_method_class, resolve_options
from methods.textual_inversion import TextualInversion

REPO = Path(__file__).resolve().parents[1]


def scheduler(prediction_type: str) -> DDPMScheduler:
    return DDPMScheduler.from_config({**tiny_noise_scheduler_config(), "prediction_type": prediction_type})


def manual_loss(unet, sched, latents, states, noise, timesteps, instance_count, weight, snr_gamma=None):
    """DreamBooth's loss written out from the paper's definition, sharing no code with methods.training."""
    acp = sched.alphas_cumprod[timesteps].float().view(-1, 1, 1, 1)
    noisy = acp.sqrt() * latents + (1 - acp).sqrt() * noise
    prediction = unet(noisy, timesteps, states).sample
    if sched.config.prediction_type == "epsilon":
        target = noise
    else:
        target = acp.sqrt() * noise - (1 - acp).sqrt() * latents
    squared = (prediction - target) ** 2
    per_sample = squared.flatten(1).mean(1)
    instance = per_sample[:instance_count]
    if snr_gamma is not None:
        snr = (acp / (1 - acp)).flatten()[:instance_count]
        w = torch.minimum(snr, torch.tensor(snr_gamma)) / (
            snr if sched.config.prediction_type == "epsilon" else snr + 1
        )
        instance = instance * w
    total = instance.mean()
    if instance_count < len(latents):
        total = total + weight * per_sample[instance_count:].mean()
    return total


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize(("instance_count", "snr_gamma"), [(1, None), (2, None), (1, 5.0), (2, 5.0)])
def test_loss_matches_an_independent_computation(prediction_type, instance_count, snr_gamma):
    torch.manual_seed(0)
    unet, sched = tiny_unet(), scheduler(prediction_type)
    latents = torch.randn(2, 4, 16, 16)
    states = torch.randn(2, 77, 32)
    generator = torch.Generator().manual_seed(5)
    replay = torch.Generator().manual_seed(5)
    with torch.no_grad():
        prediction, target, timesteps = T.denoising_step(unet, sched, latents, states, generator)
        weights = T.min_snr_weights(sched, timesteps[:instance_count], snr_gamma) if snr_gamma else None
        ours = T.dreambooth_loss(prediction, target, instance_count, 0.5, weights).total
        noise = torch.randn(latents.shape, generator=replay)
        steps = torch.randint(0, 1000, (2,), generator=replay)
        assert torch.equal(steps, timesteps)
        expected = manual_loss(unet, sched, latents, states, noise, steps, instance_count, 0.5, snr_gamma)
    assert torch.allclose(ours, expected, rtol=1e-5, atol=1e-7)


def test_prior_weight_and_halves_are_not_swapped():
    prediction = torch.zeros(2, 1, 1, 1)
    target = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)
    parts = T.dreambooth_loss(prediction, target, 1, 0.25)
    assert (parts.instance.item(), parts.prior.item(), parts.total.item()) == (1.0, 9.0, 1.0 + 0.25 * 9.0)
    # min-SNR weights touch the instance half only
    weighted = T.dreambooth_loss(prediction, target, 1, 0.25, torch.tensor([0.5]))
    assert (weighted.instance.item(), weighted.prior.item()) == (0.5, 9.0)


# --------------------------------------------------------------------- method level
@pytest.fixture
def context(tmp_path):
    config = build_config()
    return MethodContext(
        config=config,
        profile=__import__("benchmark.profiles", fromlist=["PROFILES"]).PROFILES["tiny"],
        generation=config.resolved_generation(),
        device=torch.device("cpu"),
        model_locations={"base": "built in"},
        cache_dir=tmp_path / "cache",
    )


def subject_input(name: str, dreambench_dir) -> SubjectInput:
    subject = load_protocol().subject(name)
    return SubjectInput(
        name, subject.class_noun, subject.live, tuple(dreambench_dir / name / e.file for e in subject.images)
    )


def make(cls, context, **options):
    return cls(context, resolve_options(cls, options, "tiny"))


def test_frozen_text_encoder_stays_bit_identical(context, dreambench_dir, tmp_path):
    method = make(DreamBooth, context, train_text_encoder=False)
    info = method.personalize(subject_input("can", dreambench_dir), tmp_path / "out", _mkdir(tmp_path / "s"))
    reference = tiny_text_encoder().state_dict()
    trained = context.base_components["text_encoder"].state_dict()
    assert all(torch.equal(reference[k], trained[k]) for k in reference)
    assert not (tmp_path / "out" / "text_encoder").exists() and info["files"] == {"unet": "unet/"}
    from diffusers import UNet2DConditionModel

    saved = UNet2DConditionModel.from_pretrained(tmp_path / "out" / "unet").state_dict()
    base = tiny_unet().state_dict()
    # the UNet did train
    assert any(not torch.equal(saved[k], base[k]) for k in base)
    assert all(torch.equal(base[k], context.base_components["unet"].state_dict()[k]) for k in base)


def test_textual_inversion_changes_only_the_placeholder_row(context, dreambench_dir, tmp_path):
    method = make(TextualInversion, context)
    captured = {}
    original_save = method.save_artifact

    def capture(workdir, unet, text_encoder):
        captured["text_encoder"] = copy.deepcopy(text_encoder)
        return original_save(workdir, unet, text_encoder)

    method.save_artifact = capture
    info = method.personalize(
        subject_input("grey_sloth_plushie", dreambench_dir), _mkdir(tmp_path / "o"), _mkdir(tmp_path / "s")
    )
    trained = captured["text_encoder"].state_dict()
    reference = tiny_text_encoder().state_dict()
    row = info["identifier_token_id"]
    for key, value in reference.items():
        if key.endswith("token_embedding.weight"):
            assert torch.equal(trained[key][:row], value) and trained[key].shape[0] == row + 1
        else:
            assert torch.equal(trained[key], value), key
    tokenizer = context.base_components["tokenizer"]
    noun_ids = tokenizer("stuffed animal", add_special_tokens=False).input_ids
    key = next(k for k in reference if k.endswith("token_embedding.weight"))
    initial = reference[key][noun_ids].mean(0)
    learned = trained[key][row]
    # the placeholder row did train
    assert not torch.equal(learned, initial)
    # the shared tokenizer never saw the placeholder
    assert len(tokenizer) == 49408
    from safetensors.torch import load_file

    assert torch.equal(load_file(tmp_path / "o" / "learned_embeds.safetensors")["<grey_sloth_plushie>"], learned)


def test_interrupted_training_resumes_from_its_checkpoint(context, dreambench_dir, tmp_path, monkeypatch):
    subject = subject_input("can", dreambench_dir)
    full = make(DreamBooth, context, steps=6, checkpoint_every=2)
    full.personalize(subject, _mkdir(tmp_path / "full"), _mkdir(tmp_path / "s1"))

    real_record = T.StepLog.record

    def crash_at_step_5(log, step, *args):
        real_record(log, step, *args)
        # killed after training step 5, whose checkpoint never came
        if step == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(T.StepLog, "record", crash_at_step_5)
    scratch = _mkdir(tmp_path / "s2")
    with pytest.raises(KeyboardInterrupt):
        make(DreamBooth, context, steps=6, checkpoint_every=2).personalize(subject, _mkdir(tmp_path / "a"), scratch)
    assert torch.load(scratch / T.CHECKPOINT_FILE, weights_only=False)["step"] == 4
    logged = [json.loads(line)["step"] for line in (scratch / T.LOG_FILE).read_text().splitlines()]
    # read back before the checkpoint; step 5's line was still pending
    assert logged == [1, 2, 3, 4]
    monkeypatch.setattr(T.StepLog, "record", real_record)
    info = make(DreamBooth, context, steps=6, checkpoint_every=2).personalize(subject, _mkdir(tmp_path / "b"), scratch)
    assert info["resumed_from_step"] == 4
    from safetensors.torch import load_file

    resumed = load_file(tmp_path / "b" / "unet" / "diffusion_pytorch_model.safetensors")
    uninterrupted = load_file(tmp_path / "full" / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / T.LOG_FILE).read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_class_images_are_generated_once_per_class(context, dreambench_dir, tmp_path):
    before = class_images.GENERATED["count"]
    method = make(DreamBooth, context, steps=1)
    for name in ("dog", "dog2"):
        method.personalize(subject_input(name, dreambench_dir), _mkdir(tmp_path / name), _mkdir(tmp_path / f"s{name}"))
    # tiny wants 3 of "a dog": one block of 4, shared
    assert class_images.GENERATED["count"] - before == 4
    make(DreamBooth, context, steps=1, num_class_images=5).personalize(
        subject_input("dog3", dreambench_dir), _mkdir(tmp_path / "d3"), _mkdir(tmp_path / "sd3")
    )
    # asking for 5 adds only the second block
    assert class_images.GENERATED["count"] - before == 8
    no_prior = make(get_method_class("dreambooth-no-prior"), context, steps=1)
    no_prior.personalize(subject_input("can", dreambench_dir), _mkdir(tmp_path / "c"), _mkdir(tmp_path / "sc"))
    assert class_images.GENERATED["count"] - before == 8
    folders = list((tmp_path / "cache" / "class-images").iterdir())
    # only "a dog" was ever drawn
    assert len(folders) == 1

    # The bytes of image i never depend on what was cached before: 3-then-5 equals 5 at once.
    fresh = dataclasses.replace(context, cache_dir=tmp_path / "fresh-cache")
    paths = class_images.ensure_class_images(fresh, "a dog", 5, sampler="euler_ancestral", seed=0)
    for path in paths:
        assert path.read_bytes() == (folders[0] / path.name).read_bytes(), path.name


def test_layout_switch_gives_every_kernel_the_strides_of_its_layout():
    from methods import speedups

    module = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 1), torch.nn.Conv2d(8, 8, 3))
    before = [p.detach().clone() for p in module.parameters()]
    speedups.set_layout(module, channels_last=True)
    assert [p.stride() for p in module.parameters() if p.dim() == 4] == [(4, 1, 4, 4), (72, 1, 24, 8)]
    speedups.set_layout(module, channels_last=False)
    # and back, 1x1 kernels included (they pass `is_contiguous` with either layout's strides)
    assert [p.stride() for p in module.parameters() if p.dim() == 4] == [(4, 1, 1, 1), (72, 9, 3, 1)]
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_personalize_sees_the_base_modules_as_loaded_whatever_a_pipeline_set_on_them(context):
    """In fp32 a pipeline runs the base modules themselves and sets its kernel and layout on them; a plug-in
    training from them inside `base_as_loaded` trains as if nothing had sampled before it."""
    from diffusers.models.attention_processor import AttnProcessor

    from methods import speedups

    def settings(module):
        return {type(p) for p in module.attn_processors.values()}, speedups.is_channels_last(module)

    # nothing loaded yet: nothing to settle, and nothing fails
    with context.base_as_loaded():
        unet, vae = context.base_components["unet"], context.base_components["vae"]
    loaded = settings(unet), settings(vae)
    # diffusers' own default: SDPA, NCHW
    assert AttnProcessor not in loaded[0][0] and not loaded[0][1]
    # what a plain-path pipeline leaves on them
    for module in (unet, vae):
        speedups.set_attention(module, sdpa=False)
        speedups.set_layout(module, channels_last=True)
    sampled = settings(unet), settings(vae)
    assert sampled != loaded
    with context.base_as_loaded():
        assert (settings(unet), settings(vae)) == loaded
    # the pipeline's own settings again afterwards
    assert (settings(unet), settings(vae)) == sampled


def test_class_images_of_another_sampling_layout_are_not_reused(context):
    """Kernels and layout change bytes by rounding, so they are part of the cache key."""
    first = class_images.ensure_class_images(context, "a can", 1, sampler="euler_ancestral", seed=0)
    plain = dataclasses.replace(context, generation=dataclasses.replace(context.generation, channels_last=False))
    second = class_images.ensure_class_images(plain, "a can", 1, sampler="euler_ancestral", seed=0)
    assert first[0].parent != second[0].parent


def test_class_images_are_sampled_in_batches_of_the_runs_batch_size(context, tmp_path, monkeypatch):
    """A wide sampling batch fills a big GPU for the 3000 class images of a sweep too, in a cache of its own."""
    from methods import diffusion

    batches = []
    real_sample = diffusion.sample

    def sample(pipe, prompts, seeds, generation):
        batches.append(len(prompts))
        return real_sample(pipe, prompts, seeds, generation)

    monkeypatch.setattr(diffusion, "sample", sample)
    cached = dataclasses.replace(context, cache_dir=tmp_path / "cache")
    wide = dataclasses.replace(cached, generation=dataclasses.replace(context.generation, batch_size=8))
    wide_paths = class_images.ensure_class_images(wide, "a can", 3, sampler="euler_ancestral", seed=0)
    narrow_paths = class_images.ensure_class_images(cached, "a can", 3, sampler="euler_ancestral", seed=0)
    # one block of the run's batch each, the extra images kept for later
    assert batches == [8, 4]
    # companions change rounding: never mixed
    assert wide_paths[0].parent != narrow_paths[0].parent
    key = json.loads((wide_paths[0].parent / "key.json").read_text())
    assert (key["block"], key["device"]) == (8, "cpu")


def test_nan_loss_stops_the_subject_with_the_step(context, dreambench_dir, tmp_path):
    # a NaN weight makes the first loss NaN, as a diverged training would (users cannot set it: it is refused)
    method = DreamBooth(context, {**resolve_options(DreamBooth, {}, "tiny"), "prior_loss_weight": float("nan")})
    with pytest.raises(T.TrainingDiverged, match="training can diverged: loss is nan at step 1"):
        method.personalize(subject_input("can", dreambench_dir), _mkdir(tmp_path / "o"), _mkdir(tmp_path / "s"))


def test_step_log_reads_losses_in_batches_and_stops_at_the_first_bad_step(tmp_path):
    """The loop never waits for the GPU per step, yet a divergence still names its step and nothing after it is kept."""
    log = T.StepLog(tmp_path, "can", started=0.0, flush_every=4)

    def loss(value):
        value = torch.tensor(value)
        return T.LossParts(value + 1.0, value, torch.tensor(1.0))

    log.record(1, loss(0.5), 1e-4)
    log.record(2, loss(0.25), 1e-4)
    # nothing read back yet
    assert not (tmp_path / T.LOG_FILE).exists()
    log.flush()
    lines = [json.loads(line) for line in (tmp_path / T.LOG_FILE).read_text().splitlines()]
    assert [(e["step"], e["loss"], e["instance_loss"], e["prior_loss"]) for e in lines] == [
        (1, 1.5, 0.5, 1.0),
        (2, 1.25, 0.25, 1.0),
    ]
    assert log.last_loss == 1.25
    log.record(3, loss(0.125), 1e-4)
    log.record(4, loss(float("inf")), 1e-4)
    log.record(5, loss(float("nan")), 1e-4)
    with pytest.raises(T.TrainingDiverged, match="loss is inf at step 4"):
        # the fourth pending step triggers the read
        log.record(6, loss(0.0), 1e-4)
    steps = [json.loads(line)["step"] for line in (tmp_path / T.LOG_FILE).read_text().splitlines()]
    assert steps == [1, 2, 3]

    # With gradient accumulation only the last micro-batch's loss is logged, but a NaN in an earlier
    # one has poisoned the same optimizer step: it must stop the subject there too.
    accumulated = T.StepLog(tmp_path / "acc", "can", started=0.0)
    (tmp_path / "acc").mkdir()
    accumulated.record(1, loss(0.5), 1e-4, [torch.tensor(float("nan")), torch.tensor(1.5)])
    with pytest.raises(T.TrainingDiverged, match="not finite in a gradient-accumulation micro-batch at step 1"):
        accumulated.flush()


def _documented_related_classes() -> list[set[str]]:
    """The groups of related classes as docs/methods.md states them: "(toy / stuffed animal / cartoon and boot / sneaker
    count as related)". Read from the text, so the code's RELATED_CLASSES is checked against the protocol."""
    readme = " ".join((REPO / "docs" / "methods.md").read_text().split())
    (groups,) = re.findall(r"\(([^()]*) count as related\)", readme)
    return [{noun.strip() for noun in group.split(" / ")} for group in groups.split(" and ")]


def test_wrong_class_is_deterministic_and_never_the_subjects_own_or_a_related_class():
    """A "wrong" class that is a near-synonym (a plushie drawn as a "toy") would not be wrong at all: the
    ablation would measure nothing. Every subject's draw is checked, against the README's related groups."""
    protocol = load_protocol()
    related_groups = _documented_related_classes()
    assert len(related_groups) == 2 and all(group <= set(protocol.class_nouns) for group in related_groups)
    # the code says what README does
    assert sorted(map(sorted, related_groups)) == sorted(map(sorted, RELATED_CLASSES))
    for subject in protocol.subjects.values():
        si = SubjectInput(subject.name, subject.class_noun, subject.live, ())
        noun = wrong_class_noun(si, protocol.class_nouns)
        related = set().union({subject.class_noun}, *(g for g in related_groups if subject.class_noun in g))
        assert noun in protocol.class_nouns and noun not in related, (subject.name, noun)
        assert wrong_class_noun(si, list(reversed(protocol.class_nouns))) == noun
    # README's method table shows the dog's wrong-class phrase: the documented draw is the drawn one.
    (documented,) = re.findall(
        r"^\| `dreambooth-wrong-class` \| `\w+ ([a-z ]+)` \|", (REPO / "README.md").read_text(), re.M
    )
    assert wrong_class_noun(SubjectInput("dog", "dog", True, ()), protocol.class_nouns) == documented


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


PLAIN_PATH = {
    "cache_latents": False,
    "cache_text_embeddings": False,
    "sdpa_attention": False,
    "channels_last": False,
    "fused_adam": False,
}


def _train_log_losses(folder) -> list[float]:
    return [json.loads(line)["loss"] for line in (folder / T.LOG_FILE).read_text().splitlines()]


@pytest.mark.parametrize(
    "switches",
    [PLAIN_PATH, {"cache_latents": False}, {"sdpa_attention": False}, {"channels_last": False}],
    ids=["plain-path", "no-latent-cache", "classic-attention", "nchw"],
)
def test_each_speed_up_leaves_the_training_unchanged(context, dreambench_dir, tmp_path, switches):
    from safetensors.torch import load_file

    subject = subject_input("can", dreambench_dir)
    weights = {}
    for name, options in {"fast": {}, "switched": switches}.items():
        method = make(DreamBooth, context, train_text_encoder=False, **options)
        method.personalize(subject, _mkdir(tmp_path / name), _mkdir(tmp_path / f"s-{name}"))
        weights[name] = load_file(tmp_path / name / "unet" / "diffusion_pytorch_model.safetensors")
    base = tiny_unet().state_dict()
    # it trained
    assert any(not torch.equal(weights["fast"][k], base[k]) for k in base)
    # The same objective step by step. (Weights are not compared: Adam moves near-zero gradients by about
    # +-lr whatever their size, so float rounding flips a few such steps and no tight bound exists.)
    losses = {name: _train_log_losses(tmp_path / name) for name in weights}
    assert losses["fast"] == pytest.approx(losses["switched"], rel=1e-5)


@pytest.mark.parametrize("train_text_encoder", [False, True], ids=["frozen-text-encoder", "trained-text-encoder"])
def test_compiled_training_matches_eager_and_saves_plain_weights(context, dreambench_dir, tmp_path, train_text_encoder):
    # aot_eager traces forward and backward as inductor does, without minutes of C++ compilation.
    subject = subject_input("can", dreambench_dir)
    for name, options in {"eager": {}, "compiled": {"compile": True, "compile_backend": "aot_eager"}}.items():
        method = make(DreamBooth, context, train_text_encoder=train_text_encoder, steps=3, **options)
        method.personalize(subject, _mkdir(tmp_path / name), _mkdir(tmp_path / f"s-{name}"))
    assert _train_log_losses(tmp_path / "compiled") == pytest.approx(_train_log_losses(tmp_path / "eager"), rel=1e-5)
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    # no "_orig_mod." keys
    reloaded = UNet2DConditionModel.from_pretrained(tmp_path / "compiled" / "unet")
    assert set(reloaded.state_dict()) == set(tiny_unet().state_dict())
    if train_text_encoder:
        text = CLIPTextModel.from_pretrained(tmp_path / "compiled" / "text_encoder").state_dict()
        assert set(text) == set(tiny_text_encoder().state_dict())


def test_compilation_is_paid_once_per_process_not_per_subject(context, dreambench_dir, tmp_path):
    """Each subject trains a fresh copy of the UNet; recompiling it per subject would cost minutes each."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    # an earlier test may have compiled the tiny UNet in this process already
    torch._dynamo.reset()
    method = make(DreamBooth, context, train_text_encoder=False, steps=2, compile=True, compile_backend="aot_eager")
    graphs = [counters["stats"]["unique_graphs"]]
    for name in ("can", "dog"):
        method.personalize(subject_input(name, dreambench_dir), _mkdir(tmp_path / name), _mkdir(tmp_path / f"s-{name}"))
        graphs.append(counters["stats"]["unique_graphs"])
    # the first subject compiled
    assert graphs[1] > graphs[0]
    # the second reused it
    assert graphs[2] == graphs[1]


def test_compiled_sampling_reuses_the_compiled_code_for_the_next_subjects_unet(context):
    """Each subject samples with its own trained UNet; compiling each anew would cost minutes per subject."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from methods.diffusion import build_pipeline, sample

    torch._dynamo.reset()
    generation = dataclasses.replace(context.generation, compile=True, compile_backend="aot_eager")
    graphs = [counters["stats"]["unique_graphs"]]
    for _ in range(2):
        # a trained UNet: same shapes, other weights
        unet = copy.deepcopy(context.base_components["unet"])
        pipe = build_pipeline(context.generation_parts(unet=unet), generation, context.device, context.dtype)
        sample(pipe, ["a dog"], [0], generation)
        graphs.append(counters["stats"]["unique_graphs"])
    # the first pipeline compiled
    assert graphs[1] > graphs[0]
    # the second reused it
    assert graphs[2] == graphs[1]


def test_a_compiled_module_keeps_one_static_graph_per_input_shape():
    """A smaller last batch must not turn the full batches that follow into a slower symbolic-shape graph."""
    import torch._dynamo

    from methods import speedups

    torch._dynamo.reset()
    # per compiled graph: [has a symbolic size, calls]
    graphs = []

    def recording_backend(graph, example_inputs):
        symbolic = any(
            isinstance(size, torch.SymInt) for x in example_inputs if isinstance(x, torch.Tensor) for size in x.shape
        ) or any(isinstance(x, torch.SymInt) for x in example_inputs)
        entry = [symbolic, 0]
        graphs.append(entry)

        def run(*args):
            entry[1] += 1
            return graph.forward(*args)

        return run

    module = speedups.compiled(torch.nn.Linear(4, 4), recording_backend, "default")
    for batch in (16, 4, 16, 16):
        module(torch.randn(batch, 4))
    assert graphs == [[False, 3], [False, 1]]


@pytest.mark.parametrize("method_name", ["dreambooth", "dreambooth-lora"])
def test_what_compile_wraps_traces_as_one_graph(context, method_name):
    """A graph break splits the compiled step and runs Python in between: compile would silently win less.

    Checked with the modules and calls the harness compiles: the training UNet (with LoRA's adapters) under
    autocast, a trained text encoder, and the sampling UNet as the pipeline calls it.
    """
    import torch._dynamo

    from methods import speedups
    from methods.diffusion import build_pipeline, sample

    def breaks(module, *args, **kwargs) -> list[str]:
        torch._dynamo.reset()
        explained = torch._dynamo.explain(module)(*args, **kwargs)
        return [str(reason.reason) for reason in explained.break_reasons]

    method = make(get_method_class(method_name), context)
    unet, text_encoder, _ = method.trainable_modules(context.base_components)
    speedups.set_attention(unet, True)
    speedups.set_layout(unet, True)
    ids = T.tokenize(method.tokenizer, ["a sks dog", "a dog"])
    if text_encoder.training:
        assert breaks(text_encoder, ids) == []
    with torch.no_grad():
        states = text_encoder(ids)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert breaks(unet, torch.randn(2, 4, 4, 4), torch.tensor([3, 700]), states) == []

    if method_name != "dreambooth":
        # the sampling pipeline below is the same for both
        return
    calls = []
    pipe = build_pipeline(context.generation_parts(), context.generation, context.device, context.dtype)
    hook = pipe.unet.register_forward_pre_hook(lambda m, args, kwargs: calls.append((args, kwargs)), with_kwargs=True)
    sample(pipe, ["a dog"], [0], dataclasses.replace(context.generation, steps=1))
    hook.remove()
    with torch.no_grad():
        assert breaks(pipe.unet, *calls[0][0], **calls[0][1]) == []


class _CompiledForward:
    """What the spied `speedups.compiled` returns: the module's own forward, recognisably wrapped."""

    def __init__(self, module):
        self.module = module
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.module(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.module, name)


@dataclasses.dataclass
class _Seen:
    # "step" (a denoising forward), "encode" (a VAE encoding) or "text" (a text-encoder pass)
    kind: str
    module: object = None
    # the module's attention processor classes at that moment
    attention: frozenset = frozenset()
    channels_last: bool = False
    states_need_grad: bool = False


@pytest.fixture
def training_spy(context, monkeypatch):
    """What a training runs, in order, seen at stable seams only (never inside DreamBooth's loop).

    `training.denoising_step` is handed the module that predicts and the text states; the VAE class's `encode`
    and any forward of the text encoder's class (the shared base or a trained copy) show when they run;
    `speedups.compiled` becomes a spy that compiles nothing.
    """
    from methods import speedups

    seen, compiled = [], []

    def settings(module):
        return frozenset(type(p) for p in module.attn_processors.values()), speedups.is_channels_last(module)

    real_step, real_encode = T.denoising_step, type(context.base_components["vae"]).encode
    signature = inspect.signature(real_step)

    def step(*args, **kwargs):
        arguments = signature.bind(*args, **kwargs).arguments
        unet = arguments["unet"]
        seen.append(_Seen("step", unet, *settings(unet), arguments["encoder_states"].requires_grad))
        return real_step(*args, **kwargs)

    def encode(vae, *args, **kwargs):
        seen.append(_Seen("encode", vae, *settings(vae)))
        return real_encode(vae, *args, **kwargs)

    def spy_compiled(module, backend, mode):
        wrapper = _CompiledForward(module)
        compiled.append((module, backend, mode, wrapper))
        return wrapper

    def text_pass(module, args, output):
        if isinstance(module, text_class):
            seen.append(_Seen("text", module))

    monkeypatch.setattr(T, "denoising_step", step)
    monkeypatch.setattr(type(context.base_components["vae"]), "encode", encode)
    monkeypatch.setattr(speedups, "compiled", spy_compiled)
    text_class = type(context.base_components["text_encoder"])
    hook = torch.nn.modules.module.register_module_forward_hook(text_pass)
    try:
        yield SimpleNamespace(seen=seen, compiled=compiled)
    finally:
        hook.remove()


def _ran_before_each_step(seen: list[_Seen], kind: str) -> list[bool]:
    """Per denoising step: whether `kind` ran since the step before it (for the first: at all before it)."""
    flags, ran = [], False
    for event in seen:
        if event.kind == "step":
            flags.append(ran)
            ran = False
        elif event.kind == kind:
            ran = True
    return flags


SPEED_UPS_ON = {
    "sdpa_attention": True,
    "channels_last": True,
    "cache_latents": True,
    "cache_text_embeddings": True,
    "compile": False,
    "train_text_encoder": False,
}


@pytest.mark.parametrize(
    "switches",
    [
        {"channels_last": False, "cache_text_embeddings": False, "compile": True, "compile_mode": "reduce-overhead"},
        {"sdpa_attention": False, "cache_latents": False},
        {"train_text_encoder": True, "compile": True},
    ],
    ids=["nchw-uncached-text-compiled", "classic-attention-uncached-latents", "trained-text-encoder-compiled"],
)
def test_each_speed_up_switch_takes_effect(context, dreambench_dir, tmp_path, training_spy, switches):
    """Equal losses alone would pass with a switch never read: each must change what the training runs.

    The first two runs turn every switch the other way than the other run does, each away from its default
    once; the third asks for the text cache with a trained encoder, which must still run every step (cached
    states would cut its gradients off), and compiles: a trained encoder is compiled with the UNet.
    """
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    options = {**SPEED_UPS_ON, **switches}
    make(DreamBooth, context, steps=2, prior_preservation=False, **options).personalize(
        subject_input("can", dreambench_dir), _mkdir(tmp_path / "o"), _mkdir(tmp_path / "s")
    )
    seen = training_spy.seen
    steps, encodes = [e for e in seen if e.kind == "step"], [e for e in seen if e.kind == "encode"]
    assert len(steps) == 2 and encodes
    # The attention kernel and layout of the UNet at every step and of the VAE at every encoding.
    kernel = frozenset({AttnProcessor2_0 if options["sdpa_attention"] else AttnProcessor})
    assert {(e.kind, e.attention, e.channels_last) for e in steps + encodes} == {
        ("step", kernel, options["channels_last"]),
        ("encode", kernel, options["channels_last"]),
    }
    # Cached latents: the images are encoded before the first step only; otherwise again for every step.
    assert _ran_before_each_step(seen, "encode") == [True, not options["cache_latents"]]
    # Cached text states: the frozen encoder runs before the first step only. A trained one runs every step.
    text_every_step = options["train_text_encoder"] or not options["cache_text_embeddings"]
    assert _ran_before_each_step(seen, "text") == [True, text_every_step]
    assert [e.states_need_grad for e in steps] == [options["train_text_encoder"]] * 2
    # Compilation: the training UNet (and a trained text encoder, which runs every step) is wrapped once per
    # training, and the wrapper is what computes.
    mode = options.get("compile_mode", "default")
    wrapped = [UNet2DConditionModel] + [type(context.base_components["text_encoder"])] * options["train_text_encoder"]
    assert [(type(module), backend, used) for module, backend, used, _ in training_spy.compiled] == (
        [(kind, "inductor", mode) for kind in wrapped] if options["compile"] else []
    )
    forward = _CompiledForward if options["compile"] else UNet2DConditionModel
    assert [type(e.module) for e in steps] == [forward, forward]
    if options["compile"]:
        unet = training_spy.compiled[0][0]
        assert all(e.module.module is unet for e in steps)
    if options["compile"] and options["train_text_encoder"]:
        # the compiled encoder computes every step's states
        assert training_spy.compiled[1][3].calls == 2


def test_a_trained_text_encoder_encodes_instance_and_class_prompts_in_one_call(context, dreambench_dir, tmp_path):
    """Two calls per step would dispatch a second forward and backward of the encoder: host time on a GPU."""
    text_class = type(context.base_components["text_encoder"])
    calls = []

    def record(module, args, output):
        # the trained copy, not class-image sampling
        if isinstance(module, text_class) and module.training:
            calls.append(args[0].clone())

    method = make(DreamBooth, context, steps=2, train_text_encoder=True, prior_preservation=True)
    subject = subject_input("can", dreambench_dir)
    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        method.personalize(subject, _mkdir(tmp_path / "o"), _mkdir(tmp_path / "s"))
    finally:
        hook.remove()
    expected = T.tokenize(method.tokenizer, [*method.instance_prompts(subject, 1, None), "a can"])
    assert len(calls) == 2 and all(torch.equal(ids, expected) for ids in calls)


@pytest.mark.parametrize("train_text_encoder", [False, True], ids=["frozen-cached-text", "trained-text-encoder"])
def test_each_half_of_the_batch_trains_under_its_own_prompt(
    context, dreambench_dir, tmp_path, monkeypatch, train_text_encoder
):
    """Instance latents must meet the instance prompt's text states and class latents the class prompt's.

    Swapped halves (class images under "a yal can", or the class half given the identifier's states) still
    train and the loss still falls: only the pairing row by row shows it. Seen at the denoising step, with a
    batch of 2 so each half has more than one row; the expected states are encoded here from the prompts.
    """
    loaded, drawn, steps = [], [], []
    real_load, real_sample, real_step = T.load_pixels, T.LatentSource.sample, T.denoising_step
    subject = subject_input("can", dreambench_dir)

    def load_pixels(paths, resolution):
        pixels = real_load(paths, resolution)
        loaded.append((pixels, "instance" if list(paths) == list(subject.images) else "class"))
        return pixels

    def sample(source, *args, **kwargs):
        latents = real_sample(source, *args, **kwargs)
        drawn.append((next(role for pixels, role in loaded if pixels is source.pixels), latents.detach().clone()))
        return latents

    def step(unet, scheduler, latents, encoder_states, *args, **kwargs):
        steps.append((latents.detach().clone(), encoder_states.detach().clone()))
        return real_step(unet, scheduler, latents, encoder_states, *args, **kwargs)

    monkeypatch.setattr(T, "load_pixels", load_pixels)
    monkeypatch.setattr(T.LatentSource, "sample", sample)
    monkeypatch.setattr(T, "denoising_step", step)
    method = make(DreamBooth, context, steps=1, train_batch_size=2, train_text_encoder=train_text_encoder)
    method.personalize(subject, _mkdir(tmp_path / "o"), _mkdir(tmp_path / "s"))

    assert [role for role, _ in drawn] == ["instance", "class"] and len(steps) == 1
    (latents, states), instance_latents, class_latents = steps[0], drawn[0][1], drawn[1][1]
    assert torch.equal(latents[:2], instance_latents) and torch.equal(latents[2:], class_latents)
    # What each prompt encodes to with the base encoder (a trained copy has not moved before its first step).
    encoder, tokenizer = context.base_components["text_encoder"], context.base_components["tokenizer"]
    identifier = method.identifier().text
    with torch.no_grad():
        instance_states, class_states = (
            encoder(T.tokenize(tokenizer, [p]))[0] for p in (f"a {identifier} can", "a can")
        )
    # a swap is visible at all
    assert not torch.allclose(instance_states, class_states, atol=1e-3)
    torch.testing.assert_close(states[:2], instance_states.expand(2, -1, -1), rtol=0, atol=1e-5)
    torch.testing.assert_close(states[2:], class_states.expand(2, -1, -1), rtol=0, atol=1e-5)


@pytest.mark.parametrize("max_grad_norm", [None, 1e-3], ids=["unclipped", "clipped"])
def test_the_applied_gradient_is_the_mean_over_micro_batches_clipped_to_max_grad_norm(
    context, dreambench_dir, tmp_path, monkeypatch, max_grad_norm
):
    """Two accumulated micro-batches must update as one batch of both: the mean of their gradients, not the sum
    (which would double the learning rate with every accumulation step); clipping must bound that mean's norm.

    Each micro-batch's own gradient is taken here with autograd from its loss, and what the optimizer is
    handed is read in its step pre-hook (after clipping), so neither side comes from the code under test.
    """
    params, own, applied = [], [], []
    real_loss, real_make = T.dreambooth_loss, T.make_optimizer

    def make_optimizer(trained, lr, options, device):
        params.extend(trained)
        optimizer = real_make(params, lr, options, device)
        optimizer.register_step_pre_hook(lambda *_: applied.append([_grad(p, p.grad) for p in params]))
        return optimizer

    def loss(*args, **kwargs):
        parts = real_loss(*args, **kwargs)
        grads = torch.autograd.grad(parts.total, params, retain_graph=True, allow_unused=True)
        own.append([_grad(p, g) for p, g in zip(params, grads, strict=True)])
        return parts

    monkeypatch.setattr(T, "make_optimizer", make_optimizer)
    monkeypatch.setattr(T, "dreambooth_loss", loss)
    make(
        DreamBooth,
        context,
        steps=1,
        gradient_accumulation_steps=2,
        max_grad_norm=max_grad_norm,
        train_text_encoder=False,
        prior_preservation=False,
    ).personalize(subject_input("can", dreambench_dir), _mkdir(tmp_path / "o"), _mkdir(tmp_path / "s"))
    assert len(own) == 2 and len(applied) == 1
    mean = [(first + second) / 2 for first, second in zip(*own, strict=True)]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in mean]))
    scale = 1.0
    if max_grad_norm is not None:
        # the bound does bind
        assert norm > 10 * max_grad_norm
        scale = max_grad_norm / norm
    for got, expected in zip(applied[0], mean, strict=True):
        torch.testing.assert_close(got, expected * scale, rtol=1e-4, atol=1e-9)


def _grad(param: torch.Tensor, grad: torch.Tensor | None) -> torch.Tensor:
    return torch.zeros_like(param) if grad is None else grad.detach().clone()


def test_the_textual_inversion_placeholder_starts_as_the_class_nouns_embedding(
    context, dreambench_dir, tmp_path, monkeypatch
):
    """The protocol (DESIGN.md, README's method table): the new token is initialised from the class noun's
    embedding, the mean of its tokens' rows for a two-token noun. A zero or random start trains another method.

    Read at the optimizer's creation, before any step moves it. One method trains both subjects, as a run does:
    the second gets one new row of its own, not a second one added to the first subject's vocabulary.
    """
    initial = []
    real_make = T.make_optimizer

    def make_optimizer(params, *args):
        initial.append(params[0].detach().clone())
        return real_make(params, *args)

    monkeypatch.setattr(T, "make_optimizer", make_optimizer)
    method = make(TextualInversion, context, steps=1)
    tokenizer = context.base_components["tokenizer"]
    base_rows = tiny_text_encoder().get_input_embeddings().weight.detach()
    # "dog": one token; "stuffed animal": two
    for name in ("dog", "grey_sloth_plushie"):
        subject = subject_input(name, dreambench_dir)
        info = method.personalize(subject, _mkdir(tmp_path / name / "o"), _mkdir(tmp_path / name / "s"))
        noun_ids = tokenizer(subject.class_noun, add_special_tokens=False).input_ids
        assert len(noun_ids) == len(subject.class_noun.split())
        embeddings = initial.pop()
        assert embeddings.shape[0] == info["identifier_token_id"] + 1 == len(base_rows) + 1
        torch.testing.assert_close(embeddings[-1], base_rows[noun_ids].mean(0), rtol=0, atol=1e-7)


def test_class_images_are_drawn_with_the_class_sampler_not_the_runs_scheduler(context, monkeypatch):
    """The cache key names `class_sampler`; images drawn with the run's scheduler would be filed under a key that
    lies about them (and the protocol's ancestral sampler, Euler ancestral, would never be used)."""
    from benchmark.config import SCHEDULERS
    from methods import diffusion

    used = []
    real_sample = diffusion.sample

    def sample(pipe, prompts, seeds, generation):
        used.append(type(pipe.scheduler))
        return real_sample(pipe, prompts, seeds, generation)

    monkeypatch.setattr(diffusion, "sample", sample)
    config = context.base_components["scheduler_config"]
    run_scheduler = type(diffusion.make_scheduler(context.generation.scheduler, config))
    samplers = [name for name in ("euler_ancestral", "dpm") if name != context.generation.scheduler]
    assert set(samplers) <= set(SCHEDULERS) and len(samplers) == 2
    for sampler in samplers:
        class_images.ensure_class_images(context, "a can", 1, sampler=sampler, seed=0)
    # README: "an ancestral sampler (Euler ancestral)"
    assert used[0].__name__ == "EulerAncestralDiscreteScheduler"
    assert used == [type(diffusion.make_scheduler(name, config)) for name in samplers]
    assert run_scheduler not in used


def test_prompts_encoded_together_get_the_states_each_gets_alone(context):
    """Batching prompts is only free because every prompt is padded to the same fixed length."""
    encoder = context.base_components["text_encoder"]
    tokenizer = context.base_components["tokenizer"]
    prompts = ["a sks can", "a photo of a can on top of a purple rug in a forest"]
    with torch.no_grad():
        together = encoder(T.tokenize(tokenizer, prompts))[0]
        alone = [encoder(T.tokenize(tokenizer, [p]))[0] for p in prompts]
    assert together.shape[1] == tokenizer.model_max_length
    for index, states in enumerate(alone):
        torch.testing.assert_close(together[index : index + 1], states, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"compile_mode": "fastest"}, "compile_mode must be one of default"),
        ({"compile": True, "compile_backend": "turbo"}, "compile_backend 'turbo' is not a torch.compile backend"),
        ({"mixed_precision": "fp8"}, "mixed_precision must be one of auto, no, bf16, fp16, not 'fp8'"),
        ({"class_sampler": "foo"}, "class_sampler must be one of ddim, pndm, euler_ancestral, dpm, not 'foo'"),
        ({"instance_prompt": "photo"}, r"instance_prompt must hold \{\} where the subject phrase goes"),
        ({"class_prompt": "a class"}, r"class_prompt must hold \{\}"),
        ({"min_snr_gamma": -1.0}, "min_snr_gamma must be > 0, not -1.0"),
        ({"min_snr_gamma": "five"}, "min_snr_gamma must be a number, not 'five'"),
        ({"prior_loss_weight": -1.0}, "prior_loss_weight must be >= 0"),
        ({"checkpoint_every": -1}, "checkpoint_every must be >= 0"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"resolution": 30}, "resolution must be a multiple of 8"),
    ],
)
def test_bad_options_fail_before_any_work(options, message):
    from benchmark.errors import BenchError

    with pytest.raises(BenchError, match=message):
        resolve_options(DreamBooth, options, "tiny")


def test_training_does_not_depend_on_what_the_process_ran_before(context, dreambench_dir, tmp_path):
    """A pipeline switches the shared base modules to its layout; training must neither care nor leak.

    No prior preservation: its class images would build a pipeline before the first training too.
    """
    from diffusers.models.attention_processor import AttnProcessor2_0

    from methods import speedups
    from methods.diffusion import build_pipeline

    subject = subject_input("can", dreambench_dir)
    make(DreamBooth, context, train_text_encoder=False, prior_preservation=False).personalize(
        subject, _mkdir(tmp_path / "fresh"), _mkdir(tmp_path / "s-fresh")
    )
    generation = dataclasses.replace(context.generation, channels_last=True, sdpa_attention=True)
    build_pipeline(context.generation_parts(), generation, context.device, context.dtype)
    shared_unet = context.base_components["unet"]
    # fp32 pipelines use the masters themselves
    assert speedups.is_channels_last(shared_unet)
    make(DreamBooth, context, train_text_encoder=False, prior_preservation=False).personalize(
        subject, _mkdir(tmp_path / "after"), _mkdir(tmp_path / "s-after")
    )
    assert _train_log_losses(tmp_path / "after") == _train_log_losses(tmp_path / "fresh")
    # Textual Inversion trains against the shared UNet itself, with its own settings, then puts them back.
    make(TextualInversion, context, steps=1, sdpa_attention=False, channels_last=False).personalize(
        subject, _mkdir(tmp_path / "ti"), _mkdir(tmp_path / "s-ti")
    )
    assert speedups.is_channels_last(shared_unet)
    assert all(isinstance(p, AttnProcessor2_0) for p in shared_unet.attn_processors.values())


def test_lora_artifact_reloads_at_the_trained_scale(context, dreambench_dir, tmp_path):
    lora_cls = get_method_class("dreambooth-lora")
    method = make(lora_cls, context, lora_rank=4, lora_alpha=8, steps=2)
    captured = {}
    original_save = method.save_artifact

    def capture(workdir, unet, text_encoder):
        captured["unet"] = copy.deepcopy(unet).eval()
        return original_save(workdir, unet, text_encoder)

    method.save_artifact = capture
    method.personalize(subject_input("can", dreambench_dir), _mkdir(tmp_path / "o"), _mkdir(tmp_path / "s"))
    reloaded = method.pipeline_for(tmp_path / "o").unet
    x, t, states = torch.randn(1, 4, 16, 16), torch.tensor([500]), torch.randn(1, 77, 32)
    with torch.no_grad():
        trained_out = captured["unet"](x, t, states).sample
        reloaded_out = reloaded(x, t, states).sample
        base_out = tiny_unet()(x, t, states).sample
    # the adapters matter
    assert not torch.allclose(trained_out, base_out)
    assert torch.allclose(trained_out, reloaded_out, atol=1e-5)


def half_precision(context):
    return dataclasses.replace(context, generation=dataclasses.replace(context.generation, dtype="bfloat16"))


def test_generation_in_half_precision_never_touches_the_training_masters(context):
    half = half_precision(context)
    pipeline_parts = half.generation_parts()
    assert pipeline_parts["unet"].dtype == torch.bfloat16
    # what trainers copy stays fp32
    assert half.base_components["unet"].dtype == torch.float32
    assert half.base_components["text_encoder"].dtype == torch.float32
    # converted once, then reused
    assert half.generation_parts()["unet"] is pipeline_parts["unet"]


def test_training_holds_no_sampling_copies_and_a_trained_unet_costs_no_base_copy(context, dreambench_dir, tmp_path):
    """At SD-1.5 size each converted copy is GPU memory: ~2 GiB held through training, 1.7 GiB for a UNet unused."""
    half = half_precision(context)
    # prior on: class images are sampled in-process
    method = make(DreamBooth, half, train_text_encoder=False)
    # as a previous subject's sampling would leave them
    half.generation_parts()
    assert set(half._generation_copies) == {"unet", "vae", "text_encoder"}
    method.personalize(subject_input("can", dreambench_dir), _mkdir(tmp_path / "out"), _mkdir(tmp_path / "s"))
    # released before the first step, not remade
    assert not half.__dict__.get("_generation_copies")
    pipe = method.pipeline_for(tmp_path / "out")
    # the base UNet was never converted
    assert set(half._generation_copies) == {"vae", "text_encoder"}
    assert pipe.unet.dtype == torch.bfloat16 and pipe.unet is not half.base_components["unet"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux's per-process peak (VmHWM)")
def test_cpu_peak_memory_is_the_process_own_since_its_reset():
    """A benchmark child or worker spawned by a big parent must not report the parent's peak."""
    import subprocess
    import sys

    # touched: zero-filled pages count as resident
    ballast = bytearray(700 * 2**20)
    parent_peak = T.peak_memory_mb(torch.device("cpu"))
    probe = "import torch; from methods.training import peak_memory_mb; print(peak_memory_mb(torch.device('cpu')))"
    child_peak = float(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()[-1]
    )
    del ballast
    assert parent_peak > 700
    assert child_peak < parent_peak - 500
    # Each subject reports its own peak, as on CUDA: a reset forgets the freed ballast.
    T.reset_peak_memory(torch.device("cpu"))
    assert T.peak_memory_mb(torch.device("cpu")) < parent_peak - 500
