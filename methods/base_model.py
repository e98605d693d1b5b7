"""`base`: the un-personalized base model prompted with the class noun.

It trains nothing and knows nothing of the subject beyond its class, so it is the
natural lower bound for subject fidelity (DINO, CLIP-I) and a sanity check that
the rest of the pipeline works before any GPU-hours go into training.
"""

from __future__ import annotations

from pathlib import Path

from methods.diffusion import build_pipeline, sample
from methods.interface import Method, SubjectInput
from methods.registry import register_method


@register_method
class BaseModel(Method):
    name = "base"
    description = "un-personalized base model prompted with the class noun (lower bound, no training)"

    # the class noun's prompts need no subject's weights: one pipeline serves all
    release_between_subjects = False
    _pipe = None

    def release(self) -> None:
        self._pipe = None

    def subject_phrase(self, subject: SubjectInput) -> str:
        return subject.class_noun

    def personalize(self, subject: SubjectInput, workdir: Path, scratch: Path) -> dict:
        return {"trained": False}

    def generate(self, subject: SubjectInput, artifact_dir: Path, prompts: list[str], seeds: list[int]) -> list:
        if self._pipe is None:
            ctx = self.context
            self._pipe = build_pipeline(ctx.generation_parts(), ctx.generation, ctx.device, ctx.dtype)
        return sample(self._pipe, prompts, seeds, self.context.generation)
