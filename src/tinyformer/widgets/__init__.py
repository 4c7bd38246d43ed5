"""The book's explorers.

The maths they show lives in the other modules; these only draw.

Each explorer has a live face (``ipywidgets``, for Jupyter and Colab) and a static face
(precomputed frames behind a slider, for the HTML book, which has no kernel).
"""


def token_label(token: str) -> str:
    """A token as a readable label: a newline as ``\\n``, a space as ``␣``."""
    return {"\n": "\\n", " ": "␣"}.get(token, token)
