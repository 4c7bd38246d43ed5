"""Show the library's own code in a chapter, so readers see exactly what the book runs.

Chapters display a function or method with ``show_source(GPT.forward)``: the source is
read from the installed package at run time, so a committed chapter can never show code
that differs from the code it executed (``make refresh`` re-runs it after every change).
"""

from __future__ import annotations

import inspect

__all__ = ["show_source"]


def show_source(obj):
    """Syntax-highlighted source of a function, method or class.

    For Jupyter and the book.
    """
    from IPython.display import (
        Code,
    )  # IPython comes with Jupyter; the package needs it not

    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise TypeError(
            f"show_source needs a Python function, method or class defined in a file; "
            f"got {obj!r} ({error})"
        ) from None
    return Code(source, language="python")
