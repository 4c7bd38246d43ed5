"""Command line: turn a text file of any size into a flat file of token ids for
training.

    python -m tinyformer.prepare input.txt data/input.bin --tokenizer char
    python -m tinyformer.prepare input.txt data/input.bin --tokenizer gpt2
    python -m tinyformer.prepare input.txt data/input.bin --tokenizer my_bpe.txt

The output is the ids as little-endian ``uint16`` one after another (no header), which
``numpy.memmap`` reads without loading it, plus ``OUTPUT.json`` recording the tokenizer
and the number of tokens. The text is read and encoded in chunks: memory use does not
grow with the file (a character tokenizer reads it twice: once to collect its alphabet).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from tinyformer._files import atomic_write
from tinyformer.checkpoint import tokenizer_to_dict
from tinyformer.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    GPT2_PATTERN,
    gpt2_encoding,
)
from tinyformer.tokenizers.bpe import split_stream

__all__ = ["prepare", "main"]

CHUNK_CHARS = 1 << 20


def _chunks(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        while chunk := f.read(CHUNK_CHARS):
            yield chunk


def _char_tokenizer(path: Path) -> CharTokenizer:
    chars: set[str] = set()
    for chunk in _chunks(path):
        chars.update(chunk)
    if not chars:
        raise ValueError(f"{path} is empty: there is nothing to tokenize")
    return CharTokenizer(sorted(chars))


def _id_stream(tokenizer, path: Path) -> Iterator[list[int]]:
    if isinstance(tokenizer, CharTokenizer):
        for chunk in _chunks(path):
            yield tokenizer.encode(chunk)
    elif isinstance(tokenizer, BPETokenizer):
        batch: list[int] = []
        for token in tokenizer.encode_iterable(_chunks(path)):
            batch.append(token)
            if len(batch) >= CHUNK_CHARS:
                yield batch
                batch = []
        yield batch
    else:  # tiktoken's GPT-2 encoding: the same streaming cut, tiktoken's fast encoder
        for segment in split_stream(_chunks(path), GPT2_PATTERN):
            yield tokenizer.encode_ordinary(segment)


def _load_tokenizer(spec: str, path: Path):
    if spec == "char":
        return _char_tokenizer(path)
    if spec == "gpt2":
        return gpt2_encoding()
    if Path(spec).is_file():
        return BPETokenizer.load(spec)
    raise ValueError(
        "--tokenizer must be 'char', 'gpt2' or the path of a saved BPETokenizer; "
        f"{spec!r} is none of them"
    )


def prepare(
    input_path: str | Path, output_path: str | Path, tokenizer: str | object = "char"
) -> int:
    """Encode ``input_path`` into ``output_path`` (uint16 ids) and ``output_path.json``.

    Returns the count.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise FileNotFoundError(f"input text {input_path} does not exist")
    tok = (
        _load_tokenizer(tokenizer, input_path)
        if isinstance(tokenizer, str)
        else tokenizer
    )
    vocab = tok.n_vocab if hasattr(tok, "n_vocab") else tok.vocab_size
    if vocab > 2**16:
        raise ValueError(
            f"a vocabulary of {vocab} ids does not fit in uint16 (at most 65,536)"
        )
    count = 0
    with atomic_write(output_path) as f:
        for ids in _id_stream(tok, input_path):
            f.write(np.asarray(ids, dtype="<u2").tobytes())
            count += len(ids)
    meta = {
        "tokenizer": tokenizer_to_dict(tok),
        "tokens": count,
        "dtype": "uint16",
        "source": input_path.name,
    }
    Path(f"{output_path}.json").write_text(
        json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return count


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinyformer.prepare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("input", help="UTF-8 text file")
    parser.add_argument(
        "output", help="token file to write (OUTPUT.json is written beside it)"
    )
    parser.add_argument(
        "--tokenizer", default="char", help="char | gpt2 | path of a saved BPETokenizer"
    )
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        count = prepare(args.input, args.output, args.tokenizer)
    except (ValueError, FileNotFoundError, UnicodeDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {count:,} tokens to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
