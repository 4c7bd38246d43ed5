"""Named training recipes: a model shape (``GPTConfig``) and a run (``TrainConfig``).

``python -m tinyformer.train --preset NAME`` starts from one of these; any field can
then be overridden with a flag. ``vocab_size`` is always set from the tokenizer.

- ``shakespeare-char``: the book's CPU recipe; reaches a full-validation loss below 1.88
  on TinyShakespeare characters in about 40 s on 2 cores
  (``benchmarks/bench_train.py``). Two choices trade model size for steps, measured on
  that 2-core CPU (seed 1337, full validation loss, wall time with the final evaluation;
  the machine's speed varied by up to 20% between runs): with 4 layers and the usual 8/3
  x 128 = 344-wide SwiGLU, 360 steps at 2e-3 gave 1.8745 in 42 s; with a 256-wide
  SwiGLU, 400 steps at 2.5e-3 gave 1.8494 in 39-47 s; with 3 layers, 460 steps at 3e-3
  gave 1.8370 in 39 s (1.8247 with seed 1).
- ``nanogpt-cpu``: nanoGPT's documented CPU run of its character-level Shakespeare model
  (Karpathy, 2022), rebuilt in our code as the benchmark's baseline: learned positions,
  LayerNorm, GELU, batch 12, 2000 iterations at a peak rate of 1e-3.
- ``shakespeare-char-long``: the longer run behind the checkpoint shipped with the
  package.
- ``shakespeare-char-gpu``: nanoGPT's GPU recipe (6 layers, 384 wide, context 256,
  dropout 0.2, 5000 iterations), for a machine with a CUDA device.
"""

from __future__ import annotations

from tinyformer.config import GPTConfig
from tinyformer.training import TrainConfig

__all__ = ["PRESETS", "preset"]

# The modern design (LLaMA's parts): rotary positions, RMSNorm, SwiGLU, no biases.
_MODERN = dict(position="rope", norm="rmsnorm", ffn="swiglu", bias=False)

PRESETS: dict[str, tuple[GPTConfig, TrainConfig]] = {
    "shakespeare-char": (
        GPTConfig(
            vocab_size=65,
            block_size=64,
            n_layer=3,
            n_head=4,
            n_embd=128,
            ffn_hidden=256,
            dropout=0.0,
            **_MODERN,
        ),
        TrainConfig(
            batch_size=32,
            context=64,
            max_steps=440,
            max_lr=3e-3,
            min_lr=3e-4,
            warmup_steps=30,
            weight_decay=0.1,
            beta2=0.99,
            grad_clip=1.0,
            eval_interval=0,
            dtype="float32",
        ),
    ),
    "nanogpt-cpu": (
        GPTConfig(
            vocab_size=65,
            block_size=64,
            n_layer=4,
            n_head=4,
            n_embd=128,
            dropout=0.0,
            bias=False,
        ),
        TrainConfig(
            batch_size=12,
            context=64,
            max_steps=2000,
            max_lr=1e-3,
            min_lr=1e-4,
            warmup_steps=100,
            weight_decay=0.1,
            beta2=0.99,
            grad_clip=1.0,
            eval_interval=250,
            dtype="float32",
        ),
    ),
    "shakespeare-char-long": (
        GPTConfig(
            vocab_size=65,
            block_size=128,
            n_layer=4,
            n_head=4,
            n_embd=128,
            dropout=0.0,
            **_MODERN,
        ),
        TrainConfig(
            batch_size=32,
            context=128,
            max_steps=2500,
            max_lr=2e-3,
            min_lr=2e-4,
            warmup_steps=100,
            weight_decay=0.1,
            beta2=0.99,
            grad_clip=1.0,
            eval_interval=500,
            dtype="float32",
        ),
    ),
    "shakespeare-char-gpu": (
        GPTConfig(
            vocab_size=65,
            block_size=256,
            n_layer=6,
            n_head=6,
            n_embd=384,
            dropout=0.2,
            bias=False,
        ),
        TrainConfig(
            batch_size=64,
            context=256,
            max_steps=5000,
            max_lr=1e-3,
            min_lr=1e-4,
            warmup_steps=100,
            weight_decay=0.1,
            beta2=0.99,
            grad_clip=1.0,
            eval_interval=250,
            dtype="bfloat16",
            device="cuda",
        ),
    ),
}


def preset(name: str) -> tuple[GPTConfig, TrainConfig]:
    """The ``(GPTConfig, TrainConfig)`` pair of a named recipe."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
