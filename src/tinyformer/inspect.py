"""Looking inside a GPT: read and edit its activations by name.

This works without copying the model's forward pass.

Every activation worth looking at has a *hook point*, a name such as
``blocks.1.attn_out`` (the list comes from ``hook_points``). They are attached with
PyTorch's module hooks, so the model's own ``forward`` runs unchanged; the names follow
the spirit of TransformerLens's hook points, in a much smaller package:

- ``embed``: token (+ position) embeddings entering the first block ``(B, T, C)``;
- ``blocks.{i}.resid_pre`` / ``blocks.{i}.resid_post``: the residual stream entering and
  leaving block ``i`` ``(B, T, C)``;
- ``blocks.{i}.attn_pattern``: attention weights ``(B, H, T, T)`` (recorded only; the
  block then runs its plain, unfused attention, which agrees with the fused kernel to
  rounding);
- ``blocks.{i}.head_out``: each head's output before the output projection
  ``(B, T, H, D)``;
- ``blocks.{i}.attn_out`` / ``blocks.{i}.mlp_out``: what the attention layer and the
  feed-forward network add to the stream ``(B, T, C)`` (no ``mlp_out`` in an
  attention-only model, ``ffn='none'``);
- ``ln_f``: the final norm's output, the input of the unembedding ``(B, T, C)``.

``record`` keeps the activations of the last forward pass; ``intervene`` replaces
chosen ones by a function of themselves (``zero_head``, ``zero``, ``patch``).
Hooks run in the order the contexts were entered: ``with intervene(...), record(...)``
records the edited values, ``with record(...), intervene(...)`` the values before the
edit. The head scores at the end measure what kind of head a pattern belongs to.

>>> import torch
>>> from tinyformer.model import GPT, GPTConfig
>>> model = GPT(GPTConfig.tiny(n_layer=2))
>>> with record(model, ["blocks.1.attn_pattern"]) as cache:
...     _ = model(torch.zeros(1, 5, dtype=torch.long))
>>> tuple(cache["blocks.1.attn_pattern"].shape)
(1, 4, 5, 5)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

__all__ = [
    "hook_points",
    "record",
    "intervene",
    "zero",
    "zero_head",
    "patch",
    "logit_lens",
    "attention_patterns",
    "nearest_neighbours",
    "previous_token_score",
    "first_token_score",
    "duplicate_token_score",
    "induction_score",
]

_PER_BLOCK = (
    "resid_pre",
    "attn_pattern",
    "head_out",
    "attn_out",
    "mlp_out",
    "resid_post",
)
Edit = Callable[[torch.Tensor], torch.Tensor]


def _check_model(model: nn.Module) -> None:
    if not (
        hasattr(model, "blocks")
        and hasattr(model, "ln_f")
        and hasattr(model, "lm_head")
    ):
        raise TypeError(
            "expected a tinyformer GPT (with blocks, ln_f and lm_head), got "
            f"{type(model).__name__}"
        )


def hook_points(model: nn.Module) -> list[str]:
    """All hook point names of ``model``, in the order the forward pass reaches them."""
    _check_model(model)
    names = ["embed"]
    for i, block in enumerate(model.blocks):
        names += [
            f"blocks.{i}.{what}"
            for what in _PER_BLOCK
            if what != "mlp_out" or block.mlp is not None
        ]
    return names + ["ln_f"]


def _resolve(model: nn.Module, names: Sequence[str] | None) -> list[str]:
    available = hook_points(model)
    if names is None:
        return available
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"unknown hook point(s) {unknown}; this model has {available[:8]} ... "
            f"{available[-2:]} (see tinyformer.inspect.hook_points(model))"
        )
    return list(names)


def _split(name: str) -> tuple[int | None, str]:
    if name.startswith("blocks."):
        _, index, what = name.split(".")
        return int(index), what
    return None, name


def _apply(name: str, edit: Edit, value: torch.Tensor) -> torch.Tensor:
    new = edit(value)
    if not isinstance(new, torch.Tensor) or new.shape != value.shape:
        shape = (
            tuple(new.shape) if isinstance(new, torch.Tensor) else type(new).__name__
        )
        raise ValueError(
            f"the edit of {name!r} must return a tensor of shape {tuple(value.shape)}, "
            f"got {shape}"
        )
    return new


@contextmanager
def _hooks(
    model: nn.Module,
    names: list[str],
    on_value: Callable[[str, torch.Tensor], torch.Tensor | None],
):
    """Attach hooks for ``names``.

    ``on_value(name, tensor)`` may return a replacement.
    """
    handles, unfused = [], []

    def pre(name):
        def hook(module, args):
            new = on_value(name, args[0])
            return None if new is None else (new, *args[1:])

        return hook

    def post(name):
        def hook(module, args, output):
            return on_value(name, output)

        return hook

    def heads(name, attn):
        def hook(module, args):
            x = args[0]
            B, T, _ = x.shape
            new = on_value(name, x.view(B, T, attn.n_heads, attn.head_dim))
            return None if new is None else (new.reshape(B, T, -1), *args[1:])

        return hook

    def pattern(name):
        def hook(module, args, output):
            on_value(name, module.last_weights)

        return hook

    try:
        for name in names:
            index, what = _split(name)
            if index is None:
                if what == "embed":
                    handles.append(model.blocks[0].register_forward_pre_hook(pre(name)))
                else:
                    handles.append(model.ln_f.register_forward_hook(post(name)))
                continue
            block = model.blocks[index]
            if what == "resid_pre":
                handles.append(block.register_forward_pre_hook(pre(name)))
            elif what == "resid_post":
                handles.append(block.register_forward_hook(post(name)))
            elif what == "attn_out":
                handles.append(block.attn.register_forward_hook(post(name)))
            elif what == "mlp_out":
                handles.append(block.mlp.register_forward_hook(post(name)))
            elif what == "head_out":
                handles.append(
                    block.attn.out_proj.register_forward_pre_hook(
                        heads(name, block.attn)
                    )
                )
            elif what == "attn_pattern":
                if block.attn.fused:
                    unfused.append(block.attn)
                    block.attn.fused = False
                handles.append(block.attn.register_forward_hook(pattern(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for attn in unfused:
            attn.fused = True


@contextmanager
def record(
    model: nn.Module, names: Sequence[str] | None = None
) -> Iterator[dict[str, torch.Tensor]]:
    """Record activations (all hook points, or ``names``) of the forward passes inside.

    Yields a dict that fills as the model runs: ``name -> tensor`` (detached; the last
    forward pass wins). Nothing the model computes changes, except that recording an
    ``attn_pattern`` makes that block use its plain attention path.
    """
    _check_model(model)
    names = _resolve(model, names)
    cache: dict[str, torch.Tensor] = {}

    def keep(name, value):
        cache[name] = value.detach()
        return None

    with _hooks(model, names, keep):
        yield cache


@contextmanager
def intervene(model: nn.Module, edits: dict[str, Edit]) -> Iterator[None]:
    """Inside the block, replace each named activation ``x`` by ``edits[name](x)``.

    The edit must return a tensor of the same shape. Attention patterns cannot be edited
    (the fused kernel never forms them); edit ``head_out`` instead. An empty dict edits
    nothing, so a loop over ablations can include the unablated model.
    """
    _check_model(model)
    if not isinstance(edits, dict):
        raise TypeError(
            "edits must be a dict {hook point name: function of the activation}"
        )
    names = _resolve(model, list(edits))
    for name in names:
        if _split(name)[1] == "attn_pattern":
            raise ValueError(
                f"{name!r} can be recorded but not edited; to remove a head, edit "
                f"'{name.replace('attn_pattern', 'head_out')}' with zero_head(h)"
            )
        if not callable(edits[name]):
            raise TypeError(
                f"the edit of {name!r} must be a function of the activation, got "
                f"{type(edits[name]).__name__}"
            )
    with _hooks(model, names, lambda name, value: _apply(name, edits[name], value)):
        yield


def zero(x: torch.Tensor) -> torch.Tensor:
    """Zero-ablation: the activation replaced by zeros."""
    return torch.zeros_like(x)


def zero_head(*heads: int) -> Edit:
    """An edit for a ``head_out`` hook point that zeroes the outputs ``(B, T, H, D)`` of
    the given heads (one or several of the same layer)."""
    if not heads:
        raise TypeError("zero_head needs at least one head index")

    def edit(x: torch.Tensor) -> torch.Tensor:
        for head in heads:
            if not 0 <= head < x.shape[2]:
                raise ValueError(
                    f"head {head} does not exist: this layer has {x.shape[2]} heads"
                )
        out = x.clone()
        out[:, :, list(heads)] = 0
        return out

    return edit


def patch(value: torch.Tensor, head: int | None = None) -> Edit:
    """Activation patching: replace the activation (or one head of a ``head_out``) by
    ``value``, typically recorded on another input of the same shape."""

    def edit(x: torch.Tensor) -> torch.Tensor:
        if value.shape != x.shape:
            raise ValueError(
                f"the patch has shape {tuple(value.shape)}, the activation "
                f"{tuple(x.shape)}"
            )
        if head is None:
            return value.to(x.dtype)
        out = x.clone()
        out[:, :, head] = value[:, :, head]
        return out

    return edit


def logit_lens(model: nn.Module, cache: dict[str, torch.Tensor]) -> torch.Tensor:
    """The logit lens (nostalgebraist, 2020).

    Decodes the residual stream after every block.

    Needs ``embed`` and every ``blocks.{i}.resid_post`` in ``cache``; returns logits
    ``(n_layer + 1, B, T, vocab)``: row 0 from the embeddings, row ``i + 1`` after block
    ``i``. The last row is the model's own output.
    """
    _check_model(model)
    names = ["embed"] + [f"blocks.{i}.resid_post" for i in range(len(model.blocks))]
    missing = [n for n in names if n not in cache]
    if missing:
        raise ValueError(
            f"the cache lacks {missing}: record them with record(model, {names!r})"
        )
    with torch.no_grad():
        return torch.stack([model.lm_head(model.ln_f(cache[n])) for n in names])


def attention_patterns(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Every head's attention weights on ``tokens`` ``(B, T)``.

    A tensor ``(n_layer, B, H, T, T)``.

    Runs the model once in evaluation mode (no dropout) and without gradients.
    """
    _check_model(model)
    names = [f"blocks.{i}.attn_pattern" for i in range(len(model.blocks))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), record(model, names) as cache:
            model(tokens)
    finally:
        model.train(was_training)
    return torch.stack([cache[name] for name in names])


def nearest_neighbours(
    vectors: torch.Tensor, index: int, k: int = 8
) -> list[tuple[int, float]]:
    """The ``k`` rows of ``vectors`` ``(N, C)`` closest to row ``index``.

    Closeness is measured by cosine similarity.

    Returns ``(row, similarity)`` pairs, most similar first, without ``index`` itself:
    for an embedding table, the tokens whose vectors point the same way as this token's.
    """
    if not isinstance(vectors, torch.Tensor) or vectors.dim() != 2:
        raise ValueError("vectors must be a 2-D tensor (one row per token)")
    n = vectors.shape[0]
    if not 0 <= index < n:
        raise ValueError(f"index {index} is out of range for {n} rows")
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and {n - 1} (the other rows), got {k}")
    unit = torch.nn.functional.normalize(vectors.detach().float(), dim=1)
    similarity = unit @ unit[index]
    similarity[index] = -math.inf
    top = similarity.topk(k)
    return list(zip(top.indices.tolist(), top.values.tolist()))


# --- head scores: what kind of head is this? ------------------------------------------


def _check_pattern(pattern: torch.Tensor) -> torch.Tensor:
    if (
        not isinstance(pattern, torch.Tensor)
        or pattern.dim() != 4
        or pattern.shape[-1] != pattern.shape[-2]
    ):
        shape = (
            tuple(pattern.shape)
            if isinstance(pattern, torch.Tensor)
            else type(pattern).__name__
        )
        raise ValueError(f"pattern must have shape (B, H, T, T), got {shape}")
    if pattern.shape[-1] < 2:
        raise ValueError("a pattern needs at least 2 positions to score")
    return pattern.float()


def _check_tokens(pattern: torch.Tensor, tokens: torch.Tensor) -> None:
    if tokens.shape != (pattern.shape[0], pattern.shape[-1]):
        raise ValueError(
            f"tokens must have shape (B, T) = {(pattern.shape[0], pattern.shape[-1])}, "
            f"got {tuple(tokens.shape)}"
        )


def _mean_mass(pattern: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per head: the attention mass on ``targets (B, T, T)`` (bool), averaged over the
    query positions that have at least one target."""
    mass = (pattern * targets[:, None].float()).sum(-1)  # (B, H, T)
    rows = targets.any(-1)  # (B, T)
    if not rows.any():
        raise ValueError(
            "no query position has a target to score (no repeated tokens?)"
        )
    return (mass * rows[:, None]).sum((0, 2)) / rows.sum()


def previous_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Per head ``(H,)``: mean attention from each position to the one before it."""
    pattern = _check_pattern(pattern)
    T = pattern.shape[-1]
    targets = torch.zeros(T, T, dtype=torch.bool).diagonal_scatter(
        torch.ones(T - 1, dtype=torch.bool), -1
    )
    return _mean_mass(pattern, targets.expand(pattern.shape[0], T, T))


def first_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Per head ``(H,)``: mean attention to position 0 (a sink) from positions 1 on."""
    pattern = _check_pattern(pattern)
    T = pattern.shape[-1]
    targets = torch.zeros(T, T, dtype=torch.bool)
    targets[1:, 0] = True
    return _mean_mass(pattern, targets.expand(pattern.shape[0], T, T))


def duplicate_token_score(pattern: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Per head ``(H,)``: attention from a token to its own earlier occurrences,
    averaged over the positions whose token occurred before."""
    pattern = _check_pattern(pattern)
    _check_tokens(pattern, tokens)
    same = tokens[:, :, None] == tokens[:, None, :]  # (B, T_q, T_k)
    return _mean_mass(pattern, same & torch.ones_like(same[0]).tril(-1))


def induction_score(pattern: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Per head ``(H,)``: attention from a token to the positions just *after* its
    earlier occurrences (where an induction head looks: "A B ... A" attends to the first
    B)."""
    pattern = _check_pattern(pattern)
    _check_tokens(pattern, tokens)
    B, T = tokens.shape
    follows = torch.zeros(B, T, T, dtype=torch.bool)
    follows[:, :, 1:] = (
        tokens[:, :, None] == tokens[:, None, :-1]
    )  # key j follows a copy of query's token
    return _mean_mass(pattern, follows & torch.ones(T, T, dtype=torch.bool).tril(-1))
