"""Sphinx extension for the book: drop repeated <script> entries from every page.

sphinx-thebe adds its configuration script (``const THEBE_JS_URL = ...``) twice under
jupyter-book 1 (once with the file name ``None``, once with ``''``), and a browser then
stops on "THEBE_JS_URL has already been declared". This keeps the first of the scripts
that have the same file and the same attributes (inline body included).
"""

from __future__ import annotations


def _key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return (
        getattr(script, "filename", script) or "",
        tuple(sorted((k, str(v)) for k, v in attributes.items())),
    )


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        if _key(script) not in seen:
            seen.add(_key(script))
            unique.append(script)
    scripts[:] = unique  # in place: later handlers and the template use this list


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
