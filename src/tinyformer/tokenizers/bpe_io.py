"""Reading the text format ``BPETokenizer.save`` writes, with errors that name the line.

The format, one item per line::

    tinyformer-bpe v1
    pattern "<the pre-tokenization regex, as a JSON string>"
    bytes <256 ids: the id of byte 0, of byte 1, ...>
    merges <M>
    <left id> <right id>  # "<the new token, for reading only>"     (M lines)
    specials <S>
    <id> "<the special token, as a JSON string>"                   (S lines)
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["read_tokenizer_file"]


class _Lines:
    """Hands out a file's lines one at a time.

    It formats errors as ``file, line N: ...``.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{path}: not a UTF-8 text file ({err.reason}); is this a tokenizer "
                "file?"
            ) from None
        # split on "\n" only: JSON strings may hold other line separators such as U+2028
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.number = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}, line {self.number}: {message}")

    def next(self, what: str) -> str:
        if self.number >= len(self.lines):
            self.number += 1
            raise self.error(
                f"the file ends here, but {what} was expected (truncated file?)"
            )
        self.number += 1
        return self.lines[self.number - 1]

    def keyword(self, key: str) -> str:
        line = self.next(f"a {key!r} line")
        head, _, rest = line.partition(" ")
        if head != key:
            raise self.error(
                f"expected a line starting with {key!r}, found {line[:40]!r}"
            )
        return rest

    def count(self, key: str) -> int:
        rest = self.keyword(key)
        if not rest.isdigit():
            raise self.error(
                f"{key!r} must be followed by a count, found {rest[:40]!r}"
            )
        return int(rest)

    def json_string(self, text: str) -> str:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise self.error(
                f"expected a JSON string, found {text[:40]!r} ({err.msg})"
            ) from None
        if not isinstance(value, str):
            raise self.error(f"expected a JSON string, found {text[:40]!r}")
        return value

    def ints(self, text: str, n: int | None, what: str) -> list[int]:
        parts = text.split()
        if not all(p.isdigit() for p in parts) or (n is not None and len(parts) != n):
            expected = f"{n} " if n is not None else ""
            raise self.error(
                f"expected {expected}non-negative integers for {what}, found "
                f"{text[:60]!r}"
            )
        return [int(p) for p in parts]


def read_tokenizer_file(
    path: Path, magic: str
) -> tuple[list[tuple[int, int]], str, dict[str, int], list[int]]:
    """Parse a saved tokenizer: ``(merges, pattern, special_tokens, byte_ids)``."""
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer file at {path}")
    lines = _Lines(path)
    first = lines.next("the header")
    if first != magic:
        raise lines.error(
            f"expected the header {magic!r}, found {first[:40]!r}; is this a tokenizer "
            "file?"
        )
    pattern = lines.json_string(lines.keyword("pattern"))
    byte_ids = lines.ints(lines.keyword("bytes"), 256, "the 256 byte ids")
    if sorted(byte_ids) != list(range(256)):
        raise lines.error("the byte ids must be 0..255, each exactly once")
    merges: list[tuple[int, int]] = []
    n_merges = lines.count("merges")
    for k in range(n_merges):
        line = lines.next(f"merge {k + 1} of {n_merges}")
        pair = lines.ints(line.partition("#")[0], 2, f"merge {k + 1}")
        if max(pair) >= 256 + k:
            raise lines.error(
                f"merge {k + 1} uses id {max(pair)}, which no earlier token has"
            )
        merges.append((pair[0], pair[1]))
    specials: dict[str, int] = {}
    n_specials = lines.count("specials")
    for k in range(n_specials):
        line = lines.next(f"special token {k + 1} of {n_specials}")
        sid, _, name = line.partition(" ")
        (token_id,) = lines.ints(sid, 1, "a special token's id")
        if token_id != 256 + n_merges + k:
            raise lines.error(
                f"special token {k + 1} should have id {256 + n_merges + k}, found "
                f"{token_id}"
            )
        specials[lines.json_string(name)] = token_id
    if lines.number < len(lines.lines):
        lines.number += 1
        raise lines.error(
            f"unexpected extra content {lines.lines[lines.number - 1][:40]!r} after "
            "the last special token"
        )
    return merges, pattern, specials, byte_ids
