"""The `tiny` profile's models: SD-1.5's architecture families at toy size, random weights.

They exist so that every code path (tokenizing, text encoding, denoising, decoding,
training, embedding) runs on a 2-core CPU with no download. Weights come from a
fixed seed, so every process that builds them gets bit-identical models: that is
what lets a sharded or multi-process run reproduce a single-process run exactly.
Nothing these models produce means anything, and every report says so.
"""

from __future__ import annotations

import torch

from benchmark.models.tokenizer import CLIP_VOCAB_SIZE, MODEL_MAX_LENGTH, clip_tokenizer

# fixed: the tiny models are part of the protocol of a tiny run
TINY_WEIGHT_SEED = 20230315
TINY_RESOLUTION = 32


def _seeded(build, init_device: torch.device | None = None):
    """Build a module under a private RNG state so callers' global seeds are untouched.

    With `init_device` the random initialization runs there (under that device's
    generator) and the module comes back on the CPU like any loaded model.
    """
    if init_device is None or init_device.type == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(TINY_WEIGHT_SEED)
            module = build()
        return module.eval()
    with torch.random.fork_rng(devices=[init_device], device_type=init_device.type), init_device:
        # seeds every device's generator
        torch.manual_seed(TINY_WEIGHT_SEED)
        module = build()
    return module.cpu().eval()


def tiny_unet():
    from diffusers import UNet2DConditionModel

    return _seeded(
        lambda: UNet2DConditionModel(
            sample_size=TINY_RESOLUTION // 2,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
    )


def tiny_vae():
    from diffusers import AutoencoderKL

    return _seeded(
        lambda: AutoencoderKL(
            in_channels=3,
            out_channels=3,
            block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4,
            layers_per_block=1,
            norm_num_groups=32,
            sample_size=TINY_RESOLUTION,
        )
    )


def tiny_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=MODEL_MAX_LENGTH,
        projection_dim=32,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return _seeded(lambda: CLIPTextModel(config))


def tiny_noise_scheduler_config() -> dict:
    """SD-1.5's training noise schedule (scaled-linear betas, epsilon prediction)."""
    return {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "prediction_type": "epsilon",
        "clip_sample": False,
        "set_alpha_to_one": False,
        "steps_offset": 1,
    }


def sd15_sized_components(init_device: torch.device | None = None) -> dict:
    """SD-1.5's real architecture (860M-parameter UNet, ViT-L/14 text encoder) with random weights.

    For throughput and memory benchmarks only: the cost of a step does not depend
    on what the weights are, so this measures real-size speed with no download.
    Drawing 1.07 billion random numbers takes about 30 s on a CPU (the generator is
    serial) and under a second on a GPU, so a CUDA run initializes there: every
    process on the same GPU model still gets the same weights (CUDA's random kernels
    size their work by the GPU, so another model draws other, equally random ones).
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    text_config = CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=768,
        intermediate_size=3072,
        num_attention_heads=12,
        num_hidden_layers=12,
        max_position_embeddings=MODEL_MAX_LENGTH,
        projection_dim=768,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return {
        "unet": _seeded(lambda: UNet2DConditionModel(sample_size=64, cross_attention_dim=768), init_device),
        "vae": _seeded(
            lambda: AutoencoderKL(
                block_out_channels=(128, 256, 512, 512),
                down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4,
                layers_per_block=2,
                latent_channels=4,
                sample_size=512,
            ),
            init_device,
        ),
        "text_encoder": _seeded(lambda: CLIPTextModel(text_config), init_device),
        "tokenizer": clip_tokenizer(),
    }


def tiny_components() -> dict:
    """Everything a StableDiffusionPipeline needs, minus the scheduler choice."""
    return {
        "unet": tiny_unet(),
        "vae": tiny_vae(),
        "text_encoder": tiny_text_encoder(),
        "tokenizer": clip_tokenizer(),
    }
