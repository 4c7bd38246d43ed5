"""Checkpoints: everything needed to sample from a run, or to continue it exactly.

A checkpoint is one ``torch.save`` file holding plain data only (tensors, numbers,
strings, lists, dicts), so it is read back with ``torch.load(weights_only=True)``, which
cannot run code hidden in a malicious file. It holds the model weights, the optimizer's
moments, the step, both configurations, the tokenizer, every random-number state and the
history.

Writing is atomic: the file is written under a temporary name in the same folder,
flushed to disk (``fsync``) and renamed over the target, so a crash mid-write leaves the
previous checkpoint intact rather than half of a new one.

>>> import tempfile, pathlib, torch
>>> from tinyformer.model import GPT, GPTConfig
>>> from tinyformer.tokenizers import CharTokenizer
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.pt"
>>> model = GPT(GPTConfig.tiny(vocab_size=3, n_layer=1))
>>> save_checkpoint(path, model, tokenizer=CharTokenizer("abc"))
>>> load_checkpoint(path).model().config == model.config
True
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from tinyformer._files import atomic_write
from tinyformer.config import GPTConfig
from tinyformer.training import History, TrainConfig

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "load_shakespeare_char",
    "tokenizer_to_dict",
    "tokenizer_from_dict",
]

FORMAT = "tinyformer-checkpoint"
VERSION = 1
SHAKESPEARE_CHAR = "shakespeare_char.pt"


class CheckpointError(ValueError):
    """A file that cannot be used as a checkpoint.

    The message names the file and the problem.
    """


def tokenizer_to_dict(tokenizer) -> dict | None:
    """A tokenizer as plain data.

    ``char`` (its characters), ``gpt2``, or ``bpe`` (its saved text).
    """
    from tinyformer.tokenizers import BPETokenizer, CharTokenizer

    if tokenizer is None:
        return None
    if isinstance(tokenizer, CharTokenizer):
        return {
            "kind": "char",
            "chars": "".join(tokenizer.chars),
            "unknown": tokenizer.unknown,
        }
    if (
        getattr(tokenizer, "name", None) == "gpt2"
    ):  # tiktoken's Encoding from gpt2_encoding()
        return {"kind": "gpt2"}
    if isinstance(tokenizer, BPETokenizer):
        with tempfile.TemporaryDirectory() as folder:
            tokenizer.save(Path(folder) / "tok.txt")
            return {
                "kind": "bpe",
                "text": (Path(folder) / "tok.txt").read_text(encoding="utf-8"),
            }
    raise TypeError(
        f"cannot store a {type(tokenizer).__name__} in a checkpoint: use "
        "CharTokenizer, BPETokenizer or gpt2_encoding()"
    )


def tokenizer_from_dict(data: dict | None):
    """The inverse of ``tokenizer_to_dict``."""
    from tinyformer.tokenizers import BPETokenizer, CharTokenizer, gpt2_encoding

    if data is None:
        return None
    kind = data.get("kind")
    if kind == "char":
        return CharTokenizer(data["chars"], unknown=data.get("unknown"))
    if kind == "gpt2":
        return gpt2_encoding()
    if kind == "bpe":
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "tok.txt").write_text(data["text"], encoding="utf-8")
            return BPETokenizer.load(Path(folder) / "tok.txt")
    raise ValueError(
        f"unknown tokenizer kind {kind!r} (expected 'char', 'gpt2' or 'bpe')"
    )


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``model()`` builds the ``tinyformer.model.GPT`` it holds."""

    path: str
    step: int
    gpt_config: GPTConfig
    model_state: dict[str, torch.Tensor]
    train_config: TrainConfig | None = None
    tokenizer: object = None
    optimizer: dict | None = None
    rng: dict | None = None
    history: History = field(default_factory=History)
    extra: dict = field(default_factory=dict)

    def model(self) -> nn.Module:
        from tinyformer.model import GPT

        model = GPT(self.gpt_config)
        model.load_state_dict(self.model_state)
        return model

    def resume_state(self) -> dict:
        """What ``tinyformer.training.train`` needs to continue the run.

        Pass it as ``resume=``.
        """
        if self.optimizer is None or self.rng is None:
            raise CheckpointError(
                f"{self.path} holds weights only (no optimizer or random state): it "
                "can be sampled from or fine-tuned, but not resumed exactly"
            )
        return {
            "optimizer": self.optimizer,
            "rng": self.rng,
            "step": self.step,
            "history": self.history.to_dict(),
        }


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    step: int = 0,
    train_config: TrainConfig | None = None,
    tokenizer=None,
    generator: torch.Generator | None = None,
    history: History | None = None,
    extra: dict | None = None,
) -> None:
    """Write a checkpoint atomically. Without ``optimizer`` and ``generator`` it holds
    weights only (smaller; enough to sample, not to resume exactly)."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    config = getattr(model, "config", None)
    if not isinstance(config, GPTConfig):
        raise TypeError(
            "save_checkpoint needs a tinyformer GPT (a model with a GPTConfig in "
            ".config)"
        )
    rng = None
    if generator is not None:
        rng = {"torch": torch.get_rng_state(), "batches": generator.get_state()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "gpt_config": dataclasses.asdict(config),
        "train_config": dataclasses.asdict(train_config)
        if train_config is not None
        else None,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "rng": rng,
        "tokenizer": tokenizer_to_dict(tokenizer),
        "history": (history or History()).to_dict(),
        "extra": dict(extra or {}),
    }
    with atomic_write(path) as f:
        torch.save(payload, f)


def _read(path: Path, raw: bytes | None = None) -> dict:
    if raw is None and not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(
            io.BytesIO(raw) if raw is not None else path,
            map_location="cpu",
            weights_only=True,
        )
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain data, so it was not "
            "loaded (torch.load(weights_only=True) refused: "
            f"{str(err).splitlines()[0]})"
        ) from None
    except Exception as err:  # noqa: BLE001 - any failure to parse means the same thing here
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint: it is truncated, damaged, or not "
            f"a file written by torch.save ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a torch file but not a tinyformer checkpoint (no "
            f"format={FORMAT!r} entry)"
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}; this tinyformer "
            f"reads {VERSION}"
        )
    return payload


def _config_differences(a: GPTConfig, b: GPTConfig) -> str:
    rows = [
        f"{f.name}: checkpoint {getattr(a, f.name)!r}, model {getattr(b, f.name)!r}"
        for f in dataclasses.fields(GPTConfig)
        if getattr(a, f.name) != getattr(b, f.name)
    ]
    return "; ".join(rows)


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    *,
    raw: bytes | None = None,
) -> Checkpoint:
    """Read a checkpoint; optionally load its weights into ``model``.

    The file is read with ``torch.load(weights_only=True)``.

    A model whose ``GPTConfig`` differs from the checkpoint's is refused with the fields
    that differ. ``raw`` reads the checkpoint from bytes already in memory (``path``
    then only names it in messages).
    """
    path = Path(path)
    payload = _read(path, raw)
    try:
        gpt_config = GPTConfig(**payload["gpt_config"])
        train_config = (
            TrainConfig(**payload["train_config"])
            if payload.get("train_config")
            else None
        )
        checkpoint = Checkpoint(
            path=str(path),
            step=int(payload["step"]),
            gpt_config=gpt_config,
            model_state=payload["model"],
            train_config=train_config,
            tokenizer=tokenizer_from_dict(payload.get("tokenizer")),
            optimizer=payload.get("optimizer"),
            rng=payload.get("rng"),
            history=History.from_dict(payload.get("history") or {}),
            extra=payload.get("extra") or {},
        )
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{path} is a tinyformer checkpoint with a damaged entry: {err}"
        ) from None
    if model is not None:
        target = getattr(model, "module", model)
        config = getattr(target, "config", None)
        if config != gpt_config:
            differences = (
                _config_differences(gpt_config, config)
                if isinstance(config, GPTConfig)
                else "not a GPT"
            )
            raise CheckpointError(
                f"{path} was written for another model configuration ({differences}): "
                "build the model with load_checkpoint(path).gpt_config, or load it "
                "with .model()"
            )
        target.load_state_dict(checkpoint.model_state)
    return checkpoint


def load_shakespeare_char() -> Checkpoint:
    """The character-level Shakespeare model shipped with the package (see
    ``data/shakespeare_char.md`` for the command that trained it and its output).
    Checksum verified.

    >>> checkpoint = load_shakespeare_char()
    >>> model, tokenizer = checkpoint.model(), checkpoint.tokenizer
    """
    from tinyformer.data import data_path, read_verified_bytes

    return load_checkpoint(
        data_path(SHAKESPEARE_CHAR), raw=read_verified_bytes(SHAKESPEARE_CHAR)
    )
