"""The GPT model: token ids in, next-token logits out.

``idx (B, T)`` -> token embeddings ``wte`` (+ position embeddings ``wpe``) ->
``n_layer`` ``tinyformer.layers.TransformerBlock`` s -> final norm ``ln_f`` ->
``lm_head`` -> logits ``(B, T, vocab_size)``. Which norm, feed-forward, positions and
attention variant are used is decided by ``tinyformer.config.GPTConfig`` (re-exported
here).

>>> model = GPT(GPTConfig.tiny())
>>> logits, loss = model(torch.zeros(2, 8, dtype=torch.long))
>>> tuple(logits.shape), loss is None
((2, 8, 65), True)
"""

from __future__ import annotations

import torch
from torch import nn

from tinyformer.losses import token_cross_entropy
from tinyformer.attention import KVCache, check_positions
from tinyformer.config import GPTConfig
from tinyformer.layers import TransformerBlock, init_weights, make_norm
from tinyformer.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
)
from tinyformer.sampling import check_temperature, sample

__all__ = ["GPT", "GPTConfig"]


class GPT(nn.Module):
    """A decoder-only transformer language model built from a ``GPTConfig``.

    Weights start as in GPT-2: N(0, 0.02), with the residual projections scaled by
    ``1/sqrt(2 * n_layer)`` (see ``tinyformer.layers.init_weights``). With
    ``tie_weights`` the output head *is* the token embedding matrix (one tensor, counted
    once).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT needs a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe: nn.Module | None = None
        if config.position == "learned":
            self.wpe = LearnedPositionalEmbedding(config.block_size, config.n_embd)
        elif config.position == "sinusoidal":
            self.wpe = SinusoidalPositionalEncoding(config.n_embd)
        # rope and alibi act inside attention; "none" leaves the model order-blind
        # except for what the causal mask reveals.
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(config, initialize=False) for _ in range(config.n_layer)
        )
        # Post-norm blocks already end in a norm; pre-norm leaves the stream
        # un-normalized.
        self.ln_f = (
            make_norm(config) if config.norm_position == "pre" else nn.Identity()
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        init_weights(self, config.n_layer)  # also the learned position embeddings
        if config.tie_weights:
            self.lm_head.weight = (
                self.wte.weight
            )  # one Parameter, two uses (Press and Wolf, 2017)

    def num_parameters(self) -> int:
        """Number of trainable numbers; a tied embedding/head matrix is counted once."""
        return sum(p.numel() for p in self.parameters())

    def new_kv_caches(self, capacity: int | None = None) -> list[KVCache]:
        """One empty ``tinyformer.attention.KVCache`` per block.

        For ``forward(kv_caches=...)``.

        Each allocates room for ``capacity`` positions (default: the window,
        ``block_size``) on first use, so generating within the window never reallocates.
        """
        capacity = self.config.block_size if capacity is None else capacity
        return [KVCache(capacity) for _ in self.blocks]

    def _check_idx(
        self, idx: torch.Tensor, offset: int, check_length: bool = True
    ) -> None:
        if (
            not isinstance(idx, torch.Tensor)
            or idx.is_floating_point()
            or idx.dtype == torch.bool
        ):
            raise TypeError(
                "idx must be an integer tensor of token ids, shape (B, T); got "
                f"{getattr(idx, 'dtype', type(idx))}"
            )
        if idx.dim() != 2:
            raise ValueError(
                f"idx must have shape (B, T), got {tuple(idx.shape)}: use idx[None] "
                "for a single sequence"
            )
        low, high = torch.aminmax(idx) if idx.numel() else (0, 0)  # one pass
        if low < 0 or high >= self.config.vocab_size:
            bad = int(low) if low < 0 else int(high)
            raise ValueError(
                f"token id {bad} is outside the vocabulary [0, "
                f"{self.config.vocab_size}): was the text encoded with the tokenizer "
                "this model was built for?"
            )
        T = idx.shape[1]
        if (
            check_length
            and self.config.position == "learned"
            and offset + T > self.config.block_size
        ):
            raise ValueError(
                f"sequence of {offset + T} positions is longer than "
                f"block_size={self.config.block_size}, the number of learned position "
                f"embeddings: crop the input to its last {self.config.block_size} "
                "tokens"
            )

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_caches: list[KVCache] | None = None,
        positions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, T, vocab_size)`` for ids ``(B, T)``, and the loss.

        The loss is the mean cross-entropy if ``targets`` is given.

        ``targets (B, T)`` holds the next token at every position (-1 = ignore). With
        ``kv_caches`` (see ``new_kv_caches``) the T tokens continue the cached sequence:
        they sit at positions ``cache.length ...`` and attend to everything cached.
        ``positions (T,)`` says where the tokens sit instead (for example after a cache
        was rolled back, or to continue a sequence at a given offset); every position
        embedding, rotation and causal mask follows it.
        """
        if kv_caches is not None and len(kv_caches) != len(self.blocks):
            raise ValueError(
                f"need one KV cache per block ({len(self.blocks)}), got "
                f"{len(kv_caches)}"
            )
        offset = kv_caches[0].length if kv_caches else 0
        if positions is None:  # the attention layers count from the caches themselves
            self._check_idx(idx, offset)
            embed_positions = torch.arange(
                offset, offset + idx.shape[1], device=idx.device
            )
        else:
            self._check_idx(idx, 0, check_length=False)
            positions = embed_positions = check_positions(
                positions, idx.shape[1], idx.device
            )
            if (
                self.config.position == "learned"
                and positions.max() >= self.config.block_size
            ):
                raise ValueError(
                    f"position {int(positions.max())} is beyond "
                    f"block_size={self.config.block_size}, the number of learned "
                    "position embeddings"
                )
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(embed_positions)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(
                x, kv_cache=kv_caches[i] if kv_caches else None, positions=positions
            )
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, token_cross_entropy(logits, targets, idx, ignore_index=-1)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to ``idx (B, T)``.

        Returns ``(B, T + max_new_tokens)``.

        Each step feeds at most the last ``block_size`` tokens and draws the next one
        with ``tinyformer.sampling.sample`` (``temperature=0`` is greedy). The model
        runs in eval mode (no dropout) and its previous mode is restored afterwards.

        With ``use_cache`` (the default) each block keeps the keys and values it has
        already computed, so a step processes one new token instead of the whole window.
        When the window is full the next token would need a position beyond
        ``block_size`` and every cached key would have to drop its oldest neighbour, so
        we *crop and recompute*: the caches are emptied and refilled from the last
        ``block_size`` tokens. This keeps the output identical to ``use_cache=False`` at
        the price of a full pass per step once the context is longer than the window.
        """
        if (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, int)
            or max_new_tokens < 0
        ):
            raise ValueError(
                f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}"
            )
        check_temperature(temperature)
        self._check_idx(
            idx, 0, check_length=False
        )  # longer prompts are cropped to the window
        if idx.shape[1] == 0:
            raise ValueError(
                "generate needs a prompt of at least one token per row, got T=0"
            )
        window = self.config.block_size
        caches = self.new_kv_caches() if use_cache else None
        was_training = self.training
        self.eval()
        try:
            # inference mode is no_grad minus the autograd bookkeeping that each of a
            # decoding step's many small operations would otherwise pay for
            with torch.inference_mode():
                for _ in range(max_new_tokens):
                    if caches is None:
                        logits, _ = self(idx[:, -window:])
                    elif caches[0].length == 0 or caches[0].length >= window:
                        for cache in caches:  # (re)fill the caches from the window
                            cache.truncate(0)
                        logits, _ = self(idx[:, -window:], kv_caches=caches)
                    else:
                        logits, _ = self(idx[:, -1:], kv_caches=caches)
                    next_id = sample(
                        logits[:, -1, :], temperature, top_k, top_p, generator
                    )
                    idx = torch.cat([idx, next_id[:, None].to(idx.dtype)], dim=1)
        finally:
            self.train(was_training)
        return idx.clone()  # outside inference mode: an ordinary tensor again
