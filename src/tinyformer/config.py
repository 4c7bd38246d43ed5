"""`GPTConfig`: every architectural choice of the GPT model as one validated dataclass.

Each switch of the design space (normalization, feed-forward, positions, attention
variant) is a field checked in ``__post_init__``, so a typo fails at construction with
the list of allowed values instead of deep inside a forward pass. Re-exported from
``tinyformer.model``.

>>> GPTConfig.gpt2().n_embd
768
>>> GPTConfig.tiny(norm="rmsnorm").norm
'rmsnorm'
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from tinyformer._checks import check_positive_int

__all__ = ["GPTConfig", "NORMS", "FFNS", "POSITIONS", "NORM_POSITIONS", "swiglu_hidden"]

NORMS = ("layernorm", "rmsnorm")
FFNS = ("gelu", "gelu_exact", "relu", "swiglu", "none")
POSITIONS = ("learned", "sinusoidal", "rope", "alibi", "none")
NORM_POSITIONS = ("pre", "post")


def swiglu_hidden(d_model: int, multiple_of: int = 8) -> int:
    """Hidden width that gives SwiGLU the parameters of a 4x GELU MLP.

    The width is about ``8/3 * d_model``.

    A GELU MLP has ``2 * d * 4d = 8 d^2`` weights; SwiGLU has three matrices,
    ``3 * d * h``, so ``h = 8d/3``, rounded up to a multiple of ``multiple_of``
    (hardware-friendly sizes).

    >>> swiglu_hidden(768)
    2048
    """
    return multiple_of * math.ceil(8 * d_model / 3 / multiple_of)


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(
            f"GPTConfig.{name} must be one of {list(allowed)}, got {value!r}"
        )


@dataclass
class GPTConfig:
    """The shape and design choices of a GPT model.

    - ``vocab_size``: number of token ids; ``block_size``: the context window (longest
      input).
    - ``n_layer`` blocks of ``n_head`` query heads, ``n_kv_head`` key/value heads
      (``None`` means ``n_head``: plain multi-head; 1 is multi-query; in between is
      grouped-query).
    - ``n_embd``: width of the residual stream ``C``; each head has ``n_embd // n_head``
      dims.
    - ``ffn_hidden``: feed-forward width (``None``: ``4 * n_embd``, or
      ``swiglu_hidden``).
    - ``dropout``: probability used on embeddings, attention weights and sub-layer
      outputs.
    - ``bias``: biases in Linear layers and LayerNorm.
    - ``norm``: ``layernorm`` | ``rmsnorm``; ``ffn``: ``gelu`` (tanh form, GPT-2) |
      ``gelu_exact`` (erf form, BERT) | ``relu`` | ``swiglu`` | ``none`` (no
      feed-forward network: an attention-only model, for interpretability);
      ``position``: ``learned`` | ``sinusoidal`` | ``rope`` | ``alibi`` | ``none``;
      ``norm_position``: ``pre`` | ``post``; ``tie_weights``: output head shares
      ``wte``.
    - What loading other people's weights needs: ``rope_base`` (RoPE's theta, 10,000 in
      most models, 500,000 in Llama 3), ``rope_interleaved`` (rotate pairs of adjacent
      dimensions, as Meta's original Llama code does, instead of the two halves, as
      Hugging Face's does) and ``norm_eps`` (the epsilon inside LayerNorm or RMSNorm).
    """

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_kv_head: int | None = None
    n_embd: int = 768
    ffn_hidden: int | None = None
    dropout: float = 0.0
    bias: bool = True
    norm: str = "layernorm"
    ffn: str = "gelu"
    position: str = "learned"
    norm_position: str = "pre"
    tie_weights: bool = True
    rope_base: float = 10000.0
    rope_interleaved: bool = False
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_positive_int(f"GPTConfig.{name}", getattr(self, name))
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        check_positive_int("GPTConfig.n_kv_head", self.n_kv_head)
        if self.ffn_hidden is not None:
            check_positive_int("GPTConfig.ffn_hidden", self.ffn_hidden)
            if self.ffn == "none":
                raise ValueError(
                    "GPTConfig.ffn_hidden must be None when ffn='none' (there is no "
                    "feed-forward network)"
                )
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head "
                f"({self.n_head}): each head gets n_embd // n_head dimensions"
            )
        if self.n_head % self.n_kv_head != 0:
            raise ValueError(
                f"GPTConfig.n_head ({self.n_head}) must be a multiple of n_kv_head "
                f"({self.n_kv_head}): each key/value head is shared by n_head // "
                "n_kv_head query heads"
            )
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ValueError(
                f"GPTConfig.dropout must be a number in [0, 1), got {self.dropout!r}"
            )
        for name in ("rope_base", "norm_eps"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(
                    f"GPTConfig.{name} must be a positive number, got {value!r}"
                )
        if self.rope_base <= 1:
            raise ValueError(
                f"GPTConfig.rope_base must be greater than 1, got {self.rope_base!r}"
            )
        for name in ("bias", "tie_weights", "rope_interleaved"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(
                    f"GPTConfig.{name} must be True or False, got "
                    f"{getattr(self, name)!r}"
                )
        _choice("norm", self.norm, NORMS)
        _choice("ffn", self.ffn, FFNS)
        _choice("position", self.position, POSITIONS)
        _choice("norm_position", self.norm_position, NORM_POSITIONS)
        if self.position == "rope" and self.head_dim % 2 != 0:
            raise ValueError(
                "position='rope' rotates pairs of dimensions: head_dim "
                f"{self.head_dim} must be even"
            )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def hidden(self) -> int:
        """The feed-forward width actually used (0 for ``ffn='none'``)."""
        if self.ffn == "none":
            return 0
        if self.ffn_hidden is not None:
            return self.ffn_hidden
        return swiglu_hidden(self.n_embd) if self.ffn == "swiglu" else 4 * self.n_embd

    def replace(self, **changes: object) -> GPTConfig:
        """A copy with some fields changed (validated again).

        A config built with ``n_kv_head=None`` (plain multi-head attention) keeps that
        meaning: changing ``n_head`` alone changes the key/value heads with it.
        """
        if (
            "n_head" in changes
            and "n_kv_head" not in changes
            and self.n_kv_head == self.n_head
        ):
            changes["n_kv_head"] = None
        return dataclasses.replace(self, **changes)

    @classmethod
    def gpt2(cls, **overrides: object) -> GPTConfig:
        """GPT-2 small (Radford et al., 2019): 12 layers, 12 heads, 768 wide.

        124,439,808 parameters.
        """
        return cls(
            **{
                **dict(
                    vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768
                ),
                **overrides,
            }
        )

    @classmethod
    def llama(cls, **overrides: object) -> GPTConfig:
        """LLaMA-style design at the shape of LLaMA-7B (Touvron et al., 2023).

        RMSNorm, SwiGLU (hidden 11008), rotary positions, no biases, an untied output
        head. The full size has 6.7 B parameters: build it on the ``meta`` device to
        count them, or pass smaller sizes, e.g.
        ``GPTConfig.llama(n_layer=2, n_head=4, n_embd=64, ...)``.
        """
        shape = dict(
            vocab_size=32000,
            block_size=2048,
            n_layer=32,
            n_head=32,
            n_embd=4096,
            ffn_hidden=11008,
        )
        design = dict(
            norm="rmsnorm", ffn="swiglu", position="rope", bias=False, tie_weights=False
        )
        if "n_embd" in overrides and "ffn_hidden" not in overrides:
            shape["ffn_hidden"] = (
                None  # let swiglu_hidden pick the width for the new size
            )
        return cls(**{**shape, **design, **overrides})

    @classmethod
    def tiny(cls, **overrides: object) -> GPTConfig:
        """A CPU-sized model for the book: 4 layers, 128 wide.

        For the characters of Shakespeare (65 ids).
        """
        return cls(
            **{
                **dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128),
                **overrides,
            }
        )
