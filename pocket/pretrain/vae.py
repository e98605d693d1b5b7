"""Stage 2: the autoencoder, a diffusers AutoencoderKL that codes 64 x 64 images as 16 x 16 x 8 latents.

Trained end to end from random weights, an AutoencoderKL learns far too slowly for two
CPU cores (19 dB after 750 steps, 21 dB at best in every probe; docs/pocket.md). So it
learns in two supervised halves around a code fixed in advance, the principal
components of 4 x 4 pixel patches (a linear code that alone reconstructs at 26 dB):

1. the decoder learns to draw images from that code (plus a little noise, the
   posterior's), which it does better than the linear inverse: it sees neighbours;
2. the encoder learns to output that code as its posterior mean, with a fixed small
   posterior variance (DreamBooth encodes its photos with `latent_dist.sample()`, as
   diffusers does, and the decoder was trained with exactly that noise).

The latent space is thus the patch-PCA space: unit variance per image, smooth, and
the same for every seed of the build. Images pass with their colour channels permuted
at random, so any colour is coded (the signature colours included) without the
generator ever seeing a signature. Eight latent channels, not SD's four: a linear
code of 4 channels tops out at 23 dB here, and the UNet's cost hardly changes with
its input channels. Whole images, not crops: GroupNorm's statistics differ between a
crop and the whole image.
"""

from __future__ import annotations

import math
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
    "block_out_channels": [16, 32, 64],
    "layers_per_block": 1,
    "latent_channels": 8,
    "norm_num_groups": 8,
    "sample_size": 64,
}
PATCH = 4
POSTERIOR_STD = 0.05
HELD_OUT = 64  # the corpus's last images: PSNR is logged on them, and they are never trained on
PERMUTATIONS = ([0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0])


class PatchCode:
    """The fixed target code: each 4 x 4 x 3 patch projected on the top principal components, scaled to unit std."""

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor, scale: float):
        self.mean, self.basis, self.scale = mean, basis, scale

    @classmethod
    def fit(cls, images: np.ndarray, channels: int, seed: int, sample: int = 3000) -> PatchCode:
        pick = np.sort(np.random.default_rng(seed).choice(len(images), min(sample, len(images)), replace=False))
        x = to_tensor(images[pick])
        patches = torch.cat([_patches(x[:, list(p)]) for p in PERMUTATIONS]).reshape(-1, 3 * PATCH * PATCH)
        mean = patches.mean(0)
        _, _, vh = torch.linalg.svd(patches - mean, full_matrices=False)
        basis = vh[:channels]
        # an SVD's signs are arbitrary: fix them so the code is one function of the data
        basis = basis * torch.sign(basis.sum(1, keepdim=True) + 1e-12)
        scale = float(((patches - mean) @ basis.T).std())
        return cls(mean, basis, scale)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        z = (_patches(x) - self.mean) @ self.basis.T / self.scale
        return z.transpose(1, 2).reshape(n, len(self.basis), h // PATCH, w // PATCH)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        n, k, h, w = z.shape
        patches = z.reshape(n, k, h * w).transpose(1, 2) * self.scale @ self.basis + self.mean
        return F.fold(patches.transpose(1, 2), (h * PATCH, w * PATCH), PATCH, stride=PATCH)

    def state(self) -> dict:
        return {"mean": self.mean, "basis": self.basis, "scale": self.scale}


def _patches(x: torch.Tensor) -> torch.Tensor:
    return F.unfold(x, PATCH, stride=PATCH).transpose(1, 2)


def psnr(reconstruction: torch.Tensor, x: torch.Tensor) -> float:
    return float(10 * torch.log10(4 / F.mse_loss(reconstruction.clamp(-1, 1), x)))


def autoencoder_psnr(vae: AutoencoderKL, x: torch.Tensor) -> float:
    """Reconstruction PSNR (dB) of images in [-1, 1] through the posterior mean."""
    was_training = vae.training
    vae.eval()
    with torch.no_grad():
        recon = vae.decode(vae.encode(x).latent_dist.mode()).sample
    vae.train(was_training)
    return psnr(recon, x)


def train_vae(
    images: np.ndarray,
    folder: Path,
    steps: int,
    seed: int,
    batch: int = 16,
    lr: float = 2e-3,
    encoder_share: float = 0.3,
    log=print,
) -> AutoencoderKL:
    """`steps` in all: the decoder's first, then the encoder's (`encoder_share` of them; its steps cost half)."""
    torch.manual_seed(seed)
    vae = AutoencoderKL(**CONFIG)
    keep = min(HELD_OUT, len(images) // 4)
    train, held_out = images[:-keep], to_tensor(images[-keep:])
    code = PatchCode.fit(train, CONFIG["latent_channels"], seed)
    torch.save(code.state(), folder / "vae-code.pt")
    log(f"vae: the linear patch code alone reconstructs at {psnr(code.decode(code.encode(held_out)), held_out):.2f} dB")
    encoder_steps = max(1, int(steps * encoder_share))
    decoder_steps = max(1, steps - encoder_steps)

    def batch_at(step: int, stage: int) -> tuple[torch.Tensor, torch.Generator]:
        g = loop.step_generator(seed + stage, step)
        pick = torch.randint(len(train), (batch,), generator=g).numpy()
        x = to_tensor(train[np.sort(pick)])
        return x[:, torch.randperm(3, generator=g)], g

    def decoder_step(step: int) -> torch.Tensor:
        x, g = batch_at(step, 0)
        z = code.encode(x)
        recon = vae.decode(z + POSTERIOR_STD * torch.randn(z.shape, generator=g)).sample
        if step % max(1, decoder_steps // 8) == 0:
            with torch.no_grad():
                decoded = vae.decode(code.encode(held_out)).sample
            log(f"vae decoder: step {step}  held-out PSNR {psnr(decoded, held_out):.2f} dB")
        return F.mse_loss(recon, x) + 0.5 * F.l1_loss(recon, x)

    decoder_params = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    optimizer = torch.optim.AdamW(decoder_params, lr=lr, weight_decay=0.0)
    loop.run(
        "vae-decoder", folder, {"vae": vae}, optimizer, decoder_steps, decoder_step, peak_lr=lr, warmup=50, log=log
    )

    log_variance = torch.full((), 2 * math.log(POSTERIOR_STD))

    def encoder_step(step: int) -> torch.Tensor:
        x, _ = batch_at(step, 1)
        posterior = vae.encode(x).latent_dist
        if step % max(1, encoder_steps // 4) == 0:
            log(f"vae encoder: step {step}  held-out PSNR {autoencoder_psnr(vae, held_out):.2f} dB")
        return F.mse_loss(posterior.mean, code.encode(x)) + 0.01 * F.mse_loss(
            posterior.logvar, log_variance.expand_as(posterior.logvar)
        )

    encoder_params = [*vae.encoder.parameters(), *vae.quant_conv.parameters()]
    optimizer = torch.optim.AdamW(encoder_params, lr=lr, weight_decay=0.0)
    loop.run(
        "vae-encoder", folder, {"vae": vae}, optimizer, encoder_steps, encoder_step, peak_lr=lr, warmup=50, log=log
    )
    vae.eval()
    log(f"vae: done, held-out PSNR {autoencoder_psnr(vae, held_out):.2f} dB")
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


@torch.no_grad()
def round_trip(vae: AutoencoderKL, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 images through encoder (posterior mean) and decoder: what a generated image's detail looks like."""
    out = np.empty_like(images)
    for start in range(0, len(images), batch):
        x = to_tensor(images[start : start + batch])
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        out[start : start + batch] = ((y + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out
