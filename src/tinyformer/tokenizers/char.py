"""The simplest tokenizer: one token per character."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Maps each distinct character of a text to an id, in sorted order.

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.chars
    ['e', 'h', 'l', 'o']
    >>> tok.encode("hole")
    [1, 3, 2, 0]
    >>> tok.decode([1, 0, 2, 2, 3])
    'hello'

    By default a character outside the vocabulary is an error. Pass ``unknown="?"``
    (a character) to reserve one extra id, ``vocab_size - 1``, for every unseen
    character instead; decoding that id gives the ``unknown`` character back.
    """

    def __init__(self, chars: Iterable[str], unknown: str | None = None):
        chars = list(chars)
        if not chars:
            raise ValueError(
                "a CharTokenizer needs at least one character; build it with "
                "CharTokenizer.from_text(text)"
            )
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("every vocabulary entry must be a single character")
        if len(set(chars)) != len(chars):
            raise ValueError("the vocabulary lists a character twice")
        if unknown is not None and (not isinstance(unknown, str) or len(unknown) != 1):
            raise ValueError(
                f"unknown must be a single character or None, got {unknown!r}"
            )
        self.chars = chars
        self.unknown = unknown
        self.stoi = {c: i for i, c in enumerate(chars)}
        self.itos = dict(enumerate(chars))
        if unknown is not None:
            self.unknown_id: int | None = len(chars)
            self.itos[self.unknown_id] = unknown
        else:
            self.unknown_id = None

    @classmethod
    def from_text(cls, text: str, unknown: str | None = None) -> "CharTokenizer":
        """Vocabulary: the sorted set of characters in ``text``."""
        if not isinstance(text, str) or not text:
            raise ValueError("from_text needs a non-empty string")
        return cls(sorted(set(text)), unknown=unknown)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        if self.unknown_id is not None:
            return [self.stoi.get(c, self.unknown_id) for c in text]
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            position = text.index(err.args[0])
            raise ValueError(
                f"character {err.args[0]!r} at position {position} is not in this "
                f"tokenizer's {len(self.chars)}-character vocabulary; build the "
                "tokenizer from text that contains it, or pass unknown='?' to map "
                "unseen characters to one id"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        try:
            return "".join(self.itos[int(i)] for i in ids)
        except KeyError as err:
            raise ValueError(
                f"token id {err.args[0]} is outside the vocabulary (valid ids: 0 to "
                f"{self.vocab_size - 1})"
            ) from None

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
