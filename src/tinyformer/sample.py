"""Command line: generate text from a checkpoint.

    python -m tinyformer.sample --checkpoint out/ckpt.pt --prompt "ROMEO:" \\
        --max-new-tokens 500 --temperature 0.8 --top-k 40

Without ``--checkpoint`` it samples from the Shakespeare model shipped with the package.
"""

from __future__ import annotations

import argparse
import sys

import torch

from tinyformer.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_shakespeare_char,
)

__all__ = ["generate_text", "main"]


def _encode(tokenizer, text: str) -> list[int]:
    if hasattr(
        tokenizer, "encode_ordinary"
    ):  # tiktoken and BPETokenizer: prompts are plain text
        return tokenizer.encode_ordinary(text)
    return tokenizer.encode(text)


def generate_text(
    model,
    tokenizer,
    prompt: str,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
) -> str:
    """``prompt`` followed by ``max_new_tokens`` sampled tokens, decoded to text."""
    if not prompt:
        raise ValueError(
            "the prompt must not be empty: give at least one character, e.g. '\\n'"
        )
    ids = _encode(tokenizer, prompt)
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    out = model.generate(
        idx,
        max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=torch.Generator(device=device).manual_seed(seed),
    )
    return tokenizer.decode(out[0].tolist())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinyformer.sample",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--checkpoint", help="checkpoint file (default: the shipped Shakespeare model)"
    )
    parser.add_argument("--prompt", default="\n")
    parser.add_argument("--max-new-tokens", type=int, default=500)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--num-samples", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        checkpoint = (
            load_checkpoint(args.checkpoint)
            if args.checkpoint
            else load_shakespeare_char()
        )
        if checkpoint.tokenizer is None:
            raise ValueError(
                f"{checkpoint.path} holds no tokenizer, so its ids cannot be turned "
                "into text"
            )
        model = checkpoint.model()
        for i in range(args.num_samples):
            text = generate_text(
                model,
                checkpoint.tokenizer,
                args.prompt,
                args.max_new_tokens,
                args.temperature,
                args.top_k,
                args.top_p,
                seed=args.seed + i,
            )
            print(text if args.num_samples == 1 else f"--- sample {i + 1} ---\n{text}")
    except (CheckpointError, FileNotFoundError, ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
