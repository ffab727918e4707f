# soteria-eval: the two commands are `make evaluate` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= results
SITE ?= site
SEED ?= 20210901
BRIEF ?= brief.pdf
# axe-core (accessibility rules) for the browser check in `make validate`, from the npm registry.
AXE_VERSION ?= 4.14.1

.PHONY: evaluate test test-integration test-all validate bench book brief lint typecheck env clean constraints installed-check studies

$(BIN)/.installed: pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev,book]"
	touch $@

env: $(BIN)/.installed

## Run the whole evaluation on the embedded default data: results, figures, book.
evaluate: env
	$(BIN)/soteria-eval run --out $(OUT) --seed $(SEED)
	$(BIN)/soteria-eval book --results $(OUT) --out $(SITE)
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then \
		$(BIN)/soteria-eval brief --site $(SITE) --out $(BRIEF); \
	else echo "no chromium: printable brief skipped (apt-get install chromium; make brief)"; fi

## Regenerate the validation studies shipped with the package (after a studied-code change).
studies: env
	$(BIN)/python -m soteria_eval.validation.studies analyses/plan.yaml

## The printable brief: the book's summary page as a PDF (needs Debian chromium).
brief: env
	$(BIN)/soteria-eval brief --site $(SITE) --out $(BRIEF)

## Lint, type-check and run the quick test suite.
test: env lint typecheck
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

## The integration tier: the evaluation, the book and the refresh workflow end to end.
test-integration: env
	$(BIN)/python -m pytest -q -m "integration and not validate"

## Both tiers (what CI runs, with the installed-package check).
test-all: test test-integration

## The installed package from a temporary folder: wheel, fresh venv, run, init, book.
installed-check: env
	bash tests/installed/check_installed.sh $(abspath $(BIN))/python

lint: env
	$(BIN)/ruff check soteria_eval tests analyses benchmarks
	$(BIN)/ruff format --check soteria_eval tests analyses benchmarks

typecheck: env
	$(BIN)/mypy

## Slow validation: Monte Carlo and peer comparisons (pytest marker `validate`).
validate: env
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[browser]"
	command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm)
	test -f .cache/axe/package/axe.min.js || (mkdir -p .cache/axe && cd .cache/axe \
		&& npm pack --silent axe-core@$(AXE_VERSION) && tar xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js)
	$(BIN)/python -m pytest -q -m validate

## Benchmarks (installs the peer packages of the `bench` extra).
bench: env
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[bench]"
	$(BIN)/python benchmarks/run.py

## Build the book from the latest results (runs the evaluation first if none exist).
book: env
	test -f $(OUT)/manifest.json || $(BIN)/soteria-eval run --out $(OUT) --seed $(SEED)
	$(BIN)/soteria-eval book --results $(OUT) --out $(SITE)

## Regenerate the constraints file from a fresh environment (maintainers only).
constraints:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet ".[dev,book]"
	.venv-lock/bin/python -m pip freeze --exclude soteria-eval > requirements/constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(OUT) $(SITE) book/_build book/_generated .pytest_cache .mypy_cache .ruff_cache
