"""The encoder–decoder transformer (Vaswani et al., 2017): a source sequence in, a
target sequence out, the two joined by cross-attention.

- The *encoder* reads the whole source at once: blocks without a causal mask
  (``tinyformer.layers.TransformerBlock`` with ``causal=False``), padding hidden
  by the source mask. Its output, one vector per source token, is the *memory*.
- The *decoder* writes the target one token at a time. Each ``DecoderBlock`` has
  three sub-layers: causal self-attention over the target so far, *cross-attention*
  (queries from the target, keys and values from the memory) and the feed-forward net.
- Generating, the memory never changes, so each cross-attention layer projects it to
  keys and values once per source and keeps them in a
  ``tinyformer.attention.KVCache``; the self-attention caches grow by one token
  per step, as in the GPT.

``Seq2Seq`` is the whole model and ``Seq2SeqConfig`` its shape (defaults: the
paper's base model); the config lives in ``tinyformer.seq2seq_config`` and the
decoder's parts in ``tinyformer.cross_attention``, all re-exported here. Shapes:
``B`` batch, ``S`` source length, ``T`` target length, ``C`` width (``n_embd``), ``V``
target vocabulary.

>>> config = Seq2SeqConfig(src_vocab_size=20, n_encoder_layer=1, n_decoder_layer=1,
...                        n_head=2, n_embd=16)
>>> model = Seq2Seq(config)
>>> logits, _ = model(torch.tensor([[3, 4, 5]]), torch.tensor([[1, 5]]))
>>> tuple(logits.shape)
(1, 2, 20)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tinyformer.losses import token_cross_entropy
from tinyformer.attention import KVCache, hide_padding
from tinyformer.cross_attention import CrossAttention, DecoderBlock
from tinyformer._checks import check_token_ids
from tinyformer.layers import TransformerBlock, init_weights, make_norm
from tinyformer.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
)
from tinyformer.seq2seq_config import Seq2SeqConfig

__all__ = ["CrossAttention", "DecoderBlock", "Seq2SeqConfig", "Seq2Seq"]


class Seq2Seq(nn.Module):
    """Source ids ``(B, S)``, target ids ``(B, T)`` -> next-token logits ``(B, T, V)``.

    ``encode`` runs the encoder once per source; ``decode`` runs the decoder on target
    tokens against that memory (with caches, on the new tokens only); ``forward`` does
    both for training; ``generate`` decodes greedily. ``embed_source`` /
    ``run_encoder`` and ``embed_target`` / ``run_decoder`` split each half at the
    embeddings, where the book (and the tests, against ``torch.nn.Transformer``) start.

    Both stacks end in a LayerNorm, ``encoder_norm`` and ``decoder_norm``, as in
    ``torch.nn.Transformer``. A pre-norm stack needs it (its residual stream is never
    normalized otherwise). A post-norm block already ends in a norm, so there the extra
    one only adds a learned rescaling (2C parameters); it is kept so both variants have
    the same parts as PyTorch's model and can be checked weight for weight.

    Weights start as in BERT: N(0, 0.02), biases 0, norms 1, without the GPT's depth
    scaling of the residual projections (post-norm renormalizes the stream anyway).
    With ``scale_embeddings`` the token embeddings start at N(0, 1/C) instead, so that
    once multiplied by ``sqrt(C)`` each coordinate has size about 1, like the sinusoids
    (with 0.02 the shared part of the position vectors would drown the tokens).
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(
                f"Seq2Seq needs a Seq2SeqConfig, got {type(config).__name__}"
            )
        self.config = config
        C = config.n_embd
        self.src_embed = nn.Embedding(config.src_vocab_size, C)
        self.tgt_embed = (
            self.src_embed
            if config.share_embeddings
            else nn.Embedding(config.tgt_vocab_size, C)
        )
        if config.position == "learned":
            self.src_pos = LearnedPositionalEmbedding(config.max_src_len, C)
            self.tgt_pos = LearnedPositionalEmbedding(config.max_tgt_len, C)
        else:
            self.src_pos = self.tgt_pos = SinusoidalPositionalEncoding(C)
        self.embed_scale = math.sqrt(C) if config.scale_embeddings else 1.0
        self.drop = nn.Dropout(config.dropout)
        blocks = config.block_config()
        self.encoder_blocks = nn.ModuleList(
            TransformerBlock(blocks, causal=False, initialize=False)
            for _ in range(config.n_encoder_layer)
        )
        self.encoder_norm = make_norm(blocks)
        self.decoder_blocks = nn.ModuleList(
            DecoderBlock(blocks) for _ in range(config.n_decoder_layer)
        )
        self.decoder_norm = make_norm(blocks)
        self.lm_head = nn.Linear(C, config.tgt_vocab_size, bias=False)
        init_weights(self, blocks.n_layer, scale_residual=False)
        if config.scale_embeddings:  # tensor2tensor's recipe: N(0, 1/C), times sqrt(C),
            # gives vectors of size ~1; each table once, in a fixed order (seeded runs)
            for embed in dict.fromkeys([self.src_embed, self.tgt_embed]):
                nn.init.normal_(embed.weight, 0.0, C**-0.5)
        if config.tie_weights:
            self.lm_head.weight = self.tgt_embed.weight

    def num_parameters(self) -> int:
        """Trainable numbers; a matrix shared by embeddings and head is counted once."""
        return sum(p.numel() for p in self.parameters())

    def new_caches(self, capacity: int | None = None) -> list[tuple[KVCache, KVCache]]:
        """A ``(self_cache, cross_cache)`` pair of empty caches per decoder block, for
        ``decode``. The self-attention caches get room for ``capacity`` tokens
        (default ``max_tgt_len``); the cross-attention ones take the source's size."""
        capacity = self.config.max_tgt_len if capacity is None else capacity
        return [(KVCache(capacity), KVCache()) for _ in self.decoder_blocks]

    def _embed(
        self,
        name: str,
        ids: torch.Tensor,
        embed: nn.Embedding,
        pos: nn.Module,
        offset: int,
        limit: int,
    ) -> torch.Tensor:
        check_token_ids(name, ids, embed.num_embeddings)  # (B, T), ids in range
        T = ids.shape[1]
        if T == 0:
            raise ValueError(f"{name} must hold at least one token per row, got T=0")
        if self.config.position == "learned" and offset + T > limit:
            raise ValueError(
                f"{name} reaches position {offset + T - 1}, beyond the {limit} learned "
                f"positions (max_{name}_len={limit}): shorten it or build the model "
                "with a larger max length"
            )
        positions = torch.arange(offset, offset + T, device=ids.device)
        return self.drop(embed(ids) * self.embed_scale + pos(positions))

    def embed_source(self, src: torch.Tensor) -> torch.Tensor:
        """Source ids ``(B, S)`` -> embeddings + positions ``0 .. S-1``: ``(B, S, C)``.
        Multiplied by ``sqrt(C)`` first with ``scale_embeddings``."""
        limit = self.config.max_src_len
        return self._embed("src", src, self.src_embed, self.src_pos, 0, limit)

    def embed_target(self, tgt: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Target ids ``(B, T)`` -> embeddings + positions ``offset ..``: ``(B, T, C)``.
        ``offset``: where the tokens start (the length of the decoder's caches)."""
        limit = self.config.max_tgt_len
        return self._embed("tgt", tgt, self.tgt_embed, self.tgt_pos, offset, limit)

    @staticmethod
    def _check_mask(mask: torch.Tensor | None, B: int, S: int) -> None:
        if mask is None:
            return
        hide_padding(None, mask, B, S)  # its checks: shape (B, S), bool or integer
        if not bool(mask.to(torch.bool).any(dim=1).all()):
            raise ValueError(
                "the source mask (src_mask, memory_mask) has a row with no real token "
                "(all 0/False): every source needs at least one token to attend to"
            )

    def run_encoder(
        self, x: torch.Tensor, src_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Embedded source ``(B, S, C)`` through the encoder blocks and
        ``encoder_norm``: the memory ``(B, S, C)``. ``src_mask (B, S)``: 1 (True) for a
        real token, 0 for padding."""
        self._check_mask(src_mask, x.shape[0], x.shape[1])
        for block in self.encoder_blocks:
            x = block(x, attention_mask=src_mask)
        return self.encoder_norm(x)

    def encode(
        self, src: torch.Tensor, src_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Source ids ``(B, S)`` -> memory ``(B, S, C)`` (padded positions get vectors
        too, which the decoder never reads when given the same mask)."""
        return self.run_encoder(self.embed_source(src), src_mask)

    def _check_caches(self, caches: object) -> None:
        if caches is not None and len(caches) != len(self.decoder_blocks):
            raise ValueError(
                f"need one (self_cache, cross_cache) pair per decoder block "
                f"({len(self.decoder_blocks)}), got {len(caches)}: use new_caches()"
            )

    def run_decoder(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        caches: list[tuple[KVCache, KVCache]] | None = None,
    ) -> torch.Tensor:
        """Embedded target ``(B, T, C)`` through the decoder blocks and
        ``decoder_norm``: ``(B, T, C)``, the vectors the head turns into logits."""
        self._check_caches(caches)
        self._check_mask(memory_mask, memory.shape[0], memory.shape[1])
        for i, block in enumerate(self.decoder_blocks):
            self_cache, cross_cache = caches[i] if caches else (None, None)
            x = block(x, memory, memory_mask, self_cache, cross_cache)
        return self.decoder_norm(x)

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        caches: list[tuple[KVCache, KVCache]] | None = None,
    ) -> torch.Tensor:
        """Target ids ``(B, T)`` against ``memory (B, S, C)`` -> logits ``(B, T, V)``.

        ``memory_mask``: the ``src_mask`` the memory was encoded with. With ``caches``
        (``new_caches``) the ``T`` tokens continue those already decoded, at
        positions ``cache.length ...``; the cross-attention caches keep this source's
        keys and values after the first call, so use fresh caches for a new source.
        """
        self._check_caches(caches)
        offset = caches[0][0].length if caches else 0
        x = self.embed_target(tgt, offset)
        return self.lm_head(self.run_decoder(x, memory, memory_mask, caches))

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, T, V)`` for every target position, and the mean cross-entropy
        against ``targets (B, T)`` if given (-1 = ignore).

        Teacher forcing: ``tgt`` is the target shifted right (``[bos, y_1 .. y_{n-1}]``)
        and ``targets`` the target itself (``[y_1 .. y_n]``, e.g. ending in eos). Rows
        of different lengths are padded at the end with any id and -1 in ``targets``;
        the decoder needs no mask for them, since the causal mask already keeps every
        real token from seeing the padding after it.
        """
        logits = self.decode(tgt, self.encode(src, src_mask), src_mask)
        if targets is None:
            return logits, None
        return logits, token_cross_entropy(
            logits, targets, tgt, -1, names=("targets", "tgt")
        )

    @torch.no_grad()
    def generate(
        self,
        src: torch.Tensor,
        max_new_tokens: int,
        bos_id: int,
        eos_id: int | None = None,
        src_mask: torch.Tensor | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Greedy decoding: ``[bos_id]`` and up to ``max_new_tokens`` tokens per source,
        ``(B, 1 + n)`` with ``n <= max_new_tokens``.

        The source is encoded once. Each step appends the most likely next token. A row
        that has produced ``eos_id`` is finished: every later position of it holds
        ``eos_id`` again (cut each row at its first eos), and decoding stops early once
        every row is finished. With ``use_cache`` each decoder block keeps its
        self-attention keys and values (one new token per step) and the source's
        cross-attention keys and values (projected on the first step only); the output
        is the same as recomputing everything each step (``use_cache=False``). The model
        runs in eval mode (no dropout); its previous mode is restored afterwards.
        """
        if (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, int)
            or max_new_tokens < 0
        ):
            raise ValueError(
                f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}"
            )
        c = self.config
        V = c.tgt_vocab_size
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if (name, value) != ("eos_id", None) and not (
                type(value) is int and 0 <= value < V
            ):
                raise ValueError(
                    f"{name} must be a token id in [0, {V}), got {value!r}"
                )
        if c.position == "learned" and max_new_tokens > c.max_tgt_len:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} needs as many target positions, more "
                f"than the max_tgt_len={c.max_tgt_len} learned ones: ask for fewer"
            )
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():  # no autograd bookkeeping for many small steps
                memory = self.encode(src, src_mask)
                B = src.shape[0]
                out = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
                done = torch.zeros(B, dtype=torch.bool, device=src.device)
                caches = self.new_caches() if use_cache else None
                for _ in range(max_new_tokens):
                    step = out[:, -1:] if caches is not None else out
                    logits = self.decode(step, memory, src_mask, caches)
                    next_id = logits[:, -1].argmax(dim=-1)
                    if eos_id is not None:
                        next_id = next_id.masked_fill(done, eos_id)
                        done = done | (next_id == eos_id)
                    out = torch.cat([out, next_id[:, None]], dim=1)
                    if eos_id is not None and bool(done.all()):
                        break
        finally:
            self.train(was_training)
        return out.clone()  # outside inference mode: an ordinary tensor again
