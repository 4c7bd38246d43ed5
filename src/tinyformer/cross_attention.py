"""Cross-attention and the decoder block of an encoder–decoder transformer.

``CrossAttention`` lets one sequence read another: queries from the decoder's
stream, keys and values from the encoder's output (the *memory*). ``DecoderBlock``
puts it between the causal self-attention and the feed-forward net. The whole model,
``tinyformer.seq2seq.Seq2Seq``, stacks these blocks; both are re-exported there.

Shapes: ``B`` batch, ``T`` target length, ``S`` source length, ``C`` width.

>>> attn = CrossAttention(8, 2)
>>> attn(torch.zeros(1, 3, 8), torch.zeros(1, 5, 8)).shape
torch.Size([1, 3, 8])
"""

from __future__ import annotations

import torch
from torch import nn

from tinyformer.attention import KVCache, MultiHeadAttention, hide_padding
from tinyformer.config import GPTConfig
from tinyformer.layers import make_ffn, make_norm

__all__ = ["CrossAttention", "DecoderBlock"]


class CrossAttention(MultiHeadAttention):
    """Multi-head attention from one sequence to another: ``(B, T, C)`` reads
    ``(B, S, C)``, giving ``(B, T, C)``.

    Queries come from ``x`` (the decoder's stream), keys and values from ``memory`` (the
    encoder's output). There is no causal mask (the whole source is known before the
    first target token) and no positions (the memory already carries them). The
    projections, the heads and the attention itself are those of
    ``tinyformer.attention.MultiHeadAttention``; with ``fused=False`` the last
    call's weights ``(B, H, T, S)`` are kept in ``last_weights``, the cross-attention
    map.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_kv_heads: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        fused: bool = True,
    ) -> None:
        super().__init__(
            d_model, n_heads, n_kv_heads, bias, dropout, causal=False, fused=fused
        )

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """``x (B, T, C)`` attends to ``memory (B, S, C)``; returns ``(B, T, C)``.

        ``memory_mask (B, S)``: True (or 1) for real source tokens, False (or 0) for
        padding, which no query may see. With ``kv_cache`` the memory's keys and values
        are computed on the first call (the cache is empty) and read back on every later
        one, so ``memory`` is not projected again: call ``kv_cache.reset()`` before
        attending to a new source (a source of another shape is refused; one of the
        same shape cannot be told apart and would silently reuse the old keys).
        """
        self._check_input("x", x)
        self._check_input("memory", memory)
        B, T, _ = x.shape
        S = memory.shape[1]
        if memory.shape[0] != B:
            raise ValueError(
                f"x has {B} sequences but memory has {memory.shape[0]}: each target "
                "attends to its own source, so the batch sizes must match"
            )
        H, H_kv, D = self.n_heads, self.n_kv_heads, self.head_dim
        q = self.q_proj(x).view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        if kv_cache is not None and kv_cache.length:
            k, v = kv_cache.k, kv_cache.v  # this source's keys, projected earlier
            if k.shape[0] != B or k.shape[2] != S:
                raise ValueError(
                    f"kv_cache holds keys for {k.shape[0]} sources of {k.shape[2]} "
                    f"tokens, but memory is {tuple(memory.shape[:2])}: call "
                    "kv_cache.reset() before attending to a new source"
                )
        else:
            k = self.k_proj(memory).view(B, S, H_kv, D).transpose(1, 2)
            v = self.v_proj(memory).view(B, S, H_kv, D).transpose(1, 2)
            if kv_cache is not None:
                kv_cache.append(k, v)
        mask = None if memory_mask is None else hide_padding(None, memory_mask, B, S)
        return self.attend(q, k, v, mask)


class DecoderBlock(nn.Module):
    """One decoder block: causal self-attention, cross-attention to the memory, then the
    feed-forward net, each wrapped in a residual connection.

    ``config.norm_position`` picks where the norms ``ln_1, ln_2, ln_3`` sit::

        pre-norm:   x = x + attn(ln_1(x))
                    x = x + cross_attn(ln_2(x), memory)
                    x = x + mlp(ln_3(x))
        post-norm:  x = ln_1(x + attn(x))
                    x = ln_2(x + cross_attn(x, memory))
                    x = ln_3(x + mlp(x))

    Positions are added to the embeddings below the blocks, so ``config.position`` must
    be ``"learned"``, ``"sinusoidal"`` or ``"none"`` (RoPE and ALiBi act inside
    attention and are not wired into cross-attention).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(
                f"DecoderBlock needs a GPTConfig, got {type(config).__name__}"
            )
        if config.position in ("rope", "alibi"):
            raise ValueError(
                f"DecoderBlock adds no positions inside attention, got position="
                f"{config.position!r}: use 'learned', 'sinusoidal' (added to the "
                "embeddings) or 'none'"
            )
        self.pre_norm = config.norm_position == "pre"
        heads = dict(
            n_kv_heads=config.n_kv_head, bias=config.bias, dropout=config.dropout
        )
        self.ln_1 = make_norm(config)
        self.attn = MultiHeadAttention(config.n_embd, config.n_head, **heads)
        self.ln_2 = make_norm(config)
        self.cross_attn = CrossAttention(config.n_embd, config.n_head, **heads)
        self.ln_3 = make_norm(config) if config.ffn != "none" else None
        self.mlp = make_ffn(config)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        self_cache: KVCache | None = None,
        cross_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """``x (B, T, C)``, ``memory (B, S, C)`` -> ``(B, T, C)``.

        ``memory_mask (B, S)``: False (or 0) marks source padding. ``self_cache`` holds
        the keys and values of the target tokens already decoded (the ``T`` new ones
        continue them); ``cross_cache`` those of the memory (see
        ``CrossAttention``).
        """

        def cross(x):
            return self.cross_attn(x, memory, memory_mask, cross_cache)

        if self.pre_norm:
            x = x + self.attn(self.ln_1(x), self_cache)
            x = x + cross(self.ln_2(x))
            return x if self.mlp is None else x + self.mlp(self.ln_3(x))
        x = self.ln_1(x + self.attn(x, self_cache))
        x = self.ln_2(x + cross(x))
        return x if self.mlp is None else self.ln_3(x + self.mlp(x))
