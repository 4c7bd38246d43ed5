"""Training a GPT: the configuration, the loop, and an honest evaluation.

- ``TrainConfig``: every knob of a run, validated when it is built.
- ``train``: the loop. Per optimizer step: set the learning rate, run
  ``grad_accum`` micro-batches (forward, loss, backward), clip, step. It returns a
  ``History`` of what happened, for the chapter's plots.
- ``evaluate``: the mean loss over an *entire* token sequence, every token scored once.
- Under ``torchrun`` the same call trains with PyTorch's DistributedDataParallel: each
  rank computes the gradients of its own rows of the global batch and DDP averages them.

Batches: at every step one shared generator draws ``batch_size`` window starts (the
*global* batch); rank ``r``'s micro-batch ``m`` takes its own slice of them. So the
examples a step sees do not depend on how many processes or micro-batches share the
work: one process, two processes and gradient accumulation all train on the same data.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tinyformer import distributed
from tinyformer.data import windows
from tinyformer.optim import AdamW, clip_grad_norm, cosine_with_warmup, param_groups

__all__ = [
    "TrainConfig",
    "History",
    "TrainingDiverged",
    "train",
    "evaluate",
    "TokenData",
    "windows",
]

DTYPES = ("float32", "bfloat16")
DEVICES = ("auto", "cpu", "cuda")

# Anything train() accepts as data: a 1-D tensor of ids, or a (memory-mapped) numpy
# array.
TokenData = torch.Tensor | np.ndarray


@dataclass
class TrainConfig:
    """Everything about a training run except the model's shape (that is ``GPTConfig``).

    - ``batch_size``: sequences per optimizer step, in total over all processes and
      micro-batches (it must divide evenly by ``world_size * grad_accum``).
    - ``context``: tokens per sequence (at most the model's ``block_size``).
    - ``max_steps`` optimizer steps; learning rate: linear warm-up over ``warmup_steps``
      to ``max_lr``, then cosine decay to ``min_lr`` at ``max_steps``
      (``tinyformer.optim.cosine_with_warmup``).
    - AdamW's ``weight_decay`` and ``beta1``/``beta2``; ``grad_clip`` (global norm; 0 =
      off).
    - ``grad_accum``: micro-batches per step (less memory, same update).
    - ``dtype``: ``float32``, or ``bfloat16`` autocast (matmuls in bf16, weights in
      fp32).
    - ``eval_interval``: evaluate the whole validation split every so many steps (0 =
      only after the last step); ``eval_batch_size`` windows are scored at a time.
    - ``seed``: weights' initial state is the caller's; the seed fixes batches and
      dropout.
    - ``device``: ``auto`` (CUDA if available), ``cpu`` or ``cuda``.
    """

    batch_size: int = 32
    context: int = 64
    max_steps: int = 1000
    max_lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    grad_accum: int = 1
    dtype: str = "float32"
    eval_interval: int = 0
    eval_batch_size: int = 256
    seed: int = 1337
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in (
            "batch_size",
            "context",
            "max_steps",
            "grad_accum",
            "eval_batch_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"TrainConfig.{name} must be an integer >= 1, got {value!r}"
                )
        for name in ("warmup_steps", "eval_interval", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"TrainConfig.{name} must be an integer >= 0, got {value!r}"
                )
        for name in ("max_lr", "min_lr", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0.0 <= value < math.inf
            ):
                raise ValueError(
                    f"TrainConfig.{name} must be a finite number >= 0, got {value!r}"
                )
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0.0 <= value < 1.0
            ):
                raise ValueError(
                    f"TrainConfig.{name} must be a number in [0, 1), got {value!r}"
                )
        if self.max_lr <= 0:
            raise ValueError(f"TrainConfig.max_lr must be > 0, got {self.max_lr!r}")
        if self.min_lr > self.max_lr:
            raise ValueError(
                f"TrainConfig.min_lr ({self.min_lr}) must not exceed max_lr "
                f"({self.max_lr})"
            )
        if self.warmup_steps > self.max_steps:
            raise ValueError(
                f"TrainConfig.warmup_steps ({self.warmup_steps}) must be <= max_steps "
                f"({self.max_steps})"
            )
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"TrainConfig.batch_size ({self.batch_size}) must be divisible by "
                f"grad_accum ({self.grad_accum}): every micro-batch gets batch_size // "
                "grad_accum sequences"
            )
        if self.dtype not in DTYPES:
            raise ValueError(
                f"TrainConfig.dtype must be one of {list(DTYPES)}, got {self.dtype!r}"
            )
        if self.device not in DEVICES:
            raise ValueError(
                f"TrainConfig.device must be one of {list(DEVICES)}, got "
                f"{self.device!r}"
            )

    def replace(self, **changes: object) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based)."""
        return cosine_with_warmup(
            step, self.max_lr, self.min_lr, self.warmup_steps, self.max_steps
        )


@dataclass
class History:
    """What a run measured. Per step: ``step`` (1-based count of optimizer steps taken),
    ``train_loss`` (mean over the step's batch), ``lr``, ``tokens_per_sec``, ``elapsed``
    (seconds since the run started, evaluations included). Per evaluation: ``val_step``,
    ``val_loss`` (the whole validation split), ``val_elapsed``."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens_per_sec: list[float] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_elapsed: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> History:
        return cls(
            **{f.name: list(data.get(f.name, [])) for f in dataclasses.fields(cls)}
        )

    def time_to(self, target: float) -> float | None:
        """Seconds until the validation loss first reached ``target``.

        None if it never did.
        """
        for loss, seconds in zip(self.val_loss, self.val_elapsed):
            if loss <= target:
                return seconds
        return None


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; raised before that step changes any weight."""


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "TrainConfig.device='cuda' but no CUDA device is available: use 'cpu' "
                "or 'auto'"
            )
        return torch.device("cuda", distributed.local_rank())
    return torch.device("cpu")


def _check_data(name: str, data: TokenData, context: int, vocab_size: int) -> None:
    if not isinstance(data, (torch.Tensor, np.ndarray)) or data.ndim != 1:
        raise TypeError(
            f"{name} must be a 1-D tensor or numpy array of token ids, got "
            f"{type(data).__name__}"
            f"{'' if not hasattr(data, 'shape') else tuple(data.shape)}"
        )
    if isinstance(data, torch.Tensor) and (
        data.is_floating_point() or data.dtype == torch.bool
    ):
        raise TypeError(f"{name} must hold integer token ids, got dtype {data.dtype}")
    if isinstance(data, np.ndarray) and not np.issubdtype(data.dtype, np.integer):
        raise TypeError(f"{name} must hold integer token ids, got dtype {data.dtype}")
    if len(data) < context + 1:
        raise ValueError(
            f"{name} has {len(data)} tokens, but one window of context {context} needs "
            f"{context + 1}: use more text or a shorter context"
        )
    # Checking every id of a 1 GB memory-mapped file would read it all; a sample catches
    # the usual mistake (data encoded with another tokenizer) at once.
    sample = data if len(data) <= 1_000_000 else data[:: max(1, len(data) // 1_000_000)]
    top = int(sample.max())
    if top >= vocab_size or int(sample.min()) < 0:
        raise ValueError(
            f"{name} contains token id {top}, but the model's vocabulary has "
            f"{vocab_size} ids: was it encoded with the tokenizer the model was built "
            "for?"
        )


@torch.no_grad()
def evaluate(
    model: nn.Module, data: TokenData, context: int, batch_size: int = 256
) -> float:
    """Mean next-token cross-entropy (nats) over *all* of ``data``, deterministically.

    The text is cut into non-overlapping windows of ``context`` tokens (the last one may
    be shorter), so each of the ``len(data) - 1`` predictions is scored exactly once;
    the result is the sum of their losses divided by their number, in float32, in eval
    mode. Each window starts with no context, as a training window does.
    """
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be an integer >= 1, got {context!r}")
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab is not None:
        _check_data("data", data, 1, vocab)
    device = next(model.parameters()).device
    n_pred = len(data) - 1
    n_full = n_pred // context
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    try:
        starts = torch.arange(n_full) * context
        for i in range(0, n_full, batch_size):
            x, y = windows(data, starts[i : i + batch_size], context)
            logits, _ = model(x.to(device))
            total += F.cross_entropy(
                logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum"
            ).cpu()
        rest = n_pred - n_full * context
        if rest:
            x, y = windows(data, torch.tensor([n_full * context]), rest)
            logits, _ = model(x.to(device))
            total += F.cross_entropy(
                logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum"
            ).cpu()
    finally:
        model.train(was_training)
    return float(total / n_pred)


def _progress(total: int, initial: int, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        disable=quiet,
        unit="step",
        dynamic_ncols=True,
        leave=True,
    )


def train(
    model: nn.Module,
    train_data: TokenData,
    val_data: TokenData | None,
    config: TrainConfig,
    *,
    quiet: bool = False,
    resume=None,
    on_step=None,
) -> History:
    """Train ``model`` in place on ``train_data`` for ``config.max_steps`` steps.

    ``val_data`` (optional) is evaluated in full every ``eval_interval`` steps and after
    the last step. ``resume`` is a checkpoint from
    ``tinyformer.checkpoint.load_checkpoint`` (its model weights already loaded into
    ``model``): the optimizer, step count, batch and dropout random states and history
    continue from it, so the run ends exactly where an uninterrupted one would.
    ``on_step(step, model, optimizer, generator, history)`` is called after each step
    (the CLI writes checkpoints from it). ``quiet`` hides the progress bar. Raises
    ``TrainingDiverged`` if the loss stops being finite.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    gpt_config = getattr(model, "config", None)
    block_size = getattr(gpt_config, "block_size", None)
    if (
        block_size is not None
        and config.context > block_size
        and gpt_config.position == "learned"
    ):
        raise ValueError(
            f"TrainConfig.context={config.context} exceeds the model's "
            f"block_size={block_size} (its learned position table): lower context or "
            "build the model with a larger block_size"
        )
    vocab = getattr(gpt_config, "vocab_size", None)
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is not None and vocab is not None:
            _check_data(
                name, data, config.context if name == "train_data" else 1, vocab
            )

    world, rank = distributed.world_size(), distributed.rank()
    if config.batch_size % (world * config.grad_accum):
        raise ValueError(
            f"TrainConfig.batch_size ({config.batch_size}) must be divisible by "
            f"world_size x grad_accum ({world} x {config.grad_accum}): each process's "
            "micro-batch gets an equal share"
        )
    micro = config.batch_size // (world * config.grad_accum)
    device = _resolve_device(config.device)
    model.to(device)
    model.train()
    wrapped = distributed.wrap(model, device)

    optimizer = AdamW(
        param_groups(model, config.weight_decay),
        lr=config.max_lr,
        betas=(config.beta1, config.beta2),
    )
    generator = torch.Generator().manual_seed(config.seed)
    history, start = History(), 0
    if resume is None:
        torch.manual_seed(
            config.seed + rank
        )  # dropout masks: fixed by the seed, distinct per rank
    else:
        resume = resume.resume_state() if hasattr(resume, "resume_state") else resume
        optimizer.load_state_dict(resume["optimizer"])
        generator.set_state(resume["rng"]["batches"])
        torch.set_rng_state(resume["rng"]["torch"])
        history, start = History.from_dict(resume["history"]), int(resume["step"])
        if start > config.max_steps:
            raise ValueError(
                f"the checkpoint is at step {start}, past max_steps={config.max_steps}"
            )

    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=config.dtype == "bfloat16"
    )
    n_train = len(train_data) - config.context
    clock = time.perf_counter() - (history.elapsed[-1] if history.elapsed else 0.0)
    last_finite = (history.step[-1], history.train_loss[-1]) if history.step else None
    bar = _progress(config.max_steps, start, quiet or rank != 0)
    try:
        for step in range(start, config.max_steps):
            t0 = time.perf_counter()
            lr = config.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            starts = torch.randint(n_train, (config.batch_size,), generator=generator)
            step_loss = torch.zeros((), device=device)
            for m in range(config.grad_accum):
                first = (m * world + rank) * micro
                x, y = windows(
                    train_data, starts[first : first + micro], config.context
                )
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with (
                    distributed.maybe_no_sync(wrapped, last=m == config.grad_accum - 1),
                    autocast,
                ):
                    _, loss = wrapped(x, y)
                if not torch.isfinite(loss):
                    _diverged(step, loss, last_finite)
                (loss / config.grad_accum).backward()
                step_loss += loss.detach() / config.grad_accum
            step_loss = distributed.mean(step_loss)
            if config.grad_clip > 0:
                norm = clip_grad_norm(model.parameters(), config.grad_clip)
                if not torch.isfinite(norm):
                    _diverged(step, f"a gradient norm of {float(norm)}", last_finite)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            loss_value = float(step_loss)
            seconds = time.perf_counter() - t0
            last_finite = (step + 1, loss_value)
            history.step.append(step + 1)
            history.train_loss.append(loss_value)
            history.lr.append(lr)
            history.tokens_per_sec.append(config.tokens_per_step / seconds)
            history.elapsed.append(time.perf_counter() - clock)
            done = step + 1 == config.max_steps
            if val_data is not None and (
                done
                or (config.eval_interval and (step + 1) % config.eval_interval == 0)
            ):
                history.val_step.append(step + 1)
                history.val_loss.append(
                    evaluate(model, val_data, config.context, config.eval_batch_size)
                )
                history.val_elapsed.append(time.perf_counter() - clock)
                history.elapsed[-1] = history.val_elapsed[-1]
            bar.update(1)
            postfix = {
                "loss": f"{loss_value:.3f}",
                "tok/s": f"{history.tokens_per_sec[-1]:,.0f}",
            }
            if history.val_loss:
                postfix["val"] = f"{history.val_loss[-1]:.3f}"
            bar.set_postfix(postfix, refresh=False)
            if on_step is not None:
                on_step(step + 1, model, optimizer, generator, history)
    finally:
        bar.close()
    return history


def _diverged(step: int, what, last_finite: tuple[int, float] | None) -> None:
    what = (
        f"a loss of {float(what.detach())}" if isinstance(what, torch.Tensor) else what
    )
    before = (
        f"the last finite loss was {last_finite[1]:.4f} after step {last_finite[0]}"
        if last_finite
        else "no step had finished yet"
    )
    raise TrainingDiverged(
        f"training diverged at step {step + 1}: {what}; {before}. No weight was "
        "changed by this step. Lower max_lr, lengthen warmup_steps, or set grad_clip"
    )
