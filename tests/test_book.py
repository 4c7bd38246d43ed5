"""Book-level checks: the table of contents, the notebooks' shape, the references."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    entries = list(toc.get("chapters", []))
    for part in toc.get("parts", []):
        entries += part.get("chapters", [])
    while entries:
        entry = entries.pop(0)
        files.append(entry["file"])
        entries += entry.get("sections", [])
    return files


def chapters() -> list[Path]:
    return sorted((ROOT / "book").glob("*.ipynb"))


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    listed = toc_files()
    assert len(listed) == len(set(listed)), "an entry appears twice in _toc.yml"
    notebooks = {f"book/{p.stem}" for p in chapters()}
    assert notebooks, "no chapters found in book/"
    missing_from_toc = notebooks - set(listed)
    assert not missing_from_toc, (
        f"notebooks not listed in _toc.yml: {sorted(missing_from_toc)}"
    )
    for entry in listed:
        candidates = [ROOT / f"{entry}{ext}" for ext in (".ipynb", ".md")]
        assert any(c.exists() for c in candidates), (
            f"_toc.yml lists {entry}, which does not exist"
        )


def test_chapters_are_listed_in_numeric_order():
    numbered = [f for f in toc_files() if re.match(r"book/\d\d_", f)]
    assert numbered == sorted(numbered)


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.name)
def test_chapter_is_executed_in_order_with_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, f"{path.name} has unexecuted cells: run make refresh"
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name} was not run top to bottom in one kernel"
    )
    errors = [
        o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"
    ]
    assert not errors, f"{path.name} has error outputs"


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.name)
def test_chapter_has_hidden_setup_and_exercises(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "remove-cell" in first_code["metadata"].get("tags", []), (
        "the setup cell must be tagged remove-cell"
    )
    assert "google.colab" in "".join(first_code["source"]), (
        "the setup cell must install the package in Colab"
    )
    markdown = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
    )
    assert re.search(r"^#+ Exercises", markdown, re.M), (
        "every chapter ends with exercises"
    )
    assert ":class: dropdown" in markdown, (
        "exercise solutions go in collapsed dropdowns"
    )


def test_every_citation_has_a_bibliography_entry():
    from pybtex.database import parse_file  # the parser sphinxcontrib-bibtex uses

    bib = (ROOT / "book/references.bib").read_text(encoding="utf-8")
    keys = set(
        parse_file(str(ROOT / "book/references.bib"), bib_format="bibtex").entries
    )
    assert len(keys) == bib.count("\n@") + bib.startswith("@"), (
        "an entry is malformed or a key repeats"
    )
    sources = [p.read_text(encoding="utf-8") for p in chapters()] + [
        p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md")
    ]
    cited = {
        key
        for text in sources
        for group in re.findall(r"\{cite[pt]?\}`([^`]+)`", text)
        for key in group.split(",")
    }
    assert cited, "the book cites nothing"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def test_nothing_in_the_package_or_book_reaches_the_network():
    pattern = re.compile(
        r"urlopen|requests\.get|urllib\.request|from_pretrained\(|hf_hub_download|get_encoding\("
    )
    offenders = []
    for path in list((ROOT / "src").rglob("*.py")) + chapters():
        for line in path.read_text(encoding="utf-8").splitlines():
            if pattern.search(line) and "# offline:" not in line:
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()[:80]}")
    assert not offenders, (
        "network access (mark a deliberate offline use with '# offline:'):\n"
        + "\n".join(offenders)
    )


def test_the_html_build_drops_repeated_scripts():
    """tools/dedupe_scripts.py (a local Sphinx extension) keeps one copy per script."""
    import importlib.util

    from sphinx.builders.html._assets import _JavaScript

    spec = importlib.util.spec_from_file_location(
        "dedupe_scripts", ROOT / "tools" / "dedupe_scripts.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = 'const THEBE_JS_URL = "x"'
    scripts = [
        _JavaScript(None, priority=500, body=config),
        _JavaScript("a.js", priority=500),
        _JavaScript("", priority=500, body=config),  # sphinx-thebe's second copy
        _JavaScript("a.js", priority=500, async_="async"),  # other attributes: kept
    ]
    context = {"script_files": scripts}
    module._dedupe(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts and len(scripts) == 3
    assert sum(config in str(s.attributes) for s in scripts) == 1
