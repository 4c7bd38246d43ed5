"""AdamW and its two helpers, the learning-rate schedule and clipping, written out.

Each is checked in the tests against PyTorch's own (``torch.optim.AdamW``,
``torch.nn.utils.clip_grad_norm_``) and against hand computations; the training loop in
``tinyformer.training`` uses these, not PyTorch's, so the book trains with code a reader
can read in one sitting.

>>> [
...     round(cosine_with_warmup(s, 1.0, 0.1, warmup_steps=2, total_steps=6), 3)
...     for s in range(8)
... ]
[0.5, 1.0, 1.0, 0.868, 0.55, 0.232, 0.1, 0.1]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["AdamW", "cosine_with_warmup", "clip_grad_norm", "param_groups"]


class AdamW(torch.optim.Optimizer):
    """Adam with *decoupled* weight decay.

    References: Kingma and Ba, 2015; Loshchilov and Hutter, 2019.

    For each parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...``::

        p  <- p - lr * weight_decay * p              # decay: shrink the weight itself
        m  <- beta1 * m + (1 - beta1) * g            # running mean of gradients
        v  <- beta2 * v + (1 - beta2) * g^2          # running mean of squared gradients
        p  <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    The ``1 - beta^t`` factors undo the bias of ``m`` and ``v`` towards their zero
    start. Decoupled means the decay does not pass through ``m`` and ``v``: with Adam's
    L2 penalty (``g + wd * p``), large-gradient weights would be decayed *less*, because
    ``v`` divides the penalty too. Parameter groups may set their own ``lr`` and
    ``weight_decay`` (see ``param_groups``). State per parameter: ``step``, ``exp_avg``
    (m), ``exp_avg_sq`` (v).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        if not (isinstance(lr, (int, float)) and lr >= 0.0):
            raise ValueError(f"AdamW lr must be a number >= 0, got {lr!r}")
        if not (len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas)):
            raise ValueError(
                f"AdamW betas must be two numbers in [0, 1), got {betas!r}"
            )
        if not eps > 0.0:
            raise ValueError(f"AdamW eps must be > 0, got {eps!r}")
        if not weight_decay >= 0.0:
            raise ValueError(f"AdamW weight_decay must be >= 0, got {weight_decay!r}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - documented on the class
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamW does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v, g = (
                    state["step"],
                    state["exp_avg"],
                    state["exp_avg_sq"],
                    p.grad,
                )
                p.mul_(1.0 - lr * weight_decay)
                m.lerp_(g, 1.0 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                # Same arithmetic order as torch.optim.AdamW, so the two agree to
                # round-off.
                bias_correction1 = 1.0 - beta1**t
                bias_correction2 = 1.0 - beta2**t
                denom = (v.sqrt() / math.sqrt(bias_correction2)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / bias_correction1)
        return loss


def cosine_with_warmup(
    step: int, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int
) -> float:
    """The learning rate at optimizer step ``step`` (counted from 0).

    - Warm-up, ``step < warmup_steps``: a straight line up to ``max_lr``, reached at the
      last warm-up step: ``max_lr * (step + 1) / warmup_steps``.
    - Decay, ``warmup_steps <= step <= total_steps``: half a cosine from ``max_lr`` down
      to ``min_lr``: ``min_lr + (max_lr - min_lr) * (1 + cos(pi * progress)) / 2`` with
      ``progress = (step - warmup_steps) / (total_steps - warmup_steps)``.
    - After ``total_steps``: ``min_lr``.
    """
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps <= total_steps, got {warmup_steps} and "
            f"{total_steps}"
        )
    if not 0.0 <= min_lr <= max_lr:
        raise ValueError(
            f"need 0 <= min_lr <= max_lr, got min_lr={min_lr} and max_lr={max_lr}"
        )
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    The global norm treats every gradient of the model as one long vector:
    ``sqrt(sum over tensors of ||g||^2)``. If it exceeds ``max_norm`` every gradient is
    multiplied by ``max_norm / norm``, which keeps the update's *direction* and only
    shortens it. Returns the norm before clipping (a 0-d tensor), as PyTorch's
    ``clip_grad_norm_`` does; a non-finite norm is returned, not hidden.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norm = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])
    )
    scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.to(g.dtype))
    return norm


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimizer groups, nanoGPT's rule: decay parameters with 2 or more dimensions.

    Decayed: the Linear weight matrices and the embedding tables. Not decayed: biases
    and normalization gains (1-D). Shrinking a gain or a bias towards 0 does not make
    the function simpler; it only fights the normalization that the model relies on.
    Embeddings decay here because with tied weights the token embedding *is* the output
    projection, a weight matrix like any other; rows of tokens that never appear shrink
    slowly towards zero, which keeps their logits low.
    """
    decay, no_decay = [], []
    for p in model.parameters():  # each tensor once, even when tied
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
