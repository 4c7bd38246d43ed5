"""tinyformer.optim against PyTorch's own optimizer and clipping, and by hand."""

from __future__ import annotations

import math

import pytest
import torch

from tinyformer.model import GPT, GPTConfig
from tinyformer.optim import AdamW, clip_grad_norm, cosine_with_warmup, param_groups


def _model(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig.tiny(n_layer=2, n_embd=64, block_size=16))


def test_adamw_matches_torch_after_100_steps_on_a_real_model():
    ours, theirs = _model(), _model()
    opt_ours = AdamW(param_groups(ours, 0.1), lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    opt_theirs = torch.optim.AdamW(
        param_groups(theirs, 0.1), lr=3e-3, betas=(0.9, 0.95), eps=1e-8, foreach=False
    )
    data = torch.Generator().manual_seed(1)
    for step in range(100):
        x = torch.randint(0, 65, (4, 16), generator=data)
        y = torch.randint(0, 65, (4, 16), generator=data)
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            for group in opt.param_groups:  # a changing rate, as the schedule does
                group["lr"] = cosine_with_warmup(step, 3e-3, 3e-4, 10, 100)
            _, loss = model(x, y)
            loss.backward()
            opt.step()
            opt.zero_grad()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(ours.wte.weight, _model().wte.weight), (
        "the weights never moved"
    )


def test_adamw_first_step_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    p.grad = torch.tensor([0.5, 0.25])
    AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5).step()
    # m_hat = g and v_hat = g^2 at t = 1, so the step is lr * sign(g) (up to eps); decay
    # first.
    expected = torch.tensor([1.0, -2.0]) * (1 - 0.1 * 0.5) - 0.1 * torch.tensor(
        [1.0, 1.0]
    )
    torch.testing.assert_close(p.detach(), expected)


def test_weight_decay_is_decoupled_from_the_gradient_scale():
    # With zero gradient, Adam's moments stay 0 and only the decay acts:
    # p *= 1 - lr * wd.
    p = torch.nn.Parameter(torch.tensor([3.0]))
    p.grad = torch.zeros(1)
    AdamW([p], lr=0.1, weight_decay=0.2).step()
    torch.testing.assert_close(p.detach(), torch.tensor([3.0 * (1 - 0.02)]))


def test_adamw_rejects_bad_hyperparameters():
    params = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match="lr"):
        AdamW(params, lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        AdamW(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW(params, weight_decay=-0.1)


def test_cosine_with_warmup_boundaries_and_a_hand_value():
    kw = dict(max_lr=1e-3, min_lr=1e-4, warmup_steps=10, total_steps=110)
    assert cosine_with_warmup(0, **kw) == pytest.approx(1e-4)  # 1/10 of the peak
    assert cosine_with_warmup(9, **kw) == pytest.approx(
        1e-3
    )  # peak at the last warm-up step
    assert cosine_with_warmup(10, **kw) == pytest.approx(1e-3)
    assert cosine_with_warmup(60, **kw) == pytest.approx(
        5.5e-4
    )  # half-way: the mean of the two
    assert cosine_with_warmup(35, **kw) == pytest.approx(
        1e-4 + 9e-4 * (1 + math.cos(math.pi / 4)) / 2
    )
    assert cosine_with_warmup(110, **kw) == pytest.approx(1e-4)
    assert cosine_with_warmup(500, **kw) == pytest.approx(1e-4)
    lrs = [cosine_with_warmup(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:])), "the decay must never increase"


def test_cosine_without_warmup_and_bad_arguments():
    assert cosine_with_warmup(0, 1.0, 0.0, 0, 10) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        cosine_with_warmup(0, 1.0, 0.0, 20, 10)
    with pytest.raises(ValueError, match="min_lr"):
        cosine_with_warmup(0, 1.0, 2.0, 0, 10)
    with pytest.raises(ValueError, match="step"):
        cosine_with_warmup(-1, 1.0, 0.0, 0, 10)


@pytest.mark.parametrize("max_norm", [0.01, 1.0, 1e6])
def test_clip_grad_norm_equals_torch(max_norm):
    ours, theirs = _model(), _model()
    x = torch.randint(0, 65, (2, 16), generator=torch.Generator().manual_seed(0))
    for model in (ours, theirs):
        _, loss = model(x, x)
        loss.backward()
    norm_ours = clip_grad_norm(ours.parameters(), max_norm)
    norm_theirs = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm)
    torch.testing.assert_close(norm_ours, norm_theirs)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a.grad, b.grad)
    total = torch.linalg.vector_norm(
        torch.cat([p.grad.flatten() for p in ours.parameters()])
    )
    assert float(total) <= max_norm * (1 + 1e-5) or max_norm > float(norm_ours)


def test_clip_grad_norm_rejects_a_non_positive_limit():
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([], 0.0)


def test_param_groups_decay_matrices_and_embeddings_only():
    model = _model()
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(
        p.dim() < 2 for p in no_decay["params"]
    )
    assert any(p is model.wte.weight for p in decay["params"])
    assert any(p is model.blocks[0].ln_1.weight for p in no_decay["params"])
    n_grouped = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert n_grouped == model.num_parameters(), (
        "every parameter (the tied one once) is in exactly one group"
    )
