"""Stage 4: the text-to-image generator, a UNet2DConditionModel and a CLIPTextModel trained jointly on latents.

Both learn from scratch on the generator's corpus (no signature, no rare identifier),
conditioned on captions through the real CLIP tokenizer; one caption in ten is
dropped so classifier-free guidance works, as in Stable Diffusion. The noise schedule
is SD's own. The exponential moving averages of the weights are what is saved.
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
SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
CAPTION_DROPOUT = 0.1


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
    log=print,
) -> tuple[UNet2DConditionModel, CLIPTextModel]:
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    text = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))
    params = list(unet.parameters()) + list(text.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    noise_schedule = DDPMScheduler(**SCHEDULE)
    emas = {"unet": loop.Ema(unet, 0.999), "text": loop.Ema(text, 0.999)}
    empty = torch.from_numpy(empty_ids)

    def step_fn(step: int) -> torch.Tensor:
        g = loop.step_generator(seed, step)
        pick = torch.randint(len(latents), (batch,), generator=g).numpy()
        x = torch.from_numpy(latents[pick].astype(np.float32)) * scale
        tokens = torch.from_numpy(ids[pick])
        drop = torch.rand(batch, generator=g) < CAPTION_DROPOUT
        tokens[drop] = empty
        noise = torch.randn(x.shape, generator=g)
        t = torch.randint(0, SCHEDULE["num_train_timesteps"], (batch,), generator=g)
        noisy = noise_schedule.add_noise(x, noise, t)
        context = text(tokens)[0]
        loss = F.mse_loss(unet(noisy, t, context).sample, noise)
        return loss

    loop.run(
        "generator",
        folder,
        {"unet": unet, "text": text},
        optimizer,
        steps,
        step_fn,
        peak_lr=lr,
        warmup=300,
        emas=emas,
        clip_grad=1.0,
        log=log,
    )
    return emas["unet"].model, emas["text"].model


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
