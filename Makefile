# Two commands: `make run` (build the cache if needed, start the dashboard) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CACHE_DIR ?= cache
CATALOG ?=
PORT ?= 8501

.PHONY: venv build run test lint bench browser-deps clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

build: venv
	$(PY) -m pipeline build --cache $(CACHE_DIR) $(if $(CATALOG),--catalog $(CATALOG))

run: build
	CACHE_DIR=$(CACHE_DIR) $(VENV)/bin/streamlit run dashboard/streamlit_app.py \
		--server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Debian's Chromium for the real-browser test (never a downloaded browser build).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed: the browser test will be skipped"; fi; }

test: venv browser-deps lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Pyflakes errors and import order (the layout test checks cycles and package faces).
lint: venv
	$(PY) -m ruff check --select F,E9,I001 pipeline dashboard tests bench

bench: venv
	$(PY) bench/build_bench.py

clean:
	rm -rf $(CACHE_DIR) $(dir $(CACHE_DIR)).$(notdir $(CACHE_DIR)).builds .pytest_cache
