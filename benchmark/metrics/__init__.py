"""Scoring: DINO, CLIP-I, CLIP-T, PRES, DIV, the real-image oracle, and statistics.

Public API (imported lazily, so `bench ls metrics` does not pay for torch):

- `list_metrics(profile="sd15")` -> rows for `bench ls metrics`
- `score_run(run_dir, dataset_dir, *, methods, profile, ...)` -> `ScoreReport` (`profile`: a resolved `Profile`)
- `score_folder(folder, dataset_dir, *, output_dir, method, manifest, profile, ...)` -> `ScoreReport`
- `import_folder(folder, run_dir, *, method, manifest, metrics, log)` -> path of the written generations.jsonl
- `paired_comparison(rows_a, rows_b, metric, ...)` -> `PairedComparison`
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "list_metrics": "benchmark.metrics.registry",
    "METRICS": "benchmark.metrics.registry",
    "score_run": "benchmark.metrics.scoring",
    "ScoreReport": "benchmark.metrics.report",
    "score_folder": "benchmark.metrics.external",
    "import_folder": "benchmark.metrics.external",
    "paired_comparison": "benchmark.metrics.statistics",
    "load_backbone": "benchmark.metrics.backbones",
    "EmbeddingCache": "benchmark.metrics.embedding_cache",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'benchmark.metrics' has no attribute {name!r}")
