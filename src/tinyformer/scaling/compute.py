"""Counting a GPT's parameters and the floating-point operations it costs to train.

Everything here is arithmetic on a ``tinyformer.config.GPTConfig``: no model is
built, so GPT-3 can be counted on a laptop.

A matrix product of ``(m, k)`` by ``(k, n)`` costs ``2 m k n`` FLOPs (one multiply and
one add per term). A token passing through a ``Linear`` layer with a ``(k, n)`` weight
therefore costs ``2 k n``: twice the layer's weights. Summed over the model that gives
the famous ``2 N`` per token forward, and the backward pass costs twice the forward (a
gradient for the input and one for the weight, each a product of the same size), hence
``6 N`` per token for training (Kaplan et al., 2020). What the rule leaves out:

- attention's own products, ``q k^T`` and ``weights @ v``, which have no weights but
  cost ``2 T d`` each per token and layer for a context of ``T`` (they grow with the
  context);
- the embedding tables, which are parameters but are looked up, not multiplied (the
  output head is multiplied, and with tied weights it is the same matrix as the token
  embedding);
- element-wise work (norms, softmax, activations, the optimizer), small next to the
  matmuls.

>>> from tinyformer.config import GPTConfig
>>> count_parameters(GPTConfig.gpt2()).total
124439808
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyformer.config import GPTConfig

__all__ = [
    "PF_DAY",
    "ParameterCount",
    "count_parameters",
    "forward_flops_per_token",
    "training_flops_per_token",
    "training_flops",
    "six_n_d",
]

PF_DAY = 1e15 * 24 * 3600
"""One petaFLOP/s-day, Kaplan et al.'s unit of compute: 8.64e19 FLOPs."""


@dataclass(frozen=True)
class ParameterCount:
    """A model's trainable numbers, split the way scaling-law papers split them.

    - ``embedding``: the tables indexed by token or position (``wte``, a learned
      ``wpe``) and an untied output head; they map the vocabulary in or out.
    - ``non_embedding``: everything else (the blocks and the final norm). Kaplan et al.
      (2020) fit their laws to this number; Hoffmann et al. (2022) use the total.
    """

    total: int
    embedding: int
    non_embedding: int


def _check_config(config: object) -> GPTConfig:
    if not isinstance(config, GPTConfig):
        raise TypeError(f"expected a GPTConfig, got {type(config).__name__}")
    return config


def _block_matmul_weights(config: GPTConfig) -> int:
    """Weights of the Linear layers in one block (biases excluded)."""
    C, kv = config.n_embd, config.n_kv_head * config.head_dim
    attention = C * C + 2 * C * kv + C * C  # q, k, v, out
    matrices = {"swiglu": 3, "none": 0}.get(config.ffn, 2)
    return attention + matrices * C * config.hidden


def _norm_parameters(config: GPTConfig) -> int:
    """One norm layer: a gain per channel, plus a bias for LayerNorm with ``bias``."""
    return config.n_embd * (2 if config.norm == "layernorm" and config.bias else 1)


def _block_other_parameters(config: GPTConfig) -> int:
    """Biases and norm weights of one block."""
    C, kv = config.n_embd, config.n_kv_head * config.head_dim
    has_ffn = config.ffn != "none"
    count = (2 if has_ffn else 1) * _norm_parameters(config)
    if config.bias:
        count += C + 2 * kv + C  # q, k, v, out
        if has_ffn:
            count += (
                2 * config.hidden if config.ffn == "swiglu" else config.hidden
            ) + C
    return count


def count_parameters(config: GPTConfig) -> ParameterCount:
    """The parameters ``GPT(config)`` has, without building it.

    >>> count_parameters(GPTConfig.tiny()).non_embedding
    793344
    """
    config = _check_config(config)
    C = config.n_embd
    embedding = config.vocab_size * C
    if config.position == "learned":
        embedding += config.block_size * C
    if not config.tie_weights:
        embedding += config.vocab_size * C
    blocks = config.n_layer * (
        _block_matmul_weights(config) + _block_other_parameters(config)
    )
    final_norm = _norm_parameters(config) if config.norm_position == "pre" else 0
    non_embedding = blocks + final_norm
    return ParameterCount(
        total=embedding + non_embedding,
        embedding=embedding,
        non_embedding=non_embedding,
    )


def _check_context(config: GPTConfig, context: int | None) -> int:
    context = config.block_size if context is None else context
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(
            f"context must be a positive number of tokens, got {context!r}"
        )
    return context


def forward_flops_per_token(config: GPTConfig, context: int | None = None) -> int:
    """Matrix-multiply FLOPs of one forward pass, per token, at length ``context``.

    ``2 x`` (every Linear weight in the blocks, plus the output head) for the layers,
    and ``4 * n_layer * context * n_embd`` for attention's two products (``q k^T`` and
    ``weights @ v``: each query meets ``context`` keys in every head). The full
    ``T x T`` score matrix is counted, as the kernels compute it; a causal kernel that
    skipped the masked half would do about half of that term. ``context`` defaults to
    ``block_size``.
    """
    config = _check_config(config)
    T = _check_context(config, context)
    layers = (
        config.n_layer * _block_matmul_weights(config)
        + config.vocab_size * config.n_embd
    )
    attention = 4 * config.n_layer * T * config.n_head * config.head_dim
    return 2 * layers + attention


def training_flops_per_token(config: GPTConfig, context: int | None = None) -> int:
    """Forward plus backward: three times ``forward_flops_per_token``.

    The backward pass of each product ``y = x W`` computes two products of the same
    size, ``dx = dy W^T`` and ``dW = x^T dy``; attention's products behave the same way.
    """
    return 3 * forward_flops_per_token(config, context)


def training_flops(
    config: GPTConfig, tokens: float, context: int | None = None
) -> float:
    """FLOPs to train on ``tokens`` tokens in sequences of length ``context``."""
    if not tokens > 0:
        raise ValueError(f"tokens must be positive, got {tokens!r}")
    return float(tokens) * training_flops_per_token(config, context)


def six_n_d(n_params: float, tokens: float) -> float:
    """The rule of thumb ``C = 6 N D``.

    Training FLOPs from parameters and tokens alone.
    """
    for name, value in (("n_params", n_params), ("tokens", tokens)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    return 6.0 * float(n_params) * float(tokens)
