"""Show the library's own code in a chapter, so readers see exactly what the book runs.

Chapters display a function or method with ``show_source(GPT.forward)``: the source is
read from the installed package at run time, not pasted, and strict nbval fails when a
committed chapter shows source that the package no longer has (``make refresh`` then
re-runs the chapter).
"""

from __future__ import annotations

import inspect

__all__ = ["show_source"]


def show_source(obj):
    """Syntax-highlighted source of a function, method or class (Jupyter, the book)."""
    # imported here: IPython comes with Jupyter, and the package does not depend on it
    from IPython.display import Code

    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise TypeError(
            f"show_source needs a Python function, method or class defined in a file; "
            f"got {obj!r} ({error})"
        ) from None
    return Code(source, language="python")
