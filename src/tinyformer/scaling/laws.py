"""Published scaling laws, and what they say about spending a compute budget.

- ``KaplanLaw``: Kaplan et al. (2020), power laws in non-embedding parameters ``N``,
  tokens ``D`` and compute, fitted to GPT-2-style models on WebText2 (loss in nats per
  GPT-2 token).
- ``ChinchillaLaw``: the parametric form of Hoffmann et al. (2022),
  ``L(N, D) = E + A / N**alpha + B / D**beta``, with two published sets of constants:
  ``HOFFMANN_2022`` (the paper's) and ``BESIROGLU_2024`` (Besiroglu et al.'s refit
  to data read off the paper's figures, which found the published constants inconsistent
  with the paper's other two methods). Loss in nats per token of their MassiveText
  corpus.
- ``tokens_per_parameter_allocation``: the rule of thumb drawn from Chinchilla, about
  20 training tokens per parameter.

Compute is ``C = 6 N D`` FLOPs throughout, as in both papers. Functions take Python
numbers or numpy arrays and return the same kind.

>>> round(HOFFMANN_2022.loss(70e9, 1.4e12), 3)
1.937
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyformer.scaling.compute import PF_DAY

__all__ = [
    "Allocation",
    "ChinchillaLaw",
    "HOFFMANN_2022",
    "BESIROGLU_2024",
    "KaplanLaw",
    "KAPLAN_2020",
    "tokens_per_parameter_allocation",
]


def _positive(name: str, value):
    """``value`` as float or float array, checked to be finite and > 0."""
    array = np.asarray(value, dtype=float)
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be finite and positive, got {value!r}")
    return float(array) if array.ndim == 0 else array


def _out(value):
    return float(value) if np.ndim(value) == 0 else value


@dataclass(frozen=True)
class Allocation:
    """How to spend ``compute`` FLOPs: a model of ``n_params`` trained on ``tokens``."""

    compute: float
    n_params: float
    tokens: float

    @property
    def tokens_per_parameter(self) -> float:
        return self.tokens / self.n_params


@dataclass(frozen=True)
class ChinchillaLaw:
    """``L(N, D) = E + A / N**alpha + B / D**beta``.

    The loss of ``N`` parameters after ``D`` tokens.

    ``E`` is the loss no model can beat (the text's own entropy, in this form); the two
    other terms are what a finite model and a finite data set add to it.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("A", "B", "alpha", "beta"):
            _positive(f"ChinchillaLaw.{name}", getattr(self, name))
        if not math.isfinite(self.E) or self.E < 0:
            raise ValueError(f"ChinchillaLaw.E must be finite and >= 0, got {self.E!r}")

    def loss(self, n_params, tokens):
        """Predicted loss of ``n_params`` parameters trained on ``tokens`` tokens."""
        N, D = _positive("n_params", n_params), _positive("tokens", tokens)
        return _out(
            self.E + self.A / np.power(N, self.alpha) + self.B / np.power(D, self.beta)
        )

    @property
    def a(self) -> float:
        """Exponent of the optimal model size: ``N_opt ∝ C**a``.

        ``a = beta / (alpha + beta)``.
        """
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of the optimal token count: ``D_opt ∝ C**b``.

        ``b = alpha / (alpha + beta)``.
        """
        return self.alpha / (self.alpha + self.beta)

    def compute_optimal(self, compute) -> Allocation:
        """The ``N`` and ``D`` with the lowest predicted loss for ``C = 6 N D``.

        In closed form.

        Put ``D = C / (6 N)`` into the law and set the derivative in ``N`` to zero:
        ``alpha A / N**alpha = beta B / D**beta``, which gives
        ``N_opt = G (C/6)**a`` and ``D_opt = (C/6)**b / G`` with
        ``G = (alpha A / (beta B))**(1 / (alpha + beta))``.
        """
        C = _positive("compute", compute)
        G = (self.alpha * self.A / (self.beta * self.B)) ** (
            1.0 / (self.alpha + self.beta)
        )
        n_params = G * np.power(C / 6.0, self.a)
        return Allocation(
            compute=_out(C), n_params=_out(n_params), tokens=_out(C / (6.0 * n_params))
        )

    def optimal_loss(self, compute):
        """The lowest loss the law predicts for a compute budget.

        The loss at ``compute_optimal``.
        """
        best = self.compute_optimal(compute)
        return self.loss(best.n_params, best.tokens)


HOFFMANN_2022 = ChinchillaLaw(
    E=1.69,
    A=406.4,
    B=410.7,
    alpha=0.34,
    beta=0.28,
    source="Hoffmann et al. (2022), approach 3 (section 3.3)",
)
BESIROGLU_2024 = ChinchillaLaw(
    E=1.8172,
    A=482.01,
    B=2085.43,
    alpha=0.3478,
    beta=0.3658,
    source="Besiroglu et al. (2024), refit of Hoffmann et al.'s approach 3",
)


def tokens_per_parameter_allocation(
    compute, tokens_per_parameter: float = 20.0
) -> Allocation:
    """Split ``C = 6 N D`` so that ``D = r N``: ``N = sqrt(C / (6 r))``, ``D = r N``.

    ``r = 20`` is the ratio commonly read off Chinchilla's compute-optimal models.
    """
    C = _positive("compute", compute)
    r = _positive("tokens_per_parameter", tokens_per_parameter)
    n_params = np.sqrt(C / (6.0 * r))
    return Allocation(
        compute=_out(C), n_params=_out(n_params), tokens=_out(r * n_params)
    )


@dataclass(frozen=True)
class KaplanLaw:
    """Kaplan et al. (2020): loss of GPT-2-style models on WebText2, in nats per token.

    Each single-variable law holds when the other resources do not limit the model:

    - ``loss_n(N) = (N_c / N)**alpha_N``: trained to convergence, ``N`` non-embedding
      params;
    - ``loss_d(D) = (D_c / D)**alpha_D``: a large model, early-stopped, ``D`` tokens;
    - ``loss_compute(C) = (C_c / C)**alpha_C``: the best model for ``C`` FLOPs;
    - ``loss_nd(N, D)``, the joint law, with its own fitted constants:
      ``((N_nd / N)**(alpha_N_nd / alpha_D_nd) + D_nd / D)**alpha_D_nd``.
    """

    alpha_N: float = 0.076
    N_c: float = 8.8e13
    alpha_D: float = 0.095
    D_c: float = 5.4e13
    alpha_C: float = 0.050
    C_c: float = 3.1e8 * PF_DAY
    alpha_N_nd: float = 0.076
    alpha_D_nd: float = 0.103
    N_nd: float = 6.4e13
    D_nd: float = 1.8e13
    n_opt_coefficient: float = 1.3e9
    n_opt_exponent: float = 0.73

    def loss_n(self, n_params):
        return _out(np.power(self.N_c / _positive("n_params", n_params), self.alpha_N))

    def loss_d(self, tokens):
        return _out(np.power(self.D_c / _positive("tokens", tokens), self.alpha_D))

    def loss_compute(self, compute):
        return _out(np.power(self.C_c / _positive("compute", compute), self.alpha_C))

    def loss_nd(self, n_params, tokens):
        N, D = _positive("n_params", n_params), _positive("tokens", tokens)
        ratio = self.alpha_N_nd / self.alpha_D_nd
        return _out(
            np.power(np.power(self.N_nd / N, ratio) + self.D_nd / D, self.alpha_D_nd)
        )

    def compute_optimal(self, compute) -> Allocation:
        """Kaplan's allocation: ``N_opt = 1.3e9 * (C / PF-day)**0.73``.

        The rest of the budget goes into tokens.
        """
        C = _positive("compute", compute)
        n_params = self.n_opt_coefficient * np.power(C / PF_DAY, self.n_opt_exponent)
        return Allocation(
            compute=_out(C), n_params=_out(n_params), tokens=_out(C / (6.0 * n_params))
        )


KAPLAN_2020 = KaplanLaw()
