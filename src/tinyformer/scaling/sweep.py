"""A scaling experiment on TinyShakespeare.

Many model sizes, each trained on a fixed compute budget.

For every budget ``C`` (training FLOPs) and every model size of ``LADDER`` whose run
would be reasonable (see ``plan``), a fresh model is trained on exactly as many tokens
as ``C`` buys it, with a cosine schedule that ends when the budget does (Hoffmann et al.
(2022) found that a schedule longer than the run overstates the loss), and scored on the
whole validation split. The FLOPs are counted exactly by
``tinyformer.scaling.compute.training_flops_per_token``, not by ``6 N D``.

``python -m tinyformer.scaling sweep`` runs it from the command line and saves the
points as JSON; ``load_sweep`` reads them back (by default, the sweep shipped with the
package).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tinyformer._files import atomic_write
from tinyformer.config import GPTConfig
from tinyformer.model import GPT
from tinyformer.scaling.compute import count_parameters, training_flops_per_token
from tinyformer.training import TrainConfig, train

__all__ = [
    "LADDER",
    "ladder_config",
    "SweepRun",
    "SweepPoint",
    "plan",
    "run_sweep",
    "save_sweep",
    "load_sweep",
]

# (n_layer, n_embd): depth and width grow together, as in Kaplan et al.'s model
# families.
LADDER: tuple[tuple[int, int], ...] = (
    (1, 16),
    (1, 32),
    (2, 32),
    (2, 48),
    (2, 64),
    (3, 80),
    (3, 96),
    (3, 128),
    (4, 160),
    (4, 192),
    (5, 256),
)


def ladder_config(
    n_layer: int, n_embd: int, vocab_size: int = 65, context: int = 64
) -> GPTConfig:
    """The modern design of the book's presets at one size.

    RoPE, RMSNorm, SwiGLU, no biases.

    Heads are 16 wide up to ``n_embd = 96`` and 32 wide above.
    """
    head_dim = 16 if n_embd <= 96 else 32
    return GPTConfig(
        vocab_size=vocab_size,
        block_size=context,
        n_layer=n_layer,
        n_head=n_embd // head_dim,
        n_embd=n_embd,
        position="rope",
        norm="rmsnorm",
        ffn="swiglu",
        bias=False,
    )


def _learning_rate(n_embd: int) -> float:
    """3e-3 up to 128 wide, then falling as 1/sqrt(width).

    3e-3 is the ``shakespeare-char`` preset's rate.
    """
    return 3e-3 * min(1.0, math.sqrt(128 / n_embd))


@dataclass(frozen=True)
class SweepRun:
    """One planned run: a model ``config`` trained for ``steps`` steps.

    Each step is ``run.tokens_per_step`` tokens.
    """

    budget: float
    config: GPTConfig
    run: TrainConfig

    @property
    def tokens(self) -> int:
        return self.run.max_steps * self.run.tokens_per_step

    @property
    def compute(self) -> float:
        """The FLOPs the run really spends (the budget rounded to whole steps)."""
        return float(
            self.tokens * training_flops_per_token(self.config, self.run.context)
        )


@dataclass(frozen=True)
class SweepPoint:
    """What one run measured. ``params`` counts all parameters, ``non_embedding`` those
    outside the token table; ``compute`` is the exact FLOPs spent; ``val_loss`` is the
    mean over the whole validation split; ``seconds`` the wall time (evaluation
    included)."""

    budget: float
    n_layer: int
    n_embd: int
    n_head: int
    params: int
    non_embedding: int
    steps: int
    tokens: int
    compute: float
    max_lr: float
    val_loss: float
    train_loss: float
    seconds: float

    @property
    def tokens_per_parameter(self) -> float:
        return self.tokens / self.params


def plan(
    budgets: Sequence[float],
    train_tokens: int,
    ladder: Sequence[tuple[int, int]] = LADDER,
    batch_size: int = 32,
    context: int = 64,
    min_steps: int = 50,
    max_epochs: float = 25.0,
    seed: int = 1337,
) -> list[SweepRun]:
    """The runs of a sweep: every ladder size whose run at a budget is worth making.

    A run is skipped when the budget buys fewer than ``min_steps`` steps (the model is
    too large to learn anything) or more than ``max_epochs`` passes over the
    ``train_tokens`` (the model is far too small, and the run long). Sizes are listed
    smallest first.
    """
    for value in budgets:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(
                f"every budget must be a positive number of FLOPs, got {value!r}"
            )
    if train_tokens < 1:
        raise ValueError(f"train_tokens must be positive, got {train_tokens!r}")
    runs = []
    for budget in sorted(budgets):
        for n_layer, n_embd in ladder:
            config = ladder_config(n_layer, n_embd, context=context)
            per_step = batch_size * context * training_flops_per_token(config, context)
            steps = round(budget / per_step)
            if (
                steps < min_steps
                or steps * batch_size * context > max_epochs * train_tokens
            ):
                continue
            lr = _learning_rate(n_embd)
            run = TrainConfig(
                batch_size=batch_size,
                context=context,
                max_steps=steps,
                max_lr=lr,
                min_lr=lr / 10,
                warmup_steps=min(30, steps // 10),
                weight_decay=0.1,
                beta2=0.99,
                grad_clip=1.0,
                eval_interval=0,
                dtype="float32",
                device="cpu",
                seed=seed,
            )
            runs.append(SweepRun(float(budget), config, run))
    return runs


def run_sweep(
    runs: Sequence[SweepRun],
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    on_point: Callable[[SweepPoint], None] | None = None,
) -> list[SweepPoint]:
    """Train every planned run from a fresh, seeded initialisation.

    Returns what each run measured.
    """
    points = []
    for planned in runs:
        torch.manual_seed(planned.run.seed)
        model = GPT(planned.config)
        start = time.perf_counter()
        history = train(model, train_data, val_data, planned.run, quiet=True)
        counts = count_parameters(planned.config)
        point = SweepPoint(
            budget=planned.budget,
            n_layer=planned.config.n_layer,
            n_embd=planned.config.n_embd,
            n_head=planned.config.n_head,
            params=counts.total,
            non_embedding=counts.non_embedding,
            steps=planned.run.max_steps,
            tokens=planned.tokens,
            compute=planned.compute,
            max_lr=planned.run.max_lr,
            val_loss=history.val_loss[-1],
            train_loss=sum(history.train_loss[-10:]) / len(history.train_loss[-10:]),
            seconds=time.perf_counter() - start,
        )
        points.append(point)
        if on_point is not None:
            on_point(point)
    return points


def save_sweep(
    points: Sequence[SweepPoint], path: str | Path, **metadata: object
) -> None:
    """Write the points (and any ``metadata``, e.g. the command) as JSON, atomically."""
    record = {"metadata": metadata, "points": [dataclasses.asdict(p) for p in points]}
    with atomic_write(Path(path)) as file:
        file.write(json.dumps(record, indent=1).encode())


def load_sweep(path: str | Path | None = None) -> tuple[list[SweepPoint], dict]:
    """The points and metadata saved by ``save_sweep``; by default the shipped sweep."""
    if path is None:
        from tinyformer.data import data_path

        path = data_path("scaling_sweep.json")
    try:
        record = json.loads(Path(path).read_text())
        points = [SweepPoint(**p) for p in record["points"]]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no sweep results at {path}: run `python -m tinyformer.scaling sweep "
            f"--out {path}`"
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path} is not a sweep written by save_sweep ({error})"
        ) from None
    return points, record.get("metadata", {})
