import json

import pytest

from tinyformer.data import data_path, load_tinyshakespeare
from tinyformer.tokenizers import (
    ENDOFTEXT,
    GPT2_PATTERN,
    CharTokenizer,
    bytes_to_unicode,
    gpt2_encoding,
)


def test_char_tokenizer_round_trip_and_sorted_vocabulary():
    text = load_tinyshakespeare()
    tok = CharTokenizer.from_text(text)
    assert tok.vocab_size == 65
    assert tok.chars == sorted(set(text))
    assert tok.chars[:2] == ["\n", " "]
    sample = text[:2000]
    assert tok.decode(tok.encode(sample)) == sample


def test_char_tokenizer_unknown_character_is_a_clear_error_or_an_explicit_id():
    tok = CharTokenizer.from_text("hello")
    with pytest.raises(ValueError, match=r"character 'z' at position 2 is not in"):
        tok.encode("hoz")
    tolerant = CharTokenizer.from_text("hello", unknown="?")
    assert tolerant.vocab_size == 5
    assert tolerant.encode("hoz") == [1, 3, 4]
    assert tolerant.decode(tolerant.encode("hoz")) == "ho?"


def test_char_tokenizer_rejects_bad_ids_and_vocabularies():
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([0, 2])
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError, match="twice"):
        CharTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="single character"):
        CharTokenizer.from_text("ab", unknown="<unk>")


def test_byte_alphabet_is_a_bijection_onto_printable_characters():
    mapping = bytes_to_unicode()
    assert sorted(mapping) == list(range(256))
    assert len(set(mapping.values())) == 256
    assert all(ch.isprintable() and not ch.isspace() for ch in mapping.values())
    assert (
        mapping[ord(" ")] == "Ġ"
        and mapping[ord("\n")] == "Ċ"
        and mapping[ord("A")] == "A"
    )
    # Every single-byte token in GPT-2's encoder.json is one of these characters.
    encoder = json.loads(data_path("gpt2/encoder.json").read_text(encoding="utf-8"))
    assert set(mapping.values()) <= set(encoder)


def test_gpt2_encoding_equals_tiktokens_own(tiktoken_gpt2):
    ours = gpt2_encoding()
    assert ours._pat_str == tiktoken_gpt2._pat_str == GPT2_PATTERN
    assert ours._mergeable_ranks == tiktoken_gpt2._mergeable_ranks
    assert ours._special_tokens == tiktoken_gpt2._special_tokens == {ENDOFTEXT: 50256}
    assert ours.n_vocab == tiktoken_gpt2.n_vocab == 50257
    text = load_tinyshakespeare()
    ids = ours.encode_ordinary(text)
    assert ids == tiktoken_gpt2.encode_ordinary(text)
    assert len(ids) == 338_025  # the count recorded in the book guide (§10)


def test_gpt2_encoding_known_ids():
    enc = gpt2_encoding()
    # Ids published with GPT-2 and quoted widely (e.g. in the Hugging Face docs).
    assert enc.encode("Hello world") == [15496, 995]
    assert enc.encode("Hello, my dog is cute") == [15496, 11, 616, 3290, 318, 13779]
    assert enc.encode(ENDOFTEXT, allowed_special="all") == [50256]
    assert enc.decode([15496, 995]) == "Hello world"
