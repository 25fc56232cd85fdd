# `make test` and `make demo` each set up from nothing: a virtualenv, the package with
# its test and mock (the mock portals' web server) extras, a browser, and LibreOffice Calc (the tests
# save the workbook through it, as coders do). Re-running skips whatever is already in place.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: test demo install browser office bench clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,mock]'
	@touch $(STAMP)

# A configured path (BOTS_BROWSER_PATH), else a system Chromium, else Playwright's own.
# When there is none and we are root on Debian, install Debian's chromium.
browser: $(STAMP)
	@if $(BIN)/python -m bots.core.browser; then :; \
	elif [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then \
		echo "no browser found: installing Debian's chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && \
		$(BIN)/python -m bots.core.browser; \
	else \
		echo "no browser: install Chromium or set BOTS_BROWSER_PATH (see README)"; exit 1; \
	fi

# The coders' spreadsheet client: tests save the workbook through `soffice --headless --convert-to xlsx`.
# When it is missing and we are root on Debian, install Debian's libreoffice-calc.
office:
	@if command -v soffice >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then \
		echo "no LibreOffice found: installing Debian's libreoffice-calc"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-calc >/dev/null; \
	else \
		echo "no LibreOffice: install libreoffice-calc (the workbook tests save files through it)"; exit 1; \
	fi

test: browser office
	$(BIN)/python -m pytest -q -n auto $(PYTEST_ARGS)

demo: browser
	$(BIN)/bots demo

bench: browser
	$(BIN)/python bench/workbook_bench.py
	$(BIN)/python bench/edits_bench.py
	$(BIN)/python bench/portal_bench.py
	$(BIN)/python bench/worklist_bench.py
	$(BIN)/python bench/sync_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache
