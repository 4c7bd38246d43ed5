"""Positional information for attention: sinusoidal, learned, rotary (RoPE) and ALiBi.

Attention on its own treats its input as a set: permuting the tokens permutes the
output and nothing else. Each scheme here tells the model where a token sits.

- ``sinusoidal_encoding`` / ``SinusoidalPositionalEncoding``: fixed vectors added to the
  token embeddings (Vaswani et al., 2017). At position ``t``, even dimensions ``2i``
  hold ``sin(t / base**(2i/d))``, odd dimensions ``2i+1`` hold ``cos`` of the same
  angle.
- ``LearnedPositionalEmbedding``: one trained vector per position, as in GPT-2; it has
  nothing to say about positions beyond the table (``n_positions``).
- ``RotaryEmbedding`` (RoPE, Su et al., 2021): rotates pairs of query/key coordinates by
  an angle proportional to the position, so a query-key dot product depends only on the
  offset between them.
- ``alibi_slopes`` / ``alibi_bias`` (ALiBi, Press et al., 2022): no vectors at all; each
  head adds ``-slope * distance`` to its attention scores.

RoPE pairing convention
-----------------------
By default ``RotaryEmbedding`` pairs coordinate ``j`` with coordinate ``j + head_dim/2``
(the *split-halves* convention of GPT-NeoX and Hugging Face's Llama, "rotate_half").
``interleaved=True`` pairs ``(2j, 2j+1)`` as in the RoFormer paper. The two are the same
rotation applied to permuted coordinates: permuting the rows of the query and key
projections with ``rope_permutation(head_dim)`` turns one into the other and leaves
every attention score unchanged (tested).

The explorer's maths lives here too (``positional_explorer_data``,
``rope_score_vs_offset``); ``tinyformer.widgets.positional`` only draws it.

>>> sinusoidal_encoding(3, 4)[1]
tensor([0.8415, 0.5403, 0.0100, 0.9999])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tinyformer._checks import check_positive_int

__all__ = [
    "sinusoidal_encoding",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "rope_frequencies",
    "apply_rope",
    "rotate_pairs",
    "rope_permutation",
    "RotaryEmbedding",
    "alibi_slopes",
    "alibi_bias",
    "EXPLORER_KINDS",
    "positional_explorer_data",
    "rope_score_vs_offset",
]


def _check_even_dim(name: str, value: int) -> int:
    check_positive_int(name, value)
    if value % 2:
        raise ValueError(
            f"{name} must be even (coordinates come in sin/cos or rotation pairs), got "
            f"{value}"
        )
    return value


def _check_base(base: float) -> float:
    base = float(base)
    if not math.isfinite(base) or base <= 1.0:
        raise ValueError(
            f"base must be a finite number > 1 (the usual value is 10000), got {base}"
        )
    return base


def _check_positions(positions: torch.Tensor) -> torch.Tensor:
    if not isinstance(positions, torch.Tensor):
        raise TypeError(
            "positions must be a torch.Tensor of integer positions, got "
            f"{type(positions).__name__}"
        )
    if (
        positions.is_floating_point()
        or positions.is_complex()
        or positions.dtype == torch.bool
    ):
        raise TypeError(
            "positions must hold integers (e.g. torch.arange(T)), got dtype "
            f"{positions.dtype}"
        )
    if positions.numel() and int(positions.min()) < 0:
        raise ValueError("positions must be >= 0")
    return positions


def rope_frequencies(
    dim: int, base: float = 10000.0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """The ``dim/2`` angular frequencies ``base**(-2i/dim)``, fastest first.

    ``i = 0 .. dim/2-1``.

    Shared by the sinusoidal encoding (``d_model``) and RoPE (``head_dim``).
    """
    _check_even_dim("dim", dim)
    base = _check_base(base)
    # computed in float64, then rounded once to ``dtype`` (the precision of the result)
    return (base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)).to(dtype)


def sinusoidal_encoding(
    n_positions: int, d_model: int, base: float = 10000.0
) -> torch.Tensor:
    """Fixed encodings ``(n_positions, d_model)``.

    ``PE[t, 2i] = sin(t omega_i)``, ``PE[t, 2i+1] = cos(t omega_i)``.

    ``omega_i = base**(-2i/d_model)``: dimension pair 0 turns once every 2*pi
    positions, the last pair about once every ``2*pi*base`` positions, like the hands
    of a clock.
    """
    check_positive_int("n_positions", n_positions)
    positions = torch.arange(n_positions, dtype=torch.float64)
    return _sinusoid(positions, d_model, base).to(torch.get_default_dtype())


def _sinusoid(positions: torch.Tensor, d_model: int, base: float) -> torch.Tensor:
    # (T, d/2): every position times every frequency
    angles = (
        positions.to(torch.float64)[:, None] * rope_frequencies(d_model, base)[None, :]
    )
    out = torch.empty(positions.shape[0], d_model, dtype=torch.float64)
    out[:, 0::2] = torch.sin(angles)
    out[:, 1::2] = torch.cos(angles)
    return out


class SinusoidalPositionalEncoding(nn.Module):
    """``forward(positions (T,)) -> (T, d_model)``; no parameters, any position works.

    Angles are computed in float64 so far positions (say 100,000) stay accurate.
    """

    def __init__(self, d_model: int, base: float = 10000.0) -> None:
        super().__init__()
        self.d_model = _check_even_dim("d_model", d_model)
        self.base = _check_base(base)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        positions = _check_positions(positions)
        if positions.dim() != 1:
            raise ValueError(
                f"positions must have shape (T,), got {tuple(positions.shape)}"
            )
        return _sinusoid(positions, self.d_model, self.base).to(
            device=positions.device, dtype=torch.get_default_dtype()
        )

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, base={self.base:g}"


class LearnedPositionalEmbedding(nn.Module):
    """A trained table ``weight (n_positions, d_model)``.

    ``forward(positions (T,)) -> (T, d_model)``.

    Initialised with normal(0, 0.02), as nanoGPT and Hugging Face initialise GPT-2's
    ``wpe``. Positions must be < ``n_positions`` (the model's ``block_size``): there is
    no row to look up beyond it.
    """

    def __init__(self, n_positions: int, d_model: int) -> None:
        super().__init__()
        self.n_positions = check_positive_int("n_positions", n_positions)
        self.d_model = check_positive_int("d_model", d_model)
        self.weight = nn.Parameter(torch.empty(n_positions, d_model))
        nn.init.normal_(self.weight, mean=0.0, std=0.02)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        positions = _check_positions(positions)
        if positions.numel() and int(positions.max()) >= self.n_positions:
            raise ValueError(
                f"position {int(positions.max())} is outside the learned table of "
                f"{self.n_positions} positions: a learned positional embedding cannot "
                f"go past block_size={self.n_positions}; crop the sequence to "
                "block_size or use a fixed scheme (sinusoidal, RoPE, ALiBi)"
            )
        return self.weight[positions]

    def extra_repr(self) -> str:
        return f"n_positions={self.n_positions}, d_model={self.d_model}"


def rope_permutation(head_dim: int) -> torch.Tensor:
    """Index ``perm`` with ``x_halves = x_interleaved[..., perm]``.

    ``perm`` is ``[0, 2, 4, ..., 1, 3, 5, ...]``.

    Applying it to the output rows of a query/key projection (``W[perm]``) converts
    weights trained with interleaved RoPE into weights for split-halves RoPE.
    """
    _check_even_dim("head_dim", head_dim)
    return torch.cat([torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)])


def apply_rope(
    x: torch.Tensor,
    positions: torch.Tensor,
    base: float = 10000.0,
    interleaved: bool = False,
) -> torch.Tensor:
    """Rotate ``x (..., T, head_dim)`` by position; ``positions (T,)``.

    Returns the same shape and dtype.

    Pair ``i`` (frequency ``theta_i = base**(-2i/head_dim)``) at position ``t`` is
    rotated by the angle ``t * theta_i``: ``(a, b) -> (a cos - b sin, a sin + b cos)``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            "x must be a torch.Tensor of shape (..., T, head_dim), got "
            f"{type(x).__name__}"
        )
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., T, head_dim), got {tuple(x.shape)}")
    head_dim = x.shape[-1]
    _check_even_dim("head_dim (x.shape[-1])", head_dim)
    positions = _check_positions(positions)
    if positions.shape[-1] != x.shape[-2]:
        raise ValueError(
            f"positions has {positions.shape[-1]} entries but x has T={x.shape[-2]} "
            "(x.shape[-2])"
        )
    # (T, d/2) angles in float64: positions times frequencies loses digits in float32
    # at long range.
    angles = positions.to(torch.float64)[..., None] * rope_frequencies(
        head_dim, base
    ).to(x.device)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    return rotate_pairs(x, cos, sin, interleaved)


def rotate_pairs(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool
) -> torch.Tensor:
    """Rotate each pair of ``x``'s last dimension by the angles whose cosines and sines
    are given ``(T, head_dim / 2)``: ``(a, b) -> (a cos - b sin, a sin + b cos)``."""
    head_dim = x.shape[-1]
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
    half = head_dim // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class RotaryEmbedding(nn.Module):
    """RoPE: ``forward(x (..., T, head_dim), positions (T,) | None) -> same shape``.

    Applied to queries and keys (never values) after they are split into heads. With
    ``positions=None`` the positions are ``0 .. T-1``. No parameters, so it adds nothing
    to a state dict. See the module docstring for the pairing convention.
    """

    TABLE_LIMIT = 1 << 16  # positions beyond this are computed directly, not tabulated

    def __init__(
        self, head_dim: int, base: float = 10000.0, interleaved: bool = False
    ) -> None:
        super().__init__()
        self.head_dim = _check_even_dim("head_dim", head_dim)
        self.base = _check_base(base)
        self.interleaved = bool(interleaved)
        # cos and sin of every angle up to some position, computed once exactly as
        # apply_rope computes them (so the results are identical) and reused by every
        # call: generation asks for one position per step and layer.
        self._cos: torch.Tensor | None = None
        self._sin: torch.Tensor | None = None

    def _cos_sin_direct(
        self, positions: torch.Tensor, dtype: torch.dtype, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # exactly as apply_rope computes them: float64 angles, rounded only at the end
        angles = positions.to("cpu", torch.float64)[:, None] * rope_frequencies(
            self.head_dim, self.base
        )
        angles = angles.to(device)
        return torch.cos(angles).to(dtype), torch.sin(angles).to(dtype)

    def _tables(self, n: int, dtype: torch.dtype, device: torch.device):
        cos = self._cos
        if (
            cos is None
            or cos.shape[0] < n
            or cos.dtype != dtype
            or cos.device != device
        ):
            size = max(n, 256, 2 * cos.shape[0] if cos is not None else 0)
            # ordinary tensors even when built during generation (inference mode): a
            # later training step saves them for its backward pass
            with torch.inference_mode(False):
                self._cos, self._sin = self._cos_sin_direct(
                    torch.arange(size), dtype, device
                )
        return self._cos, self._sin

    def cos_sin(
        self,
        positions: torch.Tensor | range,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin ``(T, head_dim/2)`` of every pair's angle at ``positions``.

        ``positions`` is a tensor ``(T,)`` or a ``range``. A decoding step knows its
        positions are ``range(start, start + T)``: its rows are then a slice of the
        tables, with no lookup and no reading the largest position back from a tensor
        (per layer and step, that costs more than the rotation). Queries and keys share
        one call.
        """
        if isinstance(positions, range):
            if positions.step != 1 or positions.start < 0:
                raise ValueError(
                    "a range of positions must count up by 1 from >= 0, got "
                    f"{positions}"
                )
            first, last = positions.start, positions.stop - 1
        else:
            positions = _check_positions(positions)
            if positions.dim() != 1:
                raise ValueError(
                    f"positions must be 1-D (T,), got shape {tuple(positions.shape)}"
                )
            first, last = 0, int(positions.max()) if positions.numel() else -1
        if last >= self.TABLE_LIMIT:  # far positions: computed directly, not tabulated
            if isinstance(positions, range):
                positions = torch.arange(first, last + 1)
            return self._cos_sin_direct(positions, dtype, device)
        cos, sin = self._tables(last + 1, dtype, torch.device(device))
        if isinstance(positions, range):
            return cos[first : last + 1], sin[first : last + 1]
        return cos[positions], sin[positions]

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor | range | None = None
    ) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() < 2:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"RotaryEmbedding expects x of shape (..., T, head_dim), got {shape}"
            )
        if x.shape[-1] != self.head_dim:
            raise ValueError(
                f"RotaryEmbedding(head_dim={self.head_dim}) got x with last dimension "
                f"{x.shape[-1]}"
            )
        if positions is None:
            positions = range(x.shape[-2])
        if len(positions) != x.shape[-2]:
            raise ValueError(
                f"positions has {len(positions)} entries but x has T={x.shape[-2]} "
                "(x.shape[-2])"
            )
        cos, sin = self.cos_sin(positions, x.dtype, x.device)
        return rotate_pairs(x, cos, sin, self.interleaved)

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, base={self.base:g}, "
            f"interleaved={self.interleaved}"
        )


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi's per-head slopes ``(n_heads,)``.

    ``2**(-8/n), 2**(-16/n), ...`` for n a power of two.

    For other ``n`` (as in Press et al.'s code): the slopes of the largest power of two
    ``c <= n``, then every other slope of ``2c``, until there are ``n``.
    """
    check_positive_int("n_heads", n_heads)

    def powers_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    closest = 2 ** math.floor(math.log2(n_heads))
    slopes = powers_of_two(closest)
    if closest < n_heads:
        slopes += powers_of_two(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(slopes, dtype=torch.get_default_dtype())


def alibi_bias(
    slopes: torch.Tensor, q_positions: torch.Tensor, k_positions: torch.Tensor
) -> torch.Tensor:
    """``(H, T_q, T_k)`` bias ``-slope[h] * (q_pos[i] - k_pos[j])``.

    It is added to attention scores.

    A key ``d`` tokens in the past costs ``slope * d``; future keys get a positive value
    here and must be removed by the causal mask, which is separate.
    """
    if not isinstance(slopes, torch.Tensor) or slopes.dim() != 1:
        raise ValueError(
            "slopes must be a 1-D tensor (n_heads,), e.g. alibi_slopes(n_heads)"
        )
    q_positions, k_positions = (
        _check_positions(q_positions),
        _check_positions(k_positions),
    )
    if q_positions.dim() != 1 or k_positions.dim() != 1:
        raise ValueError(
            "q_positions and k_positions must be 1-D, shapes (T_q,) and (T_k,)"
        )
    # (T_q, T_k)
    distance = (q_positions[:, None] - k_positions[None, :]).to(slopes.dtype)
    return -slopes[:, None, None] * distance.to(slopes.device)


# --- the positional-encoding explorer's maths -----------------------------------------

EXPLORER_KINDS = ("sinusoidal", "learned", "rope")


def positional_explorer_data(
    kind: str = "sinusoidal",
    d_model: int = 64,
    n_positions: int = 128,
    base: float = 10000.0,
    dims: tuple[int, ...] | None = None,
    ref_position: int | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Everything the explorer draws for one setting (float64 tensors).

    - ``matrix (n_positions, d_model)``: the vector each position gets. For
      ``"sinusoidal"`` the encoding; for ``"learned"`` a freshly initialised (untrained)
      table; for ``"rope"`` RoPE applied at every position to the same all-ones vector.
    - ``dims``: the chosen dimensions; ``waves (n_positions, len(dims))``: the chosen
      columns of ``matrix`` (default: a fast sin/cos pair ``0, 1`` and a slower one
      starting at ``d_model/2``, rounded to even).
    - ``offsets (n_positions,)`` = ``position - ref_position`` and
      ``similarity (n_positions,)``: cosine similarity (dot product of unit vectors) of
      ``matrix[ref_position]`` with every row.
    """
    if kind not in EXPLORER_KINDS:
        raise ValueError(f"kind must be one of {EXPLORER_KINDS}, got {kind!r}")
    check_positive_int("n_positions", n_positions)
    _check_even_dim("d_model", d_model)
    if dims is None:
        middle = 2 * (d_model // 4)
        dims = (0, 1, middle, middle + 1) if d_model > 2 else (0, 1)
    bad = [d for d in dims if not 0 <= d < d_model]
    if bad:
        raise ValueError(f"dims {bad} are outside 0..{d_model - 1} (d_model={d_model})")
    ref = n_positions // 2 if ref_position is None else ref_position
    if not 0 <= ref < n_positions:
        raise ValueError(f"ref_position must be in 0..{n_positions - 1}, got {ref}")
    positions = torch.arange(n_positions)
    if kind == "sinusoidal":
        matrix = _sinusoid(positions, d_model, base)
    elif kind == "learned":
        generator = torch.Generator().manual_seed(seed)
        matrix = 0.02 * torch.randn(
            n_positions, d_model, generator=generator, dtype=torch.float64
        )
    else:
        ones = torch.ones(n_positions, d_model, dtype=torch.float64)
        matrix = apply_rope(ones, positions, base)
    unit = matrix / matrix.norm(dim=-1, keepdim=True)
    return {
        "positions": positions,
        "matrix": matrix,
        "dims": torch.tensor(list(dims)),
        "waves": matrix[:, list(dims)],
        "offsets": positions - ref,
        "similarity": unit @ unit[ref],
    }


def rope_score_vs_offset(
    head_dim: int = 64,
    max_offset: int = 128,
    base: float = 10000.0,
    q: torch.Tensor | None = None,
    k: torch.Tensor | None = None,
    q_position: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(offsets, scores)``: ``<RoPE(q, m), RoPE(k, m + o)> / head_dim`` per offset.

    The offsets are ``o = 0 .. max_offset``.

    ``m = q_position``; by RoPE's relative property the result does not depend on it.
    ``q`` and ``k`` default to all-ones vectors, for which the score is 1 at offset 0
    and decays (with ripples) as the offset grows.
    """
    _check_even_dim("head_dim", head_dim)
    if max_offset < 0 or q_position < 0:
        raise ValueError("max_offset and q_position must be >= 0")
    q = torch.ones(head_dim, dtype=torch.float64) if q is None else q.to(torch.float64)
    k = torch.ones(head_dim, dtype=torch.float64) if k is None else k.to(torch.float64)
    if q.shape != (head_dim,) or k.shape != (head_dim,):
        raise ValueError(
            f"q and k must have shape ({head_dim},), got {tuple(q.shape)} and "
            f"{tuple(k.shape)}"
        )
    offsets = torch.arange(max_offset + 1)
    q_rot = apply_rope(q[None, :], torch.tensor([q_position]), base)  # (1, d)
    # (max_offset + 1, d): the key at every offset
    k_rot = apply_rope(k.expand(len(offsets), head_dim), offsets + q_position, base)
    return offsets, (k_rot @ q_rot[0]) / head_dim
