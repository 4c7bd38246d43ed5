"""GPT-2's tokenizer, rebuilt offline from the two files OpenAI published.

``vocab.bpe`` lists GPT-2's 50,000 merges in the order they were learned;
``encoder.json`` maps every token to its id. Both spell bytes with a printable
"byte alphabet" (see ``bytes_to_unicode``) because the files are text.
"""

from __future__ import annotations

import json

import tiktoken

from tinyformer.data import read_verified_bytes

__all__ = [
    "GPT2_PATTERN",
    "ENDOFTEXT",
    "bytes_to_unicode",
    "gpt2_merges",
    "gpt2_mergeable_ranks",
    "gpt2_encoding",
]

#: GPT-2's pre-tokenization regex, in the form tiktoken writes it. It splits text into
#: contractions, letter runs, digit runs, punctuation runs and whitespace, each
#: optionally led by one space, so that merges never cross those boundaries.
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++"""
    r"""|\s++$|\s+(?!\S)|\s"""
)

#: GPT-2's only special token, which separates documents. Its id is 50256.
ENDOFTEXT = "<|endoftext|>"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters.

    Bytes that already print as themselves (``!`` to ``~``, ``¡`` to ``¬``, ``®`` to
    ``ÿ``) keep their character; the other 68 (control characters, space, ...) are
    moved, in order, to ``chr(256)``, ``chr(257)``, .... So a space byte is written
    ``Ġ`` (``chr(256 + 32)``) in the files.
    """
    printable = (
        set(range(ord("!"), ord("~") + 1))
        | set(range(ord("¡"), ord("¬") + 1))
        | set(range(ord("®"), ord("ÿ") + 1))
    )
    mapping: dict[int, str] = {}
    moved = 0
    for byte in range(256):
        if byte in printable:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + moved)
            moved += 1
    return mapping


def _alphabet_to_bytes(token: str, decoder: dict[str, int]) -> bytes:
    return bytes(decoder[ch] for ch in token)


def gpt2_merges() -> list[tuple[bytes, bytes]]:
    """GPT-2's 50,000 merges, in rank order, as pairs of byte strings.

    The file's checksum is verified.
    """
    decoder = {ch: byte for byte, ch in bytes_to_unicode().items()}
    lines = read_verified_bytes("gpt2/vocab.bpe").decode("utf-8").split("\n")
    # The first line is a version comment; the file ends with a newline.
    merges = []
    for line in lines[1:]:
        if line:
            left, right = line.split(" ")
            merges.append(
                (_alphabet_to_bytes(left, decoder), _alphabet_to_bytes(right, decoder))
            )
    return merges


def gpt2_mergeable_ranks() -> dict[bytes, int]:
    """Every GPT-2 token (as bytes) mapped to its rank, which is also its id.

    Built the way BPE defines the vocabulary: the 256 single bytes first (in the order
    of the byte alphabet), then one new token per merge, in merge order. The result is
    checked against ``encoder.json``, so both files must agree.
    """
    alphabet = bytes_to_unicode()
    ranks = {
        bytes([byte]): rank
        for rank, byte in enumerate(sorted(alphabet, key=lambda b: ord(alphabet[b])))
    }
    for left, right in gpt2_merges():
        ranks[left + right] = len(ranks)

    decoder = {ch: byte for byte, ch in alphabet.items()}
    encoder = json.loads(read_verified_bytes("gpt2/encoder.json"))
    from_json = {
        _alphabet_to_bytes(tok, decoder): i
        for tok, i in encoder.items()
        if tok != ENDOFTEXT
    }
    if from_json != ranks:
        raise ValueError(
            "gpt2/encoder.json and gpt2/vocab.bpe disagree: restore both from the "
            "repository"
        )
    if encoder.get(ENDOFTEXT) != len(ranks):
        raise ValueError(
            f"{ENDOFTEXT} should follow the {len(ranks)} merged tokens in "
            "gpt2/encoder.json"
        )
    return ranks


def gpt2_encoding() -> tiktoken.Encoding:
    """A ``tiktoken.Encoding`` identical to tiktoken's own ``"gpt2"``, built offline.

    >>> enc = gpt2_encoding()
    >>> enc.encode("Hello world")
    [15496, 995]
    >>> enc.eot_token
    50256
    """
    ranks = gpt2_mergeable_ranks()
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={ENDOFTEXT: len(ranks)},
        explicit_n_vocab=len(ranks) + 1,
    )
