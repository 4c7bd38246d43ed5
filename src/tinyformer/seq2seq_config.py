"""`Seq2SeqConfig`: the shape of an encoder–decoder transformer, a validated dataclass.

Kept apart from ``tinyformer.seq2seq`` (which re-exports it), as
``tinyformer.config.GPTConfig`` is from the GPT. Every block of both stacks is
built from the ``tinyformer.config.GPTConfig`` that
``Seq2SeqConfig.block_config`` returns, so the blocks' own checks (width divisible
by heads, feed-forward and norm choices, dropout) apply here too.

>>> Seq2SeqConfig().n_embd  # the base model of Vaswani et al. (2017)
512
>>> Seq2SeqConfig(src_vocab_size=10, tgt_vocab_size=12, share_embeddings=False).n_head
8
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tinyformer._checks import check_positive_int
from tinyformer.config import GPTConfig

__all__ = ["Seq2SeqConfig"]


@dataclass
class Seq2SeqConfig:
    """The shape of an encoder–decoder (defaults: the base model of Vaswani et al.).

    - ``src_vocab_size``, ``tgt_vocab_size`` (``None``: the source's); with
      ``share_embeddings`` both languages use one embedding matrix (one shared
      vocabulary, as the paper's English–German model did).
    - ``max_src_len``, ``max_tgt_len``: the longest source and target; they size the
      learned position tables (``position="learned"``) and the decoder's caches.
      Sinusoidal positions (``position="sinusoidal"``) reach any length.
    - ``n_encoder_layer``, ``n_decoder_layer`` blocks of ``n_head`` heads, ``n_embd``
      wide; ``ffn``: the feed-forward net (``relu``, the paper's; ``gelu_exact``;
      ``gelu``; ``swiglu``; ``none``), ``ffn_hidden`` its width (``None``: 4 n_embd).
    - ``norm_position``: ``post`` (the paper's) or ``pre``; ``norm_eps``: LayerNorm's.
    - ``scale_embeddings``: multiply token embeddings by ``sqrt(n_embd)`` before the
      positions are added, as the paper did, so the small initial token vectors are not
      drowned by sinusoids of size 1.
    - ``tie_weights``: the output head is the target embedding matrix.
    """

    src_vocab_size: int = 37000
    tgt_vocab_size: int | None = None
    max_src_len: int = 512
    max_tgt_len: int = 512
    n_encoder_layer: int = 6
    n_decoder_layer: int = 6
    n_head: int = 8
    n_embd: int = 512
    ffn_hidden: int | None = None
    ffn: str = "relu"
    norm_position: str = "post"
    dropout: float = 0.1
    position: str = "sinusoidal"
    scale_embeddings: bool = True
    tie_weights: bool = True
    share_embeddings: bool = True
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.tgt_vocab_size is None:
            self.tgt_vocab_size = self.src_vocab_size
        sizes = ("src_vocab_size", "tgt_vocab_size", "max_src_len", "max_tgt_len")
        for name in (*sizes, "n_encoder_layer", "n_decoder_layer"):
            check_positive_int(f"Seq2SeqConfig.{name}", getattr(self, name))
        for name in ("scale_embeddings", "tie_weights", "share_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(
                    f"Seq2SeqConfig.{name} must be True or False, "
                    f"got {getattr(self, name)!r}"
                )
        if self.position not in ("learned", "sinusoidal"):
            raise ValueError(
                "Seq2SeqConfig.position must be one of ['learned', 'sinusoidal'] "
                f"(added to the embeddings), got {self.position!r}"
            )
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                f"share_embeddings=True needs one vocabulary, but src_vocab_size="
                f"{self.src_vocab_size} and tgt_vocab_size={self.tgt_vocab_size}: "
                "make them equal or set share_embeddings=False"
            )
        self.block_config()  # the blocks' own checks (widths, heads, ffn, dropout)
        if self.position == "sinusoidal" and self.n_embd % 2:
            raise ValueError(
                f"position='sinusoidal' fills sin/cos pairs: n_embd={self.n_embd} "
                "must be even"
            )

    def block_config(self) -> GPTConfig:
        """The ``GPTConfig`` every encoder and decoder block is built from:
        LayerNorm blocks with biases; positions are added once, below the blocks."""
        return GPTConfig(
            vocab_size=self.tgt_vocab_size,
            block_size=max(self.max_src_len, self.max_tgt_len),
            n_layer=max(self.n_encoder_layer, self.n_decoder_layer),
            n_head=self.n_head,
            n_embd=self.n_embd,
            ffn_hidden=self.ffn_hidden,
            dropout=self.dropout,
            bias=True,
            norm="layernorm",
            ffn=self.ffn,
            position="none",
            norm_position=self.norm_position,
            norm_eps=self.norm_eps,
        )

    def replace(self, **changes: object) -> Seq2SeqConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
