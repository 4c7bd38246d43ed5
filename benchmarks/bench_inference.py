"""Inference on the trained Shakespeare model: KV cache, int8, speculative decoding.

    python benchmarks/bench_inference.py            # about two minutes on 2 cores

Every figure that matters is a ratio measured in this run (machines are noisy):

1. KV cache: seconds per generated token without and with the cache (best of three runs
   taken in turn), averaged over generating 500 tokens greedily, whether both outputs
   are identical, and the time of the single step at position 500 with and without the
   cache. The shipped model was trained on 128-character windows; rotary positions have
   no table, so the same weights also run with a 1,024-token window
   (``block_size=1024``), where the cache is never emptied. With the trained window of
   128, ``generate`` crops and recomputes once the window is full, so the cache only
   helps for the first 128 tokens; both are printed.
2. int8 weight-only quantization (:mod:`tinyformer.quantize`): size, time per generated
   token, and the validation loss on the whole validation split, before and after.
3. Speculative decoding (:mod:`tinyformer.speculative`) with a one-layer draft trained
   here for a few hundred steps: acceptance rate, target passes per token and the speed
   ratio against the target's own cached generation, greedy (outputs identical) and
   sampled.
"""

from __future__ import annotations

import copy
import time

import torch

from tinyformer.checkpoint import load_shakespeare_char
from tinyformer.data import load_tinyshakespeare, train_val_split
from tinyformer.model import GPT
from tinyformer.quantize import model_bytes, quantize_int8
from tinyformer.speculative import generate_speculative
from tinyformer.training import TrainConfig, evaluate, train

NEW_TOKENS = 500


def best_of(fn, repeats=2):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def best_of_interleaved(fns, rounds=3):
    """Best time and last output of each function, running them in turn ``rounds``
    times: a slow spell of the machine then hits every contender, not just one."""
    times, outs = [float("inf")] * len(fns), [None] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            outs[i] = fn()
            times[i] = min(times[i], time.perf_counter() - start)
    return times, outs


def widened(model: GPT, block_size: int) -> GPT:
    wide = GPT(model.config.replace(block_size=block_size)).eval()
    wide.load_state_dict(model.state_dict())
    return wide


def main() -> None:
    torch.manual_seed(0)
    checkpoint = load_shakespeare_char()
    model, tokenizer = checkpoint.model().eval(), checkpoint.tokenizer
    text = load_tinyshakespeare()
    train_data, val_data = train_val_split(torch.tensor(tokenizer.encode(text)))
    prompt = torch.tensor([tokenizer.encode("ROMEO:\n")])
    print(
        f"model: {model.num_parameters():,} parameters, {model.config.n_layer} layers"
    )

    print(f"\n1. KV cache, {NEW_TOKENS} new tokens, greedy")
    for window in (model.config.block_size, 1024):
        m = widened(model, window)
        (slow, fast), (a, b) = best_of_interleaved(
            [
                lambda: m.generate(
                    prompt, NEW_TOKENS, temperature=0.0, use_cache=False
                ),
                lambda: m.generate(prompt, NEW_TOKENS, temperature=0.0),
            ]
        )
        print(
            f"  window {window:5d}: {1e3 * slow / NEW_TOKENS:6.2f} ms/token without "
            f"the cache, {1e3 * fast / NEW_TOKENS:5.2f} with: {slow / fast:5.1f}x, "
            f"identical outputs: {torch.equal(a, b)}"
        )

    m = widened(model, 1024)
    text_ids = val_data[: NEW_TOKENS + 8][None]
    with torch.no_grad():
        full, _ = best_of(lambda: m(text_ids[:, :NEW_TOKENS]), repeats=5)
        caches = m.new_kv_caches()
        m(text_ids[:, : NEW_TOKENS - 1], kv_caches=caches)

        def last_step():
            for cache in caches:
                cache.truncate(NEW_TOKENS - 1)
            m(text_ids[:, NEW_TOKENS - 1 : NEW_TOKENS], kv_caches=caches)

        step, _ = best_of(last_step, repeats=5)
    print(
        f"  the step at position {NEW_TOKENS}: {1e3 * full:.2f} ms recomputing the "
        f"prefix, {1e3 * step:.2f} ms with the cache: {full / step:.1f}x"
    )

    print("\n2. int8 weight-only quantization")
    fp32 = widened(model, 1024)
    int8 = copy.deepcopy(fp32)
    report = quantize_int8(int8)
    losses = {
        name: evaluate(m, val_data, context=model.config.block_size)
        for name, m in (("float32", fp32), ("int8", int8))
    }
    times = {
        name: best_of(lambda m=m: m.generate(prompt, NEW_TOKENS, temperature=0.0))[0]
        for name, m in (("float32", fp32), ("int8", int8))
    }
    print(
        f"  {report.layers} Linear layers quantized; size "
        f"{report.bytes_before / 1e6:.2f} MB -> {report.bytes_after / 1e6:.2f} MB "
        f"({report.ratio:.2f}x smaller; the tied embedding table stays float32: "
        f"{model_bytes(model.wte) / 1e6:.2f} MB)"
    )
    print(
        f"  validation loss {losses['float32']:.4f} -> {losses['int8']:.4f} "
        f"({losses['int8'] - losses['float32']:+.4f} nats)"
    )
    print(
        f"  time per token {1e3 * times['float32'] / NEW_TOKENS:.2f} ms -> "
        f"{1e3 * times['int8'] / NEW_TOKENS:.2f} ms "
        f"({times['float32'] / times['int8']:.2f}x speed)"
    )

    print("\n3. speculative decoding with a one-layer draft")
    draft_config = model.config.replace(n_layer=1, block_size=1024)
    torch.manual_seed(0)
    draft = GPT(draft_config)
    run = TrainConfig(
        batch_size=32,
        context=128,
        max_steps=300,
        max_lr=3e-3,
        min_lr=3e-4,
        warmup_steps=30,
        device="cpu",
    )
    start = time.perf_counter()
    train(draft, train_data, None, run, quiet=True)
    draft.eval()
    print(
        f"  draft: {draft.num_parameters():,} parameters, trained {run.max_steps} "
        f"steps in {time.perf_counter() - start:.0f} s; validation loss "
        f"{evaluate(draft, val_data, context=128):.3f}"
    )
    target = widened(model, 1024)
    plain, expected = best_of(
        lambda: target.generate(prompt, NEW_TOKENS, temperature=0.0)
    )
    for k in (2, 4, 6):
        spec, result = best_of(
            lambda k=k: generate_speculative(
                target, draft, prompt, NEW_TOKENS, k=k, temperature=0.0
            )
        )
        print(
            f"  greedy, k={k}: acceptance {result.acceptance_rate:.0%}, "
            f"{result.tokens_per_target_pass:.2f} tokens per target pass, "
            f"{plain / spec:.2f}x the speed of plain cached generation, "
            f"identical: {torch.equal(result.tokens, expected)}"
        )
    for temperature in (0.8,):
        spec, result = best_of(
            lambda: generate_speculative(
                target,
                draft,
                prompt,
                NEW_TOKENS,
                k=4,
                temperature=temperature,
                generator=torch.Generator().manual_seed(0),
            )
        )
        base, _ = best_of(
            lambda: target.generate(
                prompt,
                NEW_TOKENS,
                temperature=temperature,
                generator=torch.Generator().manual_seed(0),
            )
        )
        print(
            f"  sampled at temperature {temperature}, k=4: acceptance "
            f"{result.acceptance_rate:.0%}, {base / spec:.2f}x the speed of plain "
            "cached sampling"
        )


if __name__ == "__main__":
    main()
