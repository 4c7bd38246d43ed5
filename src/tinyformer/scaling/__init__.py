"""Scaling laws: count the compute, state the published laws, fit our own.

- ``tinyformer.scaling.compute``: parameters and training FLOPs of a ``GPTConfig``.
- ``tinyformer.scaling.laws``: Kaplan et al. (2020) and Chinchilla (Hoffmann et al.,
  2022; refit by Besiroglu et al., 2024), and the compute-optimal split of a budget.
- ``tinyformer.scaling.fit``: power-law, parametric and IsoFLOP fits.
- ``tinyformer.scaling.sweep``: the TinyShakespeare scaling experiment
  (``python -m tinyformer.scaling sweep``).
"""

from tinyformer.scaling.compute import (
    PF_DAY,
    ParameterCount,
    count_parameters,
    forward_flops_per_token,
    six_n_d,
    training_flops,
    training_flops_per_token,
)
from tinyformer.scaling.fit import (
    IsoFLOPFit,
    ParametricFit,
    PowerLawFit,
    fit_parametric_loss,
    fit_power_law,
    isoflop_fit,
)
from tinyformer.scaling.laws import (
    BESIROGLU_2024,
    HOFFMANN_2022,
    KAPLAN_2020,
    Allocation,
    ChinchillaLaw,
    KaplanLaw,
    tokens_per_parameter_allocation,
)
from tinyformer.scaling.sweep import (
    LADDER,
    SweepPoint,
    SweepRun,
    ladder_config,
    load_sweep,
    plan,
    run_sweep,
    save_sweep,
)

__all__ = [
    "PF_DAY",
    "ParameterCount",
    "count_parameters",
    "forward_flops_per_token",
    "six_n_d",
    "training_flops",
    "training_flops_per_token",
    "IsoFLOPFit",
    "ParametricFit",
    "PowerLawFit",
    "fit_parametric_loss",
    "fit_power_law",
    "isoflop_fit",
    "BESIROGLU_2024",
    "HOFFMANN_2022",
    "KAPLAN_2020",
    "Allocation",
    "ChinchillaLaw",
    "KaplanLaw",
    "tokens_per_parameter_allocation",
    "LADDER",
    "SweepPoint",
    "SweepRun",
    "ladder_config",
    "load_sweep",
    "plan",
    "run_sweep",
    "save_sweep",
]
