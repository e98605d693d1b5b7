"""Textual Inversion (Gal et al. 2023), the paper's baseline: learn one new word, nothing else.

A placeholder token joins the vocabulary with its embedding initialised from the
class noun's; only that row trains, and after every optimizer step every other
row is restored, so weight decay and numerical noise cannot touch the rest of the
model. Recipe of the diffusers README: lr 5e-4 scaled by batch x accumulation
(1 x 4), 3000 steps, prompts drawn from "a photo of a {}"-style templates.
The artifact, `learned_embeds.safetensors`, loads with `pipe.load_textual_inversion`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.errors import BenchError
from methods.diffusion import build_pipeline
from methods.dreambooth import DreamBooth
from methods.identifiers import Identifier
from methods.interface import SubjectInput
from methods.libraries import quiet_libraries
from methods.options import option_of
from methods.registry import register_method

EMBEDDINGS_FILE = "learned_embeds.safetensors"
# Neutral photo captions written for this harness; the subject is the only content word.
TEMPLATES = (
    "a photo of a {}",
    "a photo of the {}",
    "a close-up photo of a {}",
    "a bright photo of the {}",
    "a cropped photo of a {}",
    "a good photo of the {}",
    "a photo of one {}",
    "a rendering of a {}",
    "a dark photo of the {}",
    "a photo of a small {}",
    "a photo of a large {}",
    "a blurry photo of the {}",
)


def placeholder_for(subject: SubjectInput) -> str:
    return f"<{subject.name}>"


@register_method
class TextualInversion(DreamBooth):
    name = "textual-inversion"
    description = "Textual Inversion baseline: one new token initialised from the class noun, only its row trains"
    # DreamBooth's version 2 changed how instance and class prompts are encoded together; with no class prompt
    # Textual Inversion's step is unchanged, so its earlier runs stay valid.
    # 2: DreamBooth's version 4 (the fused AdamW update on CPU) changes its step at rounding level too.
    version = "2"

    @dataclass
    class Options(DreamBooth.Options):
        identifier: str = option_of(DreamBooth.Options, "identifier", default="placeholder")
        class_noun: str = option_of(DreamBooth.Options, "class_noun", default="none")
        prior_preservation: bool = option_of(DreamBooth.Options, "prior_preservation", default=False)
        # No prior, so no class images: the tiny profile leaves their count as it is.
        num_class_images: int = option_of(DreamBooth.Options, "num_class_images", profiles={})
        steps: int = option_of(DreamBooth.Options, "steps", default=3000, profiles={"tiny": 4})
        learning_rate: float = option_of(DreamBooth.Options, "learning_rate", default=5e-4, profiles={"tiny": 5e-2})
        scale_lr: bool = option_of(DreamBooth.Options, "scale_lr", default=True)
        gradient_accumulation_steps: int = option_of(
            DreamBooth.Options, "gradient_accumulation_steps", default=4, profiles={"tiny": 2}
        )
        train_text_encoder: bool = option_of(DreamBooth.Options, "train_text_encoder", default=False)
        # No clipping, as in the diffusers recipe: the norm of the whole embedding matrix's gradient
        # would be set by rows that are restored after every step anyway.
        max_grad_norm: float | None = option_of(DreamBooth.Options, "max_grad_norm", default=None)
        checkpoint_every: int = option_of(DreamBooth.Options, "checkpoint_every", default=500, profiles={"tiny": 2})

    @classmethod
    def check_options(cls, options: dict) -> None:
        if options["prior_preservation"] or options["class_noun"] != "none" or options["identifier"] != "placeholder":
            raise BenchError(
                f"options.{cls.name}: Textual Inversion learns one placeholder token; prior_preservation, "
                "class_noun and identifier cannot be changed"
            )
        super().check_options(options)

    def __init__(self, context, options):
        super().__init__(context, options)
        self._subject: SubjectInput | None = None
        self._frozen_rows = None
        self._placeholder_id = None

    # the placeholder token is the subject phrase
    def subject_phrase(self, subject: SubjectInput) -> str:
        return placeholder_for(subject)

    def identifier(self) -> Identifier:
        text = placeholder_for(self._subject) if self._subject else "<subject>"
        return Identifier(text, self._placeholder_id or -1, "placeholder", "a new token added to the vocabulary")

    prompts_vary = True

    def instance_prompts(self, subject: SubjectInput, count: int, generator: torch.Generator) -> list[str]:
        picks = torch.randint(0, len(TEMPLATES), (count,), generator=generator).tolist()
        return [TEMPLATES[i].format(placeholder_for(subject)) for i in picks]

    @property
    def tokenizer(self):
        return self._tokenizer

    def personalize(self, subject, workdir, scratch):
        self._subject = subject
        return super().personalize(subject, workdir, scratch)

    def trainable_modules(self, base: dict):
        device = self.context.device
        subject = self._subject
        self._tokenizer = copy.deepcopy(base["tokenizer"])
        self._tokenizer.add_tokens([placeholder_for(subject)])
        self._placeholder_id = self._tokenizer.convert_tokens_to_ids(placeholder_for(subject))
        text_encoder = copy.deepcopy(base["text_encoder"]).to(device)
        text_encoder = text_encoder if text_encoder.dtype == torch.float32 else text_encoder.float()
        text_encoder.resize_token_embeddings(len(self._tokenizer), mean_resizing=False)
        embeddings = text_encoder.get_input_embeddings().weight
        noun_ids = self._tokenizer(subject.class_noun, add_special_tokens=False).input_ids
        with torch.no_grad():
            # "stuffed animal": mean of both
            embeddings[self._placeholder_id] = embeddings[noun_ids].mean(dim=0)
        self._frozen_rows = embeddings.detach().clone()
        text_encoder.requires_grad_(False)
        text_encoder.train()
        embeddings.requires_grad_(True)
        # the frozen fp32 master
        unet = base["unet"].to(device).eval().requires_grad_(False)
        return unet, text_encoder, [embeddings]

    def after_optimizer_step(self, text_encoder) -> None:
        embeddings = text_encoder.get_input_embeddings().weight
        # every row back but the placeholder's (a boolean mask would wait for the GPU)
        with torch.no_grad():
            learned = embeddings[self._placeholder_id].clone()
            embeddings.copy_(self._frozen_rows)
            embeddings[self._placeholder_id] = learned

    def save_artifact(self, workdir: Path, unet, text_encoder) -> dict:
        from safetensors.torch import save_file

        vector = text_encoder.get_input_embeddings().weight[self._placeholder_id].detach().cpu().clone()
        save_file({placeholder_for(self._subject): vector}, str(workdir / EMBEDDINGS_FILE))
        return {"embeddings": EMBEDDINGS_FILE}

    def pipeline_for(self, artifact_dir: Path):
        components = self.context.generation_parts()
        components["tokenizer"] = copy.deepcopy(components["tokenizer"])
        components["text_encoder"] = copy.deepcopy(components["text_encoder"])
        pipe = build_pipeline(components, self.context.generation, self.context.device, self.context.dtype)
        # it announces how it initialises the new row, which the file then overwrites
        with quiet_libraries():
            pipe.load_textual_inversion(artifact_dir / EMBEDDINGS_FILE)
        return pipe
