"""Fitting scaling laws to measured losses.

- ``fit_power_law``: ``y = k x**e`` by least squares on ``log y`` against ``log x``,
  with the standard error of the exponent.
- ``fit_parametric_loss``: Chinchilla's ``L = E + A / N**alpha + B / D**beta`` fitted
  as Hoffmann et al. (2022) describe: a Huber loss (``delta = 1e-3``) on the log of the
  loss, minimised with L-BFGS from the best points of a grid of initialisations.
- ``isoflop_fit``: Chinchilla's "approach 2": for each compute budget, a parabola of
  the loss in ``log N``; its minimum is that budget's best model size; a power law
  through the minima says how the best size grows with compute.

>>> fit = fit_power_law([1, 10, 100], [3.0, 0.3, 0.03])
>>> round(fit.exponent, 6), round(fit.coefficient, 6)
(-1.0, 3.0)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from tinyformer.scaling.laws import ChinchillaLaw

__all__ = [
    "PowerLawFit",
    "fit_power_law",
    "ParametricFit",
    "fit_parametric_loss",
    "IsoFLOPFit",
    "isoflop_fit",
]


def _columns(min_points: int, why: str, **columns) -> list[np.ndarray]:
    """The named 1-D columns as float arrays, checked: same length, finite, positive."""
    arrays = []
    for name, values in columns.items():
        array = np.asarray(values, dtype=float)
        if array.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D sequence of numbers, got shape {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"{name} contains NaN or infinite values: "
                f"{array[~np.isfinite(array)][:3]}"
            )
        if np.any(array <= 0):
            raise ValueError(
                f"{name} must be positive (the fit works on logarithms), got "
                f"{array[array <= 0][:3]}"
            )
        arrays.append(array)
    lengths = {name: len(a) for name, a in zip(columns, arrays)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the columns must have the same length, got {lengths}")
    if len(arrays[0]) < min_points:
        raise ValueError(
            f"need at least {min_points} points ({why}), got {len(arrays[0])}"
        )
    return arrays


@dataclass(frozen=True)
class PowerLawFit:
    """``y ≈ coefficient * x**exponent``.

    ``exponent_stderr`` is NaN with only two points.

    ``r_squared`` is the share of the variance of ``log y`` the line explains.
    """

    coefficient: float
    exponent: float
    exponent_stderr: float
    r_squared: float
    n_points: int

    def __call__(self, x):
        return self.coefficient * np.power(np.asarray(x, dtype=float), self.exponent)


def fit_power_law(x, y) -> PowerLawFit:
    """Fit ``y = k x**e`` by ordinary least squares in log-log space."""
    x, y = _columns(2, "a power law has two parameters", x=x, y=y)
    lx, ly = np.log(x), np.log(y)
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    if sxx == 0:
        raise ValueError(
            "all x values are equal: a power law needs at least two different x"
        )
    exponent = float(np.sum((lx - lx.mean()) * (ly - ly.mean())) / sxx)
    intercept = float(ly.mean() - exponent * lx.mean())
    residuals = ly - (intercept + exponent * lx)
    ssr, sst = float(np.sum(residuals**2)), float(np.sum((ly - ly.mean()) ** 2))
    n = len(x)
    stderr = math.sqrt(ssr / (n - 2) / sxx) if n > 2 else math.nan
    r_squared = 1.0 - ssr / sst if sst > 0 else 1.0
    return PowerLawFit(math.exp(intercept), exponent, stderr, r_squared, n)


@dataclass(frozen=True)
class ParametricFit:
    """A fitted ``ChinchillaLaw`` and how well it fits.

    ``objective``: the summed Huber loss at the optimum; ``rmse_log``: root-mean-square
    residual of ``log L`` (0.01 means the law misses by about 1% on average).
    """

    law: ChinchillaLaw
    objective: float
    rmse_log: float
    n_points: int


_GRID = dict(  # Hoffmann et al.'s grid of initialisations for (alpha, beta, e, a, b)
    alpha=(0.0, 0.5, 1.0, 1.5, 2.0),
    beta=(0.0, 0.5, 1.0, 1.5, 2.0),
    e=(-1.0, -0.5, 0.0, 0.5, 1.0),
    a=(0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    b=(0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
)


def _predicted_log_loss(
    theta: torch.Tensor, log_n: torch.Tensor, log_d: torch.Tensor
) -> torch.Tensor:
    """``log(E + A/N^alpha + B/D^beta)`` for rows ``theta = (a, b, e, alpha, beta)``
    with ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``: a log-sum-exp, stable for any
    theta."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    terms = torch.stack(
        [a - alpha * log_n, b - beta * log_d, e.expand_as(a - alpha * log_n)], dim=-1
    )
    return torch.logsumexp(terms, dim=-1)


def _huber(residual: torch.Tensor, delta: float) -> torch.Tensor:
    return torch.nn.functional.huber_loss(
        residual, torch.zeros_like(residual), reduction="none", delta=delta
    ).sum(-1)


def fit_parametric_loss(
    n_params, tokens, loss, delta: float = 1e-3, starts: int = 8
) -> ParametricFit:
    """Fit ``L(N, D) = E + A / N**alpha + B / D**beta`` to measured ``(N, D, L)``.

    The objective is ``sum Huber_delta(log L_predicted - log L)`` (robust to a few bad
    runs). All 4,500 grid initialisations are scored at once; L-BFGS then starts from
    the ``starts`` best of them and the lowest optimum wins. Needs at least 5 points.
    """
    n_params, tokens, loss = _columns(
        5, "the law has five parameters", n_params=n_params, tokens=tokens, loss=loss
    )
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    log_n, log_d, log_l = (
        torch.tensor(np.log(v), dtype=torch.float64) for v in (n_params, tokens, loss)
    )
    grid = torch.tensor(
        list(
            itertools.product(
                _GRID["a"], _GRID["b"], _GRID["e"], _GRID["alpha"], _GRID["beta"]
            )
        ),
        dtype=torch.float64,
    )
    scores = _huber(_predicted_log_loss(grid, log_n, log_d) - log_l, delta)
    best_theta, best_value = None, math.inf
    for start in grid[torch.argsort(scores)[:starts]]:
        theta = start.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS(
            [theta],
            lr=1.0,
            max_iter=1000,
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
            line_search_fn="strong_wolfe",
        )

        def closure():
            optimizer.zero_grad()
            value = _huber(_predicted_log_loss(theta, log_n, log_d) - log_l, delta)
            value.backward()
            return value

        optimizer.step(closure)
        with torch.no_grad():
            value = float(
                _huber(_predicted_log_loss(theta, log_n, log_d) - log_l, delta)
            )
        if math.isfinite(value) and value < best_value:
            best_theta, best_value = theta.detach(), value
    if best_theta is None:
        raise ValueError(
            "the fit did not converge from any initialisation; check the data"
        )
    a, b, e, alpha, beta = (float(v) for v in best_theta)
    if alpha <= 0 or beta <= 0:
        raise ValueError(
            f"the best fit has a non-positive exponent (alpha={alpha:.3g}, "
            f"beta={beta:.3g}): the losses do not fall with both N and D; vary N and D "
            "more widely"
        )
    residual = _predicted_log_loss(best_theta, log_n, log_d) - log_l
    law = ChinchillaLaw(
        E=math.exp(e),
        A=math.exp(a),
        B=math.exp(b),
        alpha=alpha,
        beta=beta,
        source="fit",
    )
    return ParametricFit(
        law, best_value, float(residual.pow(2).mean().sqrt()), len(log_l)
    )


@dataclass(frozen=True)
class IsoFLOPFit:
    """Approach 2. Per budget (sorted): ``n_opt`` and ``loss_opt`` at the parabola's
    minimum, ``parabolas`` (coefficients ``(c2, c1, c0)`` of the loss in natural
    ``log N``) and ``bracketed`` (whether the minimum lies inside the sizes tried).
    ``n_opt_law`` is the power law ``N_opt = k C**a`` through the minima (needs two
    budgets or more)."""

    budgets: np.ndarray
    n_opt: np.ndarray
    loss_opt: np.ndarray
    parabolas: np.ndarray
    bracketed: np.ndarray
    n_opt_law: PowerLawFit | None


def isoflop_fit(budget, n_params, loss) -> IsoFLOPFit:
    """Fit a parabola in ``log N`` per compute budget, a power law through their minima.

    ``budget[i]`` labels which IsoFLOP curve point ``i`` belongs to (equal values = same
    curve); each curve needs three sizes or more, and must curve upwards.
    """
    budget, n_params, loss = _columns(
        3,
        "a parabola has three parameters",
        budget=budget,
        n_params=n_params,
        loss=loss,
    )
    budgets, n_opt, loss_opt, parabolas, bracketed = [], [], [], [], []
    for value in np.unique(budget):
        rows = budget == value
        if rows.sum() < 3:
            raise ValueError(
                f"budget {value:.3g} has {rows.sum()} point(s); an IsoFLOP parabola "
                "needs 3 or more sizes"
            )
        x = np.log(n_params[rows])
        c2, c1, c0 = np.polyfit(x, loss[rows], 2)
        if c2 <= 0:
            raise ValueError(
                f"the losses at budget {value:.3g} do not curve upwards in log N (no "
                "minimum): add smaller and larger models so the sizes bracket the "
                "best one"
            )
        best = -c1 / (2 * c2)
        budgets.append(value)
        n_opt.append(math.exp(best))
        loss_opt.append(c0 - c1**2 / (4 * c2))
        parabolas.append((c2, c1, c0))
        bracketed.append(x.min() <= best <= x.max())
    law = fit_power_law(budgets, n_opt) if len(budgets) >= 2 else None
    return IsoFLOPFit(
        np.array(budgets),
        np.array(n_opt),
        np.array(loss_opt),
        np.array(parabolas),
        np.array(bracketed),
        law,
    )
