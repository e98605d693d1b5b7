"""Stage 4: the text-to-image generator, a UNet2DConditionModel and a CLIPTextModel trained jointly on latents.

Both learn from scratch on the generator's corpus (no signature, no rare identifier),
conditioned on captions through the real CLIP tokenizer; one caption in ten is
dropped so classifier-free guidance works, as in Stable Diffusion. The noise schedule
is SD's own. The exponential moving averages of the weights are what is saved.

Training runs in two stages, each with its own cosine schedule and checkpoint. The first
learns from every timestep alike. The second (a warm restart) grows the UNet a pooled-text
embedding added to its time embedding (diffusers' `addition_embed_type="text"`, which the
Stable Diffusion pipeline feeds from the prompt as it is) and weights each timestep's loss by
min(SNR, 5) / SNR (Hang et al., "Efficient Diffusion Training via Min-SNR Weighting", 2023), so
the high-noise steps that lay out an object's shape count for more than the low-noise ones that
polish its texture: the class prior is what DreamBooth's findings need from the base model.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from benchmark.models.tokenizer import write_tokenizer_files
from pocket.pretrain import loop

MAX_LENGTH = 32  # tokens: the longest protocol prompt with an identifier is about 20
TEXT_CONFIG = {
    "vocab_size": 49408,
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "max_position_embeddings": MAX_LENGTH,
    "projection_dim": 64,
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 49407,
}
UNET_CONFIG = {
    "sample_size": 16,
    "in_channels": 8,
    "out_channels": 8,
    "block_out_channels": [32, 64, 96],
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "layers_per_block": 1,
    "cross_attention_dim": 64,
    "attention_head_dim": 32,
    "norm_num_groups": 16,
}
# The refining stage's UNet: the same, plus a pooled-text embedding (see `with_text_embedding`).
REFINED_UNET_EXTRA = {"addition_embed_type": "text", "addition_embed_type_num_heads": 4}
SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
CAPTION_DROPOUT = 0.1
MIN_SNR_GAMMA = 5.0


def pocket_tokenizer(folder: Path) -> CLIPTokenizer:
    write_tokenizer_files(folder)
    return CLIPTokenizer.from_pretrained(os.fspath(folder), model_max_length=MAX_LENGTH)


def tokenize(tokenizer: CLIPTokenizer, captions: np.ndarray) -> np.ndarray:
    """Token ids of every caption; a corpus repeats its captions, so each distinct one is tokenized once."""
    unique, inverse = np.unique(captions, return_inverse=True)
    ids = tokenizer(list(unique), padding="max_length", max_length=MAX_LENGTH, truncation=True).input_ids
    return np.asarray(ids, np.int64)[inverse]


def train_generator(
    latents: np.ndarray,
    ids: np.ndarray,
    empty_ids: np.ndarray,
    scale: float,
    folder: Path,
    steps: int,
    seed: int,
    batch: int = 64,
    lr: float = 6e-4,
    refine_steps: int = 0,
    refine_lr: float = 3e-4,
    log=print,
) -> tuple[UNet2DConditionModel, CLIPTextModel]:
    torch.manual_seed(seed)
    models = {"unet": UNet2DConditionModel(**UNET_CONFIG), "text": CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))}
    noise_schedule = DDPMScheduler(**SCHEDULE)
    alphas = noise_schedule.alphas_cumprod
    snr = alphas / (1 - alphas)
    emas = {key: loop.Ema(model, 0.999) for key, model in models.items()}
    empty = torch.from_numpy(empty_ids)

    def denoising_loss(step: int, min_snr: bool) -> torch.Tensor:
        g = loop.step_generator(seed, step)
        pick = torch.randint(len(latents), (batch,), generator=g).numpy()
        x = torch.from_numpy(latents[pick].astype(np.float32)) * scale
        tokens = torch.from_numpy(ids[pick])
        drop = torch.rand(batch, generator=g) < CAPTION_DROPOUT
        tokens[drop] = empty
        noise = torch.randn(x.shape, generator=g)
        t = torch.randint(0, SCHEDULE["num_train_timesteps"], (batch,), generator=g)
        noisy = noise_schedule.add_noise(x, noise, t)
        context = models["text"](tokens)[0]
        prediction = models["unet"](noisy, t, context).sample
        per_sample = F.mse_loss(prediction, noise, reduction="none").mean(dim=(1, 2, 3))
        if min_snr:
            per_sample = per_sample * (snr[t].clamp(max=MIN_SNR_GAMMA) / snr[t]).float()
        return per_sample.mean()

    def optimizer() -> torch.optim.Optimizer:
        params = [p for model in models.values() for p in model.parameters()]
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)

    def first(step: int) -> torch.Tensor:
        return denoising_loss(step, min_snr=False)

    def refine(step: int) -> torch.Tensor:
        # the refining stage's draws follow on from the first stage's (step numbers past `steps`)
        return denoising_loss(steps + step, min_snr=True)

    common = {"emas": emas, "clip_grad": 1.0, "log": log}
    loop.run("generator", folder, models, optimizer(), steps, first, peak_lr=lr, warmup=300, **common)
    if refine_steps:
        grow_for_refining(models, emas)
        loop.run(
            "generator-refine",
            folder,
            models,
            optimizer(),
            refine_steps,
            refine,
            peak_lr=refine_lr,
            warmup=100,
            recipe="min-snr-5, text embedding",
            **common,
        )
    return emas["unet"].model, emas["text"].model


def grow_for_refining(models: dict, emas: dict[str, loop.Ema]) -> None:
    """The trained UNet and its moving average, each grown the text embedding, in place in both dicts."""
    models["unet"] = with_text_embedding(models["unet"])
    emas["unet"] = loop.Ema(with_text_embedding(emas["unet"].model), emas["unet"].decay)


def with_text_embedding(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """`unet` grown a pooled-text embedding added to its time embedding, which every ResNet block reads.

    The first stage's model read the caption through cross-attention alone (at 8 x 8 and 4 x 4) and drew
    nearly the same image for every class with one seed and context, so it was given a global signal at
    every resolution too. Measured, it barely uses it (docs/pocket.md, the second build): the class is a
    small share of what the loss sees, whatever path it takes. The new module's output norm starts at
    zero, so the grown model begins exactly where the first stage ended.
    """
    grown = UNet2DConditionModel(**UNET_CONFIG, **REFINED_UNET_EXTRA)
    missing, unexpected = grown.load_state_dict(unet.state_dict(), strict=False)
    if unexpected or any(not key.startswith("add_embedding.") for key in missing):
        raise RuntimeError(f"growing the UNet: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        grown.add_embedding.norm2.weight.zero_()
    return grown.train(unet.training)


def save_pipeline(vae: AutoencoderKL, unet, text, tokenizer: CLIPTokenizer, scale: float, out: Path) -> Path:
    """The diffusers Stable Diffusion folder layout the `sd15` profile loads, with SD's scheduler settings."""
    vae.register_to_config(scaling_factor=scale)
    scheduler = DPMSolverMultistepScheduler(
        **SCHEDULE, prediction_type="epsilon", timestep_spacing="leading", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(os.fspath(out), safe_serialization=True)
    return out
