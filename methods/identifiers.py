"""Subject identifiers: the paper's rare-token selection over SD's CLIP BPE vocabulary.

DreamBooth binds a subject to an identifier that should carry as little meaning as
possible, so fine-tuning does not have to fight a prior ("sks" is a rifle). The paper
samples short (<= 3 character) tokens from a rare band of Imagen's T5 vocabulary; this
module does the same over CLIP, deterministically for a seed, and describes the choice
in words so every run records which identifier it used and how it was picked.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from benchmark.errors import BenchError

# Imagen's T5 has a ~32,000-piece SentencePiece vocabulary and the paper draws from ids
# 5,000-10,000: skip the ~16% most frequent pieces (strong priors), stay out of the long
# tail (pieces too rare to have a useful embedding). CLIP's ids are 512 byte symbols
# followed by BPE merges in merge order, which roughly follows frequency, so the same
# relative slice of its 49,408 ids (15.6% - 31.2%) plays the same role. Looking at the
# data: below it sit everyday short words and famous acronyms (usa, bbc, nba, mom);
# far above it, more fragments of names and handles than whole words.
# half-open [start, stop) over CLIP token ids
RARE_BAND = (7700, 15400)
MAX_LETTERS = 3
# The band alone still holds acronyms and brands a model knows well ("lv" is Louis Vuitton, to a backpack
# subject a strong prior; "cnn", "fbi", "ibm"): a candidate must also be rarer than once in 100 million words
# of English text (wordfreq's Zipf scale, log10 of occurrences per billion words), which leaves fragments.
MAX_ZIPF = 2.0
RARE_SPEC = "rare"

_WORD_END = "</w>"
_SHORT_WORD = re.compile(rf"[a-z]{{1,{MAX_LETTERS}}}")
# a word is tested between neighbours, the way it is used in prompts
_CONTEXT = ("a", "dog")


@dataclass(frozen=True)
class Identifier:
    # e.g. "yal" (seed 0)
    text: str
    token_id: int
    # "rare" | "fixed" | "english"
    kind: str
    # how it was chosen, in words, recorded with the results
    procedure: str


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    """Two large dictionaries, so that "not English" also rules out obscure words that still carry meaning."""
    from english_words import get_english_words_set

    return frozenset(w.lower() for w in get_english_words_set(["web2", "gcide"], lower=True))


def is_english_word(word: str) -> bool:
    """True for a word in the web2 or GCIDE word list (case-insensitive)."""
    return word.strip().lower() in _english_words()


FREQUENCY_TABLE = Path(__file__).with_name("identifier_frequencies.json")


@lru_cache(maxsize=1)
def _frequency_table() -> dict[str, float]:
    return json.loads(FREQUENCY_TABLE.read_text(encoding="utf-8"))["zipf"]


def word_frequency(word: str) -> float:
    """How often `word` occurs in English text, on wordfreq's Zipf scale (0: never seen; 7: "the").

    Read from a table of every word the other rules let through (`python -m methods.identifiers` writes it
    with wordfreq), not from wordfreq itself: a run needs no 57 MB word list, and the draw cannot move
    with the version installed. A test checks the table against wordfreq.
    """
    table = _frequency_table()
    if word not in table:
        raise BenchError(
            f"no English frequency for '{word}' in {FREQUENCY_TABLE.name} (another english-words than "
            "2.0.x lets other words through?); regenerate it with `python -m methods.identifiers` (needs "
            "`pip install wordfreq`)"
        )
    return table[word]


def _class_noun_words() -> frozenset[str]:
    """Every word of every DreamBench class noun: the identifier must not name a class ("can", "toy")."""
    from dataset.protocol import load_protocol

    return frozenset(part for noun in load_protocol().class_nouns for part in noun.lower().split())


def _ids_in_context(tokenizer, word: str) -> list[int]:
    """The ids `word` becomes inside a prompt, without the neighbours and the start/end markers.

    Checked the way prompts use it, because a vocabulary entry is not always what the word
    becomes: an entry without `</w>` ("jad", 12976) is a piece of longer words, and the word
    written on its own encodes to its `</w>` form (38691), another id outside any band.
    """
    before, after = _CONTEXT
    ids = tokenizer(f"{before} {word} {after}").input_ids
    expected_head = [tokenizer.bos_token_id, *_single_id(tokenizer, before)]
    expected_tail = [*_single_id(tokenizer, after), tokenizer.eos_token_id]
    if ids[:2] != expected_head or ids[-2:] != expected_tail:
        # the word merged with a neighbour: it is not a token of its own
        return ids[1:-1]
    return ids[2:-2]


def _single_id(tokenizer, word: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(word + _WORD_END)]


def _is_single_token(tokenizer, word: str, token_id: int) -> bool:
    """One token in context that decodes back to the word itself, so the prompt says what the record says."""
    return _ids_in_context(tokenizer, word) == [token_id] and tokenizer.decode([token_id]).strip() == word


def rare_token_candidates(tokenizer) -> list[tuple[int, str]]:
    """All (id, word) pairs the rare draw may pick, sorted by id so that a seed means the same token everywhere.

    A candidate is a whole-word (`</w>`) entry of 1-3 lowercase ASCII letters with an id
    in RARE_BAND that stays one token in context, decodes to itself, is not an English
    word, is rare in English text (Zipf below MAX_ZIPF) and is not part of a DreamBench
    class noun.
    """
    return [(token_id, word) for token_id, word in _band_words(tokenizer) if word_frequency(word) < MAX_ZIPF]


def _band_words(tokenizer) -> list[tuple[int, str]]:
    """(id, word) pairs that pass every rule but the text frequency, sorted by id: the words the table holds."""
    start, stop = RARE_BAND
    excluded = _class_noun_words()
    words = []
    for token, token_id in tokenizer.get_vocab().items():
        if not (start <= token_id < stop and token.endswith(_WORD_END)):
            continue
        word = token[: -len(_WORD_END)]
        if not _SHORT_WORD.fullmatch(word) or word in excluded or is_english_word(word):
            continue
        if _is_single_token(tokenizer, word, token_id):
            words.append((token_id, word))
    return sorted(words)


def frequency_table(tokenizer) -> dict:
    """What FREQUENCY_TABLE holds, computed with wordfreq (a development tool, not a run's dependency)."""
    from importlib.metadata import version

    from wordfreq import zipf_frequency

    zipf = {word: zipf_frequency(word, "en") for _, word in _band_words(tokenizer)}
    return {"source": f"wordfreq {version('wordfreq')}: zipf_frequency(word, 'en')", "zipf": zipf}


def rare_identifier(tokenizer, seed: int) -> Identifier:
    """The paper's procedure: a seeded uniform draw from the rare candidates (random.Random, never hash())."""
    candidates = rare_token_candidates(tokenizer)
    if not candidates:
        raise BenchError(
            f"no rare-token candidates in CLIP ids {RARE_BAND[0]}-{RARE_BAND[1]}; is this CLIP's tokenizer?"
        )
    token_id, word = random.Random(seed).choice(candidates)
    start, stop = RARE_BAND
    procedure = (
        f"rare token drawn with random.Random(seed={seed}).choice from {len(candidates)} CLIP BPE candidates, "
        f"sorted by id, in id band [{start}, {stop}): whole words of 1-{MAX_LETTERS} lowercase letters, one token "
        f"in context, not English (web2+gcide), rarer than Zipf {MAX_ZIPF} in English text (wordfreq), not a "
        "DreamBench class noun"
    )
    return Identifier(text=word, token_id=token_id, kind="rare", procedure=procedure)


def resolve_identifier(spec: str, tokenizer, seed: int) -> Identifier:
    """Turn a user's identifier spec into an Identifier: "rare" draws one, anything else is taken literally.

    A literal word must be one CLIP token in context, or the method would learn a phrase
    rather than a token. "sks" (id 48136) is the community default, but it names a rifle,
    so it brings a prior; it is kept as kind "fixed" for comparison with published work.
    Words are lowercased because CLIP lowercases prompts anyway.
    """
    word = spec.strip().lower()
    if not word:
        raise BenchError("empty identifier; use 'rare' or a single word such as 'sks'")
    if len(word.split()) > 1:
        raise BenchError(f"identifier '{spec.strip()}' has several words; an identifier must be one token")
    if word == RARE_SPEC:
        return rare_identifier(tokenizer, seed)
    ids = _ids_in_context(tokenizer, word)
    if len(ids) != 1:
        raise BenchError(
            f"identifier '{word}' is {len(ids)} tokens in CLIP's vocabulary; an identifier must be one token"
        )
    if tokenizer.decode(ids).strip() != word:
        raise BenchError(f"identifier '{word}' comes back from CLIP's tokenizer as '{tokenizer.decode(ids).strip()}'")
    kind = "english" if is_english_word(word) else "fixed"
    procedure = f"{kind} identifier '{word}' given by the user (CLIP token {ids[0]})"
    return Identifier(text=word, token_id=ids[0], kind=kind, procedure=procedure)


# python -m methods.identifiers: rewrite the frequency table
if __name__ == "__main__":
    from benchmark.models.tokenizer import clip_tokenizer

    FREQUENCY_TABLE.write_text(json.dumps(frequency_table(clip_tokenizer()), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FREQUENCY_TABLE}")
