"""WordPiece, BERT's tokenizer (uncased), built from a ``vocab.txt``.

Two stages, as in BERT (Devlin et al., 2019):

1. *Basic tokenization* turns text into words: drop control characters, turn every kind
   of whitespace into a space, put spaces around CJK ideographs, strip accents
   (decompose, then drop the combining marks), lower-case, and split on whitespace and
   punctuation (every punctuation character is a word of its own).
2. *WordPiece* cuts each word into the longest pieces the vocabulary holds, left to
   right. A piece that continues a word is written ``##piece``. A word with a character
   no piece covers, or longer than ``max_chars_per_word``, becomes ``[UNK]`` as a whole.

>>> tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
...                           "play", "##ing", "##ed", "!"])
>>> tok.tokenize("Playing, played!")
['play', '##ing', '[UNK]', 'play', '##ed', '!']
>>> tok.encode("playing")
[2, 5, 6, 3]

The details follow Hugging Face's fast ``BertTokenizerFast`` (its Rust normalizer),
which the tests compare against id for id.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["WordPieceTokenizer", "basic_tokenize", "SPECIAL_TOKENS"]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_SPECIALS_PATTERN = re.compile("(" + "|".join(map(re.escape, SPECIAL_TOKENS)) + ")")

# Unicode's White_Space property, minus the control characters (removed before this
# test)
_WHITESPACE = set("\t\n\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),  # BERT's original code starts at 0x2B820; the fast one, here
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_control(c: str) -> bool:
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_punctuation(c: str) -> bool:
    # BERT counts every non-alphanumeric ASCII symbol as punctuation ($, +, ^, ...),
    # not only Unicode's P* categories
    cp = ord(c)
    ascii_symbol = (
        33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
    )
    return ascii_symbol or unicodedata.category(c).startswith("P")


def _is_cjk(c: str) -> bool:
    cp = ord(c)
    return any(low <= cp <= high for low, high in _CJK_RANGES)


def normalize(text: str, lowercase: bool = True) -> str:
    """Clean the text, space out CJK ideographs and, if ``lowercase``, strip accents and
    lower-case it (character by character, as BERT's fast tokenizer does)."""
    out = []
    for c in text:
        if c in ("\x00", "\ufffd") or _is_control(c):
            continue
        if c in _WHITESPACE:
            out.append(" ")
        elif _is_cjk(c):
            out.append(f" {c} ")
        else:
            out.append(c)
    text = "".join(out)
    if lowercase:
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        text = "".join(c.lower() for c in text)
    return text


def basic_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Normalized words: split on whitespace, and every punctuation character alone.

    >>> basic_tokenize("Héllo, World!")
    ['hello', ',', 'world', '!']
    """
    words = []
    for chunk in normalize(text, lowercase).split():
        start = 0
        for i, c in enumerate(chunk):
            if _is_punctuation(c):
                if start < i:
                    words.append(chunk[start:i])
                words.append(c)
                start = i + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


class WordPieceTokenizer:
    """A WordPiece vocabulary (a list of tokens; a token's id is its position) and the
    methods to encode and decode with it. The five special tokens must be in it.
    ``lowercase=False`` keeps case and accents (a cased BERT)."""

    def __init__(
        self,
        tokens: Iterable[str],
        lowercase: bool = True,
        max_chars_per_word: int = 100,
    ) -> None:
        tokens = list(tokens)
        if not tokens:
            raise ValueError("a WordPiece vocabulary needs at least the special tokens")
        if any(not isinstance(t, str) or not t for t in tokens):
            raise ValueError("every vocabulary entry must be a non-empty string")
        seen: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if token in seen:
                raise ValueError(
                    f"the vocabulary lists {token!r} twice (ids {seen[token]} and {i})"
                )
            seen[token] = i
        missing = [t for t in SPECIAL_TOKENS if t not in seen]
        if missing:
            raise ValueError(
                f"the vocabulary lacks the special tokens {missing}: add them (BERT "
                "puts [PAD] first)"
            )
        self.tokens = tokens
        self.vocab = seen
        self.lowercase = lowercase
        self.max_chars_per_word = max_chars_per_word
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            seen[t] for t in SPECIAL_TOKENS
        )
        self.merges: list[tuple[str, str]] = []  # filled in by training

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> WordPieceTokenizer:
        """Read a ``vocab.txt``: one token per line, ids in line order."""
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final newline
        return cls(lines, **kwargs)

    def save(self, path: str | Path) -> None:
        Path(path).write_text("\n".join(self.tokens) + "\n", encoding="utf-8")

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def split_word(self, word: str) -> list[str]:
        """Greedy longest-match-first pieces of one normalized word."""
        if len(word) > self.max_chars_per_word:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:  # no piece fits at `start`: the whole word is unknown
                return ["[UNK]"]
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """The pieces of ``text``. A special token written in the text, such as
        ``[MASK]``, is that token (as in Hugging Face's tokenizers), so a masked
        sentence can be typed."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        pieces = []
        for chunk in _SPECIALS_PATTERN.split(text):
            if chunk in SPECIAL_TOKENS:
                pieces.append(chunk)
                continue
            for word in basic_tokenize(chunk, self.lowercase):
                pieces.extend(self.split_word(word))
        return pieces

    def _ids(self, text: str) -> list[int]:
        return [self.vocab[p] for p in self.tokenize(text)]

    def encode(
        self,
        text: str,
        pair: str | None = None,
        *,
        add_special_tokens: bool = True,
        max_length: int | None = None,
        truncation: bool = False,
    ) -> list[int]:
        """Ids of ``[CLS] text [SEP]`` (and ``pair [SEP]`` after it, if given)."""
        return self.encode_with_types(
            text,
            pair,
            add_special_tokens=add_special_tokens,
            max_length=max_length,
            truncation=truncation,
        )[0]

    def encode_with_types(
        self,
        text: str,
        pair: str | None = None,
        *,
        add_special_tokens: bool = True,
        max_length: int | None = None,
        truncation: bool = False,
    ) -> tuple[list[int], list[int]]:
        """``(ids, token_type_ids)``: type 0 for ``[CLS]``, the first text and its
        ``[SEP]``; type 1 for the pair and its ``[SEP]``. ``truncation`` with
        ``max_length`` cuts the longer text first (see ``_truncate``)."""
        first = self._ids(text)
        second = None if pair is None else self._ids(pair)
        specials = (1 + (second is not None) + 1) if add_special_tokens else 0
        if max_length is not None:
            total = len(first) + (len(second) if second else 0) + specials
            if total > max_length:
                if not truncation:
                    raise ValueError(
                        f"the input is {total} tokens long, more than max_length="
                        f"{max_length}: pass truncation=True to cut it"
                    )
                first, second = _truncate(first, second, max_length - specials)
        if not add_special_tokens:
            ids = first + (second or [])
            return ids, [0] * len(first) + [1] * len(second or [])
        ids = [self.cls_id, *first, self.sep_id]
        types = [0] * len(ids)
        if second is not None:
            ids += [*second, self.sep_id]
            types += [1] * (len(second) + 1)
        return ids, types

    def __call__(
        self,
        texts: Sequence[str] | str,
        pairs: Sequence[str] | None = None,
        *,
        padding: bool = True,
        max_length: int | None = None,
        truncation: bool = False,
        return_tensors: str | None = None,
    ) -> dict:
        """A batch: ``input_ids``, ``token_type_ids`` and ``attention_mask`` (1 for real
        tokens, 0 for padding), each a list of rows, padded on the right with ``[PAD]``
        to the longest row (``padding``); ``return_tensors="pt"`` gives tensors."""
        if isinstance(texts, str):
            texts = [texts]
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(pairs)} pairs")
        rows = [
            self.encode_with_types(
                t,
                None if pairs is None else pairs[i],
                max_length=max_length,
                truncation=truncation,
            )
            for i, t in enumerate(texts)
        ]
        width = max(len(ids) for ids, _ in rows) if rows else 0
        batch = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        for ids, types in rows:
            pad = width - len(ids) if padding else 0
            batch["input_ids"].append(ids + [self.pad_id] * pad)
            batch["token_type_ids"].append(types + [0] * pad)
            batch["attention_mask"].append([1] * len(ids) + [0] * pad)
        if return_tensors == "pt":
            import torch

            if not padding and len({len(r) for r in batch["input_ids"]}) > 1:
                raise ValueError(
                    "rows of different lengths need padding=True for tensors"
                )
            return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}
        if return_tensors is not None:
            raise ValueError(
                f"return_tensors must be None or 'pt', got {return_tensors!r}"
            )
        return batch

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Join pieces back into text: ``##`` pieces glue to the previous one, words are
        separated by spaces (so punctuation comes back spaced out,
        ``hello , world``)."""
        words: list[str] = []
        specials = {self.vocab[t] for t in SPECIAL_TOKENS}
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise ValueError(
                    f"token id {i} is outside the vocabulary [0, {len(self.tokens)})"
                )
            if skip_special_tokens and i in specials:
                continue
            token = self.tokens[i]
            if token.startswith("##") and words:
                words[-1] += token[2:]
            else:
                words.append(token)
        return " ".join(words)

    @classmethod
    def train(cls, text: str, vocab_size: int, **kwargs) -> WordPieceTokenizer:
        """Learn a vocabulary from ``text`` (see ``.wordpiece_train``); the merges, in
        order, are in the result's ``merges``."""
        from tinyformer.tokenizers.wordpiece_train import train_wordpiece

        tokens, merges = train_wordpiece(text, vocab_size, **kwargs)
        tokenizer = cls(tokens, lowercase=kwargs.get("lowercase", True))
        tokenizer.merges = merges
        return tokenizer


def _truncate(
    first: list[int], second: list[int] | None, budget: int
) -> tuple[list[int], list[int] | None]:
    """Cut from the ends to fit ``budget`` tokens, longest first, as Hugging Face's fast
    tokenizers do: the shorter text stays whole if it fits in half the budget and the
    longer one gets the rest; otherwise each gets half, the longer one (the second, on a
    tie) the odd token."""
    if budget < 0:
        raise ValueError("max_length is too small to hold even the special tokens")
    if second is None:
        return first[:budget], None
    swap = len(first) > len(second)
    short, long_ = sorted((len(first), len(second)))
    long_ = short if short > budget else max(short, budget - short)
    if short + long_ > budget:
        short = budget // 2
        long_ = short + budget % 2
    n1, n2 = (long_, short) if swap else (short, long_)
    return first[:n1], second[:n2]
