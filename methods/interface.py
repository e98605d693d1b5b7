"""The narrow interface every personalization method implements.

Like lm-eval's model API: a method only personalizes one subject and turns
(prompt, seed) pairs into images. The harness owns everything around it: which
subjects and prompts, seeds, batching, caching of artifacts and images, records,
resumption, executors. A method that follows this contract gets all of that, and
is byte-reproducible whatever the sharding, as long as it seeds each image from
its own seed (use `image_generators`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import torch

from benchmark.config import GenerationConfig, RunConfig
from benchmark.profiles import Profile
from methods import speedups
from methods.options import OptionSpec, settle_declaration


@dataclass(frozen=True)
class SubjectInput:
    """What a method may know about a subject: its name, class noun, kind and real images."""

    name: str
    class_noun: str
    live: bool
    images: tuple[Path, ...]


CONVERTED_PARTS = ("unet", "vae", "text_encoder")


@dataclass
class MethodContext:
    """Shared resources a method draws on; models load lazily, once per process.

    `config.seed` is the run's base seed, `generation` the sampling settings (resolution, steps,
    batch size), `base_components` the base model's fp32 parts (unet, vae, text_encoder, tokenizer and
    scheduler_config), shared by every method of the process: copy a part before training it.
    """

    config: RunConfig
    profile: Profile
    generation: GenerationConfig
    device: torch.device
    model_locations: dict[str, str]
    cache_dir: Path

    @cached_property
    def base_components(self) -> dict:
        from benchmark.models.loading import load_base_components

        started = time.monotonic()
        parts = load_base_components(self.config.model_sources()["base"], self.model_locations["base"], self.device)
        # What loading took, so a method's training time does not carry it for being the first to ask.
        self.__dict__["base_load_seconds"] = time.monotonic() - started
        self.__dict__["_base_as_loaded"] = {key: speedups.settings_of(parts[key]) for key in SETTLED_PARTS}
        return parts

    @contextmanager
    def base_as_loaded(self) -> Iterator[None]:
        """The shared fp32 base modules with the attention kernel and memory layout they were loaded with, for
        the block; then with whatever they had before it.

        In fp32 a sampling pipeline runs the base modules themselves and sets its own kernel and layout on
        them, which round differently; the harness runs each `personalize` inside this, so a plug-in that
        trains from the base modules trains the same weights whether or not something sampled before it
        in the process. (Built-in trainers set their own settings explicitly; this changes nothing for them.)
        """
        loaded = self.__dict__.get("_base_as_loaded")
        # nothing loaded yet: whatever loads inside the block is as loaded
        if loaded is None:
            yield
            return
        modules = [self.base_components[key] for key in SETTLED_PARTS]
        before = [speedups.settings_of(module) for module in modules]
        for module, settings in zip(modules, loaded.values(), strict=True):
            speedups.restore_settings(module, settings)
        try:
            yield
        finally:
            for module, settings in zip(modules, before, strict=True):
                speedups.restore_settings(module, settings)

    def generation_parts(self, **replaced) -> dict:
        """The base model's parts for a pipeline in the generation dtype, with `replaced` parts swapped in.

        The fp32 masters in `base_components` are never converted: trainers copy
        them, and a copy of weights already rounded to fp16 would make a trained
        model depend on whether something was generated before it in the process.
        In fp32 the parts are the masters themselves; otherwise each is converted
        once, on first use, so a part a method replaces (DreamBooth's trained UNet)
        never costs a converted copy of the base one.
        """
        parts = {**self.base_components, **replaced}
        if self.dtype != torch.float32:
            for key in CONVERTED_PARTS:
                if key not in replaced:
                    parts[key] = self._converted(key)
        return parts

    def _converted(self, key: str) -> torch.nn.Module:
        copies = self.__dict__.setdefault("_generation_copies", {})
        if key not in copies:
            import copy

            from methods.libraries import quiet_libraries

            # diffusers warns of "modules to keep in float32" even when there are none
            with quiet_libraries():
                copies[key] = copy.deepcopy(self.base_components[key]).to(self.device, self.dtype)
        return copies[key]

    def release_generation_copies(self) -> None:
        """Drop the converted sampling copies (remade on next use): a trainer needs that memory more.

        At SD-1.5 size they are about 2 GiB of GPU memory, which class-image
        sampling in the same process would otherwise leave held through training.
        """
        if self.__dict__.pop("_generation_copies", None) and self.device.type == "cuda":
            import gc

            # a frame kept alive by a caught exception may still hold them
            gc.collect()
            torch.cuda.empty_cache()

    @property
    def dtype(self) -> torch.dtype:
        if self.generation.dtype == "auto":
            return torch.float16 if self.device.type == "cuda" else torch.float32
        return getattr(torch, self.generation.dtype)


# the base modules with an attention kernel and a convolution layout
SETTLED_PARTS = ("unet", "vae")


def image_generators(seeds: list[int]) -> list[torch.Generator]:
    """One CPU generator per image, so initial noise is identical on any device or batch layout."""
    return [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]


class Method(ABC):
    """Subclass, set `name` and `description`, and decorate with `@register_method`."""

    name: ClassVar[str]
    description: ClassVar[str]
    # Bump when a change alters what the method produces: a run folder made by another version is then refused
    # (never mixed), and the new version runs into a new --output-dir.
    version: ClassVar[str] = "1"
    # Whether the harness calls `release()` when the method moves on to another subject (always when it moves on
    # to another method): a pipeline kept between `generate` calls holds one subject's weights. A method whose
    # pipeline holds nothing of a subject (`base`) keeps it, and its compiled UNet, for the whole run.
    release_between_subjects: ClassVar[bool] = True
    # The options a user may change with `--set options.<name>.<key>=value`, declared once: a dataclass named
    # `Options` in the class, one `option(default, help, profiles=..., run_only=...)` per field (see
    # methods/options.py). Read through `option_specs`, which `__init_subclass__` fills from it.
    option_specs: ClassVar[dict[str, OptionSpec]] = {}
    # The earlier declaration, five tables: still read from plug-ins that set them, and derived from `Options`
    # for code that reads them. `default_options`: defaults; `profile_options`: per-profile changes to them;
    # `option_help`: one line per option for `bench ls options`; `run_options`: options that change how a run
    # goes, never what it produces; `nullable_options`: options whose default is not null but that take null.
    default_options: ClassVar[dict[str, Any]] = {}
    option_help: ClassVar[dict[str, str]] = {}
    profile_options: ClassVar[dict[str, dict[str, Any]]] = {}
    run_options: ClassVar[frozenset[str]] = frozenset()
    nullable_options: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        settle_declaration(cls)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Reject impossible option values before any work starts; override to add rules.

        Args:
            options: every option resolved (defaults, the profile's, the user's), each of its declared type.

        Raises:
            BenchError or ValueError: saying what is wrong; the run stops before any work.
        """
        return None

    def __init__(self, context: MethodContext, options: dict[str, Any]):
        """Args:
        context: the shared resources (base model parts, device, generation settings) of this process.
        options: the resolved options (as `check_options` accepted them).
        """
        self.context = context
        self.options = options

    def release(self) -> None:
        """Drop models held for generation; called when the harness moves on to another subject or method, so a
        pipeline kept between `generate` calls never samples one subject with another's weights."""
        return None

    @abstractmethod
    def subject_phrase(self, subject: SubjectInput) -> str:
        """The words that stand for the subject in every prompt ("sks backpack", "backpack", ...).

        Args:
            subject: the subject the prompts are about.
        """

    @abstractmethod
    def personalize(self, subject: SubjectInput, workdir: Path, scratch: Path) -> dict[str, Any]:
        """Train on the subject's images, writing the artifact into `workdir`; return metadata to record.

        The harness publishes `workdir` atomically only after this returns, so a
        crash never leaves an artifact that looks finished. `scratch` survives an
        interrupted run (put checkpoints there to resume long trainings) and is
        deleted once the artifact is published.

        Args:
            subject: the subject to learn, with its real images.
            workdir: an empty folder for the artifact; published as the artifact once this returns.
            scratch: a folder that survives an interrupted run, for checkpoints.

        Returns:
            Plain JSON metadata, recorded in the artifact's `artifact.json`.
        """

    @abstractmethod
    def generate(self, subject: SubjectInput, artifact_dir: Path, prompts: list[str], seeds: list[int]) -> list[Any]:
        """Return one PIL image per (prompt, seed), image i drawn from seed i alone.

        Args:
            subject: the subject the prompts are about.
            artifact_dir: the published artifact of `personalize` for this subject.
            prompts: the prompts, the subject phrase already in them.
            seeds: one seed per prompt (use `image_generators(seeds)`).
        """
