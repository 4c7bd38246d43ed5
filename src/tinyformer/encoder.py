"""A BERT-style encoder built from the GPT's own parts, and what it is used for.

An encoder is the same stack of blocks as ``tinyformer.model.GPT`` with three changes:

1. no causal mask: every token attends to every other one, left and right
   (``TransformerBlock(..., causal=False)``), except padding, which ``attention_mask``
   hides;
2. post-norm blocks (``LayerNorm(x + sublayer(x))``), the exact (erf) GELU and a
   LayerNorm on the embeddings, as in BERT (Devlin et al., 2019);
3. a third embedding, the token type (segment) of each token, added to the token and
   position embeddings, so one input can hold a pair of sentences.

Its output is one vector per token ``(B, T, C)``, not next-token logits. A
masked-language- model head (``EncoderForMaskedLM``) turns them into logits over the
vocabulary for pretraining; ``mean_pool`` turns them into one vector per sentence (what
sentence-transformers' MiniLM does). Real weights:
``tinyformer.pretrained_bert.load_minilm``.

>>> config = EncoderConfig(
...     vocab_size=100, n_positions=16, n_layer=2, n_head=2, n_embd=32
... )
>>> Encoder(config)(torch.tensor([[1, 2, 3]])).shape
torch.Size([1, 3, 32])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tinyformer.losses import token_cross_entropy
from tinyformer._checks import check_positive_int, check_token_ids
from tinyformer.config import GPTConfig
from tinyformer.layers import LayerNorm, TransformerBlock, init_weights
from tinyformer.positional import LearnedPositionalEmbedding

__all__ = [
    "EncoderConfig",
    "Encoder",
    "MaskedLMHead",
    "EncoderForMaskedLM",
    "mean_pool",
]


@dataclass
class EncoderConfig:
    """The shape of a BERT-style encoder (defaults: BERT-base, uncased vocabulary).

    ``n_positions`` is the longest input; ``position`` is ``"learned"`` (BERT's table
    of absolute positions) or ``"rope"`` (rotary positions inside attention, as in
    chapter 3: no table, and neighbours are easy to find from the start, which a small
    encoder trained for a minute needs); ``type_vocab_size`` the number of segment types
    (2: sentence A and sentence B); ``ffn_hidden`` the feed-forward width (``None``:
    ``4 * n_embd``); ``norm_eps`` the LayerNorm epsilon (BERT uses 1e-12).
    """

    vocab_size: int = 30522
    n_positions: int = 512
    type_vocab_size: int = 2
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    ffn_hidden: int | None = None
    dropout: float = 0.1
    norm_eps: float = 1e-12
    position: str = "learned"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "type_vocab_size"):
            check_positive_int(f"EncoderConfig.{name}", getattr(self, name))
        if self.position not in ("learned", "rope"):
            raise ValueError(
                "EncoderConfig.position must be one of ['learned', 'rope'], "
                f"got {self.position!r}"
            )
        self.block_config()  # the blocks' own checks (widths, heads, dropout, eps)

    def block_config(self) -> GPTConfig:
        """The ``GPTConfig`` every block is built from: post-norm LayerNorm blocks
        with biases and the exact GELU; learned positions are added once, below the
        blocks, rotary ones inside every block's attention."""
        return GPTConfig(
            vocab_size=self.vocab_size,
            block_size=self.n_positions,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            ffn_hidden=self.ffn_hidden,
            dropout=self.dropout,
            bias=True,
            norm="layernorm",
            ffn="gelu_exact",
            position="rope" if self.position == "rope" else "none",
            norm_position="post",
            norm_eps=self.norm_eps,
        )

    def replace(self, **changes: object) -> EncoderConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


class Encoder(nn.Module):
    """Token ids ``(B, T)`` -> one vector per token ``(B, T, n_embd)``.

    ``attention_mask (B, T)``: 1 (or True) for real tokens, 0 for padding; no token
    attends to padding (the padded positions still get vectors, which callers ignore).
    ``token_type_ids (B, T)``: 0 for the first segment, 1 for the second (default 0).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        if not isinstance(config, EncoderConfig):
            raise TypeError(
                f"Encoder needs an EncoderConfig, got {type(config).__name__}"
            )
        self.config = config
        C = config.n_embd
        self.wte = nn.Embedding(config.vocab_size, C)
        self.wpe = (
            LearnedPositionalEmbedding(config.n_positions, C)
            if config.position == "learned"
            else None
        )
        self.wtt = nn.Embedding(config.type_vocab_size, C)
        self.ln_emb = LayerNorm(C, eps=config.norm_eps)
        self.drop = nn.Dropout(config.dropout)
        blocks = config.block_config()
        self.blocks = nn.ModuleList(
            TransformerBlock(blocks, causal=False, initialize=False)
            for _ in range(config.n_layer)
        )
        # BERT's initialization: N(0, 0.02) everywhere, no depth scaling
        init_weights(self, config.n_layer, scale_residual=False)

    def embed(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Token + position + token-type embeddings, normalized: ``(B, T, C)``."""
        check_token_ids("input_ids", input_ids, self.config.vocab_size)
        B, T = input_ids.shape
        if T > self.config.n_positions:
            raise ValueError(
                f"input of {T} tokens is longer than n_positions="
                f"{self.config.n_positions}: truncate it (the tokenizer's max_length)"
            )
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        check_token_ids("token_type_ids", token_type_ids, self.config.type_vocab_size)
        if token_type_ids.shape != input_ids.shape:
            raise ValueError(
                f"token_type_ids must have the shape of input_ids {(B, T)}, "
                f"got {tuple(token_type_ids.shape)}"
            )
        x = self.wte(input_ids) + self.wtt(token_type_ids)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(T, device=input_ids.device))
        return self.drop(self.ln_emb(x))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.embed(input_ids, token_type_ids)
        for block in self.blocks:
            x = block(x, attention_mask=attention_mask)
        return x

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class MaskedLMHead(nn.Module):
    """BERT's prediction head: ``dense -> GELU -> LayerNorm -> logits``, the last matrix
    shared with the token embedding (``decoder.weight is wte.weight``) plus a bias."""

    def __init__(self, config: EncoderConfig, wte: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(config.n_embd, config.n_embd)
        self.ln = LayerNorm(config.n_embd, eps=config.norm_eps)
        self.decoder = nn.Linear(config.n_embd, config.vocab_size)
        init_weights(self, config.n_layer, scale_residual=False)
        self.decoder.weight = wte.weight  # tied

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.ln(F.gelu(self.dense(hidden))))


class EncoderForMaskedLM(nn.Module):
    """An ``Encoder`` with a ``MaskedLMHead``: ``forward(..., labels)`` returns
    ``(logits (B, T, V), loss)``, the loss the mean cross-entropy over the positions
    whose label is not -100 (the masked ones; see ``tinyformer.mlm.mask_tokens``)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.head = MaskedLMHead(config, self.encoder.wte)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self.head(self.encoder(input_ids, attention_mask, token_type_ids))
        if labels is None:
            return logits, None
        loss = token_cross_entropy(
            logits, labels, input_ids, -100, names=("labels", "input_ids")
        )
        return logits, loss

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """One vector per sequence: the mean of ``hidden (B, T, C)`` over its real tokens
    (``attention_mask (B, T)`` = 1), so padding does not dilute it. ``(B, C)``."""
    if hidden.dim() != 3 or attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"mean_pool needs hidden (B, T, C) and attention_mask (B, T), got "
            f"{tuple(hidden.shape)} and {tuple(attention_mask.shape)}"
        )
    weights = attention_mask.to(hidden.dtype)[..., None]  # (B, T, 1)
    counts = weights.sum(dim=1).clamp(min=1e-9)  # an all-padding row gives zeros
    return (hidden * weights).sum(dim=1) / counts
