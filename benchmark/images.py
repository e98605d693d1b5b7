"""Image encoding shared by every stage that writes images, and the check of what a method hands over."""

from __future__ import annotations

import io

from PIL import Image

from benchmark.errors import BenchError


def png_bytes(image) -> bytes:
    """PNG bytes of a PIL image; Pillow's encoder is deterministic, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def check_method_output(images, expected: int, method: str) -> None:
    """What a method's `generate` returned must be what the store and scorers take: `expected` RGB PIL images.

    A plug-in's mistake (numpy arrays, a grey or RGBA image, too few images) is
    caught here, before anything is written, with what to change; otherwise it
    surfaces later as an AttributeError in PNG encoding or as scores computed on
    channels the protocol's scorers never see.
    """
    where = f"method '{method}': generate()"
    if not isinstance(images, (list, tuple)):
        raise BenchError(f"{where} returned {type(images).__name__}, not a list of PIL images")
    if len(images) != expected:
        got = "1 image" if len(images) == 1 else f"{len(images)} images"
        raise BenchError(f"{where} returned {got} for {expected} (prompt, seed) pairs; one per pair")
    for image in images:
        if not isinstance(image, Image.Image):
            kind = f"{type(image).__module__}.{type(image).__name__}".removeprefix("builtins.")
            raise BenchError(f"{where} returned a {kind}, not a PIL image (numpy: PIL.Image.fromarray(array))")
        if image.mode != "RGB":
            raise BenchError(f"{where} returned a mode {image.mode!r} image; scorers take RGB: image.convert('RGB')")


def check_subject_phrase(phrase, method: str) -> str:
    """A method's `subject_phrase` is the words every prompt is built around: `None` or blank would make
    prompts such as "a None in the jungle" and be scored as if they were the protocol's."""
    if not isinstance(phrase, str) or not phrase.strip():
        raise BenchError(
            f"method '{method}': subject_phrase() returned {phrase!r}; it must be the words that stand "
            "for the subject in prompts, e.g. 'sks dog'"
        )
    return phrase
