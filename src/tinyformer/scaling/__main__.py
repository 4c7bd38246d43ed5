"""Command line for the scaling experiment.

    python -m tinyformer.scaling plan  --budgets 1e11 3e11 1e12        # what would run
    python -m tinyformer.scaling sweep --budgets 1e11 3e11 1e12 --out sweep.json

``sweep`` trains every planned run (see ``tinyformer.scaling.sweep.plan``) on
TinyShakespeare characters, prints one line per run and writes the points as JSON.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from tinyformer.data import load_tinyshakespeare, train_val_split
from tinyformer.scaling.sweep import plan, run_sweep, save_sweep
from tinyformer.tokenizers import CharTokenizer

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tinyformer.scaling", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("plan", "list the runs a sweep would make"),
        ("sweep", "train them and save the results"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "--budgets",
            type=float,
            nargs="+",
            required=True,
            help="training FLOPs per run",
        )
        sub.add_argument("--seed", type=int, default=1337)
        sub.add_argument("--min-steps", type=int, default=50)
        sub.add_argument("--max-epochs", type=float, default=25.0)
        if name == "sweep":
            sub.add_argument("--out", required=True, help="JSON file for the results")
            sub.add_argument(
                "--threads",
                type=int,
                default=None,
                help="torch.set_num_threads (default: torch's)",
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    text = load_tinyshakespeare()
    data = torch.tensor(CharTokenizer.from_text(text).encode(text), dtype=torch.long)
    train_data, val_data = train_val_split(data)
    runs = plan(
        args.budgets,
        len(train_data),
        min_steps=args.min_steps,
        max_epochs=args.max_epochs,
        seed=args.seed,
    )
    print(f"{len(runs)} runs; {sum(r.compute for r in runs):.3g} training FLOPs in all")
    if args.command == "plan":
        for r in runs:
            print(
                f"budget {r.budget:.0e}: {r.config.n_layer} x {r.config.n_embd:>3}, "
                f"{r.run.max_steps:>6} steps, {r.tokens / len(train_data):5.2f} epochs"
            )
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()

    def report(p):
        print(
            f"budget {p.budget:.0e}: {p.n_layer} x {p.n_embd:>3} ({p.params:>9,} "
            f"params) {p.steps:>6} steps val {p.val_loss:.4f}  {p.seconds:6.1f} s",
            flush=True,
        )

    points = run_sweep(runs, train_data, val_data, on_point=report)
    seconds = time.perf_counter() - start
    command = "python -m tinyformer.scaling " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    save_sweep(
        points,
        args.out,
        command=command,
        seconds=round(seconds, 1),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
    )
    print(f"wrote {len(points)} points to {args.out} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
