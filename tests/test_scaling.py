"""tinyformer.scaling: compute accounting against PyTorch's FLOP counter, the published
laws against the papers' numbers and brute force, and the fits against known
constants."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tinyformer.config import GPTConfig
from tinyformer.model import GPT
from tinyformer.scaling import (
    BESIROGLU_2024,
    HOFFMANN_2022,
    KAPLAN_2020,
    PF_DAY,
    ChinchillaLaw,
    count_parameters,
    fit_parametric_loss,
    fit_power_law,
    forward_flops_per_token,
    isoflop_fit,
    ladder_config,
    load_sweep,
    plan,
    run_sweep,
    save_sweep,
    six_n_d,
    tokens_per_parameter_allocation,
    training_flops,
    training_flops_per_token,
)
from tinyformer.scaling import __main__ as scaling_cli

CONFIGS = [
    GPTConfig.tiny(),
    GPTConfig.tiny(bias=False, n_layer=2),
    GPTConfig.tiny(norm="rmsnorm", ffn="swiglu", position="rope", bias=False),
    GPTConfig.tiny(n_kv_head=2, tie_weights=False, ffn="relu", norm_position="post"),
    GPTConfig.tiny(
        position="sinusoidal", ffn="swiglu", norm="rmsnorm", n_head=8, n_kv_head=1
    ),
    GPTConfig.tiny(
        position="alibi", ffn_hidden=100, n_embd=96, n_head=3, block_size=48
    ),
    GPTConfig.llama(
        n_layer=2, n_head=4, n_kv_head=2, n_embd=64, vocab_size=300, block_size=32
    ),
    GPTConfig.tiny(ffn="none", n_layer=2),  # attention-only
]

# Hoffmann et al. (2022), Table 3: (parameters, FLOPs, tokens) of compute-optimal
# models.
CHINCHILLA_TABLE_3 = [
    (400e6, 1.92e19, 8.0e9),
    (1e9, 1.21e20, 20.2e9),
    (10e9, 1.23e22, 205.1e9),
    (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12),
    (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12),
    (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
]


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: f"{c.norm}-{c.ffn}-{c.position}-{c.n_kv_head}"
)
def test_parameter_count_matches_the_built_model(config):
    torch.manual_seed(0)
    model = GPT(config)
    counts = count_parameters(config)
    assert counts.total == model.num_parameters()
    tables = {
        "wte.weight",
        "wpe.weight",
        "lm_head.weight",
    }  # a tied head is listed once, as wte
    embedding = sum(p.numel() for name, p in model.named_parameters() if name in tables)
    assert (counts.embedding, counts.non_embedding) == (
        embedding,
        model.num_parameters() - embedding,
    )
    assert counts.embedding + counts.non_embedding == counts.total


def test_gpt2_small_has_its_published_parameter_count():
    assert count_parameters(GPTConfig.gpt2()).total == 124_439_808
    # Kaplan et al.'s approximation 12 * n_layer * d^2 for the non-embedding count.
    approx = 12 * 12 * 768**2
    assert abs(count_parameters(GPTConfig.gpt2()).non_embedding / approx - 1) < 0.002


def _counted_flops(config: GPTConfig, batch: int, context: int) -> tuple[int, int]:
    """FLOPs PyTorch's counter sees for a forward pass and for forward + backward."""
    torch.manual_seed(0)
    model = GPT(config)
    for block in model.blocks:  # the fused CPU kernel has no formula in FlopCounterMode
        block.attn.fused = False
    idx = torch.randint(config.vocab_size, (batch, context))
    with FlopCounterMode(display=False) as forward:
        model(idx, idx)
    with FlopCounterMode(display=False) as both:
        _, loss = model(idx, idx)
        loss.backward()
    return forward.get_total_flops(), both.get_total_flops()


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: f"{c.norm}-{c.ffn}-{c.position}-{c.n_kv_head}"
)
def test_flops_equal_pytorchs_flop_counter(config):
    context = min(config.block_size, 24)
    forward, both = _counted_flops(config, batch=3, context=context)
    assert forward == 3 * context * forward_flops_per_token(config, context)
    assert both == 3 * context * training_flops_per_token(config, context)


def test_attention_term_grows_with_context_and_six_n_is_close_for_gpt2():
    config = GPTConfig.gpt2()
    short, long = (
        forward_flops_per_token(config, 128),
        forward_flops_per_token(config, 1024),
    )
    assert long - short == 4 * 12 * (1024 - 128) * 768
    # GPT-2 small at 1024 tokens: 12 layers x 12 d^2 weights, the 768 x 50257 head, and
    # attention
    matmuls = 12 * 12 * 768**2 + 768 * 50257
    assert training_flops_per_token(config, 1024) == 6 * matmuls + 12 * 12 * 1024 * 768
    ratio = training_flops_per_token(config, 1024) / (
        6 * count_parameters(config).total
    )
    assert 1.1 < ratio < 1.2  # 6 N with N = all parameters undercounts by about 14%
    assert training_flops(config, 1e6, 1024) == 1e6 * training_flops_per_token(
        config, 1024
    )
    assert six_n_d(124e6, 1e9) == 6 * 124e6 * 1e9


@pytest.mark.parametrize(
    "call",
    [
        lambda: count_parameters("gpt2"),
        lambda: forward_flops_per_token(GPTConfig.tiny(), 0),
        lambda: training_flops(GPTConfig.tiny(), -5),
        lambda: six_n_d(0, 10),
        lambda: six_n_d(10, float("nan")),
    ],
)
def test_compute_accounting_rejects_bad_input(call):
    with pytest.raises((TypeError, ValueError)):
        call()


@pytest.mark.parametrize(
    "law", [HOFFMANN_2022, BESIROGLU_2024], ids=["hoffmann", "besiroglu"]
)
@pytest.mark.parametrize("compute", [1e18, 5.76e23, 1e26])
def test_closed_form_allocation_is_the_brute_force_minimum(law, compute):
    n = np.logspace(5, 15, 200_001)
    losses = law.loss(n, compute / (6 * n))
    best = law.compute_optimal(compute)
    assert best.n_params == pytest.approx(n[np.argmin(losses)], rel=2e-4)
    assert 6 * best.n_params * best.tokens == pytest.approx(compute)
    assert law.optimal_loss(compute) == pytest.approx(losses.min(), rel=1e-9)
    assert law.a + law.b == pytest.approx(1.0)


def test_published_constants_and_what_they_imply():
    # Hoffmann et al. report a = 0.46, b = 0.54 for approach 3; Besiroglu et al.
    # a = 0.51.
    assert HOFFMANN_2022.a == pytest.approx(0.46, abs=0.01)
    assert BESIROGLU_2024.a == pytest.approx(0.513, abs=0.001)
    # Chinchilla (70B, 1.4T tokens) beats Gopher (280B, 300B tokens) on the same
    # compute.
    for law in (HOFFMANN_2022, BESIROGLU_2024):
        assert law.loss(70e9, 1.4e12) < law.loss(280e9, 300e9)
    # Besiroglu et al.'s refit implies about 20 tokens per parameter at Gopher's budget.
    assert 15 < BESIROGLU_2024.compute_optimal(5.76e23).tokens_per_parameter < 25


def test_twenty_tokens_per_parameter_reproduces_chinchillas_table_3():
    for params, flops, tokens in CHINCHILLA_TABLE_3:
        rule = tokens_per_parameter_allocation(flops)
        assert rule.n_params == pytest.approx(params, rel=0.05)
        assert rule.tokens == pytest.approx(tokens, rel=0.10)


def test_kaplan_law_at_known_points():
    # N_opt = 1.3e9 parameters at one PF-day; the single-variable laws at their
    # constants equal 1.
    assert KAPLAN_2020.compute_optimal(PF_DAY).n_params == pytest.approx(1.3e9)
    assert KAPLAN_2020.loss_n(8.8e13) == pytest.approx(1.0)
    assert KAPLAN_2020.loss_d(5.4e13) == pytest.approx(1.0)
    assert KAPLAN_2020.loss_compute(3.1e8 * PF_DAY) == pytest.approx(1.0)
    # with unlimited data the joint law falls back to a pure power law in N
    assert KAPLAN_2020.loss_nd(1e9, 1e30) == pytest.approx(
        (6.4e13 / 1e9) ** 0.076, rel=1e-6
    )
    losses = KAPLAN_2020.loss_n(np.array([1e6, 1e8, 1e10]))
    assert np.all(np.diff(losses) < 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: HOFFMANN_2022.loss(-1, 1e9),
        lambda: HOFFMANN_2022.compute_optimal(0),
        lambda: tokens_per_parameter_allocation(float("nan")),
        lambda: ChinchillaLaw(E=1, A=-1, B=1, alpha=0.3, beta=0.3),
        lambda: KAPLAN_2020.loss_n([]),
    ],
)
def test_laws_reject_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_power_law_fit_recovers_exponent_and_its_error_is_honest():
    rng = np.random.default_rng(0)
    x = np.logspace(0, 3, 12)
    estimates, stderrs = [], []
    for _ in range(400):
        y = 2.5 * x**-0.3 * np.exp(rng.normal(0, 0.05, x.size))
        fit = fit_power_law(x, y)
        estimates.append(fit.exponent)
        stderrs.append(fit.exponent_stderr)
    assert np.mean(estimates) == pytest.approx(-0.3, abs=0.005)
    # the reported standard error matches the spread of the estimates across noise draws
    assert np.mean(stderrs) == pytest.approx(np.std(estimates), rel=0.15)
    exact = fit_power_law([1, 10, 100], [4, 0.4, 0.04])
    assert (exact.coefficient, exact.exponent, exact.r_squared) == pytest.approx(
        (4, -1, 1)
    )
    assert math.isnan(fit_power_law([1, 2], [1, 2]).exponent_stderr)
    assert fit_power_law([1, 10], [3, 30])(100) == pytest.approx(300)


@pytest.mark.parametrize(
    "x, y, message",
    [
        ([1], [2], "at least 2"),
        ([1, 2, float("nan")], [1, 2, 3], "NaN"),
        ([1, 2, 3], [1, 0, 3], "positive"),
        ([1, 2, 3], [1, 2], "same length"),
        ([2, 2, 2], [1, 2, 3], "equal"),
    ],
)
def test_power_law_fit_rejects_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        fit_power_law(x, y)


@pytest.mark.parametrize(
    "law", [HOFFMANN_2022, BESIROGLU_2024], ids=["hoffmann", "besiroglu"]
)
def test_parametric_fit_recovers_published_constants(law):
    rng = np.random.default_rng(1)
    n = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), 80))
    d = np.exp(rng.uniform(np.log(5e9), np.log(5e11), 80))
    fit = fit_parametric_loss(n, d, law.loss(n, d))
    for name in ("E", "A", "B", "alpha", "beta"):
        assert getattr(fit.law, name) == pytest.approx(getattr(law, name), rel=1e-3), (
            name
        )
    assert fit.rmse_log < 1e-6
    noisy = fit_parametric_loss(
        n, d, law.loss(n, d) * np.exp(rng.normal(0, 0.003, n.size))
    )
    assert noisy.law.alpha == pytest.approx(law.alpha, abs=0.05)
    assert noisy.law.beta == pytest.approx(law.beta, abs=0.05)
    assert noisy.law.a == pytest.approx(law.a, abs=0.03)


def test_parametric_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 5"):
        fit_parametric_loss([1e6, 1e7, 1e8, 1e9], [1e9] * 4, [3, 2.8, 2.6, 2.5])
    with pytest.raises(ValueError, match="NaN"):
        fit_parametric_loss([1e6] * 6, [1e9] * 6, [3, 2.8, 2.6, float("nan"), 2, 2])
    with pytest.raises(ValueError, match="delta"):
        fit_parametric_loss(
            *([[1e6, 1e7, 1e8, 1e9, 1e10]] * 2), [3, 2.8, 2.6, 2.5, 2.4], delta=0
        )


def test_isoflop_fit_finds_the_laws_optimum_and_exponent():
    budgets = [1e18, 1e19, 1e20, 1e21]
    rows = []
    for c in budgets:
        best = BESIROGLU_2024.compute_optimal(c).n_params
        for n in best * np.logspace(-0.6, 0.6, 9):
            rows.append((c, n, BESIROGLU_2024.loss(n, c / (6 * n))))
    budget, n, loss = map(np.array, zip(*rows))
    fit = isoflop_fit(budget, n, loss)
    assert np.all(fit.bracketed)
    for c, n_opt in zip(fit.budgets, fit.n_opt):
        assert n_opt == pytest.approx(
            BESIROGLU_2024.compute_optimal(c).n_params, rel=0.05
        )
    assert fit.n_opt_law.exponent == pytest.approx(BESIROGLU_2024.a, abs=0.01)
    assert fit.loss_opt == pytest.approx(
        [BESIROGLU_2024.optimal_loss(c) for c in budgets], rel=1e-3
    )


def test_isoflop_fit_rejects_curves_without_a_minimum():
    with pytest.raises(ValueError, match="3 or more"):
        isoflop_fit([1, 1, 1, 2, 2], [1, 2, 3, 1, 2], [3, 2, 3, 3, 2])
    with pytest.raises(ValueError, match="curve upwards"):
        isoflop_fit([1, 1, 1], [1, 10, 100], [3.0, 2.9, 2.0])
    fit = isoflop_fit([1, 1, 1], [1, 10, 100], [3.0, 2.5, 2.2])  # minimum beyond 100
    assert not fit.bracketed[0] and fit.n_opt_law is None


def test_plan_spends_each_budget_and_skips_pointless_runs():
    runs = plan([3e11, 1e12], train_tokens=1_000_000)
    assert runs and all(r.budget in (3e11, 1e12) for r in runs)
    for r in runs:
        per_step = r.compute / r.run.max_steps
        assert abs(r.compute - r.budget) <= per_step / 2 + 1  # rounded to whole steps
        assert r.run.max_steps >= 50 and r.tokens <= 25 * 1_000_000
        assert r.run.warmup_steps <= r.run.max_steps
    sizes = [(r.config.n_layer, r.config.n_embd) for r in runs if r.budget == 3e11]
    assert (5, 256) not in sizes  # far too big for 3e11 FLOPs: fewer than 50 steps
    with pytest.raises(ValueError, match="budget"):
        plan([0], 1000)


def _tiny_data():
    g = torch.Generator().manual_seed(0)
    return torch.randint(65, (4000,), generator=g), torch.randint(
        65, (500,), generator=g
    )


def test_run_sweep_is_deterministic_and_round_trips(tmp_path):
    train_data, val_data = _tiny_data()
    runs = plan(
        [2e9], len(train_data), ladder=[(1, 16), (1, 32)], min_steps=5, max_epochs=100
    )
    assert len(runs) == 2
    first, second = (
        run_sweep(runs, train_data, val_data),
        run_sweep(runs, train_data, val_data),
    )
    assert [p.val_loss for p in first] == [p.val_loss for p in second]
    assert first[0].params == count_parameters(ladder_config(1, 16)).total
    save_sweep(first, tmp_path / "s.json", command="test")
    loaded, metadata = load_sweep(tmp_path / "s.json")
    assert loaded == first and metadata == {"command": "test"}
    (tmp_path / "bad.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="not a sweep"):
        load_sweep(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="python -m tinyformer.scaling sweep"):
        load_sweep(tmp_path / "missing.json")


def test_shipped_sweep_is_consistent():
    points, metadata = load_sweep()
    assert "python -m tinyformer.scaling sweep" in metadata["command"]
    assert (
        len({p.budget for p in points}) >= 3
        and len({(p.n_layer, p.n_embd) for p in points}) >= 5
    )
    for p in points:
        config = ladder_config(p.n_layer, p.n_embd)
        assert p.params == count_parameters(config).total
        assert p.compute == pytest.approx(
            p.tokens * training_flops_per_token(config, 64)
        )
        assert p.compute == pytest.approx(p.budget, rel=0.02)
        assert (
            1.0 < p.val_loss < 4.2
        )  # between a good character model and uniform guessing (ln 65)


def test_cli_plan_and_sweep(tmp_path, capsys):
    assert scaling_cli.main(["plan", "--budgets", "3e11"]) == 0
    assert "1 x  32" in capsys.readouterr().out
    out = tmp_path / "sweep.json"
    assert (
        scaling_cli.main(
            ["sweep", "--budgets", "2e9", "--min-steps", "20", "--out", str(out)]
        )
        == 0
    )
    points, metadata = load_sweep(out)
    assert points and metadata["command"].startswith(
        "python -m tinyformer.scaling sweep"
    )
