"""DreamBooth with LoRA adapters on the UNet's attention projections (peft).

The same objective, data, identifier and prior preservation as `dreambooth`; only
low-rank adapters train, which is how most people fine-tune today, so its numbers
belong beside the full fine-tune. The artifact is a single
`pytorch_lora_weights.safetensors` that `pipe.load_lora_weights(folder)` loads.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchError
from methods.diffusion import build_pipeline
from methods.dreambooth import DreamBooth, fp32_copy
from methods.libraries import quiet_libraries
from methods.options import option, option_of
from methods.registry import register_method

LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]


@register_method
class DreamBoothLoRA(DreamBooth):
    name = "dreambooth-lora"
    description = "DreamBooth with LoRA adapters on the UNet attention (peft), prior preservation on"

    @dataclass
    class Options(DreamBooth.Options):
        # the diffusers LoRA recipe: adapters need a far larger step than full weights
        learning_rate: float = option_of(DreamBooth.Options, "learning_rate", default=1e-4, profiles={"tiny": 1e-3})
        train_text_encoder: bool = option_of(DreamBooth.Options, "train_text_encoder", default=False)
        lora_rank: int = option(4, "rank of the LoRA adapters on the UNet's attention projections")
        lora_alpha: int = option(4, "LoRA scale numerator (the update is scaled by alpha / rank)")

    @classmethod
    def check_options(cls, options: dict) -> None:
        if options["train_text_encoder"]:
            raise BenchError(f"options.{cls.name}: LoRA adapts the UNet only; train_text_encoder must be false")
        if options["lora_rank"] < 1:
            raise BenchError(f"options.{cls.name}: lora_rank must be at least 1")
        super().check_options(options)

    def trainable_modules(self, base: dict):
        from peft import LoraConfig

        device = self.context.device
        unet = fp32_copy(base["unet"], device).requires_grad_(False)
        unet.add_adapter(
            LoraConfig(
                r=self.options["lora_rank"],
                lora_alpha=self.options["lora_alpha"],
                init_lora_weights="gaussian",
                target_modules=LORA_TARGETS,
            )
        )
        unet.train()
        text_encoder = base["text_encoder"].to(device).eval().requires_grad_(False)
        return unet, text_encoder, [p for p in unet.parameters() if p.requires_grad]

    def save_artifact(self, workdir: Path, unet, text_encoder) -> dict:
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        extra = {}
        if self.options["lora_alpha"] != self.options["lora_rank"]:
            # Without this metadata diffusers reloads the adapter with alpha = rank, i.e. at the wrong scale.
            extra["unet_lora_adapter_metadata"] = unet.peft_config["default"].to_dict()
        try:
            StableDiffusionPipeline.save_lora_weights(
                workdir, unet_lora_layers=layers, safe_serialization=True, **extra
            )
        except TypeError:
            raise BenchError("lora_alpha != lora_rank needs diffusers >= 0.35 to save the alpha; upgrade it") from None
        return {"lora": "pytorch_lora_weights.safetensors"}

    def pipeline_for(self, artifact_dir: Path):
        components = self.context.generation_parts()
        # adapters go into a copy, never the shared base
        components["unet"] = copy.deepcopy(components["unet"])
        pipe = build_pipeline(components, self.context.generation, self.context.device, self.context.dtype)
        # it warns that the (untrained) text encoder has no LoRA keys
        with quiet_libraries():
            pipe.load_lora_weights(artifact_dir)
        return pipe
