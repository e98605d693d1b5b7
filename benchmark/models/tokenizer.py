"""The real CLIP tokenizer, built offline from the BPE file that open_clip ships.

Stable Diffusion 1.x uses OpenAI's CLIP BPE (49,408 tokens). The hub copy of that
tokenizer is not reachable on offline machines, but open_clip carries the very same
merges, so the `tiny` profile tokenizes exactly like SD-1.5: identifiers such as
"sks" get their real ids and the rare-token search sees the real vocabulary.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path

from benchmark.store.atomic import atomic_write_text

# OpenAI's CLIP keeps the first 49,152 - 256 - 2 merges of the BPE file.
_NUM_MERGES = 49152 - 256 - 2
CLIP_VOCAB_SIZE = 49408
MODEL_MAX_LENGTH = 77


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character table that CLIP's BPE is defined on."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


def _bpe_file() -> Path:
    import open_clip

    return Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"


def build_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """Return CLIP's token -> id table and merge list, in the order OpenAI's tokenizer builds them."""
    lines = gzip.open(_bpe_file(), "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : _NUM_MERGES + 1]
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols]
    vocab += ["".join(merge.split()) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == CLIP_VOCAB_SIZE, len(vocab)
    return {token: index for index, token in enumerate(vocab)}, merges


def write_tokenizer_files(directory: Path) -> Path:
    """Write vocab.json and merges.txt (the files CLIPTokenizer loads) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab_and_merges()
    atomic_write_text(directory / "vocab.json", json.dumps(vocab, ensure_ascii=False))
    atomic_write_text(directory / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    return directory


@lru_cache(maxsize=1)
def clip_tokenizer():
    """A transformers CLIPTokenizer equal to SD-1.5's, with no network access."""
    import tempfile

    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory(prefix="bench-tokenizer-") as tmp:
        folder = write_tokenizer_files(Path(tmp))
        return CLIPTokenizer.from_pretrained(os.fspath(folder), model_max_length=MODEL_MAX_LENGTH)
