"""Data shipped with the package, and the two helpers every training loop needs.

The files in this folder are package data (no network access, ever):

- ``tinyshakespeare.txt``: 1,115,394 characters of Shakespeare (public domain);
- ``gpt2/encoder.json`` and ``gpt2/vocab.bpe``: GPT-2's tokenizer files (MIT licence).

``SHA256SUMS`` lists their checksums; every loader verifies them, so a damaged copy
fails loudly instead of quietly changing every number in the book.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "ChecksumError",
    "data_path",
    "read_verified_bytes",
    "load_tinyshakespeare",
    "train_val_split",
    "get_batch",
    "windows",
]


class ChecksumError(ValueError):
    """A package data file does not match the checksum recorded in ``SHA256SUMS``."""


def data_path(name: str) -> Path:
    """Path of a package data file, e.g. ``data_path("gpt2/vocab.bpe")``."""
    path = Path(str(resources.files(__name__).joinpath(name)))
    if not path.is_file():
        raise FileNotFoundError(
            f"package data file {name!r} is missing from {path.parent}; "
            "reinstall tinyformer (pip install -e .) to restore it"
        )
    return path


def _expected_sha256(name: str) -> str:
    for line in data_path("SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, _, filename = line.strip().partition("  ")
        if filename == name:
            return digest
    raise KeyError(f"{name!r} has no entry in SHA256SUMS")


def read_verified_bytes(name: str, path: str | Path | None = None) -> bytes:
    """Read package data file ``name`` and check it against ``SHA256SUMS``.

    ``path`` reads another copy of the same file instead (the check still uses the
    checksum recorded for ``name``); tests use it to show that corruption is caught.
    Raises ``ChecksumError`` when the bytes do not match.
    """
    file = Path(path) if path is not None else data_path(name)
    raw = file.read_bytes()
    expected = _expected_sha256(name)
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise ChecksumError(
            f"{file} has sha256 {actual}, but SHA256SUMS records {expected} for "
            f"{name!r}: the file is damaged or was edited; restore it from the "
            "repository (git checkout -- src/tinyformer/data)"
        )
    return raw


def load_tinyshakespeare(path: str | Path | None = None) -> str:
    """The TinyShakespeare corpus as one string (1,115,394 characters).

    Its checksum is verified.

    >>> text = load_tinyshakespeare()
    >>> text[:9]
    'First Cit'
    """
    return read_verified_bytes("tinyshakespeare.txt", path).decode("utf-8")


def train_val_split(data, val_fraction: float = 0.1):
    """Split a sequence (string, list or 1-D tensor) into its first and last parts.

    The split is contiguous, not shuffled: validation text is a passage the model never
    saw, as it would be for text from the future. Returns ``(train, val)``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"val_fraction must lie strictly between 0 and 1, got {val_fraction}"
        )
    n = len(data)
    n_train = int(round(n * (1.0 - val_fraction)))
    if n_train == 0 or n_train == n:
        raise ValueError(
            f"a sequence of length {n} is too short to split with "
            f"val_fraction={val_fraction}: both parts would not be non-empty"
        )
    return data[:n_train], data[n_train:]


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample a batch of training windows from a 1-D tensor of token ids.

    Returns ``(x, y)``, both of shape ``(batch_size, block_size)``, where
    ``y[b, t] == x[b, t + 1]``'s successor in the text: the text supplies its own
    labels.

    >>> x, y = get_batch(torch.arange(10), batch_size=2, block_size=3,
    ...                  generator=torch.Generator().manual_seed(0))
    >>> bool((y == x + 1).all())
    True
    """
    if not isinstance(data, torch.Tensor) or data.dim() != 1:
        raise TypeError(
            "data must be a 1-D tensor of token ids, e.g. "
            "torch.tensor(tokenizer.encode(text))"
        )
    if batch_size < 1 or block_size < 1:
        raise ValueError(
            f"batch_size and block_size must be positive, got {batch_size} and "
            f"{block_size}"
        )
    if len(data) <= block_size:
        raise ValueError(
            f"data has {len(data)} tokens, but a window needs block_size + 1 = "
            f"{block_size + 1}: use a shorter block_size or more data"
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    return windows(data, starts, block_size)


def windows(
    data, starts: torch.Tensor, context: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``x`` and next-token targets ``y``, cut from ``data``.

    Both are int64 ``(len(starts), context)``.

    ``data`` is a 1-D tensor of ids or a numpy array (e.g. a ``np.memmap`` of uint16 ids
    written by ``python -m tinyformer.prepare``); row ``b`` starts at ``starts[b]``.
    """
    if isinstance(data, np.ndarray):
        idx = starts.numpy()[:, None] + np.arange(context + 1)
        rows = torch.from_numpy(data[idx].astype(np.int64))
    else:
        rows = data[starts[:, None] + torch.arange(context + 1)].long()
    return rows[:, :-1], rows[:, 1:]
