"""The metrics the harness computes, as data: what each one means and how it is paired.

Like timm's and open_clip's registries, definitions are listable (`bench ls
metrics`) and every results file embeds them, so a reader of `scores.json` never has
to guess which backbone, preprocessing or pairing produced a number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from benchmark.profiles import Profile


@dataclass(frozen=True)
class MetricDef:
    id: str
    name: str
    description: str
    higher_is_better: bool
    # key into `sources.backbone_ids`
    backbone: str
    pairing: str
    # which generated images it scores
    images: str


METRICS: dict[str, MetricDef] = {
    m.id: m
    for m in (
        MetricDef(
            "dino",
            "DINO",
            "subject fidelity: cosine of DINO ViT-S/16 CLS embeddings, generated vs real",
            True,
            "dino",
            "per subject, mean over ALL (generated, real) pairs; macro mean over subjects",
            "protocol prompts",
        ),
        MetricDef(
            "clip-i",
            "CLIP-I",
            "subject fidelity: cosine of CLIP ViT-B/32 image embeddings, generated vs real",
            True,
            "clip-image",
            "per subject, mean over ALL (generated, real) pairs; macro mean over subjects",
            "protocol prompts",
        ),
        MetricDef(
            "clip-t",
            "CLIP-T",
            "prompt fidelity: cosine of CLIP ViT-B/32 image and prompt-text embeddings "
            "(default text: the prompt with the identifier removed, class noun kept)",
            True,
            "clip-text",
            "per image vs its own prompt; mean per subject; macro mean over subjects",
            "protocol prompts",
        ),
        MetricDef(
            "pres",
            "PRES",
            "prior preservation: DINO between the personalized model's 'a {class}' images and the subject's "
            "real images (lower = less subject leakage into the class)",
            False,
            "dino",
            "per subject, mean over ALL (class image, real) pairs; macro mean over subjects",
            "prior-preservation ('a {class}') images",
        ),
        MetricDef(
            "div",
            "DIV",
            "diversity: LPIPS (AlexNet) distance among images of the same subject and prompt",
            True,
            "lpips",
            "per (subject, prompt), mean over distinct image pairs; mean per subject; macro mean over subjects",
            "protocol prompts",
        ),
    )
}

# Metrics the real-image oracle is computed for (CLIP-T has no real-image counterpart).
ORACLE_METRICS = ("dino", "clip-i")


def list_metrics(profile: Profile | str = "sd15", model_sources: dict[str, str] | None = None) -> list[dict]:
    """Every metric with its backbone id for `profile`, as plain rows for `bench ls metrics`."""
    from benchmark.metrics.sources import backbone_ids

    ids = backbone_ids(profile, model_sources)
    rows = []
    for metric in METRICS.values():
        row = asdict(metric)
        row["better"] = "higher" if metric.higher_is_better else "lower"
        row["backbone_id"] = ids[metric.backbone]
        rows.append(row)
    return rows
