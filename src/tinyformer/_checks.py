"""Argument checks shared by the modules, so every one words its errors the same way."""

from __future__ import annotations


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` >= 1 (a ``bool`` is not accepted).

    Raises ``TypeError`` for a non-integer and ``ValueError`` for zero or a negative
    number, each naming ``name`` so the caller knows which argument to fix.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def check_token_ids(name: str, ids: object, limit: int) -> None:
    """Raise ``ValueError`` unless ``ids`` is an integer tensor ``(B, T)`` of ids in
    ``[0, limit)``; the message names ``name`` and the first id out of range."""
    import torch  # here, so the other checks stay importable without torch

    if (
        not isinstance(ids, torch.Tensor)
        or ids.is_floating_point()
        or ids.dtype == torch.bool
        or ids.dim() != 2
    ):
        got = (
            f"{ids.dtype} tensor of shape {tuple(ids.shape)}"
            if isinstance(ids, torch.Tensor)
            else type(ids).__name__
        )
        raise ValueError(
            f"{name} must be an integer tensor of shape (B, T), got {got}: "
            "use ids[None] for a single sequence"
        )
    if ids.numel():
        low, high = torch.aminmax(ids)
        if low < 0 or high >= limit:
            raise ValueError(
                f"{name} holds {int(low) if low < 0 else int(high)}, outside "
                f"[0, {limit}): was the text encoded with this model's tokenizer?"
            )
