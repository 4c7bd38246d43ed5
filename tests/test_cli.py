"""The command lines (prepare, train, sample), streaming BPE, and torchrun training."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyformer import prepare, sample
from tinyformer import train as train_cli
from tinyformer.checkpoint import load_checkpoint, load_shakespeare_char
from tinyformer.data import load_tinyshakespeare, train_val_split
from tinyformer.presets import PRESETS, preset
from tinyformer.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    GPT2_PATTERN,
    gpt2_encoding,
)
from tinyformer.tokenizers.bpe import split_stream
from tinyformer.training import evaluate

TINY_RUN = [
    "--n-layer",
    "1",
    "--n-head",
    "2",
    "--n-embd",
    "32",
    "--block-size",
    "16",
    "--context",
    "16",
    "--batch-size",
    "8",
    "--max-steps",
    "6",
    "--warmup-steps",
    "2",
    "--device",
    "cpu",
    "--quiet",
    "--sample-tokens",
    "20",
]


@functools.cache
def _gpt2():
    return gpt2_encoding()


def _cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)])]


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab 'sS\n\r\t.,12é! ")), max_size=80),
    st.lists(st.integers(0, 80)),
)
def test_streamed_pieces_encode_like_the_whole_text(text, cuts):
    encoding = _gpt2()
    segments = list(split_stream(_cut(text, cuts), GPT2_PATTERN, min_size=1))
    assert "".join(segments) == text
    assert [
        t for s in segments for t in encoding.encode_ordinary(s)
    ] == encoding.encode_ordinary(text)


def test_bpe_encode_iterable_matches_encode_on_shakespeare_lines():
    text = load_tinyshakespeare()[:20000]
    tokenizer = BPETokenizer.train(text, 400)
    lines = text.splitlines(keepends=True)
    assert list(tokenizer.encode_iterable(lines)) == tokenizer.encode_ordinary(text)


@pytest.mark.parametrize("spec", ["char", "gpt2", "bpe"])
def test_prepare_writes_uint16_ids_and_their_tokenizer(tmp_path, spec):
    text = load_tinyshakespeare()[:30000]
    source = tmp_path / "input.txt"
    source.write_text(text, encoding="utf-8")
    if spec == "bpe":
        BPETokenizer.train(text, 300).save(tmp_path / "bpe.txt")
        spec = str(tmp_path / "bpe.txt")
    assert (
        prepare.main([str(source), str(tmp_path / "out.bin"), "--tokenizer", spec]) == 0
    )
    ids, tokenizer = train_cli.load_token_file(tmp_path / "out.bin")
    expected = (
        gpt2_encoding().encode_ordinary(text)
        if spec == "gpt2"
        else (
            CharTokenizer.from_text(text).encode(text)
            if spec == "char"
            else BPETokenizer.load(spec).encode_ordinary(text)
        )
    )
    assert ids.dtype == np.uint16 and ids.tolist() == expected
    assert (
        tokenizer.decode(ids[:50].tolist())
        == text[: len(tokenizer.decode(ids[:50].tolist()))]
    )
    meta = json.loads((tmp_path / "out.bin.json").read_text())
    assert meta["tokens"] == len(expected)


def test_prepare_reports_bad_input(tmp_path, capsys):
    assert prepare.main([str(tmp_path / "nope.txt"), str(tmp_path / "o.bin")]) == 2
    assert "nope.txt does not exist" in capsys.readouterr().err
    (tmp_path / "t.txt").write_text("abc")
    assert (
        prepare.main(
            [str(tmp_path / "t.txt"), str(tmp_path / "o.bin"), "--tokenizer", "bert"]
        )
        == 2
    )
    assert "'bert' is none of them" in capsys.readouterr().err


def test_train_cli_trains_saves_resumes_and_samples(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        train_cli.main([*TINY_RUN, "--out-dir", str(out), "--checkpoint-interval", "3"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "trained to step 6" in printed and "--- sample" in printed
    checkpoint = load_checkpoint(out / "ckpt.pt")
    assert (
        checkpoint.step == 6
        and checkpoint.gpt_config.n_embd == 32
        and checkpoint.gpt_config.vocab_size == 65
    )
    assert isinstance(
        checkpoint.tokenizer, CharTokenizer
    ) and checkpoint.history.val_step == [6]
    # The validation loss printed is the one evaluate() gives on the whole split.
    text = load_tinyshakespeare()
    _, val = train_val_split(torch.tensor(checkpoint.tokenizer.encode(text)))
    assert evaluate(checkpoint.model(), val, 16) == pytest.approx(
        checkpoint.history.val_loss[-1], rel=1e-6
    )

    assert (
        train_cli.main(
            [
                "--resume",
                str(out / "ckpt.pt"),
                "--out-dir",
                str(out),
                "--max-steps",
                "8",
                "--quiet",
                "--sample-tokens",
                "0",
            ]
        )
        == 0
    )
    assert load_checkpoint(out / "ckpt.pt").step == 8
    assert "trained to step 8" in capsys.readouterr().out

    assert (
        sample.main(
            [
                "--checkpoint",
                str(out / "ckpt.pt"),
                "--prompt",
                "ROMEO:",
                "--max-new-tokens",
                "30",
                "--top-k",
                "5",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("ROMEO:")


def test_train_cli_on_a_prepared_file(tmp_path, capsys):
    source = tmp_path / "input.txt"
    source.write_text(load_tinyshakespeare()[:50000], encoding="utf-8")
    prepare.main([str(source), str(tmp_path / "ids.bin"), "--tokenizer", "gpt2"])
    assert (
        train_cli.main(
            [*TINY_RUN, "--data", str(tmp_path / "ids.bin"), "--out-dir", str(tmp_path)]
        )
        == 0
    )
    assert load_checkpoint(tmp_path / "ckpt.pt").gpt_config.vocab_size == 50257


def test_train_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert (
        train_cli.main(
            ["--n-embd", "30", "--n-head", "4", "--quiet", "--out-dir", str(tmp_path)]
        )
        == 2
    )
    assert "divisible by n_head" in capsys.readouterr().err
    assert train_cli.main(["--max-lr", "-1", "--out-dir", str(tmp_path)]) == 2
    assert "max_lr" in capsys.readouterr().err
    assert train_cli.main(["--resume", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_cli.main(["--preset", "gpt5"])


def test_presets_are_valid_and_named():
    assert {
        "shakespeare-char",
        "nanogpt-cpu",
        "shakespeare-char-long",
        "shakespeare-char-gpu",
    } <= set(PRESETS)
    gpt, run = preset("nanogpt-cpu")  # nanoGPT's documented CPU settings
    assert (
        gpt.n_layer,
        gpt.n_head,
        gpt.n_embd,
        run.context,
        run.batch_size,
        run.max_steps,
    ) == (4, 4, 128, 64, 12, 2000)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("nope")


def test_the_shipped_checkpoint_loads_and_has_its_recorded_loss():
    checkpoint = load_shakespeare_char()
    record = (
        Path(__file__).resolve().parents[1] / "src/tinyformer/data/shakespeare_char.md"
    ).read_text()
    recorded = checkpoint.history.val_loss[-1]
    assert f"{recorded:.4f}" in record, "the loss in the record beside the checkpoint"
    text = load_tinyshakespeare()
    _, val = train_val_split(torch.tensor(checkpoint.tokenizer.encode(text)))
    measured = evaluate(checkpoint.model(), val, checkpoint.train_config.context)
    assert measured == pytest.approx(recorded, abs=1e-4)
    assert measured < 1.6
    assert os.path.getsize(checkpoint.path) < 5 * 2**20


def _torchrun(nproc: int, out: Path, batch: int) -> None:
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "tinyformer.train",
        *TINY_RUN,
        "--batch-size",
        str(batch),
        "--out-dir",
        str(out),
        "--max-steps",
        "5",
        "--sample-tokens",
        "0",
        "--dropout",
        "0.0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_under_torchrun_reach_the_weights_of_one(tmp_path):
    _torchrun(1, tmp_path / "one", 8)
    _torchrun(2, tmp_path / "two", 8)  # the same global batch of 8: 4 rows per process
    one, two = (
        load_checkpoint(tmp_path / "one/ckpt.pt"),
        load_checkpoint(tmp_path / "two/ckpt.pt"),
    )
    assert one.step == two.step == 5
    for name, weight in one.model_state.items():
        torch.testing.assert_close(
            two.model_state[name], weight, rtol=1e-5, atol=1e-6, msg=name
        )
    torch.testing.assert_close(
        torch.tensor(two.history.train_loss), torch.tensor(one.history.train_loss)
    )
