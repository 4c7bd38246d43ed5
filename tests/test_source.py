import inspect

import pytest

from tinyformer.model import GPT
from tinyformer.source import show_source


def test_show_source_is_the_installed_code():
    code = show_source(GPT.forward)
    assert code.data == inspect.getsource(GPT.forward)
    assert "def forward" in code.data
    assert (
        "highlight" in code._repr_html_()
    )  # rendered with Pygments, as the book shows it


def test_show_source_names_what_it_cannot_show():
    with pytest.raises(TypeError, match="show_source needs a Python function"):
        show_source(len)
