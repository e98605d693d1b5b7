"""Image encoding shared by every stage that writes images."""

from __future__ import annotations

import io


def png_bytes(image) -> bytes:
    """PNG bytes of a PIL image; Pillow's encoder is deterministic, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
