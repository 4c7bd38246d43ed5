"""tinyformer.training: configuration, evaluation, loop, accumulation, divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinyformer.model import GPT, GPTConfig
from tinyformer.training import (
    History,
    TrainConfig,
    TrainingDiverged,
    evaluate,
    train,
    windows,
)

SMALL = GPTConfig.tiny(vocab_size=12, n_layer=1, n_head=2, n_embd=32, block_size=16)


def _data(n: int = 2000, seed: int = 0) -> torch.Tensor:
    # A learnable sequence: mostly "count up mod 12", with some noise.
    g = torch.Generator().manual_seed(seed)
    ids = torch.arange(n) % 12
    noise = torch.rand(n, generator=g) < 0.1
    return torch.where(noise, torch.randint(0, 12, (n,), generator=g), ids)


def _model(seed: int = 0, config: GPTConfig = SMALL) -> GPT:
    torch.manual_seed(seed)
    return GPT(config)


def _config(**changes) -> TrainConfig:
    base = dict(
        batch_size=8,
        context=16,
        max_steps=20,
        max_lr=3e-3,
        min_lr=3e-4,
        warmup_steps=5,
        device="cpu",
    )
    return TrainConfig(**{**base, **changes})


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(max_lr=0.0), "max_lr"),
        (dict(min_lr=1.0, max_lr=0.1), "min_lr"),
        (dict(warmup_steps=50, max_steps=10), "warmup_steps"),
        (dict(beta2=1.0), "beta2"),
        (dict(dtype="float16"), "float32"),
        (dict(grad_accum=3, batch_size=8), "divisible"),
        (dict(grad_clip=float("nan")), "grad_clip"),
        (dict(device="tpu"), "device"),
        (dict(context=True), "context"),
    ],
)
def test_train_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        _config(**changes)


def test_evaluate_scores_every_token_once():
    model = _model()
    data = _data(203)  # 202 predictions: 12 full windows of 16 and a last one of 10
    expected_sum, count = 0.0, 0
    with torch.no_grad():
        for t in range(
            len(data) - 1
        ):  # the slow way: each target with its own window's past
            start = (t // 16) * 16
            logits, _ = model(data[start : t + 1][None])
            expected_sum += F.cross_entropy(logits[0, -1:], data[t + 1 : t + 2]).item()
            count += 1
    assert count == 202
    assert evaluate(model, data, context=16, batch_size=5) == pytest.approx(
        expected_sum / count, rel=1e-5
    )


def test_evaluate_is_deterministic_and_accepts_numpy_memmaps(tmp_path):
    model, data = _model(), _data(500)
    path = tmp_path / "ids.bin"
    data.numpy().astype("<u2").tofile(path)
    mapped = np.memmap(path, dtype=np.uint16, mode="r")
    a = evaluate(model, data, 16)
    assert a == evaluate(model, data, 16)
    assert a == pytest.approx(evaluate(model, mapped, 16), rel=1e-6)
    assert model.training, "evaluate restores the training mode"


def test_windows_are_shifted_by_one():
    x, y = windows(torch.arange(100), torch.tensor([0, 50]), 4)
    assert x.tolist() == [[0, 1, 2, 3], [50, 51, 52, 53]]
    assert y.tolist() == [[1, 2, 3, 4], [51, 52, 53, 54]]


def test_training_lowers_the_validation_loss_and_records_history():
    model = _model()
    data = _data()
    before = evaluate(model, data[1600:], 16)
    history = train(
        model,
        data[:1600],
        data[1600:],
        _config(max_steps=60, eval_interval=20),
        quiet=True,
    )
    assert isinstance(history, History)
    assert history.step == list(range(1, 61))
    assert history.val_step == [20, 40, 60]
    assert history.val_loss[-1] < before - 0.5
    assert history.lr[0] == pytest.approx(3e-3 / 5) and history.lr[-1] == pytest.approx(
        _config(max_steps=60).lr_at(59)
    )
    assert all(t > 0 for t in history.tokens_per_sec)
    assert history.time_to(history.val_loss[-1]) == history.val_elapsed[-1]
    assert history.time_to(0.0) is None


def test_gradient_accumulation_gives_the_same_update_as_the_big_batch():
    # No biases: a key bias has an exactly-zero true gradient (it shifts every score of
    # a query equally), so Adam would blow its round-off noise up into different full
    # steps.
    a, b = (
        _model(config=SMALL.replace(bias=False)),
        _model(config=SMALL.replace(bias=False)),
    )
    data = _data()
    train(a, data, None, _config(max_steps=3, warmup_steps=1), quiet=True)
    train(b, data, None, _config(max_steps=3, warmup_steps=1, grad_accum=4), quiet=True)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_bfloat16_autocast_trains_close_to_float32():
    a, b = _model(), _model()
    data = _data()
    h32 = train(a, data[:1600], data[1600:], _config(max_steps=30), quiet=True)
    h16 = train(
        b, data[:1600], data[1600:], _config(max_steps=30, dtype="bfloat16"), quiet=True
    )
    assert a.wte.weight.dtype == torch.float32 == b.wte.weight.dtype, (
        "autocast keeps fp32 master weights"
    )
    assert h16.val_loss[-1] == pytest.approx(h32.val_loss[-1], abs=0.1)


def test_a_non_finite_loss_stops_before_any_weight_changes():
    model = _model()
    data = _data()
    history_steps = []

    def poison(step, model, *_):
        history_steps.append(step)
        if step == 3:
            with torch.no_grad():
                model.lm_head.weight[0, 0] = float(
                    "nan"
                )  # the next forward pass gives NaN

    with pytest.raises(
        TrainingDiverged,
        match=r"step 4: a loss of nan; the last finite loss was \d\.\d+ after step 3",
    ):
        train(model, data, None, _config(max_steps=10), quiet=True, on_step=poison)
    assert history_steps == [1, 2, 3]
    weights = model.blocks[0].mlp.up.weight.clone()
    with pytest.raises(TrainingDiverged):
        train(model, data, None, _config(max_steps=10), quiet=True)
    assert torch.equal(weights, model.blocks[0].mlp.up.weight), (
        "the failing step changed a weight"
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (torch.zeros(10, dtype=torch.long), "needs 17"),
        (torch.full((100,), 40), "token id 40"),
        (torch.zeros(100), "integer"),
        ([1, 2, 3], "1-D tensor"),
    ],
)
def test_train_rejects_bad_data(data, message):
    with pytest.raises((ValueError, TypeError), match=message):
        train(_model(), data, None, _config(), quiet=True)


def test_train_rejects_a_context_longer_than_the_learned_positions():
    with pytest.raises(ValueError, match="block_size=16"):
        train(
            _model(config=SMALL.replace(position="learned")),
            _data(),
            None,
            _config(context=32),
            quiet=True,
        )
