"""Checkpoints: round trip, exact resumption, atomic writes, and clear errors."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from tinyformer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinyformer.model import GPT, GPTConfig
from tinyformer.tokenizers import BPETokenizer, CharTokenizer, gpt2_encoding
from tinyformer.training import TrainConfig, train

CONFIG = GPTConfig.tiny(
    vocab_size=12, n_layer=1, n_head=2, n_embd=32, block_size=16, dropout=0.1
)


def _data() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.where(
        torch.rand(3000, generator=g) < 0.1,
        torch.randint(0, 12, (3000,), generator=g),
        torch.arange(3000) % 12,
    )


def _model() -> GPT:
    torch.manual_seed(0)
    return GPT(CONFIG)


def _run_config(max_steps: int) -> TrainConfig:
    return TrainConfig(
        batch_size=8,
        context=16,
        max_steps=max_steps,
        max_lr=3e-3,
        min_lr=3e-4,
        warmup_steps=4,
        eval_interval=5,
        device="cpu",
    )


def test_resuming_from_step_k_is_bitwise_the_uninterrupted_run(tmp_path):
    # Dropout is on, so the random state matters as well as the optimizer and the
    # batches.
    data = _data()
    train_data, val_data = data[:2500], data[2500:]
    straight = _model()
    full = train(straight, train_data, val_data, _run_config(12), quiet=True)

    first = _model()
    path = tmp_path / "ckpt.pt"

    def save_at_7(step, model, optimizer, generator, history):
        if step == 7:
            save_checkpoint(
                path, model, optimizer, step, _run_config(12), None, generator, history
            )

    train(first, train_data, val_data, _run_config(12), quiet=True, on_step=save_at_7)
    torch.manual_seed(999)  # whatever happens in between must not matter
    checkpoint = load_checkpoint(path)
    assert checkpoint.step == 7
    resumed_model = checkpoint.model()
    resumed = train(
        resumed_model,
        train_data,
        val_data,
        checkpoint.train_config,
        quiet=True,
        resume=checkpoint,
    )

    assert resumed.train_loss == full.train_loss  # exact equality of Python floats
    assert resumed.val_loss == full.val_loss and resumed.val_step == [5, 10, 12]
    for (name, a), b in zip(
        straight.state_dict().items(), resumed_model.state_dict().values()
    ):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    "make",
    [
        lambda: CharTokenizer("abc"),
        gpt2_encoding,
        lambda: BPETokenizer.train("low lower lowest " * 10, 262),
    ],
)
def test_round_trip_keeps_configs_tokenizer_and_weights(tmp_path, make):
    model, tokenizer = _model(), make()
    save_checkpoint(
        tmp_path / "c.pt",
        model,
        step=3,
        train_config=_run_config(5),
        tokenizer=tokenizer,
    )
    checkpoint = load_checkpoint(tmp_path / "c.pt")
    assert (
        checkpoint.gpt_config == CONFIG
        and checkpoint.train_config == _run_config(5)
        and checkpoint.step == 3
    )
    assert (
        checkpoint.tokenizer.encode("abc lower") == tokenizer.encode("abc lower")
        if not isinstance(tokenizer, CharTokenizer)
        else checkpoint.tokenizer.chars == tokenizer.chars
    )
    x = torch.randint(0, 12, (1, 8))
    torch.testing.assert_close(
        checkpoint.model().eval()(x)[0], model.eval()(x)[0], rtol=0, atol=0
    )
    other = GPT(CONFIG)
    load_checkpoint(tmp_path / "c.pt", other)
    assert torch.equal(other.wte.weight, model.wte.weight)
    assert other.lm_head.weight is other.wte.weight, "loading keeps the tie"


def test_weights_only_checkpoint_cannot_be_resumed(tmp_path):
    save_checkpoint(tmp_path / "w.pt", _model())
    with pytest.raises(CheckpointError, match="weights only"):
        load_checkpoint(tmp_path / "w.pt").resume_state()


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, _model(), step=1)
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut while writing")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _model(), step=2)
    assert path.read_bytes() == good, (
        "the previous checkpoint must survive a failed write"
    )
    assert os.listdir(tmp_path) == ["ckpt.pt"], "no temporary file may be left behind"


def test_a_truncated_file_is_reported_with_its_name(tmp_path):
    path = tmp_path / "cut.pt"
    save_checkpoint(path, _model())
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(
        CheckpointError,
        match=r"cut\.pt cannot be read as a checkpoint: it is truncated",
    ):
        load_checkpoint(path)


def test_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt cannot be read"):
        load_checkpoint(tmp_path / "notes.txt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(
        CheckpointError,
        match="other.pt is a torch file but not a tinyformer checkpoint",
    ):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


class _Payload:
    def __reduce__(self):
        return (print, ("this code must never run",))


def test_a_file_with_code_in_it_is_refused(tmp_path):
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": "tinyformer-checkpoint", "x": _Payload()}, f)
    torch.save(
        {"format": "tinyformer-checkpoint", "x": _Payload()}, tmp_path / "evil2.pt"
    )
    for name in ("evil.pt", "evil2.pt"):
        with pytest.raises(CheckpointError, match=name):
            load_checkpoint(tmp_path / name)


def test_a_checkpoint_of_another_config_names_the_differences(tmp_path):
    save_checkpoint(tmp_path / "c.pt", _model())
    with pytest.raises(CheckpointError, match=r"n_embd: checkpoint 32, model 64"):
        load_checkpoint(tmp_path / "c.pt", GPT(CONFIG.replace(n_embd=64)))
