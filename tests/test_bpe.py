"""BPETokenizer: training and GPT-2's encoding.

Training against hand-computed merges and the naive trainer, GPT-2 against tiktoken.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyformer.data import load_tinyshakespeare
from tinyformer.tokenizers import ENDOFTEXT, GPT2_PATTERN, BPETokenizer
from tinyformer.tokenizers.bpe_train import (
    train_merges,
    train_merges_naive,
    word_counts,
)


@pytest.fixture(scope="module")
def gpt2():
    return BPETokenizer.from_gpt2()


@pytest.fixture(scope="module")
def shakespeare():
    return load_tinyshakespeare()


# Text the hypothesis tests draw from: arbitrary code points plus pieces chosen to
# stress the regex and the merges (emoji with joiners, CJK, combining marks, whitespace
# runs, contractions, digits, and the special token).
_PIECES = st.sampled_from(
    [
        "👍🏽",
        "👨‍👩‍👧",
        "日本語",
        "한국어",
        "é",
        "e\u0301",
        "\u0301\u0302",
        "   ",
        "\n\n",
        " \t ",
        "\r\n",
        "'s",
        "'ll",
        "2024",
        " 3.14",
        "hello",
        " world",
        ENDOFTEXT,
        "<|",
        "|>",
        "\u00a0",
        "\u2028",
        "Ġ",
    ]
)
_TEXT = st.lists(st.one_of(st.text(max_size=8), _PIECES), max_size=12).map("".join)


def test_pair_counting_by_hand():
    # "aaabdaaabac" as one word. Pair counts: aa 4 (overlapping runs count twice), ab 2,
    # bd 1, da 1, ba 1, ac 1. First merge: (a, a) -> 256; "aaa" merges left to right, so
    # the word becomes [256, a, b, d, 256, a, b, a, c]. Now (256, a) and (a, b) both
    # occur twice; the tie goes to the greater bytes, (b"aa", b"a") > (b"a", b"b"), so
    # (256, a) -> 257 ("aaa"). Then [257, b, d, 257, b, a, c]: (257, b) -> 258.
    counts = word_counts("aaabdaaabac", r"\w+")
    assert counts == Counter({b"aaabdaaabac": 1})
    a, b = ord("a"), ord("b")
    assert train_merges(counts, 3) == [(a, a), (256, a), (257, b)]


def test_ties_go_to_the_lexicographically_greatest_pair():
    # Every pair occurs once; the greatest by bytes is (y, z), then (x, y) ...
    # in "xyz abc".
    counts = word_counts("abc xyz", r"\w+")
    expected = [(ord("y"), ord("z")), (ord("x"), 256)]
    assert train_merges(counts, 2) == expected
    # Reversing the insertion order of the words changes nothing.
    reordered = Counter(dict(reversed(list(counts.items()))))
    assert train_merges(reordered, 2) == expected


def test_incremental_trainer_matches_naive_trainer_on_shakespeare(shakespeare):
    counts = word_counts(shakespeare[:60_000], GPT2_PATTERN)
    assert train_merges(counts, 150) == train_merges_naive(counts, 150)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(["ab", "ba", "aab", " a", "bb", "abab", "é", "a"]),
        min_size=1,
        max_size=30,
    ).map("".join)
)
def test_incremental_trainer_matches_naive_trainer_on_tie_heavy_texts(text):
    counts = word_counts(text, GPT2_PATTERN)
    assert train_merges(counts, 12) == train_merges_naive(counts, 12)


def test_train_vocabulary_specials_and_errors():
    text = "the cat<|sep|>the hat<|sep|>" * 10
    tok = BPETokenizer.train(text, vocab_size=262, special_tokens=["<|sep|>"])
    assert tok.vocab_size == 262
    assert tok.special_tokens == {"<|sep|>": 261}
    # No merged token contains any piece of a special token's text spanning the
    # boundary.
    assert all(b"<" not in tok.token_bytes(i) or i < 256 for i in range(256, 261))
    ids = tok.encode(text, allowed_special="all")
    assert ids.count(261) == 20
    assert tok.decode(ids) == text
    with pytest.raises(ValueError, match="at least 257"):
        BPETokenizer.train(text, vocab_size=256, special_tokens=["<|sep|>"])
    with pytest.raises(ValueError, match="non-empty"):
        BPETokenizer.train(text, vocab_size=300, special_tokens=[""])
    with pytest.raises(TypeError):
        BPETokenizer.train(b"bytes", vocab_size=300)
    # Running out of pairs stops early instead of failing.
    assert BPETokenizer.train("ab", vocab_size=1000).vocab_size == 257


def test_trained_tokenizer_compresses_shakespeare(shakespeare):
    sample = shakespeare[:100_000]
    tok = BPETokenizer.train(sample, vocab_size=512)
    ids = tok.encode(sample)
    assert tok.decode(ids) == sample
    assert (
        len(sample.encode()) / len(ids) > 2.0
    )  # 256 merges at least double bytes per token
    assert max(ids) < 512


def test_from_gpt2_matches_tiktoken_on_all_of_tinyshakespeare(
    gpt2, tiktoken_gpt2, shakespeare
):
    assert gpt2.vocab_size == tiktoken_gpt2.n_vocab == 50257
    ids = gpt2.encode(shakespeare)
    assert ids == tiktoken_gpt2.encode(shakespeare)
    assert gpt2.decode(ids) == shakespeare


def test_from_gpt2_known_tokens(gpt2, tiktoken_gpt2):
    assert gpt2.encode(" SolidGoldMagikarp") == tiktoken_gpt2.encode(
        " SolidGoldMagikarp"
    )
    assert len(gpt2.encode(" SolidGoldMagikarp")) == 1
    for token_id in (0, 220, 198, 15496, 50255):
        assert gpt2.token_bytes(token_id) == tiktoken_gpt2.decode_single_token_bytes(
            token_id
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_from_gpt2_matches_tiktoken_on_arbitrary_unicode(gpt2, tiktoken_gpt2, text):
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)
    assert gpt2.encode(text, allowed_special="all") == tiktoken_gpt2.encode(
        text, allowed_special="all"
    )
    assert gpt2.encode(text, disallowed_special=()) == tiktoken_gpt2.encode(
        text, disallowed_special=()
    )
    if ENDOFTEXT in text:
        with pytest.raises(ValueError, match="special token"):
            gpt2.encode(text)
        with pytest.raises(ValueError):
            tiktoken_gpt2.encode(text)
    assert gpt2.decode(gpt2.encode(text, allowed_special="all")) == text


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_round_trip_with_a_small_trained_tokenizer(text):
    tok = _small_tokenizer()
    assert tok.decode(tok.encode(text, disallowed_special=())) == text


_SMALL: list[BPETokenizer] = []


def _small_tokenizer() -> BPETokenizer:
    if not _SMALL:
        _SMALL.append(
            BPETokenizer.train(
                load_tinyshakespeare()[:20_000], 300, special_tokens=["<|end|>"]
            )
        )
    return _SMALL[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50256), max_size=10))
def test_decode_of_arbitrary_ids_matches_tiktoken_and_never_raises(
    gpt2, tiktoken_gpt2, ids
):
    assert gpt2.decode(ids) == tiktoken_gpt2.decode(ids)


def test_decode_invalid_utf8_uses_replacement_character(gpt2):
    # Id 447 is the byte pair b"\xe2\x80": the start of a three-byte character, cut
    # short.
    assert gpt2.token_bytes(447) == b"\xe2\x80"
    assert gpt2.decode([447]) == "\ufffd"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        gpt2.decode([50257])


def test_encode_special_token_rules(gpt2):
    assert gpt2.encode(f"a{ENDOFTEXT}b", allowed_special={ENDOFTEXT}) == [64, 50256, 65]
    with pytest.raises(ValueError, match="allowed_special"):
        gpt2.encode("a", allowed_special={"<|nope|>"})
    with pytest.raises(TypeError):
        gpt2.encode(123)


def test_save_load_round_trip(tmp_path):
    tok = _small_tokenizer()
    path = tmp_path / "tok.txt"
    tok.save(path)
    text = path.read_text(encoding="utf-8")
    assert (
        text.startswith("tinyformer-bpe v1\n")
        and "merges 43\n" in text
        and 'specials 1\n299 "<|end|>"' in text
    )
    again = BPETokenizer.load(path)
    assert again.merges == tok.merges and again.special_tokens == tok.special_tokens
    assert again.pattern == tok.pattern and again.byte_ids == tok.byte_ids
    sample = "To be, or not to be<|end|>"
    assert again.encode(sample, allowed_special="all") == tok.encode(
        sample, allowed_special="all"
    )


def test_gpt2_save_load_round_trip(gpt2, tmp_path):
    path = tmp_path / "gpt2.txt"
    gpt2.save(path)
    again = BPETokenizer.load(path)
    assert again.merges == gpt2.merges and again.byte_ids == gpt2.byte_ids
    assert again.encode("Hello world") == [15496, 995]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda lines: lines[:10],
            r"line 11: the file ends here, but merge 7 of 43 was expected",
        ),
        (lambda lines: ["gibberish"] + lines[1:], r"line 1: expected the header"),
        (
            lambda lines: lines[:5] + ["12 x"] + lines[6:],
            r"line 6: expected 2 non-negative integers for merge 2",
        ),
        (
            lambda lines: lines[:5] + ["9999 1"] + lines[6:],
            r"line 6: merge 2 uses id 9999",
        ),
        (
            lambda lines: lines[:1] + ['pattern "unterminated'] + lines[2:],
            r"line 2: expected a JSON string",
        ),
        (lambda lines: lines + ["extra"], r"line 50: unexpected extra content"),
        (
            lambda lines: lines[:-1],
            r"line 49: the file ends here, but special token 1 of 1",
        ),
    ],
)
def test_load_of_a_damaged_file_names_file_and_line(tmp_path, damage, message):
    path = tmp_path / "tok.txt"
    _small_tokenizer().save(path)
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    path.write_text("\n".join(damage(lines)) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        BPETokenizer.load(path)
    assert str(path) in str(info.value)


def test_load_missing_or_binary_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        BPETokenizer.load(tmp_path / "absent.txt")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        BPETokenizer.load(binary)


def test_constructor_rejects_bad_merges_and_specials():
    with pytest.raises(ValueError, match="no earlier token"):
        BPETokenizer([(1, 256)])
    with pytest.raises(ValueError, match="repeats"):
        BPETokenizer([(1, 2), (1, 2)])
    with pytest.raises(ValueError, match="must have id 257"):
        BPETokenizer([(1, 2)], special_tokens={"<s>": 300})
    with pytest.raises(ValueError, match="byte_ids"):
        BPETokenizer([], byte_ids=[0] * 256)
