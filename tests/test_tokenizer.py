"""The offline tokenizer must be SD-1.5's CLIP tokenizer, id for id."""

from benchmark.models.tokenizer import CLIP_VOCAB_SIZE, clip_tokenizer


def test_vocabulary_and_special_tokens_are_clips():
    tok = clip_tokenizer()
    assert len(tok) == CLIP_VOCAB_SIZE == 49408
    assert tok.model_max_length == 77
    assert tok.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"]) == [49406, 49407]


def test_sks_is_the_single_token_the_community_uses():
    tok = clip_tokenizer()
    ids = tok("a sks backpack").input_ids
    assert ids[0] == 49406 and ids[-1] == 49407
    # "a", "sks", "backpack" as in SD-1.5's tokenizer
    assert ids[1:-1] == [320, 48136, 14894]
    assert tok.decode(ids[1:-1]) == "a sks backpack"


def test_multi_token_words_split_like_clip_bpe():
    tok = clip_tokenizer()
    # An invented word is split into several BPE pieces: the trap a rare-token identifier must avoid.
    assert len(tok("zqxjkvbw").input_ids) > 3
    assert len(tok("a" * 100, padding="max_length", truncation=True).input_ids) == 77
