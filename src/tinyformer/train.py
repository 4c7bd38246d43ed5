"""Command line: train a GPT, evaluate it on the whole validation split, sample, save.

    python -m tinyformer.train --preset shakespeare-char --out-dir runs/char
    python -m tinyformer.train --preset shakespeare-char --n-layer 6 --max-lr 1e-3
    python -m tinyformer.train --resume runs/char/ckpt.pt # finish a stopped run exactly
    torchrun --nproc_per_node=2 -m tinyformer.train --preset shakespeare-char

Every ``TrainConfig`` and ``GPTConfig`` field is a flag (``--max-lr``,
``--n-embd``, ...). Data: TinyShakespeare with a character tokenizer by default;
``--text FILE`` trains on another text file (characters), ``--data FILE.bin`` on a token
file written by ``python -m tinyformer.prepare`` (memory-mapped, its tokenizer read from
the ``FILE.bin.json`` beside it). The last ``--val-fraction`` of the tokens is the
validation split. ``--resume`` with a larger ``--max-steps`` extends a finished run, but
the cosine schedule is then recomputed for the new length (the learning rate rises
again). Under ``torchrun`` only rank 0 prints and writes checkpoints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tinyformer import distributed
from tinyformer.checkpoint import load_checkpoint, save_checkpoint, tokenizer_from_dict
from tinyformer.config import GPTConfig
from tinyformer.data import load_tinyshakespeare, train_val_split
from tinyformer.model import GPT
from tinyformer.presets import PRESETS, preset
from tinyformer.tokenizers import CharTokenizer
from tinyformer.sample import generate_text
from tinyformer.training import TrainConfig, train

__all__ = ["main", "build_parser", "load_token_file"]


def _flag_type(field: dataclasses.Field):
    kind = (
        field.type
        if isinstance(field.type, str)
        else getattr(field.type, "__name__", str(field.type))
    )
    if "bool" in kind:
        return lambda s: {
            "true": True,
            "1": True,
            "yes": True,
            "false": False,
            "0": False,
            "no": False,
        }[s.lower()]
    if "float" in kind:
        return float
    if "int" in kind:
        return lambda s: None if s.lower() == "none" else int(s)
    return str


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tinyformer.train",
        description=(
            "Train a tinyformer GPT. Every TrainConfig and GPTConfig field is a flag."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        default="shakespeare-char",
        choices=sorted(PRESETS),
        help="starting recipe",
    )
    parser.add_argument("--out-dir", default="out", help="folder for ckpt.pt")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--text", help="a UTF-8 text file to train on with a character tokenizer"
    )
    source.add_argument("--data", help="a token file from python -m tinyformer.prepare")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="last part of the tokens held out",
    )
    parser.add_argument("--resume", help="continue the run saved in this checkpoint")
    parser.add_argument(
        "--checkpoint-interval",
        type=int,
        default=0,
        help="also save every N steps (0: at the end)",
    )
    parser.add_argument(
        "--weights-only",
        action="store_true",
        help=(
            "save weights, configs and tokenizer only (no optimizer state: not "
            "resumable)"
        ),
    )
    parser.add_argument(
        "--sample-tokens",
        type=int,
        default=300,
        help="tokens to generate after training (0: none)",
    )
    parser.add_argument("--prompt", default="\n", help="prompt for that sample")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    for title, cls in (("TrainConfig", TrainConfig), ("GPTConfig", GPTConfig)):
        group = parser.add_argument_group(f"{title} fields (override the preset)")
        for f in dataclasses.fields(cls):
            if f.name == "vocab_size":
                continue  # always the tokenizer's
            group.add_argument(
                f"--{f.name.replace('_', '-')}",
                dest=f.name,
                type=_flag_type(f),
                default=None,
                metavar=f.name.upper(),
            )
    return parser


def load_token_file(path: str | Path) -> tuple[np.ndarray, object]:
    """A prepared token file as a read-only memory map, and its tokenizer.

    The tokenizer is the one recorded beside the file.
    """
    path = Path(path)
    meta_path = path.with_name(path.name + ".json")
    if not path.is_file():
        raise FileNotFoundError(
            f"token file {path} does not exist; write it with python -m "
            "tinyformer.prepare"
        )
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path} (the tokenizer of {path}) is missing; re-run python -m "
            "tinyformer.prepare"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    tokens = np.memmap(path, dtype=np.dtype(meta.get("dtype", "uint16")), mode="r")
    if len(tokens) != meta.get("tokens", len(tokens)):
        raise ValueError(
            f"{path} holds {len(tokens)} tokens but {meta_path} records "
            f"{meta['tokens']}: the file is truncated; re-run python -m "
            "tinyformer.prepare"
        )
    return tokens, tokenizer_from_dict(meta["tokenizer"])


def _overrides(args: argparse.Namespace, cls) -> dict:
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }


def _data(args: argparse.Namespace):
    if args.data:
        tokens, tokenizer = load_token_file(args.data)
    else:
        text = (
            Path(args.text).read_text(encoding="utf-8")
            if args.text
            else load_tinyshakespeare()
        )
        tokenizer = CharTokenizer.from_text(text)
        tokens = torch.tensor(
            tokenizer.encode(text),
            dtype=torch.int16 if tokenizer.vocab_size < 2**15 else torch.int32,
        )
    train_data, val_data = train_val_split(tokens, args.val_fraction)
    return train_data, val_data, tokenizer


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    main_process = True
    try:
        gpt_config, train_config = preset(args.preset)
        checkpoint = load_checkpoint(args.resume) if args.resume else None
        if checkpoint is not None:
            gpt_config, train_config = (
                checkpoint.gpt_config,
                checkpoint.train_config or train_config,
            )
        train_config = train_config.replace(**_overrides(args, TrainConfig))
        distributed.setup(train_config.device)
        main_process = distributed.is_main()
        train_data, val_data, tokenizer = _data(args)
        if checkpoint is not None and checkpoint.tokenizer is not None:
            tokenizer = checkpoint.tokenizer
        if checkpoint is None:
            vocab_size = (
                tokenizer.n_vocab
                if hasattr(tokenizer, "n_vocab")
                else tokenizer.vocab_size
            )
            gpt_config = gpt_config.replace(
                vocab_size=vocab_size, **_overrides(args, GPTConfig)
            )
        torch.manual_seed(train_config.seed)  # the same initial weights on every rank
        model = GPT(gpt_config)
        if checkpoint is not None:
            model.load_state_dict(checkpoint.model_state)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        distributed.teardown()
        return 2

    out = Path(args.out_dir) / "ckpt.pt"
    extra = {
        "command": "python -m tinyformer.train "
        + " ".join(argv if argv is not None else sys.argv[1:])
    }

    def save(step, optimizer, generator, history):
        keep_state = not args.weights_only
        save_checkpoint(
            out,
            model,
            optimizer if keep_state else None,
            step,
            train_config,
            tokenizer,
            generator if keep_state else None,
            history,
            extra,
        )

    def on_step(step, _model, optimizer, generator, history):
        final = step == train_config.max_steps
        if main_process and (
            final or (args.checkpoint_interval and step % args.checkpoint_interval == 0)
        ):
            save(step, optimizer, generator, history)

    if main_process:
        print(f"model: {model.num_parameters():,} parameters; {gpt_config}")
        print(
            f"run: {train_config}; {distributed.world_size()} process(es)", flush=True
        )
    start = time.perf_counter()
    try:
        history = train(
            model,
            train_data,
            val_data,
            train_config,
            quiet=args.quiet or not main_process,
            resume=checkpoint,
            on_step=on_step,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        distributed.teardown()
        return 2
    seconds = time.perf_counter() - start
    if main_process:
        print(
            f"trained to step {history.step[-1]} in {seconds:.1f} s (evaluations "
            f"included); validation loss {history.val_loss[-1]:.4f} on all "
            f"{len(val_data):,} validation tokens"
        )
        print(f"saved {out}")
        if args.sample_tokens:
            print(
                f"--- sample ({args.sample_tokens} tokens, temperature 0.8, top-k 40) "
                "---"
            )
            print(
                generate_text(
                    model,
                    tokenizer,
                    args.prompt,
                    args.sample_tokens,
                    temperature=0.8,
                    top_k=40,
                    seed=train_config.seed,
                )
            )
    distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
