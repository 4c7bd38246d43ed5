"""Tokenizers: text to integer ids and back."""

from tinyformer.tokenizers.bpe import BPETokenizer
from tinyformer.tokenizers.char import CharTokenizer
from tinyformer.tokenizers.wordpiece import WordPieceTokenizer
from tinyformer.tokenizers.gpt2 import (
    ENDOFTEXT,
    GPT2_PATTERN,
    bytes_to_unicode,
    gpt2_encoding,
)

__all__ = [
    "BPETokenizer",
    "CharTokenizer",
    "ENDOFTEXT",
    "GPT2_PATTERN",
    "WordPieceTokenizer",
    "bytes_to_unicode",
    "gpt2_encoding",
]
