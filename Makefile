# Quick start: `make demo`, then `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test notebook bench docs site clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files make the install run again only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-notebook: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[notebook]' 'jupyterlab>=4,<5'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/cnn-backprop walkthrough --figures figures

test: $(VENV)/.installed-dev
	@scripts/ensure_chromium.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2

notebook: $(VENV)/.installed-notebook
	$(BIN)/jupyter lab notebooks/

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_train_step.py
	$(BIN)/python benchmarks/bench_page.py

# Regenerate the outputs and figures shown in README.md and docs/ from the current code.
docs: $(VENV)/.installed-dev
	$(BIN)/python scripts/update_docs.py

# The documentation site, into site/ (open site/index.html): every page, the --help of every command, the API
# from its docstrings and the explorers it embeds, generated as it builds; a warning or a broken link fails it.
site: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

clean:
	rm -rf $(VENV) figures site dist .pytest_cache .hypothesis
