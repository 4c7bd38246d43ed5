"""Time to a validation loss of 1.88 on TinyShakespeare characters: our preset vs
nanoGPT's settings.

    python benchmarks/bench_train.py        # both runs, about 3 minutes on 2 cores
    python benchmarks/bench_train.py --skip-baseline
    python benchmarks/bench_train.py --gpu  # also nanoGPT's GPU recipe (needs CUDA)

Both runs use this package's training loop and the *full* validation split (every one of
its 111,540 characters scored once), so their times compare like with like:

- ``shakespeare-char``: the book's preset, exactly what ``python -m tinyformer.train
  --preset shakespeare-char`` runs (evaluation only after the last step).
- ``nanogpt-cpu``: nanoGPT's documented CPU configuration (4 layers, 4 heads, 128 wide,
  context 64, batch 12, 2000 iterations, learning rate 1e-3) in our code. It is
  evaluated every 100 steps to find when it crosses the target; its time is counted
  *without* those evaluations, which favours the baseline.

Machines are noisy, so the figures that matter are the ratios, measured in the same run:
time-to-target of the baseline over ours, and the training throughput as a fraction of
this machine's float32 matrix-multiply peak (measured here, first). nanoGPT itself took
213 s to its 1.8857 on this machine kind (its own 20-batch estimate; see the book's
guide).
"""

from __future__ import annotations

import argparse
import time

import torch

from tinyformer.data import load_tinyshakespeare, train_val_split
from tinyformer.model import GPT
from tinyformer.presets import preset
from tinyformer.tokenizers import CharTokenizer
from tinyformer.training import train

TARGET = 1.88
NANOGPT_SECONDS = (
    213.0  # nanoGPT's own CPU run on this machine kind (BOOK_GUIDE.md section 10)
)


def matmul_peak(n: int = 1024, seconds: float = 2.0) -> float:
    """float32 GFLOP/s of an n x n matrix product, best of repeated timings."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        for _ in range(5):
            a @ b
        best = max(best, 5 * 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def train_flops_per_token(config, context: int) -> float:
    """6 x (non-embedding parameters) + the attention scores, forward and backward.

    The estimate of Kaplan et al. (2020).
    """
    model = GPT(config)
    n = model.num_parameters() - model.wte.weight.numel()
    return 6 * n + 6 * config.n_layer * context * config.n_embd


def run(name: str, data, eval_interval: int | None = None) -> dict:
    gpt_config, train_config = preset(name)
    if eval_interval is not None:
        train_config = train_config.replace(eval_interval=eval_interval)
    train_data, val_data = data
    start = time.perf_counter()
    torch.manual_seed(train_config.seed)
    model = GPT(gpt_config)
    history = train(model, train_data, val_data, train_config, quiet=True)
    wall = time.perf_counter() - start
    step_seconds = [train_config.tokens_per_step / t for t in history.tokens_per_sec]
    reached = next(
        (s for s, loss in zip(history.val_step, history.val_loss) if loss <= TARGET),
        None,
    )
    train_only = sum(step_seconds[:reached]) if reached else None
    with_evals = history.time_to(TARGET)
    tokens_per_sec = (
        train_config.tokens_per_step * len(step_seconds) / sum(step_seconds)
    )
    return dict(
        name=name,
        wall=wall,
        final=history.val_loss[-1],
        reached=reached,
        train_only=train_only,
        train_total=sum(step_seconds),
        with_evals=with_evals,
        tokens_per_sec=tokens_per_sec,
        flops=tokens_per_sec * train_flops_per_token(gpt_config, train_config.context),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--gpu", action="store_true", help="also run nanoGPT's GPU recipe (needs CUDA)"
    )
    args = parser.parse_args()

    text = load_tinyshakespeare()
    ids = torch.tensor(CharTokenizer.from_text(text).encode(text), dtype=torch.int16)
    data = train_val_split(ids)
    peak = matmul_peak()
    print(
        f"fp32 matmul peak here: {peak:.0f} GFLOP/s; {torch.get_num_threads()} "
        f"threads; target val loss {TARGET}"
    )

    ours = run("shakespeare-char", data)
    rows = [ours]
    if not args.skip_baseline:
        rows.append(run("nanogpt-cpu", data, eval_interval=100))
    for r in rows:
        if r["reached"]:
            reached = (
                f"reached {TARGET} at step {r['reached']} ({r['with_evals']:.1f} s "
                f"with evaluations, {r['train_only']:.1f} s training only)"
            )
        else:
            reached = f"did not reach {TARGET}"
        print(
            f"{r['name']:17} final full-val loss {r['final']:.4f}; {reached}; whole "
            f"run {r['wall']:.1f} s; {r['tokens_per_sec']:,.0f} tokens/s = "
            f"{r['flops'] / 1e9:.0f} GFLOP/s = {r['flops'] / 1e9 / peak:.0%} of the "
            "matmul peak"
        )
    ours_time = ours["wall"] if ours["with_evals"] is not None else None
    if ours_time is None:
        print(f"our preset did NOT reach {TARGET}")
    else:
        print(
            f"ours: {ours_time:.1f} s wall from start to {TARGET} (model build, "
            "training and evaluation)"
        )
        print(
            "speed-up vs nanoGPT's own 213 s on this machine kind: "
            f"{NANOGPT_SECONDS / ours_time:.1f}x"
        )
        if len(rows) > 1:
            base = rows[1]
            if base["train_only"] is not None:
                print(
                    "speed-up vs nanoGPT's settings in our code, same run: "
                    f"{base['train_only'] / ours_time:.1f}x"
                )
            else:
                print(
                    f"nanoGPT's settings in our code never reached {TARGET} on the "
                    f"full validation split (final {base['final']:.4f} after "
                    f"{base['train_total']:.0f} s of training): the speed-up is more "
                    f"than {base['train_total'] / ours_time:.1f}x"
                )

    if args.gpu:
        if not torch.cuda.is_available():
            print("GPU preset: no CUDA device here, not run")
        else:
            gpu = run("shakespeare-char-gpu", data)
            print(
                f"GPU preset ({torch.cuda.get_device_name()}): final full-val loss "
                f"{gpu['final']:.4f} in {gpu['wall']:.1f} s (nanoGPT: 1.4697 in about "
                "3 minutes on an A100)"
            )


if __name__ == "__main__":
    main()
