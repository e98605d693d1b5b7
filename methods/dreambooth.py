"""DreamBooth (Ruiz et al., CVPR 2023) and its ablations, on any diffusers Stable Diffusion model.

Fine-tunes the UNet (and, as in the paper, the text encoder; `train_text_encoder`)
so that "a {identifier} {class}" denotes the subject, while the class-specific
prior-preservation loss keeps "a {class}" producing the class as the frozen model
did. Defaults are the diffusers recipe for SD (lr 5e-6, constant, 1 instance + 1
prior image per step, prior weight 1.0, 800 steps, AdamW (0.9, 0.999, 1e-2, 1e-8),
gradient clipping 1.0, 200 class images).

The ablations of the paper are presets of the same class (see the bottom of this
file): they differ in options only, so they cannot drift from the method.
Subclasses (LoRA, Textual Inversion) change what is trained and how it is saved
through the small hooks `trainable_modules`, `save_artifact` and `pipeline_for`.
"""

from __future__ import annotations

import copy
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark import progress
from benchmark.errors import BenchError
from benchmark.seeds import image_seed, seeded_torch_rng
from methods import speedups
from methods import training as T
from methods.class_images import ensure_class_images
from methods.diffusion import build_pipeline, sample
from methods.identifiers import resolve_identifier
from methods.interface import Method, SubjectInput
from methods.options import option
from methods.registry import register_method, register_preset
from methods.training_step import TrainingStep

CLASS_NOUN_MODES = ("correct", "none", "wrong")


def fp32_copy(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A trainable copy in fp32 on the device; the shared base module (maybe fp16) is left as it is."""
    module = copy.deepcopy(module).to(device)
    module = module if module.dtype == torch.float32 else module.float()
    # the base may be NHWC from a pipeline; each run sets its own
    speedups.set_layout(module, channels_last=False)
    return module


# Classes that overlap: a plushie *is* a toy, a boot is close to a sneaker. A "wrong" class must be
# clearly wrong, so it is never drawn from the subject's own group.
RELATED_CLASSES = ({"toy", "stuffed animal", "cartoon"}, {"boot", "sneaker"})


def wrong_class_noun(subject: SubjectInput, class_nouns: list[str]) -> str:
    """A deterministic wrong class for a subject (the paper's "can" for a backpack): seeded by its name."""
    related = set().union(*(group for group in RELATED_CLASSES if subject.class_noun in group), {subject.class_noun})
    others = sorted(noun for noun in class_nouns if noun not in related)
    return random.Random(f"dreambench-v1/wrong-class/{subject.name}").choice(others)


@register_method
class DreamBooth(Method):
    name = "dreambooth"
    description = "DreamBooth: full fine-tune with a rare-token identifier and class-prior preservation (paper)"
    # 2: instance and class prompts encoded in one text-encoder call (training_step.py); a trained encoder's
    # gradients, hence the weights, change at rounding level.
    # 3: the rare identifier is also rare in English text (identifiers.MAX_ZIPF): seed 0 draws "yal", not "lv".
    # 4: the fused AdamW update on CPU too (methods.training.make_optimizer): weights change at rounding level.
    version = "4"

    @dataclass
    class Options:
        identifier: str = option("rare", "rare (the paper's rare-token procedure), sks, or any one-token word")
        identifier_seed: int = option(0, "which rare token the procedure draws")
        class_noun: str = option("correct", "correct | none | wrong: the class noun after the identifier")
        prior_preservation: bool = option(True, "train on class images of 'a {class}' too, so the class prior survives")
        prior_loss_weight: float = option(1.0, "weight of the prior-preservation loss (the paper: 1)")
        num_class_images: int = option(
            200, "class images per class (sampled once, cached, shared by every method)", profiles={"tiny": 3}
        )
        class_prompt: str = option("a {}", "prompt of the class images ({} = the class noun)")
        instance_prompt: str = option("a {}", "training prompt of the subject's photos ({} = the subject phrase)")
        class_sampler: str = option("euler_ancestral", "scheduler that samples the class images")
        steps: int = option(800, "optimizer steps", profiles={"tiny": 6})
        learning_rate: float = option(5e-6, "AdamW learning rate", profiles={"tiny": 1e-4})
        scale_lr: bool = option(False, "multiply the learning rate by batch size x accumulation steps")
        train_batch_size: int = option(1, "instance images per step (and as many class images)")
        gradient_accumulation_steps: int = option(1, "micro-batches per optimizer step")
        # The paper fine-tunes all layers; false is the diffusers default.
        train_text_encoder: bool = option(True, "fine-tune the text encoder too (the paper: all layers)")
        max_grad_norm: float | None = option(1.0, "gradient clipping norm (null: no clipping)")
        adam_beta1: float = option(0.9, "AdamW beta1")
        adam_beta2: float = option(0.999, "AdamW beta2")
        adam_weight_decay: float = option(1e-2, "AdamW weight decay")
        adam_epsilon: float = option(1e-8, "AdamW epsilon")
        use_8bit_adam: bool = option(False, "bitsandbytes' 8-bit AdamW (CUDA; pip install 'dreambench-harness[bnb]')")
        # auto: bf16 where supported, else fp16; CUDA only.
        mixed_precision: str = option("auto", "auto | bf16 | fp16 | no: autocast on CUDA")
        gradient_checkpointing: bool = option(False, "recompute activations in backward: less memory, slower steps")
        min_snr_gamma: float | None = option(None, "min-SNR loss weighting of the instance half (e.g. 5.0; null: off)")
        # Resuming from a checkpoint gives the same weights (tested), so it changes no output.
        checkpoint_every: int = option(
            200,
            "steps between resumable checkpoints (0: never); changes no output",
            profiles={"tiny": 3},
            run_only=True,
        )
        resolution: int | None = option(None, "training resolution (null: the run's generation resolution)")
        # Speed-ups that leave the result unchanged (each can be switched off to check exactly that).
        cache_latents: bool = option(True, "speed-up: encode each image with the frozen VAE once")
        cache_text_embeddings: bool = option(
            True, "speed-up: encode fixed prompts once while the text encoder is frozen"
        )
        sdpa_attention: bool = option(True, "speed-up: PyTorch's fused attention (false: classic softmax(QK^T)V)")
        channels_last: bool = option(True, "speed-up: NHWC convolution layout")
        fused_adam: bool = option(True, "speed-up: one-kernel AdamW update (CUDA and CPU)")
        compile: bool = option(False, "speed-up: torch.compile the UNet (minutes of compiling first)")
        compile_backend: str = option("inductor", "torch.compile backend")
        compile_mode: str = option(
            "default", "default | reduce-overhead (CUDA graphs) | max-autotune | max-autotune-no-cudagraphs"
        )
        seed: int = option(0, "training seed (with the run's --seed): another value retrains")

    @classmethod
    def check_options(cls, options: dict) -> None:
        def fail(message: str):
            raise BenchError(f"options.{cls.name}: {message}")

        if options["class_noun"] not in CLASS_NOUN_MODES:
            fail(f"class_noun must be one of {', '.join(CLASS_NOUN_MODES)}, not {options['class_noun']!r}")
        if options["prior_preservation"] and options["class_noun"] == "none":
            fail("prior preservation needs a class noun; set prior_preservation=false with class_noun=none")
        for key in ("steps", "train_batch_size", "gradient_accumulation_steps"):
            if options[key] < 1:
                fail(f"{key} must be at least 1")
        if options["prior_preservation"] and options["num_class_images"] < 1:
            fail("num_class_images must be at least 1 with prior preservation")
        # Checked here, not minutes in: a sweep's every cell would fail on them one after another.
        from benchmark.config import SCHEDULERS

        if options["class_sampler"] not in SCHEDULERS:
            fail(f"class_sampler must be one of {', '.join(SCHEDULERS)}, not {options['class_sampler']!r}")
        for key in ("instance_prompt", "class_prompt"):
            # without it the identifier never enters the prompt and nothing is learned
            if "{}" not in options[key]:
                fail(f"{key} must hold {{}} where the subject phrase goes ('a photo of {{}}'), not {options[key]!r}")
            try:
                options[key].format("x")
            except (IndexError, KeyError, ValueError):
                # '{} {}' or '{name}': every cell would fail on it
                fail(f"{key} must hold exactly one {{}} and no other braces, not {options[key]!r}")
        if options["max_grad_norm"] is not None and not options["max_grad_norm"] > 0:
            fail(f"max_grad_norm must be above 0 (null: no clipping), not {options['max_grad_norm']!r}")
        for key, low, strict in (
            ("learning_rate", 0, True),
            ("prior_loss_weight", 0, False),
            ("checkpoint_every", 0, False),
            ("min_snr_gamma", 0, True),
        ):
            value = options[key]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                fail(f"{key} must be a number, not {value!r}")
            if value is not None and (value <= low if strict else value < low):
                fail(f"{key} must be {'>' if strict else '>='} {low}, not {value!r}")
        resolution = options["resolution"]
        if resolution is not None and (not isinstance(resolution, int) or resolution < 8 or resolution % 8):
            fail(f"resolution must be a multiple of 8 (the VAE downsamples by 8), not {options['resolution']!r}")
        from benchmark.config import MAX_RESOLUTION

        if resolution is not None and resolution > MAX_RESOLUTION:
            fail(f"resolution must be at most {MAX_RESOLUTION} (no GPU holds larger latents), not {resolution}")
        if options["mixed_precision"] not in T.MIXED_PRECISIONS:
            fail(f"mixed_precision must be one of {', '.join(T.MIXED_PRECISIONS)}, not {options['mixed_precision']!r}")
        speedups.check_compile_settings(
            options["compile_backend"], options["compile_mode"], f"options.{cls.name}.", compiling=options["compile"]
        )
        if options["identifier"] not in ("rare", "placeholder"):
            from benchmark.models.tokenizer import clip_tokenizer

            # SD-1.x's tokenizer: a literal identifier that is several tokens is refused before any training.
            resolve_identifier(options["identifier"], clip_tokenizer(), options["identifier_seed"])

    def __init__(self, context, options):
        super().__init__(context, options)
        self._identifier = None
        self._pipe_key = None
        self._pipe = None

    # ------------------------------------------------------------ what is said
    @property
    def tokenizer(self):
        return self.context.base_components["tokenizer"]

    def identifier(self):
        if self._identifier is None:
            self._identifier = resolve_identifier(
                self.options["identifier"], self.tokenizer, self.options["identifier_seed"]
            )
        return self._identifier

    def class_noun_for(self, subject: SubjectInput) -> str | None:
        mode = self.options["class_noun"]
        if mode == "none":
            return None
        if mode == "wrong":
            from dataset.protocol import load_protocol

            return wrong_class_noun(subject, load_protocol().class_nouns)
        return subject.class_noun

    def subject_phrase(self, subject: SubjectInput) -> str:
        noun = self.class_noun_for(subject)
        return f"{self.identifier().text} {noun}" if noun else self.identifier().text

    # True when instance prompts change from step to step (Textual Inversion's templates).
    prompts_vary = False

    def instance_prompts(self, subject: SubjectInput, count: int, generator: torch.Generator) -> list[str]:
        return [self.options["instance_prompt"].format(self.subject_phrase(subject))] * count

    # -------------------------------------------------------------------- hooks
    def trainable_modules(self, base: dict) -> tuple[torch.nn.Module, torch.nn.Module, list]:
        """Fresh fp32 copies of what trains (the shared base stays untouched); returns unet, text encoder, params."""
        device = self.context.device
        unet = fp32_copy(base["unet"], device).train().requires_grad_(True)
        params = list(unet.parameters())
        if self.options["train_text_encoder"]:
            text_encoder = fp32_copy(base["text_encoder"], device).train().requires_grad_(True)
            params += list(text_encoder.parameters())
        else:
            text_encoder = base["text_encoder"].to(device).eval().requires_grad_(False)
        return unet, text_encoder, params

    def after_optimizer_step(self, text_encoder) -> None:
        """Called after each optimizer step (Textual Inversion restores the frozen rows here)."""

    def save_artifact(self, workdir: Path, unet, text_encoder) -> dict:
        """Only what changed, in folders diffusers loads (`UNet2DConditionModel.from_pretrained`)."""
        unet.save_pretrained(workdir / "unet", safe_serialization=True)
        saved = {"unet": "unet/"}
        if self.options["train_text_encoder"]:
            text_encoder.save_pretrained(workdir / "text_encoder", safe_serialization=True)
            saved["text_encoder"] = "text_encoder/"
        return saved

    def pipeline_for(self, artifact_dir: Path):
        from diffusers import UNet2DConditionModel

        trained = {"unet": UNet2DConditionModel.from_pretrained(artifact_dir / "unet")}
        if (artifact_dir / "text_encoder").exists():
            text_encoder_class = type(self.context.base_components["text_encoder"])
            trained["text_encoder"] = text_encoder_class.from_pretrained(artifact_dir / "text_encoder")
        components = self.context.generation_parts(**trained)
        return build_pipeline(components, self.context.generation, self.context.device, self.context.dtype)

    def release(self) -> None:
        self._pipe = self._pipe_key = None
        if self.context.device.type == "cuda":
            torch.cuda.empty_cache()

    # ----------------------------------------------------------------- training
    def training_seed(self, subject: SubjectInput, purpose: str) -> int:
        """From the run's seed and the method's: a multi-seed study retrains, one seed reproduces."""
        return image_seed(self.context.config.seed, subject.name, f"{purpose}/{self.options['seed']}", 0)

    def personalize(self, subject: SubjectInput, workdir: Path, scratch: Path) -> dict:
        """Train under a private global RNG seeded for this subject.

        Libraries draw from torch's global generator (peft's LoRA init, dropout):
        seeding it per subject makes training independent of whatever the process
        did before, which is what makes a cell's result the same on any executor.
        """
        device = self.context.device
        # the previous subject's pipeline has no business in memory while this one trains
        self.release()
        with seeded_torch_rng(self.training_seed(subject, "global-rng"), device):
            return self._train(subject, workdir, scratch)

    def _train(self, subject: SubjectInput, workdir: Path, scratch: Path) -> dict:
        """The training of `personalize`, in its steps: class images, the modules that train, the training
        step, the loop (resumed from a checkpoint in `scratch`), then the artifact and what it records."""
        opts, ctx = self.options, self.context
        noun = self.class_noun_for(subject)
        prior = bool(opts["prior_preservation"])
        if prior and noun is None:
            raise BenchError("prior preservation needs a class noun; set prior_preservation=false with class_noun=none")
        # 1. class images. Loading the base model and sampling them (cached per class, shared by every method
        # that asks) are not this training's cost: the first method of a run to need them would carry them.
        base = ctx.base_components
        class_prompt = opts["class_prompt"].format(noun) if prior else None
        class_started = time.monotonic()
        class_paths = self._class_images(class_prompt) if prior else []
        class_seconds = time.monotonic() - class_started

        # class-image sampling may have made them; training needs the memory
        ctx.release_generation_copies()
        started = time.monotonic()
        T.reset_peak_memory(ctx.device)
        # 2. the modules that train, 3. the step that trains them
        modules = self._training_modules(base)
        batch, accumulation = opts["train_batch_size"], opts["gradient_accumulation_steps"]
        lr = opts["learning_rate"] * (batch * accumulation if opts["scale_lr"] else 1)
        generator = torch.Generator("cpu").manual_seed(self.training_seed(subject, "train"))
        vae, unet = modules["vae"], modules["unet"]
        # Layout and attention kernel for this run only: the VAE (and Textual Inversion's UNet) are the shared
        # base modules, which a pipeline may have left in its own settings; they round differently.
        with speedups.applied(vae, unet, sdpa=opts["sdpa_attention"], channels_last=opts["channels_last"]):
            step = self._training_step(subject, base, modules, lr, generator, class_paths, class_prompt)
            trained = {"unet": unet, "text_encoder": modules["text_encoder"]}
            # 4. the loop, from the last checkpoint
            start = self._resume(scratch, trained, step)
            log = self._train_loop(step, trained, scratch, subject, start, lr, started)

        # 5. the artifact, and what it records
        saved = self.save_artifact(workdir, unet, modules["text_encoder"])
        if (scratch / T.LOG_FILE).exists():
            shutil.copy(scratch / T.LOG_FILE, workdir / T.LOG_FILE)
        identifier = self.identifier()
        return {
            "identifier": identifier.text,
            "identifier_token_id": identifier.token_id,
            "identifier_kind": identifier.kind,
            "identifier_procedure": identifier.procedure,
            "class_noun_used": noun,
            "prior_preservation": prior,
            "class_prompt": class_prompt,
            "class_images": len(class_paths),
            "steps": opts["steps"],
            "resumed_from_step": start,
            "final_loss": log.last_loss,
            "train_seconds": round(time.monotonic() - started, 3),
            # found in the cache or sampled, apart from training
            "class_image_seconds": round(class_seconds, 3),
            "peak_memory_mb": T.peak_memory_mb(ctx.device),
            "device": str(ctx.device),
            "files": saved,
        }

    def _class_images(self, class_prompt: str) -> list[Path]:
        opts = self.options
        return ensure_class_images(
            self.context, class_prompt, opts["num_class_images"], sampler=opts["class_sampler"], seed=opts["seed"]
        )

    def _training_modules(self, base: dict) -> dict:
        """The VAE, the modules that train (`trainable_modules`) and what computes their forward passes (compiled
        with `compile`; `unet` itself is what trains and is saved)."""
        opts = self.options
        vae = base["vae"].to(self.context.device)
        unet, text_encoder, params = self.trainable_modules(base)
        if opts["gradient_checkpointing"]:
            unet.enable_gradient_checkpointing()
            if text_encoder.training:
                text_encoder.gradient_checkpointing_enable()
        forward, text_forward = unet, text_encoder
        if opts["compile"]:
            forward = speedups.compiled(unet, opts["compile_backend"], opts["compile_mode"])
            # it runs every step, forward and backward (a frozen one is cached)
            if text_encoder.training:
                text_forward = speedups.compiled(text_encoder, opts["compile_backend"], opts["compile_mode"])
        return {
            "vae": vae,
            "unet": unet,
            "text_encoder": text_encoder,
            "params": params,
            "forward": forward,
            "text_forward": text_forward,
        }

    def _training_step(
        self, subject: SubjectInput, base: dict, modules: dict, lr: float, generator, class_paths, class_prompt
    ) -> TrainingStep:
        from diffusers import DDPMScheduler

        opts, device, vae = self.options, self.context.device, modules["vae"]
        resolution = opts["resolution"] or self.context.generation.resolution

        def latents(paths: list[Path]) -> T.LatentSource:
            return T.LatentSource(vae, T.load_pixels(paths, resolution), opts["cache_latents"])

        return TrainingStep(
            self,
            subject,
            forward=modules["forward"],
            text_encoder=modules["text_encoder"],
            text_forward=modules["text_forward"],
            params=modules["params"],
            optimizer=T.make_optimizer(modules["params"], lr, opts, device),
            scheduler=DDPMScheduler.from_config(base["scheduler_config"]),
            scaling=vae.config.scaling_factor,
            instance_latents=latents(list(subject.images)),
            prior_latents=latents(class_paths) if opts["prior_preservation"] else None,
            class_prompt=class_prompt,
            generator=generator,
            autocast=T.autocast_dtype(opts["mixed_precision"], device),
        )

    def _train_loop(
        self, step: TrainingStep, trained: dict, scratch: Path, subject: SubjectInput, start: int, lr, started
    ) -> T.StepLog:
        """The optimizer steps after `start`, checkpointed into `scratch` every `checkpoint_every`."""
        opts = self.options
        log = T.StepLog(scratch, subject.name, started)
        bar = progress.bar(f"train {self.name}/{subject.name}", opts["steps"], "step", initial=start)
        for number in range(start + 1, opts["steps"] + 1):
            loss, micro_batch_totals = step.run()
            # logs the last micro-batch's loss, as before
            log.record(number, loss, lr, micro_batch_totals)
            bar.update(1)
            every = opts["checkpoint_every"]
            if every and number % every == 0 and number < opts["steps"]:
                # a diverged loss stops here, before it can be checkpointed
                log.flush()
                trainable = {
                    name: {k: v for k, v in module.named_parameters() if v.requires_grad}
                    for name, module in trained.items()
                }
                T.save_checkpoint(scratch, number, trainable, step.optimizer, step.generator, step.scaler)
        log.flush()
        bar.close()
        return log

    @staticmethod
    def _resume(scratch: Path, trained: dict, step: TrainingStep) -> int:
        """Continue from the scratch checkpoint if there is one: the steps already done (0 for a fresh start)."""
        checkpoint = T.load_checkpoint(scratch)
        if checkpoint is None:
            (scratch / T.LOG_FILE).unlink(missing_ok=True)
            return 0
        for name, state in checkpoint["modules"].items():
            trained[name].load_state_dict(state, strict=False)
        step.optimizer.load_state_dict(checkpoint["optimizer"])
        step.generator.set_state(checkpoint["generator"])
        if step.scaler is not None and checkpoint.get("scaler"):
            step.scaler.load_state_dict(checkpoint["scaler"])
        T.truncate_log(scratch, checkpoint["step"])
        return checkpoint["step"]

    # --------------------------------------------------------------- generation
    def generate(self, subject: SubjectInput, artifact_dir: Path, prompts: list[str], seeds: list[int]) -> list:
        key = str(artifact_dir)
        if self._pipe_key != key:
            # one subject's weights in memory at a time
            self._pipe = None
            if self.context.device.type == "cuda":
                torch.cuda.empty_cache()
            self._pipe = self.pipeline_for(artifact_dir)
            self._pipe_key = key
        return sample(self._pipe, prompts, seeds, self.context.generation)


# ------------------------------------------------------------------ the paper's ablations
register_preset(
    DreamBooth,
    "dreambooth-no-prior",
    "ablation: DreamBooth without the prior-preservation loss (paper Table 3)",
    prior_preservation=False,
)
register_preset(
    DreamBooth,
    "dreambooth-wrong-class",
    "ablation: identifier with a deterministic wrong class noun, e.g. '<id> boot' for the backpack (Table 4)",
    class_noun="wrong",
)
register_preset(
    DreamBooth,
    "dreambooth-no-class",
    "ablation: identifier alone, no class noun and hence no class prior to preserve (Table 4)",
    class_noun="none",
    prior_preservation=False,
)
register_preset(
    DreamBooth,
    "dreambooth-english-id",
    "ablation: a common English word ('special') as identifier instead of a rare token",
    # The paper's "unique" is two CLIP tokens (uni + que), so the one-token English word "special" stands in.
    identifier="special",
)
