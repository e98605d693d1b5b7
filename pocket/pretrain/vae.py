"""Stage 2: the autoencoder, a diffusers AutoencoderKL that codes 64 x 64 images as 16 x 16 x 4 latents.

It learns on the generator's corpus with its colour channels permuted at random, so
it can code any colour (the signature colours included) without the generator ever
seeing a signature. Most steps use 32 x 32 crops (the network is convolutional, and
crops are four times cheaper); the last fifth uses whole images so the middle
block's attention sees the full 16 x 16 latent grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from pocket.pretrain import loop
from pocket.pretrain.shards import to_tensor

CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "block_out_channels": [32, 64, 64],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 16,
    "sample_size": 64,
}
KL_WEIGHT = 1e-6


def train_vae(
    images: np.ndarray, folder: Path, steps: int, seed: int, batch: int = 32, lr: float = 1e-3, log=print
) -> AutoencoderKL:
    torch.manual_seed(seed)
    vae = AutoencoderKL(**CONFIG)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    crop_until = int(steps * 0.8)

    def step_fn(step: int) -> torch.Tensor:
        g = loop.step_generator(seed, step)
        pick = torch.randint(len(images), (batch,), generator=g).numpy()
        x = to_tensor(images[np.sort(pick)])
        x = x[:, torch.randperm(3, generator=g)]
        if step < crop_until:
            i, j = torch.randint(0, 33, (2,), generator=g).tolist()
            x = x[:, :, i : i + 32, j : j + 32]
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=g)
        recon = vae.decode(z).sample
        loss = F.mse_loss(recon, x) + 0.5 * F.l1_loss(recon, x) + KL_WEIGHT * posterior.kl().mean()
        return loss

    loop.run("vae", folder, {"vae": vae}, optimizer, steps, step_fn, peak_lr=lr, warmup=100, log=log)
    vae.eval()
    return vae


@torch.no_grad()
def encode_all(vae: AutoencoderKL, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Latent means of every image (float16): the generator trains on these, never touching pixels again."""
    out = []
    for start in range(0, len(images), batch):
        out.append(vae.encode(to_tensor(images[start : start + batch])).latent_dist.mean.half().numpy())
    return np.concatenate(out)


def scaling_factor(latents: np.ndarray) -> float:
    """SD's convention: scale latents to unit standard deviation before diffusion."""
    return float(1.0 / latents[:4096].astype(np.float32).std())
