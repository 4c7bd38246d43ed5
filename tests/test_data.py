import hashlib

import pytest
import torch

from tinyformer.data import (
    ChecksumError,
    data_path,
    get_batch,
    load_tinyshakespeare,
    train_val_split,
)


def test_tinyshakespeare_is_the_published_corpus():
    text = load_tinyshakespeare()
    assert len(text) == 1_115_394
    assert text.startswith(
        "First Citizen:\nBefore we proceed any further, hear me speak."
    )
    # The checksum recorded in ../shared/data/SHA256SUMS when the corpus was vendored.
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert digest == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert len(set(text)) == 65


def test_damaged_corpus_is_rejected_with_a_clear_message(tmp_path):
    damaged = tmp_path / "tinyshakespeare.txt"
    raw = bytearray(data_path("tinyshakespeare.txt").read_bytes())
    raw[100] ^= 1  # flip one bit
    damaged.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="damaged or was edited"):
        load_tinyshakespeare(damaged)
    truncated = tmp_path / "truncated.txt"
    truncated.write_bytes(bytes(raw[:1000]))
    with pytest.raises(ChecksumError, match="SHA256SUMS"):
        load_tinyshakespeare(truncated)


def test_missing_data_file_names_the_fix():
    with pytest.raises(FileNotFoundError, match="reinstall"):
        data_path("no-such-file.txt")


def test_train_val_split_is_contiguous_and_complete():
    data = torch.arange(100)
    train, val = train_val_split(data, 0.1)
    assert len(train) == 90 and len(val) == 10
    assert torch.equal(torch.cat([train, val]), data)
    train_s, val_s = train_val_split("abcdefghij", 0.2)
    assert (train_s, val_s) == ("abcdefgh", "ij")


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 1.5])
def test_train_val_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split("abcdef", fraction)


def test_train_val_split_rejects_too_short_data():
    with pytest.raises(ValueError, match="too short"):
        train_val_split("ab", 0.1)


def test_get_batch_targets_are_inputs_shifted_by_one():
    data = torch.arange(1000) * 7 % 101  # a sequence where the next value is known
    x, y = get_batch(
        data, batch_size=8, block_size=16, generator=torch.Generator().manual_seed(0)
    )
    assert x.shape == y.shape == (8, 16)
    for row_x, row_y in zip(x, y):
        start = int((data == row_x[0]).nonzero()[0])  # values repeat with period 101
        window = data[start : start + 17]
        assert torch.equal(row_x, window[:-1]) and torch.equal(row_y, window[1:])


def test_get_batch_is_reproducible_with_a_seed_and_covers_the_end():
    data = torch.arange(20)
    a = get_batch(data, 4, 5, generator=torch.Generator().manual_seed(1))
    b = get_batch(data, 4, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    starts = torch.cat(
        [
            get_batch(data, 64, 5, generator=torch.Generator().manual_seed(s))[0][:, 0]
            for s in range(20)
        ]
    )
    assert (
        int(starts.min()) == 0 and int(starts.max()) == 20 - 5 - 1
    )  # the last full window is reachable


def test_get_batch_errors():
    with pytest.raises(TypeError, match="1-D tensor"):
        get_batch([1, 2, 3], 1, 1)
    with pytest.raises(ValueError, match="block_size \\+ 1"):
        get_batch(torch.arange(5), 1, 5)
    with pytest.raises(ValueError, match="positive"):
        get_batch(torch.arange(5), 0, 2)
