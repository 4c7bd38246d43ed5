"""The parts of a transformer block: normalization, feed-forward networks, the block.

Shapes: ``B`` batch, ``T`` time (tokens), ``C`` channels (``n_embd``, the width of the
residual stream). Every module here maps ``(B, T, C) -> (B, T, C)``.

The block keeps a *residual stream*: each sub-layer reads a normalized copy of it and
adds its output back (pre-norm), or adds first and normalizes the sum (post-norm)::

    pre-norm:   x = x + attn(norm_1(x));   x = x + ffn(norm_2(x))
    post-norm:  x = norm_1(x + attn(x));   x = norm_2(x + ffn(x))
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from tinyformer.attention import KVCache, MultiHeadAttention
from tinyformer.config import GPTConfig, swiglu_hidden
from tinyformer.positional import LearnedPositionalEmbedding, RotaryEmbedding

__all__ = [
    "LayerNorm",
    "RMSNorm",
    "FeedForward",
    "SwiGLU",
    "TransformerBlock",
    "make_norm",
    "make_ffn",
    "init_weights",
]


class LayerNorm(nn.Module):
    """Layer normalization (Ba et al., 2016) over the last dimension.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the *biased* variance
    (divide by C, not C - 1), as ``torch.nn.LayerNorm`` does. ``bias=False`` drops the
    shift.
    """

    def __init__(self, dim: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=-1, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.weight
        return y + self.bias if self.bias is not None else y


class RMSNorm(nn.Module):
    """Root-mean-square normalization (Zhang and Sennrich, 2019).

    LayerNorm without centring.

    ``y = x / sqrt(mean(x^2) + eps) * weight``: it rescales each vector to unit RMS but
    does not subtract the mean and has no bias, saving a reduction and ``C`` parameters.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (
            x
            * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
            * self.weight
        )


ACTIVATIONS = {
    "gelu": lambda h: F.gelu(h, approximate="tanh"),  # GPT-2's
    "gelu_exact": F.gelu,  # x * Phi(x) with the exact normal CDF (erf): BERT's
    "relu": F.relu,
}


class FeedForward(nn.Module):
    """The position-wise MLP: ``down(act(up(x)))``, ``C -> hidden -> C``.

    ``hidden`` is ``4C`` by default.

    ``activation="gelu"`` uses the tanh approximation of GELU (Hendrycks and Gimpel,
    2016), which is what GPT-2 was trained with (Hugging Face calls it ``gelu_new``);
    the exact erf form differs from it by at most about 5e-4, enough to break a 1e-5
    match with GPT-2's logits. ``activation="gelu_exact"`` is that erf form, which BERT
    uses.
    """

    def __init__(
        self,
        d_model: int,
        hidden: int | None = None,
        activation: str = "gelu",
        bias: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {list(ACTIVATIONS)}, got {activation!r} "
                "(for SwiGLU use SwiGLU)"
            )
        hidden = 4 * d_model if hidden is None else hidden
        self.activation = activation
        self.up = nn.Linear(d_model, hidden, bias=bias)
        self.down = nn.Linear(hidden, d_model, bias=bias)
        self.down.is_residual_projection = True  # see init_weights
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)
        h = ACTIVATIONS[self.activation](h)
        return self.dropout(self.down(h))


class SwiGLU(nn.Module):
    """Gated feed-forward (Shazeer, 2020): ``down(silu(gate(x)) * up(x))``.

    Three matrices instead of two, so the hidden width defaults to about ``8/3 * C`` to
    keep the parameter count of a 4x MLP (see ``tinyformer.config.swiglu_hidden``).
    """

    def __init__(
        self,
        d_model: int,
        hidden: int | None = None,
        bias: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = swiglu_hidden(d_model) if hidden is None else hidden
        self.gate = nn.Linear(d_model, hidden, bias=bias)
        self.up = nn.Linear(d_model, hidden, bias=bias)
        self.down = nn.Linear(hidden, d_model, bias=bias)
        self.down.is_residual_projection = True  # see init_weights
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.silu(self.gate(x)) * self.up(x)))


def make_norm(config: GPTConfig) -> nn.Module:
    """The normalization layer ``config.norm`` asks for, of width ``n_embd``."""
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd, eps=config.norm_eps)
    return LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)


def make_ffn(config: GPTConfig) -> nn.Module | None:
    """The feed-forward network ``config.ffn`` asks for.

    ``None`` for ``ffn='none'``.
    """
    if config.ffn == "none":
        return None
    if config.ffn == "swiglu":
        return SwiGLU(
            config.n_embd, config.hidden, bias=config.bias, dropout=config.dropout
        )
    return FeedForward(
        config.n_embd,
        config.hidden,
        config.ffn,
        bias=config.bias,
        dropout=config.dropout,
    )


class TransformerBlock(nn.Module):
    """One block: attention then feed-forward, each wrapped in a residual connection.

    ``config.norm_position`` picks pre-norm (GPT-2, LLaMA) or post-norm (the original
    transformer, BERT). ``residual=False`` removes both skip connections; it exists for
    the book's experiments on why they matter (the attribute can also be flipped later).
    ``causal=False`` lets every token attend to every other (an encoder's block).

    A new block is initialized as GPT-2 initializes every block (``init_weights`` with
    ``config.n_layer``), so a block on its own starts as it would inside a model. Models
    that build many blocks pass ``initialize=False`` and initialize all their parameters
    in one pass afterwards, with the same rule; ``initialize=False`` alone leaves
    PyTorch's default initialization, for experiments that compare the two.
    ``forward(x (B, T, C), kv_cache=None, positions=None, attention_mask=None)``
    returns ``(B, T, C)`` (``attention_mask (B, T)``: False or 0 marks padding that no
    token may attend to).
    """

    def __init__(
        self,
        config: GPTConfig,
        residual: bool = True,
        causal: bool = True,
        initialize: bool = True,
    ) -> None:
        super().__init__()
        self.pre_norm = config.norm_position == "pre"
        self.residual = residual
        self.ln_1 = make_norm(config)
        self.attn = MultiHeadAttention(
            config.n_embd,
            config.n_head,
            n_kv_heads=config.n_kv_head,
            bias=config.bias,
            dropout=config.dropout,
            causal=causal,
            rope=RotaryEmbedding(
                config.head_dim,
                base=config.rope_base,
                interleaved=config.rope_interleaved,
            )
            if config.position == "rope"
            else None,
            alibi=config.position == "alibi",
        )
        # ln_2 before mlp: the parameters' order (and so the summation order of
        # clipping's global norm, and every committed training result) stays as it
        # always was.
        self.ln_2 = make_norm(config) if config.ffn != "none" else None
        self.mlp = make_ffn(config)
        if initialize:
            init_weights(self, config.n_layer)

    def forward(
        self,
        x: torch.Tensor,
        kv_cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # skip * x comes first: autograd sums x's gradients in the order the graph was
        # built, so this order keeps every training result bit for bit as it was
        skip = 1.0 if self.residual else 0.0
        attn = functools.partial(
            self.attn,
            kv_cache=kv_cache,
            positions=positions,
            attention_mask=attention_mask,
        )
        if self.pre_norm:
            x = skip * x + attn(self.ln_1(x))
            return x if self.mlp is None else skip * x + self.mlp(self.ln_2(x))
        x = self.ln_1(skip * x + attn(x))
        return x if self.mlp is None else self.ln_2(skip * x + self.mlp(x))


def init_weights(
    module: nn.Module, n_layer: int, std: float = 0.02, scale_residual: bool = True
) -> None:
    """GPT-2's initialization, in place: weights ~ N(0, std), biases 0, norms 1.

    Linear layers, embeddings and learned position embeddings all get N(0, std), as in
    nanoGPT and Hugging Face's GPT-2 (OpenAI's original code drew positions with 0.01).

    With ``scale_residual`` the projections that write into the residual stream get
    ``std / sqrt(2 * n_layer)``: the stream is a sum of ``2 * n_layer`` such writes, so
    its variance then stays near constant in depth. Which projections those are is not
    guessed from names: each attention layer's ``out_proj`` and each feed-forward
    layer's ``down`` carry ``is_residual_projection = True``, set where they are
    created.

    The same rule applies wherever a block is built: ``TransformerBlock`` applies it to
    itself, and ``GPT`` to the whole model (its blocks are built with
    ``initialize=False`` and initialized in the same single pass as the embeddings).
    """
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            nn.init.normal_(sub.weight, 0.0, std)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, (nn.Embedding, LearnedPositionalEmbedding)):
            nn.init.normal_(sub.weight, 0.0, std)
        elif isinstance(sub, (LayerNorm, RMSNorm, nn.LayerNorm)):
            nn.init.ones_(sub.weight)
            if getattr(sub, "bias", None) is not None:
                nn.init.zeros_(sub.bias)
    if scale_residual:
        for sub in module.modules():
            if getattr(sub, "is_residual_projection", False):
                nn.init.normal_(sub.weight, 0.0, std / math.sqrt(2 * n_layer))
