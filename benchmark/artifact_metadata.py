"""What a method's `personalize` returns, made fit for artifact.json.

The metadata is written after training. A plug-in that returns a loss as a
tensor (`"final_loss": loss`) or a path would otherwise fail the cell at that
point with "Object of type Tensor is not JSON serializable" and lose the trained
weights with it: an 800-step GPU training thrown away over a record. Tensors and
NumPy values of a few numbers become numbers, paths become text; anything else
is kept as its repr and said, so nothing already computed is lost.
"""

from __future__ import annotations

import math
from pathlib import PurePath

# a tensor or array up to this many numbers is kept as a (nested) list; a bigger one is a mistake
SMALL = 64


def json_safe_metadata(metadata: dict, method: str) -> tuple[dict, list[str]]:
    """The metadata with every value JSON can hold, and a note per value that had to become its repr."""
    notes: list[str] = []
    safe = {str(key): _safe(value, f"'{key}'", method, notes) for key, value in metadata.items()}
    return safe, notes


def _safe(value, where: str, method: str, notes: list[str]):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # JSON has no NaN or inf
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _safe(v, f"{where}.{k}", method, notes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v, f"{where}[{i}]", method, notes) for i, v in enumerate(value)]
    if isinstance(value, PurePath):
        return str(value)
    numbers = _numbers(value)
    if numbers is not None:
        return _safe(numbers, where, method, notes)
    notes.append(
        f"method '{method}': personalize() returned {type(value).__name__} in metadata {where}, which artifact.json "
        "cannot hold; kept as its repr (return numbers, text, lists or dicts)"
    )
    return repr(value)


def _numbers(value):
    """A torch tensor's or NumPy value's numbers as Python ones (`.item()`, `.tolist()`), or None."""
    size = getattr(value, "numel", None) or getattr(value, "size", None)
    size = size() if callable(size) else size
    if not isinstance(size, int) or not hasattr(value, "tolist") or size > SMALL:
        return None
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    try:
        return value.tolist()
    except (TypeError, ValueError, RuntimeError):
        return None
