"""A resumable training loop: checkpoints every few minutes, so pre-training can span sittings.

Every random draw of step k comes from a generator seeded with (seed, k), so a run
killed at step 900 and resumed gives the same weights as one that never stopped
(up to the floating-point order of the CPU kernels).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmark.store.atomic import atomic_write_with


def step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def cosine_lr(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


class Ema:
    """An exponential moving average of a model's weights: small models sample much better from it."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for ours, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
            ours.lerp_(theirs.detach(), 1 - decay)


def _shapes(models: dict[str, torch.nn.Module]) -> dict[str, dict[str, list[int]]]:
    """Each model's parameter names and shapes: what a checkpoint must match to be resumed."""
    return {key: {n: list(t.shape) for n, t in model.state_dict().items()} for key, model in models.items()}


def run(
    name: str,
    folder: Path,
    models: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    steps: int,
    step_fn: Callable[[int], torch.Tensor],
    peak_lr: float,
    warmup: int = 200,
    emas: dict[str, Ema] | None = None,
    clip_grad: float | None = None,
    checkpoint_seconds: float = 300,
    recipe: str = "1",
    log=print,
) -> None:
    """Train `models` from the last checkpoint to `steps`, checkpointing on the way.

    `step_fn(step)` returns the step's loss; the loop takes the optimizer step (and clips gradients to
    `clip_grad` when given), so every stage steps, schedules and averages the same way. `recipe` names
    the stage's loss, bumped when it changes (as a method's `version`): the parameter shapes cannot
    tell a changed loss apart, and half a stage trained on each is neither.
    """
    emas = emas or {}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ckpt"
    start = 0
    state = torch.load(path, weights_only=False) if path.exists() else None
    identity = {"shapes": _shapes(models), "recipe": recipe}
    # Checkpoints written before shapes or recipes were recorded (the first build's) are taken as they are.
    changed = [key for key, value in identity.items() if state is not None and state.get(key, value) != value]
    if changed:
        # A stage whose model or loss changed since its checkpoint starts over.
        what = "model" if "shapes" in changed else "recipe"
        log(f"{name}: the checkpoint {path} is of another {what}; training from step 0")
        state = None
    if state is not None:
        for key, model in models.items():
            model.load_state_dict(state["models"][key])
        for key, ema in emas.items():
            ema.model.load_state_dict(state["emas"][key])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
        log(f"{name}: resuming at step {start}/{steps}")

    def save(step: int) -> None:
        state = {
            **identity,
            "step": step,
            "models": {k: m.state_dict() for k, m in models.items()},
            "emas": {k: e.model.state_dict() for k, e in emas.items()},
            "optimizer": optimizer.state_dict(),
        }
        atomic_write_with(path, lambda handle: torch.save(state, handle))

    params = [p for group in optimizer.param_groups for p in group["params"]]
    for model in models.values():
        model.train()
    last_save = began = time.time()
    running = None
    for step in range(start, steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, peak_lr * group.get("lr_scale", 1.0), warmup)
        loss = step_fn(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_grad)
        optimizer.step()
        loss = loss.item()
        for key, ema in emas.items():
            ema.update(models[key], step)
        running = loss if running is None else 0.98 * running + 0.02 * loss
        done = step + 1
        if done % 50 == 0 or done == steps:
            rate = (done - start) / (time.time() - began)
            eta = (steps - done) / max(rate, 1e-9)
            log(f"{name}: step {done}/{steps}  loss {running:.4f}  {rate:.2f} steps/s  eta {eta / 60:.1f} min")
        if time.time() - last_save > checkpoint_seconds or done == steps:
            save(done)
            last_save = time.time()
