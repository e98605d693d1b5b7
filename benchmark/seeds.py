"""Per-image seeds that depend only on what the image *is*.

An image's seed is a hash of (base seed, subject, prompt key, image index), never a
counter over the work order, so an image is the same whichever shard, worker,
executor or GPU count produced it, and deleting it regenerates the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

TOKEN = "dreambench-v1/{base}/{subject}/{prompt}/{image}"
# What run.json and the report print: the exact computation, so a reader can re-derive any image's seed.
SEED_SCHEME = f'int.from_bytes(sha256("{TOKEN}")[:8], "big") & (2**63 - 1)'
# Versions before said this of the very same computation, leaving out the prefix and the byte order.
LEGACY_SEED_SCHEMES = ("sha256(base/subject/prompt/image)[:8] & (2**63-1)",)


def image_seed(base_seed: int, subject: str, prompt_key: int | str, image_index: int) -> int:
    """A 63-bit seed; `prompt_key` is the prompt's index, or a name such as "class" for extra prompts."""
    token = TOKEN.format(base=int(base_seed), subject=subject, prompt=prompt_key, image=int(image_index))
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


# devices with a global generator of their own, apart from the CPU's
ACCELERATOR_RNG_TYPES = ("cuda", "mps")


@contextmanager
def seeded_torch_rng(seed: int, device) -> Iterator[None]:
    """Torch's global generators, the CPU's and `device`'s own (CUDA or MPS), seeded for the block, then put
    back as they were.

    `torch.random.fork_rng` saves only CUDA's generator unless told the device type, and seeding only the
    CPU generator leaves `torch.randn(..., device="mps")` drawing from wherever the process left it: on an
    Apple GPU a draw in training would then depend on what ran before it.
    """
    import torch

    device = torch.device(device)
    kind = device.type if device.type in ACCELERATOR_RNG_TYPES else None
    forked = torch.random.fork_rng(devices=[device] if kind else [], device_type=kind or "cuda")
    with forked:
        torch.random.default_generator.manual_seed(seed)
        if kind == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        elif kind == "mps":
            torch.mps.manual_seed(seed)
        yield


@contextmanager
def seeded_global_rngs(seed: int, device) -> Iterator[None]:
    """Torch's (CPU and the device's: CUDA or MPS), NumPy's and Python's global generators seeded for the
    block, then put back as they were.

    The harness runs every method's `personalize` and `generate` inside this, seeded from the cell (training)
    or the batch's image seeds (sampling): code that draws from a global generator (a plug-in's
    `torch.randn`, peft's adapter init, a `random.choice` of training images) then gives the same result
    whatever ran before it in the process, hence on any executor, worker count or resume.
    """
    import random

    import numpy as np

    python_state, numpy_state = random.getstate(), np.random.get_state()
    with seeded_torch_rng(seed, device):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
