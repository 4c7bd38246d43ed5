"""BPE speed: incremental vs naive training, and our GPT-2 encoder vs tiktoken.

Run: PYTHONPATH=src python benchmarks/bench_bpe.py [--naive-merges N]

1. Training 1,000 merges on all of TinyShakespeare with the incremental trainer
   (target: under 10 s), against the naive trainer that recounts every pair of every
   word after each merge, measured in the same run. By default the naive trainer runs
   all 1,000 merges too (about a minute here); ``--naive-merges N`` runs only N and
   extrapolates its time per merge (the first merges are the slowest, so this slightly
   overstates the naive time) -- the output says which was done.
2. Encoding all of TinyShakespeare with GPT-2's merges (fresh tokenizer, empty cache)
   against tiktoken's GPT-2 encoding (target: within 10x), after checking both give
   identical ids.
"""

from __future__ import annotations

import argparse
import time

from tinyformer.data import load_tinyshakespeare
from tinyformer.tokenizers import GPT2_PATTERN, BPETokenizer, gpt2_encoding
from tinyformer.tokenizers.bpe_train import (
    train_merges,
    train_merges_naive,
    word_counts,
)

MERGES = 1000


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--naive-merges",
        type=int,
        default=MERGES,
        help="merges to run the naive trainer for",
    )
    args = parser.parse_args()
    text = load_tinyshakespeare()

    counts, t_count = timed(word_counts, text, GPT2_PATTERN)
    fast, t_fast = timed(train_merges, counts, MERGES)
    naive, t_naive = timed(train_merges_naive, counts, args.naive_merges)
    assert naive == fast[: len(naive)], "the two trainers disagree"
    t_naive_full = t_naive * MERGES / len(naive)
    fast_total = t_count + t_fast
    naive_total = t_count + t_naive_full
    print(
        f"training {MERGES} merges on TinyShakespeare ({len(text):,} chars, "
        f"{len(counts):,} distinct words)"
    )
    print(f"  pre-tokenize + count words:       {t_count:6.2f} s")
    print(
        f"  incremental trainer, total:       {fast_total:6.2f} s  (target < 10 s: "
        f"{'met' if fast_total < 10 else 'MISSED'})"
    )
    how = (
        "measured" if len(naive) == MERGES else f"extrapolated from {len(naive)} merges"
    )
    print(
        f"  naive recount trainer, total:     {naive_total:6.2f} s  ({how}; same "
        "merges)"
    )
    print(f"  training speed-up (naive / incremental): {naive_total / fast_total:.1f}x")

    ours = BPETokenizer.from_gpt2()
    tiktoken_gpt2 = gpt2_encoding()
    ids, t_ours = timed(ours.encode_ordinary, text)
    ref, t_ref = timed(tiktoken_gpt2.encode_ordinary, text)
    assert ids == ref, "our GPT-2 encoding differs from tiktoken's"
    _, t_warm = timed(ours.encode_ordinary, text)
    print(
        f"encoding TinyShakespeare with GPT-2's merges ({len(ids):,} tokens, identical "
        "ids)"
    )
    print(f"  tiktoken:               {t_ref:6.3f} s")
    print(f"  ours (empty cache):     {t_ours:6.3f} s")
    print(f"  ours (warm word cache): {t_warm:6.3f} s")
    ratio = t_ours / t_ref
    print(
        f"  encoding time ratio (ours / tiktoken): {ratio:.1f}x  (target <= 10x: "
        f"{'met' if ratio <= 10 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
