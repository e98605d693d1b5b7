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
from methods.registry import register_method, register_preset
from methods.training_step import TrainingStep

CLASS_NOUN_MODES = ("correct", "none", "wrong")


def fp32_copy(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A trainable copy in fp32 on the device; the shared base module (maybe fp16) is left as it is."""
    module = copy.deepcopy(module).to(device)
    module = module if module.dtype == torch.float32 else module.float()
    speedups.set_layout(module, channels_last=False)  # the base may be NHWC from a pipeline; each run sets its own
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
    version = "3"
    default_options = {
        "identifier": "rare",  # "rare" (the paper's procedure), "sks", or any single-token word
        "identifier_seed": 0,
        "class_noun": "correct",  # correct | none | wrong
        "prior_preservation": True,
        "prior_loss_weight": 1.0,
        "num_class_images": 200,
        "class_prompt": "a {}",
        "instance_prompt": "a {}",
        "class_sampler": "euler_ancestral",
        "steps": 800,
        "learning_rate": 5e-6,
        "scale_lr": False,  # multiply the lr by batch size x accumulation steps
        "train_batch_size": 1,  # instance images per step (and as many prior images)
        "gradient_accumulation_steps": 1,
        "train_text_encoder": True,  # the paper fine-tunes all layers; false = the diffusers default
        "max_grad_norm": 1.0,
        "adam_beta1": 0.9,
        "adam_beta2": 0.999,
        "adam_weight_decay": 1e-2,
        "adam_epsilon": 1e-8,
        "use_8bit_adam": False,
        "mixed_precision": "auto",  # auto (bf16 where supported, else fp16) | fp16 | bf16 | no; CUDA only
        "gradient_checkpointing": False,
        "min_snr_gamma": None,  # e.g. 5.0: min-SNR weighting of the instance half
        "checkpoint_every": 200,  # steps between resumable checkpoints (0 = never)
        "resolution": None,  # None: the profile's generation resolution
        # Speed-ups that leave the result unchanged (each can be switched off to check exactly that):
        "cache_latents": True,  # encode each image with the frozen VAE once, sample its posterior every step
        "cache_text_embeddings": True,  # encode fixed prompts once when the text encoder is frozen
        "sdpa_attention": True,  # PyTorch's fused attention kernel; false = diffusers' classic softmax(QK^T)V
        "channels_last": True,  # NHWC convolution layout (what GPU tensor cores want)
        "fused_adam": True,  # AdamW's one-kernel update on CUDA (on CPU the loop version is used either way)
        "compile": False,  # torch.compile the UNet (and a trained text encoder): faster steps after minutes compiling
        "compile_backend": "inductor",
        "compile_mode": "default",  # default | reduce-overhead | max-autotune | max-autotune-no-cudagraphs
        "seed": 0,
    }
    option_help = {
        "identifier": "rare (the paper's rare-token procedure), sks, or any one-token word",
        "identifier_seed": "which rare token the procedure draws",
        "class_noun": "correct | none | wrong: the class noun after the identifier",
        "prior_preservation": "train on class images of 'a {class}' too, so the class prior survives",
        "prior_loss_weight": "weight of the prior-preservation loss (the paper: 1)",
        "num_class_images": "class images per class (sampled once, cached, shared by every method)",
        "class_prompt": "prompt of the class images ({} = the class noun)",
        "instance_prompt": "training prompt of the subject's photos ({} = the subject phrase)",
        "class_sampler": "scheduler that samples the class images",
        "steps": "optimizer steps",
        "learning_rate": "AdamW learning rate",
        "scale_lr": "multiply the learning rate by batch size x accumulation steps",
        "train_batch_size": "instance images per step (and as many class images)",
        "gradient_accumulation_steps": "micro-batches per optimizer step",
        "train_text_encoder": "fine-tune the text encoder too (the paper: all layers)",
        "max_grad_norm": "gradient clipping norm (null: no clipping)",
        "adam_beta1": "AdamW beta1",
        "adam_beta2": "AdamW beta2",
        "adam_weight_decay": "AdamW weight decay",
        "adam_epsilon": "AdamW epsilon",
        "use_8bit_adam": "bitsandbytes' 8-bit AdamW (CUDA; pip install 'dreambench-harness[bnb]')",
        "mixed_precision": "auto | bf16 | fp16 | no: autocast on CUDA",
        "gradient_checkpointing": "recompute activations in backward: less memory, slower steps",
        "min_snr_gamma": "min-SNR loss weighting of the instance half (e.g. 5.0; null: off)",
        "checkpoint_every": "steps between resumable checkpoints (0: never); changes no output",
        "resolution": "training resolution (null: the run's generation resolution)",
        "cache_latents": "speed-up: encode each image with the frozen VAE once",
        "cache_text_embeddings": "speed-up: encode fixed prompts once while the text encoder is frozen",
        "sdpa_attention": "speed-up: PyTorch's fused attention (false: classic softmax(QK^T)V)",
        "channels_last": "speed-up: NHWC convolution layout",
        "fused_adam": "speed-up: one-kernel AdamW update on CUDA",
        "compile": "speed-up: torch.compile the UNet (minutes of compiling first)",
        "compile_backend": "torch.compile backend",
        "compile_mode": "default | reduce-overhead (CUDA graphs) | max-autotune | max-autotune-no-cudagraphs",
        "seed": "training seed (with the run's --seed): another value retrains",
    }
    run_options = frozenset({"checkpoint_every"})  # resuming from a checkpoint gives the same weights (tested)
    nullable_options = frozenset({"max_grad_norm"})
    profile_options = {
        "tiny": {"steps": 6, "num_class_images": 3, "learning_rate": 1e-4, "checkpoint_every": 3},
    }

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
            if "{}" not in options[key]:  # without it the identifier never enters the prompt and nothing is learned
                fail(f"{key} must hold {{}} where the subject phrase goes ('a photo of {{}}'), not {options[key]!r}")
            try:
                options[key].format("x")
            except (IndexError, KeyError, ValueError):  # '{} {}' or '{name}': every cell would fail on it
                fail(f"{key} must hold exactly one {{}} and no other braces, not {options[key]!r}")
        if options["max_grad_norm"] is not None and not options["max_grad_norm"] > 0:
            fail(f"max_grad_norm must be above 0 (null: no clipping), not {options['max_grad_norm']!r}")
        for key, low, strict in (("learning_rate", 0, True), ("prior_loss_weight", 0, False),
                                 ("checkpoint_every", 0, False), ("min_snr_gamma", 0, True)):  # fmt: skip
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
        self.release()  # the previous subject's pipeline has no business in memory while this one trains
        with seeded_torch_rng(self.training_seed(subject, "global-rng"), device):
            return self._train(subject, workdir, scratch)

    def _train(self, subject: SubjectInput, workdir: Path, scratch: Path) -> dict:
        opts, ctx = self.options, self.context
        device = ctx.device
        noun = self.class_noun_for(subject)
        prior = bool(opts["prior_preservation"])
        if prior and noun is None:
            raise BenchError("prior preservation needs a class noun; set prior_preservation=false with class_noun=none")
        resolution = opts["resolution"] or ctx.generation.resolution
        # Loading the base model and sampling class images (cached per class, shared by every method that
        # asks) are not this training's cost: the first method of a run to need them would carry them.
        base = ctx.base_components
        class_prompt = opts["class_prompt"].format(noun) if prior else None
        class_started = time.monotonic()
        class_paths = (
            ensure_class_images(ctx, class_prompt, opts["num_class_images"], sampler=opts["class_sampler"],
                                seed=opts["seed"])
            if prior
            else []
        )  # fmt: skip
        class_seconds = time.monotonic() - class_started

        ctx.release_generation_copies()  # class-image sampling may have made them; training needs the memory
        started = time.monotonic()
        T.reset_peak_memory(device)
        from diffusers import DDPMScheduler

        vae = base["vae"].to(device)
        unet, text_encoder, params = self.trainable_modules(base)
        if opts["gradient_checkpointing"]:
            unet.enable_gradient_checkpointing()
            if text_encoder.training:
                text_encoder.gradient_checkpointing_enable()
        batch, accumulation = opts["train_batch_size"], opts["gradient_accumulation_steps"]
        lr = opts["learning_rate"] * (batch * accumulation if opts["scale_lr"] else 1)
        generator = torch.Generator("cpu").manual_seed(self.training_seed(subject, "train"))
        forward = unet  # what computes the prediction; `unet` itself is what trains and is saved
        text_forward = text_encoder
        if opts["compile"]:
            forward = speedups.compiled(unet, opts["compile_backend"], opts["compile_mode"])
            if text_encoder.training:  # it runs every step, forward and backward (a frozen one is cached)
                text_forward = speedups.compiled(text_encoder, opts["compile_backend"], opts["compile_mode"])

        def latents(paths: list[Path]) -> T.LatentSource:
            return T.LatentSource(vae, T.load_pixels(paths, resolution), opts["cache_latents"])

        # Layout and attention kernel for this run only: the VAE (and Textual Inversion's UNet) are the shared
        # base modules, which a pipeline may have left in its own settings; they round differently.
        with speedups.applied(vae, unet, sdpa=opts["sdpa_attention"], channels_last=opts["channels_last"]):
            step = TrainingStep(
                self,
                subject,
                forward=forward,
                text_encoder=text_encoder,
                text_forward=text_forward,
                params=params,
                optimizer=T.make_optimizer(params, lr, opts, device),
                scheduler=DDPMScheduler.from_config(base["scheduler_config"]),
                scaling=vae.config.scaling_factor,
                instance_latents=latents(list(subject.images)),
                prior_latents=latents(class_paths) if prior else None,
                class_prompt=class_prompt,
                generator=generator,
                autocast=T.autocast_dtype(opts["mixed_precision"], device),
            )
            trained = {"unet": unet, "text_encoder": text_encoder}
            start = self._resume(scratch, trained, step)
            log = T.StepLog(scratch, subject.name, started)
            bar = progress.bar(f"train {self.name}/{subject.name}", opts["steps"], "step", initial=start)
            for number in range(start + 1, opts["steps"] + 1):
                loss, micro_batch_totals = step.run()
                log.record(number, loss, lr, micro_batch_totals)  # logs the last micro-batch's loss, as before
                bar.update(1)
                every = opts["checkpoint_every"]
                if every and number % every == 0 and number < opts["steps"]:
                    log.flush()  # a diverged loss stops here, before it can be checkpointed
                    trainable = {
                        name: {k: v for k, v in module.named_parameters() if v.requires_grad}
                        for name, module in trained.items()
                    }
                    T.save_checkpoint(scratch, number, trainable, step.optimizer, generator, step.scaler)
            log.flush()
            bar.close()

        saved = self.save_artifact(workdir, unet, text_encoder)
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
            "class_image_seconds": round(class_seconds, 3),  # found in the cache or sampled, apart from training
            "peak_memory_mb": T.peak_memory_mb(device),
            "device": str(device),
            "files": saved,
        }

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
            self._pipe = None  # one subject's weights in memory at a time
            if self.context.device.type == "cuda":
                torch.cuda.empty_cache()
            self._pipe = self.pipeline_for(artifact_dir)
            self._pipe_key = key
        return sample(self._pipe, prompts, seeds, self.context.generation)


# ------------------------------------------------------------------ the paper's ablations
register_preset(
    DreamBooth, "dreambooth-no-prior",
    "ablation: DreamBooth without the prior-preservation loss (paper Table 3)",
    prior_preservation=False,
)  # fmt: skip
register_preset(
    DreamBooth, "dreambooth-wrong-class",
    "ablation: identifier with a deterministic wrong class noun, e.g. '<id> boot' for the backpack (Table 4)",
    class_noun="wrong",
)  # fmt: skip
register_preset(
    DreamBooth, "dreambooth-no-class",
    "ablation: identifier alone, no class noun and hence no class prior to preserve (Table 4)",
    class_noun="none", prior_preservation=False,
)  # fmt: skip
register_preset(
    DreamBooth, "dreambooth-english-id",
    "ablation: a common English word ('special') as identifier instead of a rare token",
    # The paper's "unique" is two CLIP tokens (uni + que), so the one-token English word "special" stands in.
    identifier="special",
)  # fmt: skip
