"""A plug-in method for tests: instant, deterministic images, and a switch to fail one subject.

It exercises the harness (records, caching, failures, plug-in loading) without a
diffusion model, so those tests take milliseconds per image.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from methods import Method, SubjectInput, register_method


@register_method
class FakeMethod(Method):
    name = "fake"
    description = "test plug-in: noise images drawn from each seed"
    # die_once: a file path; the first call to generate creates it and kills its process (a dying worker).
    # count_in: a folder that gets one file per instance, so tests can count them across worker processes.
    # sleep: seconds each generate call waits first (a cell still busy when a test kills its run).
    # die_on: a subject whose generate kills its process every time (a cell that always runs out of memory).
    default_options = {"fail_on": "", "size": 16, "die_once": "", "count_in": "", "sleep": 0.0, "die_on": ""}

    def __init__(self, context, options):
        super().__init__(context, options)
        if options["count_in"]:
            Path(options["count_in"], f"{os.getpid()}-{id(self)}").touch()

    def subject_phrase(self, subject: SubjectInput) -> str:
        return f"zwx {subject.class_noun}"

    def personalize(self, subject: SubjectInput, workdir: Path, scratch: Path) -> dict:
        (workdir / "weights.txt").write_text(f"trained on {len(subject.images)} images\n")
        return {"identifier": "zwx"}

    def generate(self, subject, artifact_dir, prompts, seeds):
        time.sleep(self.options["sleep"])
        marker = self.options["die_once"]
        if marker and not Path(marker).exists():
            Path(marker).write_text("died here once\n")
            os._exit(17)
        if subject.name == self.options["die_on"]:
            os._exit(9)
        if subject.name == self.options["fail_on"]:
            raise RuntimeError(f"deliberate failure for {subject.name}")
        assert (artifact_dir / "weights.txt").exists()
        size = self.options["size"]
        return [
            Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))
            for seed in seeds
        ]
