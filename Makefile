# Two commands for a newcomer: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install install-dev uv chromium bench serve clean

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
	  python3 -m pip install --quiet uv || python3 -m pip install --quiet --user --break-system-packages uv

install: uv
	$(UV) sync --frozen

install-dev: uv
	$(UV) sync --frozen --extra dev

chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(VENV)/bin/player360 demo --port 5006

test: install-dev chromium
	$(PY) -m pytest -q

bench: install-dev
	$(PY) -m benchmarks.run

serve: install
	$(VENV)/bin/player360 serve

clean:
	rm -rf $(VENV) .pytest_cache data/demo data/*.duckdb data/*.duckdb.wal
