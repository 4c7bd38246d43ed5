"""Byte-level byte-pair encoding (BPE), the tokenizer family of GPT-2.

A ``BPETokenizer`` is its merge list. Token ids ``0..255`` stand for the 256 byte
values (any order: GPT-2 uses its own), merge ``k`` makes token ``256 + k`` from a pair
of earlier tokens, and special tokens such as ``<|endoftext|>`` come last. Encoding
cuts the text with a regex into words, then repeatedly applies, inside each word, the
earliest-learned merge that fits; because every text is bytes, no character is ever
unknown.

>>> tok = BPETokenizer.train("low lower lowest " * 20, vocab_size=260)
>>> [tok.token_bytes(i) for i in range(256, 260)]
[b'ow', b'low', b' low', b' lowe']
>>> tok.decode(tok.encode(" lowly")) == " lowly"
True
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import regex

from tinyformer.tokenizers.bpe_train import split_specials, train_merges, word_counts
from tinyformer.tokenizers.gpt2 import (
    ENDOFTEXT,
    GPT2_PATTERN,
    gpt2_merges,
    gpt2_mergeable_ranks,
)

__all__ = ["BPETokenizer", "split_stream"]

_MAGIC = "tinyformer-bpe v1"


class BPETokenizer:
    """A byte-level BPE tokenizer.

    ``merges[k] = (left_id, right_id)`` makes id ``256 + k``.

    ``byte_ids[b]`` is the id of byte ``b`` (default: ``b`` itself); ``special_tokens``
    maps each special string to its id, which must follow the merged tokens.
    """

    def __init__(
        self,
        merges: Iterable[tuple[int, int]],
        pattern: str = GPT2_PATTERN,
        special_tokens: dict[str, int] | None = None,
        byte_ids: Sequence[int] | None = None,
    ):
        byte_ids = list(range(256)) if byte_ids is None else [int(i) for i in byte_ids]
        if sorted(byte_ids) != list(range(256)):
            raise ValueError(
                "byte_ids must give each of the 256 byte values a distinct id in 0..255"
            )
        self.byte_ids = byte_ids
        self.vocab: dict[int, bytes] = {i: bytes([b]) for b, i in enumerate(byte_ids)}
        self.merges: dict[tuple[int, int], int] = {}
        for k, (a, b) in enumerate(merges):
            new_id = 256 + k
            if a not in self.vocab or b not in self.vocab:
                raise ValueError(
                    f"merge {k} ({a}, {b}) uses an id that no earlier token has"
                )
            if (a, b) in self.merges:
                raise ValueError(f"merge {k} ({a}, {b}) repeats an earlier merge")
            self.merges[(a, b)] = new_id
            self.vocab[new_id] = self.vocab[a] + self.vocab[b]
        self.special_tokens = dict(special_tokens or {})
        for i, (name, sid) in enumerate(
            sorted(self.special_tokens.items(), key=lambda kv: kv[1])
        ):
            if not name or sid != 256 + len(self.merges) + i:
                raise ValueError(
                    f"special token {name!r} must have id "
                    f"{256 + len(self.merges) + i}, got {sid}"
                )
        self.pattern = pattern
        self._regex = regex.compile(pattern)
        self._cache: dict[str, tuple[int, ...]] = {}

    # ----------------------------------------------------------------- building
    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        special_tokens: Collection[str] = (),
        pattern: str = GPT2_PATTERN,
    ) -> "BPETokenizer":
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        Specials are cut out of the text first, so no merge ever spans one; they get the
        last ids. Training stops early (with a smaller vocabulary) if the text runs out
        of pairs.
        """
        if not isinstance(text, str):
            raise TypeError(f"train needs a str, got {type(text).__name__}")
        specials = list(dict.fromkeys(special_tokens))
        if any(not isinstance(s, str) or not s for s in specials):
            raise ValueError("special tokens must be non-empty strings")
        if vocab_size < 256 + len(specials):
            raise ValueError(
                f"vocab_size={vocab_size} is too small: a byte-level BPE needs 256 "
                f"byte tokens plus {len(specials)} special token(s), so at least "
                f"{256 + len(specials)}"
            )
        merges = train_merges(
            word_counts(text, pattern, tuple(specials)),
            vocab_size - 256 - len(specials),
        )
        first = 256 + len(merges)
        return cls(merges, pattern, {s: first + i for i, s in enumerate(specials)})

    @classmethod
    def from_gpt2(cls) -> "BPETokenizer":
        """GPT-2's tokenizer, from the package's ``vocab.bpe`` and ``encoder.json``."""
        ranks = gpt2_mergeable_ranks()  # bytes -> id, checked against encoder.json
        merges = [(ranks[a], ranks[b]) for a, b in gpt2_merges()]
        byte_ids = [ranks[bytes([b])] for b in range(256)]
        return cls(merges, GPT2_PATTERN, {ENDOFTEXT: len(ranks)}, byte_ids)

    # ------------------------------------------------------------------ sizes
    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one id stands for (a special token's UTF-8 text)."""
        if token_id in self.vocab:
            return self.vocab[token_id]
        for name, sid in self.special_tokens.items():
            if sid == token_id:
                return name.encode("utf-8")
        raise ValueError(
            f"token id {token_id} is outside the vocabulary (valid ids: 0 to "
            f"{self.vocab_size - 1})"
        )

    # --------------------------------------------------------------- encoding
    def _encode_word(self, word: str) -> tuple[int, ...]:
        """Apply merges to one pre-token, earliest-learned (lowest new id) first."""
        ids = [self.byte_ids[b] for b in word.encode("utf-8")]
        merges = self.merges
        while len(ids) > 1:
            best_id, best_at = None, -1
            for j in range(len(ids) - 1):
                new_id = merges.get((ids[j], ids[j + 1]))
                if new_id is not None and (best_id is None or new_id < best_id):
                    best_id, best_at = new_id, j
            if best_id is None:
                break
            pair = (ids[best_at], ids[best_at + 1])
            out, j = ids[:best_at], best_at
            while j < len(ids):  # merge every occurrence of this pair, left to right
                if j + 1 < len(ids) and (ids[j], ids[j + 1]) == pair:
                    out.append(best_id)
                    j += 2
                else:
                    out.append(ids[j])
                    j += 1
            ids = out
        return tuple(ids)

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text``, treating special-token strings as plain text."""
        if not isinstance(text, str):
            raise TypeError(f"encode needs a str, got {type(text).__name__}")
        cache, out = self._cache, []
        for word in self._regex.findall(text):
            ids = cache.get(word)
            if ids is None:
                ids = cache[word] = self._encode_word(word)
            out.extend(ids)
        return out

    def encode_iterable(self, chunks: Iterable[str]) -> Iterator[int]:
        """Encode a stream of text (e.g. an open file's lines) lazily, as ordinary text.

        The ids are exactly those of ``encode_ordinary("".join(chunks))``, but only a
        small buffer of text is held at a time (see ``split_stream``), so a file far
        larger than memory can be encoded. Special-token strings are treated as plain
        text.
        """
        for segment in split_stream(chunks, self._regex):
            yield from self.encode_ordinary(segment)

    def encode(
        self,
        text: str,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> list[int]:
        """Encode ``text``; the special-token rules are tiktoken's.

        A special in ``allowed_special`` becomes its single id. Any other special listed
        in ``disallowed_special`` (default: every special) raises ``ValueError`` if it
        appears, so text from users cannot smuggle in control tokens by accident; pass
        ``disallowed_special=()`` to encode such text as ordinary characters.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode needs a str, got {type(text).__name__}")
        allowed = (
            set(self.special_tokens)
            if allowed_special == "all"
            else set(allowed_special)
        )
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise ValueError(
                f"allowed_special lists {sorted(unknown)}, which are not special "
                "tokens of this tokenizer"
            )
        disallowed = (
            set(self.special_tokens)
            if disallowed_special == "all"
            else set(disallowed_special)
        )
        for name in sorted(disallowed - allowed):
            if name in text:
                raise ValueError(
                    f"the text contains the special token {name!r}; pass "
                    f"allowed_special={{{name!r}}} to encode it as one token, or "
                    "disallowed_special=() to encode it as plain text"
                )
        out: list[int] = []
        for part in split_specials(text, tuple(allowed)):
            if part in allowed:
                out.append(self.special_tokens[part])
            elif part:
                out.extend(self.encode_ordinary(part))
        return out

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        return b"".join(self.token_bytes(int(i)) for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text. Byte sequences that are not valid UTF-8 (possible for
        arbitrary ids) become U+FFFD replacement characters instead of raising."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # ------------------------------------------------------------ saving
    def save(self, path: str | Path) -> None:
        """Write a readable text file: header, pattern, byte ids, merges, specials.

        Each merge line is ``left right`` followed by a comment showing the new token.
        """
        lines = [
            _MAGIC,
            "pattern " + _quote(self.pattern),
            "bytes " + " ".join(map(str, self.byte_ids)),
        ]
        lines.append(f"merges {len(self.merges)}")
        for (a, b), new_id in self.merges.items():
            shown = self.vocab[new_id].decode("utf-8", errors="backslashreplace")
            lines.append(f"{a} {b}  # {_quote(shown)}")
        lines.append(f"specials {len(self.special_tokens)}")
        for name, sid in sorted(self.special_tokens.items(), key=lambda kv: kv[1]):
            lines.append(f"{sid} {_quote(name)}")
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "BPETokenizer":
        """Read a file written by ``save``; damage is reported with file and line."""
        from tinyformer.tokenizers.bpe_io import read_tokenizer_file

        merges, pattern, specials, byte_ids = read_tokenizer_file(Path(path), _MAGIC)
        try:
            return cls(merges, pattern, specials, byte_ids)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"


def split_stream(
    chunks: Iterable[str], pattern: str | regex.Pattern, min_size: int = 1 << 16
) -> Iterator[str]:
    """Regroup a stream of text into segments that can be encoded independently.

    BPE never merges across the pre-tokens that ``pattern`` cuts, so text can be encoded
    in pieces, but a chunk boundary (say, the end of a line) is not always a safe place
    to cut: a word may continue in the next chunk, and GPT-2's pattern splits a run of
    whitespace differently depending on what follows it (``"\n\n"`` at the end of a text
    is one pre-token, before a word it is two). So text is buffered until it holds at
    least ``min_size`` characters, and released only up to the start of a pre-token
    whose predecessor ends in a non-space character: that predecessor ended because the
    next character belongs to another class, which stays true however the text
    continues. The last two pre-tokens always wait for more text. Concatenated, the
    segments are the input; encoded one by one, they give the ids of the whole text
    (tested against tiktoken for GPT-2's pattern).
    """
    compiled = regex.compile(pattern) if isinstance(pattern, str) else pattern
    buffer = ""
    for chunk in chunks:
        if not isinstance(chunk, str):
            raise TypeError(
                "split_stream needs str chunks (open the file in text mode), got "
                f"{type(chunk).__name__}"
            )
        buffer += chunk
        if len(buffer) < min_size:
            continue
        pieces = [(m.start(), m.group()) for m in compiled.finditer(buffer)]
        cut = next(
            (
                pieces[i][0]
                for i in range(len(pieces) - 2, 0, -1)
                if pieces[i - 1][1] and not pieces[i - 1][1][-1].isspace()
            ),
            0,
        )
        if cut:
            yield buffer[:cut]
            buffer = buffer[cut:]
    if buffer:
        yield buffer


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)
