"""One optimizer step of the DreamBooth objective, apart from the loop that repeats it.

Why apart: two callers must run the very same step. `DreamBooth._train` wraps it
in what a real training needs (resume, per-step log, checkpoints), and
`perf/estimate_training_memory.py` runs it on fake tensors to estimate the
peak memory at SD-1.5 size without a GPU; a copy of the step in the estimate
would drift from the method (it had: no accumulation, both halves encoded as
one prompt). LoRA and Textual Inversion run it too, through the method's hooks
(`instance_prompts`, `after_optimizer_step`, `tokenizer`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from methods import training as T


class TrainingStep:
    """Everything one step draws on, built once per training; `run()` performs a step.

    A frozen text encoder gives the same states for the same prompt, so with
    `cache_text_embeddings` those states are encoded here once, not every step.
    All randomness comes from `generator` (checkpointed by the loop), in a fixed
    order per micro-batch: instance latents, instance prompts (when they vary),
    prior latents, then the noise and timesteps of the forward pass.
    """

    def __init__(
        self,
        method,
        subject,
        *,
        forward: torch.nn.Module,
        text_encoder: torch.nn.Module,
        text_forward: torch.nn.Module | None = None,
        params: list[torch.nn.Parameter],
        optimizer,
        scheduler,
        scaling: float,
        instance_latents: T.LatentSource,
        prior_latents: T.LatentSource | None,
        class_prompt: str | None,
        generator: torch.Generator,
        autocast: torch.dtype | None,
    ):
        opts = method.options
        self.method, self.subject, self.options = method, subject, opts
        self.forward, self.text_encoder, self.params, self.optimizer = forward, text_encoder, params, optimizer
        self.scheduler, self.scaling, self.generator, self.autocast = scheduler, scaling, generator, autocast
        # What computes the text states: the encoder itself, or its compiled wrapper (like `forward` for the UNet).
        self.text_forward = text_forward if text_forward is not None else text_encoder
        if (prior_latents is None) != (class_prompt is None):
            raise ValueError("prior preservation needs both the class images' latents and the class prompt")
        self.instance_latents, self.prior_latents, self.class_prompt = instance_latents, prior_latents, class_prompt
        self.batch, self.accumulation = opts["train_batch_size"], opts["gradient_accumulation_steps"]
        # Loss scaling keeps fp16 gradients from underflowing; bf16 has fp32's range and needs none.
        self.scaler = torch.amp.GradScaler("cuda") if autocast == torch.float16 else None
        cache = opts["cache_text_embeddings"] and not text_encoder.training
        self.frozen_class_states = self.encode([class_prompt]).detach() if cache and prior_latents else None
        self.frozen_instance_states = None
        if cache and not method.prompts_vary:
            self.frozen_instance_states = self.encode(method.instance_prompts(subject, 1, generator)).detach()

    def encode(self, prompts: list[str]) -> torch.Tensor:
        ids = T.to_device(T.tokenize(self.method.tokenizer, prompts), self.method.context.device)
        with torch.set_grad_enabled(self.text_encoder.training):
            return self.text_forward(ids)[0].float()

    def micro_batch(self) -> T.LossParts:
        """The loss of one [instance; prior] batch: one forward pass, each half against its own target.

        Prompts not cached are encoded in one text-encoder call, instance and class
        together: with a trained encoder two calls cost a second forward and
        backward's worth of host-dispatched ops (9858 ops per step at SD-1.5 size
        with two calls, 8139 with one: `perf/count_step_ops.py`), and the step
        looked bound by the host on a large GPU. The gradients then sum in another order than with two
        calls, so this changed DreamBooth's outputs at rounding level (version 2).
        """
        batch = self.batch
        latents = self.instance_latents.sample(batch, self.scaling, self.generator)
        to_encode = []
        if self.frozen_instance_states is None:
            to_encode = list(self.method.instance_prompts(self.subject, batch, self.generator))
        if self.prior_latents is not None:
            latents = torch.cat([latents, self.prior_latents.sample(batch, self.scaling, self.generator)])
            if self.frozen_class_states is None:
                to_encode.append(self.class_prompt)
        encoded = self.encode(to_encode) if to_encode else None
        if self.frozen_instance_states is not None:
            states = self.frozen_instance_states.expand(batch, -1, -1)
        else:
            states = encoded[:batch]
        if self.prior_latents is not None:
            class_states = self.frozen_class_states if self.frozen_class_states is not None else encoded[-1:]
            states = torch.cat([states, class_states.expand(batch, -1, -1)])
        prediction, target, timesteps = T.denoising_step(
            self.forward, self.scheduler, latents, states, self.generator, self.autocast
        )
        weights = None
        if self.options["min_snr_gamma"]:
            weights = T.min_snr_weights(self.scheduler, timesteps[:batch], self.options["min_snr_gamma"])
        return T.dreambooth_loss(prediction, target, batch, self.options["prior_loss_weight"], weights)

    def run(self, forward_pass: Callable[[Callable], T.LossParts] | None = None) -> tuple[T.LossParts, list]:
        """Accumulate gradients over the micro-batches, then update: the last micro-batch's loss and every total.

        Every micro-batch's total is returned because a NaN in any of them poisons
        the update; the caller checks them when it reads the losses back.
        `forward_pass(micro_batch)` runs each forward pass, for a caller that must
        wrap it (the memory estimate traces it inside a parent module).
        """
        totals = []
        for _ in range(self.accumulation):
            loss = forward_pass(self.micro_batch) if forward_pass else self.micro_batch()
            totals.append(loss.total.detach())
            self._backward(loss)
        self._update()
        return loss, totals

    def _backward(self, loss: T.LossParts) -> None:
        """Add one micro-batch's share of the step's gradient."""
        scaled = loss.total / self.accumulation
        (self.scaler.scale(scaled) if self.scaler else scaled).backward()

    def _update(self) -> None:
        """Apply the accumulated gradient and clear it."""
        if self.scaler:
            # clipping must see the true gradients
            self.scaler.unscale_(self.optimizer)
        if self.options["max_grad_norm"]:
            torch.nn.utils.clip_grad_norm_(self.params, self.options["max_grad_norm"])
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.method.after_optimizer_step(self.text_encoder)
