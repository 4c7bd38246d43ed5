import pytest

from tinyformer._checks import check_positive_int
from tinyformer.attention import MultiHeadAttention
from tinyformer.model import GPTConfig
from tinyformer.positional import alibi_slopes


def test_check_positive_int_accepts_positive_ints_only():
    assert check_positive_int("n", 3) == 3
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        check_positive_int("n", 0)
    for bad in (True, 2.0, "4", None):
        with pytest.raises(TypeError, match="n must be an int"):
            check_positive_int("n", bad)


def test_every_module_uses_the_same_wording():
    with pytest.raises(ValueError, match="n_heads must be a positive integer"):
        alibi_slopes(0)
    with pytest.raises(ValueError, match="n_heads must be a positive integer"):
        MultiHeadAttention(16, -4)
    with pytest.raises(TypeError, match="GPTConfig.n_layer must be an int"):
        GPTConfig(n_layer=2.5)
