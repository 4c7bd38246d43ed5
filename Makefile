# Transformers from Scratch: the two commands a reader needs are `make book` and `make test`.
# Every target installs what it needs into .venv first (from requirements.txt), so a fresh
# clone works with no manual step.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every chapter; tests/test_book.py checks that this is exactly the list in _toc.yml.
CHAPTERS ?= $(sort $(wildcard book/*.ipynb))

.PHONY: install book test lint unit nbval html refresh bench clean

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

## make book: build the HTML book into _build/html.
book: $(STAMP)
	$(BIN)/jupyter-book build --keep-going .
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

## make test: lint and format check, unit tests, strict nbval over every chapter, and a
## warning-free book build.
test: lint unit nbval html

## make lint: ruff's checks and formatting (settings in pyproject.toml), chapters included.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: $(STAMP)
	$(BIN)/python -m pytest

nbval: $(STAMP)
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg $(CHAPTERS)

## make html: the book, warning-free, then what a reader must never see (tools/check_html.py).
html: $(STAMP)
	$(BIN)/jupyter-book build -W -n --keep-going .
	$(BIN)/python tools/check_html.py _build/html

## make refresh: re-execute chapters in place (make refresh CHAPTERS=book/01_language_models.ipynb for one).
refresh: $(STAMP)
	$(BIN)/python tools/refresh.py $(CHAPTERS)

## make bench: the speed and quality benchmarks (they print ratios; they are not tests).
bench: $(STAMP)
	@for script in $(sort $(wildcard benchmarks/*.py)); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf _build .pytest_cache .hypothesis
