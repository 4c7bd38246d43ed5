"""Attention: every token gathers information from the tokens it may look at.

``scaled_dot_product_attention`` is the core formula
``softmax(q k^T / sqrt(d_k) + mask) v`` written out in plain PyTorch, with the same mask
semantics as ``torch.nn.functional.scaled_dot_product_attention`` (a boolean mask is
True where a query may attend; a float mask is added to the scores).
``MultiHeadAttention`` is the layer a GPT block uses: projections to queries, keys and
values, split into heads, attention, then an output projection that mixes the heads. It
supports grouped-query attention (``n_kv_heads < n_heads``; multi-query when
``n_kv_heads == 1``), RoPE, ALiBi and a ``KVCache`` for generating one token at a time.

Shapes: ``B`` batch, ``T`` time (tokens), ``C = d_model``, ``H`` heads, ``D = C / H``.

>>> q = k = v = torch.ones(1, 3, 4)
>>> scaled_dot_product_attention(q, k, v, is_causal=True).shape
torch.Size([1, 3, 4])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tinyformer._checks import check_positive_int
from tinyformer.positional import (
    RotaryEmbedding,
    _check_positions,
    alibi_bias,
    alibi_slopes,
    rotate_pairs,
)

__all__ = [
    "causal_mask",
    "scaled_dot_product_attention",
    "KVCache",
    "MultiHeadAttention",
    "hide_padding",
]


def causal_mask(
    T_q: int, T_k: int | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Boolean ``(T_q, T_k)``, True where query ``i`` may attend to key ``j``.

    Query ``i`` sits at position ``T_k - T_q + i`` (the last ``T_q`` positions, as when
    new tokens attend to a KV cache) and may see keys ``j <= T_k - T_q + i``. ``T_k``
    defaults to ``T_q``, giving the familiar lower triangle.

    >>> causal_mask(2, 3)
    tensor([[ True,  True, False],
            [ True,  True,  True]])
    """
    T_k = T_q if T_k is None else T_k
    for name, value in (("T_q", T_q), ("T_k", T_k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    if T_k < T_q:
        raise ValueError(
            f"T_k={T_k} < T_q={T_q}: every query needs its own key (queries are the "
            "last T_q positions)"
        )
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril(
        diagonal=T_k - T_q
    )


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(
                f"{name} must have shape (..., T, d), got {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise TypeError(
                f"{name} must be a floating-point tensor, got dtype {t.dtype}"
            )
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(
            f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            "q and k must have the same last dimension d_k to be dotted, got q "
            f"{tuple(q.shape)} and k {tuple(k.shape)}"
        )
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(
            "k and v must agree on every dimension but the last (one value per key), "
            f"got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the batch/head dimensions of q {tuple(q.shape[:-2])} and k "
            f"{tuple(k.shape[:-2])} do not broadcast"
        ) from None


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    generator: torch.Generator | None = None,
    return_weights: bool = False,
    scale: float | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T * scale + mask) v``, with ``scale = 1/sqrt(d_k)`` by default.

    q ``(..., T_q, d_k)``, k ``(..., T_k, d_k)``, v ``(..., T_k, d_v)`` ->
    ``(..., T_q, d_v)`` (and the weights ``(..., T_q, T_k)`` with
    ``return_weights=True``). ``mask``: bool (True = may attend) or float (added to the
    scores), broadcastable to ``(..., T_q, T_k)``. ``is_causal`` applies
    ``causal_mask(T_q, T_k)`` and may be combined with ``mask``; when ``T_q < T_k`` the
    queries are the last positions (PyTorch's ``is_causal`` instead aligns them to the
    first). A query with no allowed key gets NaN, as in PyTorch's math path. Dropout (on
    the weights, rescaled by ``1/(1-p)``) uses ``generator`` if given.
    """
    _check_qkv(q, k, v)
    T_q, T_k = q.shape[-2], k.shape[-2]
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            raise TypeError(
                "mask must be a torch.Tensor (bool or float), got "
                f"{type(mask).__name__}"
            )
        try:
            shape = torch.broadcast_shapes(mask.shape, scores.shape)
        except RuntimeError:
            shape = None
        if shape != scores.shape:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' "
                f"shape {tuple(scores.shape)} (..., T_q={T_q}, T_k={T_k})"
            )
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        elif mask.is_floating_point():
            scores = scores + mask.to(scores.dtype)
        else:
            raise TypeError(
                "mask must be bool (True = may attend) or floating point (added), got "
                f"{mask.dtype}"
            )
    if is_causal:
        scores = scores.masked_fill(
            ~causal_mask(T_q, T_k, device=scores.device), float("-inf")
        )
    weights = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        keep = (
            torch.rand(weights.shape, generator=generator, device=weights.device)
            >= dropout_p
        )
        weights = weights * keep / (1.0 - dropout_p)
    out = weights @ v
    return (out, weights) if return_weights else out


def check_positions(positions: object, T: int, device: torch.device) -> torch.Tensor:
    """``positions`` as a 1-D tensor on ``device``.

    ``T`` integer positions >= 0, one per token.
    """
    if (
        not isinstance(positions, torch.Tensor)
        or positions.dim() != 1
        or positions.shape[0] != T
    ):
        got = (
            tuple(positions.shape)
            if isinstance(positions, torch.Tensor)
            else type(positions).__name__
        )
        raise ValueError(
            f"positions must be a 1-D tensor with one entry per token ({T}), got {got}"
        )
    return _check_positions(positions).to(device)  # integers, none negative


def hide_padding(
    mask: torch.Tensor | None, attention_mask: object, B: int, T_k: int
) -> torch.Tensor:
    """Combine an attention ``mask`` (bool or float, broadcastable to
    ``(B, H, T, T_k)``, or None) with a padding mask ``attention_mask (B, T_k)`` (True
    or 1 = a real token): padded keys get False (or -inf), whatever ``mask`` allowed."""
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != (
        B,
        T_k,
    ):
        got = (
            tuple(attention_mask.shape)
            if isinstance(attention_mask, torch.Tensor)
            else type(attention_mask).__name__
        )
        raise ValueError(
            f"attention_mask must be a tensor of shape (B={B}, T_k={T_k}), one entry "
            f"per key (True or 1 for a real token, False or 0 for padding), got {got}"
        )
    if attention_mask.is_floating_point():
        raise TypeError(
            "attention_mask must be bool or integer 0/1, got dtype "
            f"{attention_mask.dtype}"
        )
    keep = attention_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, T_k)
    if mask is None:
        return keep
    if mask.dtype == torch.bool:
        return mask & keep
    return mask.masked_fill(~keep, float("-inf"))


class KVCache:
    """Keys and values of one attention layer for the tokens seen so far.

    The cache owns buffers ``(B, n_kv_heads, capacity, head_dim)`` and writes each new
    token's keys and values into the next free slots, so appending costs only the new
    token's size, not a copy of everything cached (as ``torch.cat`` would). The buffers
    are allocated on the first ``append`` with room for ``capacity`` positions (or just
    what arrives, when ``capacity`` is ``None``) and double when full. ``k`` and ``v``
    are views of the filled part, ``(B, n_kv_heads, length, head_dim)``.

    ``positions`` records where each cached token sits in its sequence (for ALiBi, whose
    bias needs the keys' positions). ``truncate(n)`` forgets everything after the first
    ``n`` positions without freeing memory: speculative decoding uses it to roll back
    rejected guesses. ``in_order`` is true while slot ``i`` holds position ``i`` (every
    append used the default positions): attention then skips a mask it knows is empty.
    """

    def __init__(self, capacity: int | None = None) -> None:
        if capacity is not None:
            check_positive_int("KVCache capacity", capacity)
        self.capacity = capacity
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._positions: torch.Tensor | None = None
        self.length = 0
        self.in_order = True

    @property
    def k(self) -> torch.Tensor | None:
        return None if self._k is None else self._k[:, :, : self.length]

    @property
    def v(self) -> torch.Tensor | None:
        return None if self._v is None else self._v[:, :, : self.length]

    @property
    def positions(self) -> torch.Tensor | None:
        return None if self._positions is None else self._positions[: self.length]

    @property
    def allocated(self) -> int:
        """Positions the buffers can hold before they must grow."""
        return 0 if self._k is None else self._k.shape[-2]

    def _grow(self, k: torch.Tensor, needed: int) -> None:
        size = max(needed, self.capacity or 0, 2 * self.allocated)
        shape = (*k.shape[:2], size, k.shape[-1])
        new_k, new_v = k.new_empty(shape), k.new_empty(shape)
        new_positions = torch.empty(size, dtype=torch.long, device=k.device)
        if self.length:
            new_k[:, :, : self.length] = self.k
            new_v[:, :, : self.length] = self.v
            new_positions[: self.length] = self.positions
        self._k, self._v, self._positions = new_k, new_v, new_positions

    def append(
        self, k: torch.Tensor, v: torch.Tensor, positions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` ``(B, n_kv_heads, T, head_dim)`` after what is cached; return
        all cached keys and values. ``positions`` ``(T,)`` defaults to the next ``T``
        slots."""
        if k.dim() != 4 or v.shape != k.shape:
            raise ValueError(
                "KVCache.append expects k and v of the same shape (B, n_kv_heads, T, "
                f"head_dim), got {tuple(k.shape)} and {tuple(v.shape)}"
            )
        T = k.shape[-2]
        if positions is None:
            positions = torch.arange(self.length, self.length + T, device=k.device)
        else:
            self.in_order = False
        if positions.shape != (T,):
            raise ValueError(
                f"positions must have shape ({T},), one per new token, got "
                f"{tuple(positions.shape)}"
            )
        if self._k is not None and (
            k.shape[:2] != self._k.shape[:2] or k.shape[-1] != self._k.shape[-1]
        ):
            raise ValueError(
                f"new keys {tuple(k.shape)} do not match the cache "
                f"{tuple(self.k.shape)} in (B, heads, head_dim): call reset() before "
                "starting a different batch"
            )
        if self._k is None or self.length + T > self.allocated:
            self._grow(k, self.length + T)
        end = self.length + T
        self._k[:, :, self.length : end] = k
        self._v[:, :, self.length : end] = v
        self._positions[self.length : end] = positions
        self.length = end
        return self.k, self.v

    def truncate(self, length: int) -> None:
        """Keep only the first ``length`` cached positions (buffers stay allocated)."""
        if (
            isinstance(length, bool)
            or not isinstance(length, int)
            or not 0 <= length <= self.length
        ):
            raise ValueError(
                f"truncate needs a length between 0 and the cached {self.length}, got "
                f"{length!r}"
            )
        self.length = length
        self.in_order = self.in_order or length == 0

    def reset(self) -> None:
        """Forget everything and free the buffers.

        A new batch may have another shape.
        """
        self._k = self._v = self._positions = None
        self.length = 0
        self.in_order = True

    def __repr__(self) -> str:
        return f"KVCache(length={self.length}, allocated={self.allocated})"


class MultiHeadAttention(nn.Module):
    """Multi-head (optionally grouped-query) self-attention.

    ``(B, T, d_model) -> (B, T, d_model)``.

    ``q_proj`` maps to ``n_heads * head_dim``; ``k_proj`` and ``v_proj`` to
    ``n_kv_heads * head_dim`` (each key/value head is shared by
    ``n_heads // n_kv_heads`` query heads). ``fused=True`` calls
    ``torch.nn.functional.scaled_dot_product_attention``; ``fused=False`` calls this
    module's own function and keeps the last call's attention weights
    ``(B, H, T_q, T_k)`` in ``self.last_weights`` (detached) for plotting.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_kv_heads: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        causal: bool = True,
        rope: RotaryEmbedding | None = None,
        alibi: bool = False,
        fused: bool = True,
    ) -> None:
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        for name, value in (
            ("d_model", d_model),
            ("n_heads", n_heads),
            ("n_kv_heads", n_kv_heads),
        ):
            check_positive_int(name, value)
        if d_model % n_heads:
            raise ValueError(
                f"d_model={d_model} is not divisible by n_heads={n_heads}: each head "
                "gets d_model / n_heads dimensions; pick n_heads that divides d_model"
            )
        if n_heads % n_kv_heads:
            raise ValueError(
                f"n_heads={n_heads} is not divisible by n_kv_heads={n_kv_heads}: each "
                "key/value head must serve the same number of query heads; pick "
                "n_kv_heads that divides n_heads"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if alibi and not causal:
            # The bias -m * (i - j) grows *positive* for future keys (j > i); only a
            # causal mask removes them. Bidirectional ALiBi (-m * |i - j|) is not
            # implemented.
            raise ValueError(
                "alibi=True needs causal=True: without the causal mask ALiBi's bias "
                "-m*(i-j) would reward the most distant future keys; use another "
                "position scheme for bidirectional attention"
            )
        self.d_model, self.n_heads, self.n_kv_heads = d_model, n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        if rope is not None and (
            not isinstance(rope, RotaryEmbedding) or rope.head_dim != self.head_dim
        ):
            raise ValueError(
                f"rope must be a RotaryEmbedding(head_dim={self.head_dim}) (d_model / "
                f"n_heads), got {rope!r}"
            )
        self.causal, self.fused = causal, fused
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj.is_residual_projection = (
            True  # see tinyformer.layers.init_weights
        )
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.rope = rope
        self.alibi = alibi
        # Not persistent: the slopes are a fixed function of n_heads, not learned
        # weights.
        self.register_buffer(
            "alibi_slopes", alibi_slopes(n_heads) if alibi else None, persistent=False
        )
        self.last_weights: torch.Tensor | None = None

    def forward(
        self,
        x: torch.Tensor,
        kv_cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x (B, T, d_model)``; ``positions (T,)``: where the tokens sit in the
        sequence (default: right after what ``kv_cache`` holds, or ``0 .. T-1``).
        Positions drive RoPE, ALiBi and the causal mask: a query sees the keys at its
        position or before. ``attention_mask (B, T_k)``: True (or 1) for keys that may
        be seen, False (or 0) for padding; ``T_k`` counts every key, cached ones too."""
        self._check_input("x", x)
        B, T, _ = x.shape
        H, H_kv, D = self.n_heads, self.n_kv_heads, self.head_dim
        q = self.q_proj(x).view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = self.k_proj(x).view(B, T, H_kv, D).transpose(1, 2)  # (B, H_kv, T, D)
        v = self.v_proj(x).view(B, T, H_kv, D).transpose(1, 2)
        default_positions = positions is None
        if default_positions:  # right after the cache: known without reading a tensor
            start = 0 if kv_cache is None else kv_cache.length
            span = range(start, start + T)
            positions = torch.arange(start, start + T, device=x.device)
        else:
            positions = span = check_positions(positions, T, x.device)
        if self.rope is not None:  # one table lookup serves queries and keys
            cos, sin = self.rope.cos_sin(span, q.dtype, q.device)
            q = rotate_pairs(q, cos, sin, self.rope.interleaved)
            k = rotate_pairs(k, cos, sin, self.rope.interleaved)
        if kv_cache is not None:
            k, v = kv_cache.append(k, v, None if default_positions else positions)
            key_positions = kv_cache.positions
        else:
            key_positions = positions
        T_k = k.shape[-2]
        # one new token after keys 0 .. start-1 sees them all: no mask to build or apply
        sees_all = (
            T == 1 and default_positions and (kv_cache is None or kv_cache.in_order)
        )
        mask = None
        if self.causal and not sees_all:
            mask = key_positions[None, :] <= positions[:, None]  # (T, T_k)
        if self.alibi:
            bias = alibi_bias(self.alibi_slopes, positions, key_positions).to(q.dtype)
            mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
        if attention_mask is not None:
            mask = hide_padding(mask, attention_mask, B, T_k)
        # the plain causal case lets PyTorch's kernel skip the mask (and half the work)
        is_causal = self.fused and self.causal and mask is not None and T == T_k
        is_causal = is_causal and default_positions and not self.alibi
        is_causal = is_causal and attention_mask is None
        return self.attend(q, k, v, None if is_causal else mask, is_causal)

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Queries ``(B, H, T, D)`` over keys and values ``(B, H_kv, T_k, D)``, then the
        output projection: ``(B, T, d_model)``. Shared with cross-attention."""
        H, H_kv = self.n_heads, self.n_kv_heads
        dropout_p = self.attn_dropout.p if self.training else 0.0
        if self.fused:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                dropout_p=dropout_p,
                is_causal=is_causal,
                enable_gqa=H_kv != H,  # shares each key/value head without copying it
            )
        else:
            # grouped-query: query head h reads key/value head h // (H / H_kv)
            if H_kv != H:
                k = k.repeat_interleave(H // H_kv, dim=1)
                v = v.repeat_interleave(H // H_kv, dim=1)
            y, weights = scaled_dot_product_attention(
                q,
                k,
                v,
                mask=mask,
                is_causal=is_causal,
                dropout_p=dropout_p,
                return_weights=True,
            )
            self.last_weights = weights.detach()
        B, _, T, _ = q.shape
        y = y.transpose(1, 2).reshape(B, T, self.d_model)  # heads side by side again
        return self.resid_dropout(self.out_proj(y))

    def _check_input(self, name: str, x: object) -> None:
        if (
            not isinstance(x, torch.Tensor)
            or x.dim() != 3
            or x.shape[-1] != self.d_model
        ):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{name} must have shape (B, T, d_model={self.d_model}), got {shape}"
            )

    def extra_repr(self) -> str:
        return (
            f"n_heads={self.n_heads}, n_kv_heads={self.n_kv_heads}, "
            f"head_dim={self.head_dim}, causal={self.causal}, alibi={self.alibi}, "
            f"fused={self.fused}"
        )
