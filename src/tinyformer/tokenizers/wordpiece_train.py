"""Learning a WordPiece vocabulary: merge the pairs that co-occur most beyond chance.

Like BPE (``bpe_train``), training starts from single characters and merges pairs of
pieces, growing the vocabulary by one piece per merge. BPE merges the most frequent
pair. WordPiece (Schuster and Nakajima, 2012) merges the pair that most increases the
likelihood of the training text under a model of independent pieces, which amounts to
the score

    score(a, b) = count(ab) / (count(a) * count(b))

so two pieces that are rare but nearly always adjacent win over common pieces that meet
often by chance. Within a word, every piece after the first is a ``##`` continuation, so
``t`` (starting a word) and ``##t`` (inside one) are different pieces. Ties are broken
by the larger pair count, then by the pair's spelling, so training is deterministic.
"""

from __future__ import annotations

from collections import Counter

from tinyformer._checks import check_positive_int
from tinyformer.tokenizers.wordpiece import SPECIAL_TOKENS, basic_tokenize

__all__ = ["train_wordpiece", "merge_pieces"]


def merge_pieces(a: str, b: str) -> str:
    """The piece made of ``a`` followed by the continuation ``b`` (``##`` dropped)."""
    return a + b.removeprefix("##")


def _split(word: str) -> tuple[str, ...]:
    return (word[0], *("##" + c for c in word[1:]))


def train_wordpiece(
    text: str, vocab_size: int, lowercase: bool = True
) -> tuple[list[str], list[tuple[str, str]]]:
    """``(tokens, merges)``: the special tokens, every starting piece found in ``text``
    (characters, bare and ``##``), then one merged piece per merge, until ``vocab_size``
    tokens or until no pair is left. ``text`` is split into words as BERT's basic
    tokenizer does."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("train_wordpiece needs a non-empty training text")
    check_positive_int("vocab_size", vocab_size)
    words = {_split(w): n for w, n in Counter(basic_tokenize(text, lowercase)).items()}
    alphabet = sorted({p for pieces in words for p in pieces})
    tokens = [*SPECIAL_TOKENS, *alphabet]
    if vocab_size < len(tokens):
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the {len(tokens)} special tokens "
            "and characters the text needs"
        )
    merges: list[tuple[str, str]] = []
    while len(tokens) < vocab_size:
        piece_counts: Counter = Counter()
        pair_counts: Counter = Counter()
        for pieces, n in words.items():
            for p in pieces:
                piece_counts[p] += n
            for pair in zip(pieces, pieces[1:]):
                pair_counts[pair] += n
        if not pair_counts:
            break  # every word is a single piece
        best = min(
            pair_counts,
            key=lambda pair: (
                -pair_counts[pair] / (piece_counts[pair[0]] * piece_counts[pair[1]]),
                -pair_counts[pair],
                pair,
            ),
        )
        merged = merge_pieces(*best)
        merges.append(best)
        if merged not in tokens:  # "a" + "##b" and "##a" + "##b" can both give new ones
            tokens.append(merged)
        words = {_apply(pieces, best, merged): n for pieces, n in words.items()}
    return tokens, merges


def _apply(
    pieces: tuple[str, ...], pair: tuple[str, str], merged: str
) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(pieces):
        if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == pair:
            out.append(merged)
            i += 2
        else:
            out.append(pieces[i])
            i += 1
    return tuple(out)
