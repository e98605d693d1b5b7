"""Pieces of diffusion fine-tuning shared by DreamBooth, its LoRA variant and Textual Inversion.

The loss is the one DreamBooth defines: one forward pass over the concatenated
[instance; prior] batch, the mean squared error of each half against its own
target (the noise for epsilon models, the velocity for v-prediction models), and
total = instance + weight x prior. Keeping it in small pure functions is what lets
the tests check it against an independent computation.

All randomness of a training run (data order, VAE samples, noise, timesteps) comes
from one `torch.Generator` whose state is checkpointed, so a resumed training
continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmark.errors import BenchError
from benchmark.store.atomic import atomic_write_text, atomic_write_with

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.jsonl"


class TrainingDiverged(BenchError):
    """The loss stopped being a number: that subject stops, with the step it happened at."""


# ------------------------------------------------------------------ images and text
def load_pixels(paths: list[Path], resolution: int) -> torch.Tensor:
    """Images as a [N, 3, R, R] tensor in [-1, 1]: shorter side resized to R (bilinear), centre crop."""
    from PIL import Image
    from torchvision.transforms import functional as TF

    tensors = []
    for path in paths:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image = TF.resize(image, resolution, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
            image = TF.center_crop(image, [resolution, resolution])
            tensors.append(TF.to_tensor(image) * 2.0 - 1.0)
    return torch.stack(tensors)


@torch.no_grad()
def latent_distribution(vae, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the VAE posterior per image."""
    dist = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist
    return dist.mean.float(), dist.std.float()


class LatentSource:
    """Latents of a fixed set of images, one posterior sample per draw.

    The VAE is frozen, so its posterior (mean, std) per image never changes: with
    `cache` it is computed once, otherwise the images are re-encoded at every draw.
    Both draw the same indices and noise from the generator, so they give the
    same latents up to float rounding; caching only saves the encoder passes.
    """

    def __init__(self, vae, pixels: torch.Tensor, cache: bool = True):
        self.vae, self.pixels, self.count = vae, pixels, len(pixels)
        self.cached = self._posterior(range(self.count)) if cache else None

    def _posterior(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        means, stds = [], []
        indices = list(indices)
        for start in range(0, len(indices), 8):
            mean, std = latent_distribution(self.vae, self.pixels[indices[start : start + 8]])
            means.append(mean)
            stds.append(std)
        return torch.cat(means), torch.cat(stds)

    def sample(self, batch: int, scaling: float, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, self.count, (batch,), generator=generator)
        if self.cached:
            on_device = to_device(index, self.cached[0].device)
            mean, std = self.cached[0][on_device], self.cached[1][on_device]
        else:
            mean, std = self._posterior(index.tolist())
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return (mean + std * to_device(noise, mean.device)) * scaling


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor drawn for this step, copied without waiting for the GPU to finish its queue.

    A plain `.to(cuda)` from ordinary (pageable) memory synchronizes the stream;
    on CUDA `non_blocking` copies it to a staging buffer and returns, so the source
    may be freed at once (not so on MPS, which keeps the blocking copy). The random
    draws stay on the CPU generator: the same numbers on any device, which is what
    makes a training independent of its hardware.
    """
    # MPS may read a freed source (torch#139550)
    return tensor.to(device, non_blocking=device.type == "cuda")


def tokenize(tokenizer, prompts: list[str]) -> torch.Tensor:
    return tokenizer(
        prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


# ------------------------------------------------------------------------ the loss
def prediction_target(scheduler, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    raise BenchError(f"unsupported prediction type '{kind}' (epsilon and v_prediction are)")


def min_snr_weights(scheduler, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023) for the given timesteps."""
    alphas_cumprod = scheduler.alphas_cumprod.to(timesteps.device)[timesteps].float()
    snr = alphas_cumprod / (1.0 - alphas_cumprod)
    clipped = torch.clamp(snr, max=gamma)
    if scheduler.config.prediction_type == "v_prediction":
        return clipped / (snr + 1.0)
    return clipped / snr


@dataclass
class LossParts:
    total: torch.Tensor
    instance: torch.Tensor
    prior: torch.Tensor | None


def dreambooth_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    instance_count: int,
    prior_weight: float,
    instance_weights: torch.Tensor | None = None,
) -> LossParts:
    """MSE of the instance half and of the prior half, each against its own target; total = inst + w * prior.

    `instance_weights` (per instance sample, e.g. min-SNR) apply to the instance
    half only: the prior half keeps the plain objective that preserves the class.
    """
    prediction, target = prediction.float(), target.float()
    inst_pred, inst_target = prediction[:instance_count], target[:instance_count]
    if instance_weights is None:
        instance = F.mse_loss(inst_pred, inst_target, reduction="mean")
    else:
        per_sample = F.mse_loss(inst_pred, inst_target, reduction="none").mean(dim=(1, 2, 3))
        instance = (per_sample * instance_weights.float()).mean()
    if instance_count == len(prediction):
        return LossParts(instance, instance, None)
    prior = F.mse_loss(prediction[instance_count:], target[instance_count:], reduction="mean")
    return LossParts(instance + prior_weight * prior, instance, prior)


def denoising_step(unet, scheduler, latents, encoder_states, generator, autocast_dtype=None):
    """Noise the latents at random timesteps and predict: returns (prediction, target, timesteps)."""
    noise = to_device(torch.randn(latents.shape, generator=generator, dtype=latents.dtype), latents.device)
    steps = scheduler.config.num_train_timesteps
    timesteps = to_device(torch.randint(0, steps, (latents.shape[0],), generator=generator), latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    with torch.autocast(latents.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        prediction = unet(noisy, timesteps, encoder_states).sample
    return prediction, prediction_target(scheduler, latents, noise, timesteps), timesteps


def diverged(subject: str, value: float | str, step: int) -> TrainingDiverged:
    return TrainingDiverged(
        f"training {subject} diverged: loss is {value} at step {step}; lower the learning rate "
        "or check the inputs (the subject is recorded as failed, the others go on)"
    )


LOG_FLUSH_STEPS = 25


class StepLog:
    """The per-step training log, read from the device in batches: no step waits for the GPU to read a loss.

    Reading a loss (`.item()`) makes the CPU wait until the GPU has finished the
    step; the next step's kernels then start into an idle GPU. At DreamBooth's
    batch of 1 + 1 a large GPU finishes a step about as fast as the CPU can launch
    it, so every such wait is lost time. Losses stay on the device and are read,
    checked and written every `flush_every` steps, before every checkpoint and at
    the end: a diverged loss still names the first step it happened at, and no
    checkpoint is saved after it. A step's `seconds` is when the CPU finished
    issuing it; the last step of each batch waits for the GPU, so its time is exact.
    """

    def __init__(self, scratch: Path, subject: str, started: float, flush_every: int = LOG_FLUSH_STEPS):
        self.scratch, self.subject, self.started, self.flush_every = scratch, subject, started, flush_every
        self.pending: list[tuple[int, torch.Tensor, float, float, bool]] = []
        self.last_loss: float | None = None

    def record(self, step: int, loss: LossParts, lr: float, micro_batch_totals: list[torch.Tensor] = ()) -> None:
        """One optimizer step: `loss` of its last micro-batch (what is logged), and every micro-batch's total.

        A NaN in an earlier accumulation micro-batch poisons the gradients as surely
        as one in the last, so all of them are checked.
        """
        totals = torch.stack([total.detach().float() for total in (*micro_batch_totals, loss.total)])
        prior = loss.prior if loss.prior is not None else torch.full_like(loss.total, math.nan)
        values = torch.stack(
            [
                loss.total.detach().float(),
                loss.instance.detach().float(),
                prior.detach().float(),
                totals.isfinite().all().float(),
            ]
        )
        self.pending.append((step, values, lr, time.monotonic() - self.started, loss.prior is not None))
        if len(self.pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        # the one wait for the GPU
        rows = torch.stack([entry[1] for entry in self.pending]).tolist()
        finished = time.monotonic() - self.started
        pending, self.pending = self.pending, []
        for index, ((step, _, lr, seconds, has_prior), row) in enumerate(zip(pending, rows, strict=True)):
            total, instance, prior, all_finite = row
            if not math.isfinite(total):
                raise diverged(self.subject, total, step)
            if not all_finite:
                raise diverged(self.subject, "not finite in a gradient-accumulation micro-batch", step)
            append_log(
                self.scratch,
                {
                    "step": step,
                    "loss": total,
                    "instance_loss": instance,
                    "prior_loss": prior if has_prior else None,
                    "lr": lr,
                    "seconds": round(finished if index == len(pending) - 1 else seconds, 4),
                },
            )
            self.last_loss = total


# --------------------------------------------------------------- optimizer & device
def make_optimizer(params, lr: float, options: dict, device: torch.device):
    """AdamW with the recipe's betas, weight decay and eps; 8-bit when asked and bitsandbytes exists."""
    kwargs = {
        "lr": lr,
        "betas": (options["adam_beta1"], options["adam_beta2"]),
        "weight_decay": options["adam_weight_decay"],
        "eps": options["adam_epsilon"],
    }
    if options.get("use_8bit_adam"):
        if device.type != "cuda":
            raise BenchError("use_8bit_adam needs a CUDA device (bitsandbytes' 8-bit AdamW)")
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise BenchError("use_8bit_adam needs bitsandbytes: pip install 'dreambench-harness[bnb]'") from None
        return bnb.optim.AdamW8bit(params, **kwargs)
    # One kernel for the whole update instead of about ten ops per parameter tensor: on a CPU with the pocket
    # world's small models the loop version was a quarter of a DreamBooth step, the fused one a twentieth.
    # It rounds differently from the loop version (last bit), hence DreamBooth version 4.
    if device.type in ("cuda", "cpu") and options["fused_adam"]:
        kwargs["fused"] = True
    return torch.optim.AdamW(params, **kwargs)


HALF_PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}
# what the `mixed_precision` option accepts
MIXED_PRECISIONS = ("auto", "no", *HALF_PRECISIONS)


def autocast_dtype(mixed_precision: str, device: torch.device) -> torch.dtype | None:
    """Mixed precision runs the forward pass in half precision; trainable weights stay fp32."""
    if device.type != "cuda" or mixed_precision == "no":
        return None
    if mixed_precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return HALF_PRECISIONS[mixed_precision]


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak, so each subject reports its own, on CUDA and (Linux) on CPU alike."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        # resets VmHWM to the current resident size
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        # not Linux, or not allowed: the process's peak is reported instead
        pass


def peak_memory_mb(device: torch.device) -> float | None:
    """CUDA's max allocated; on CPU this process's own peak resident memory; both since `reset_peak_memory`.

    Linux's VmHWM first: getrusage's ru_maxrss carries the parent's peak across
    fork and exec, so a worker started by a large parent would report the parent's.
    """
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                # kB
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        # Linux reports KiB
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):
        return None


# ----------------------------------------------------------------------- checkpoints
def save_checkpoint(scratch: Path, step: int, modules: dict, optimizer, generator: torch.Generator, scaler=None):
    """Everything needed to continue bit-for-bit: trainable weights, optimizer, RNG and loss-scaler state, step.

    Streamed to a temporary file and renamed, so a checkpoint of SD's full weights
    never needs a second copy in memory and a kill never leaves a torn one.
    """
    state = {
        "step": step,
        "modules": {name: {k: v.detach().cpu() for k, v in sd.items()} for name, sd in modules.items()},
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "scaler": scaler.state_dict() if scaler is not None else None,
    }
    atomic_write_with(scratch / CHECKPOINT_FILE, lambda handle: torch.save(state, handle))


def load_checkpoint(scratch: Path) -> dict | None:
    path = scratch / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        # an unreadable checkpoint costs the progress since the start, never a crash
        return None


def append_log(scratch: Path, entry: dict) -> None:
    with open(scratch / LOG_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def truncate_log(scratch: Path, step: int) -> None:
    """Drop log lines past a checkpoint's step, so a resumed run's log has each step once."""
    path = scratch / LOG_FILE
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            # a line torn by a kill mid-write
            continue
    atomic_write_text(path, "".join(line + "\n" for line in kept))
