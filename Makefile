# gardenlinux-ocm. `make component VERSION=1473.0` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
VERSION   ?= 1473.0
ARTEFACTS ?=
TARGET    ?= oci-layout:build/oci
SIGN_KEY  ?=
JOBS      ?= 4
REGISTRY_PORT ?= 5000
PYTEST_ARGS ?=

BIN := $(VENV)/bin
SAMPLES := build/artefacts/$(VERSION)

# Find a Python >= 3.12: $(PYTHON) if given, then python3.13/python3.12/python3 on PATH, then pyenv's versions.
# (A pyenv shim that refuses to run because the version is not selected fails the probe and is skipped.)
define find_python
for c in $(PYTHON) python3.13 python3.12 python3 \
    $$(command -v pyenv >/dev/null 2>&1 && ls -d "$$(pyenv root)"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
  if "$$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then \
    command -v "$$c" || echo "$$c"; exit 0; fi; \
done; exit 1
endef

.PHONY: help install dev system-deps component samples lint reformat test test-unit test-integration registry registry-stop bench doc clean tools tools-versions

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/gl-ocm: pyproject.toml
	@py=$$($(find_python)) || { echo "error: no Python >= 3.12 found (tried python3.13, python3.12, python3 and pyenv's versions); install one or pass PYTHON=/path/to/python3.12" >&2; exit 2; }; \
	echo "using $$py ($$($$py --version))"; \
	$$py -m venv $(VENV) && $(BIN)/python -m pip install -q --upgrade pip && \
	$(BIN)/python -m pip install -q -e . pytest==9.2.0 oras==0.2.43 mypy==2.4.1 ruff==0.17.6 types-PyYAML types-requests types-jsonschema
	@touch $@

install: $(BIN)/gl-ocm ## Create the virtual environment with a Python >= 3.12 it finds itself

dev: install ## Same as install (the venv includes the test and lint tools)

$(SAMPLES)/.done: $(BIN)/gl-ocm components/gardenlinux.yaml components/releases/$(VERSION).yaml
	$(BIN)/gl-ocm sample-artefacts $(VERSION) -o $(SAMPLES)
	@touch $@

samples: $(SAMPLES)/.done ## Write sample artefacts for VERSION to build/artefacts/VERSION

component: install ## Publish VERSION (ARTEFACTS=DIR, TARGET=oci-layout:DIR|HOST:PORT[/PREFIX], SIGN_KEY=FILE)
	@if [ -z "$(ARTEFACTS)" ]; then $(MAKE) --no-print-directory samples VERSION=$(VERSION); fi
	$(BIN)/gl-ocm publish $(VERSION) --to $(TARGET) --artefacts $(or $(ARTEFACTS),$(SAMPLES)) --jobs $(JOBS) \
	  $(if $(SIGN_KEY),--sign-key $(SIGN_KEY))

lint: install ## Lint the specs, ruff, mypy --strict, and check that docs/cli.md matches --help
	$(BIN)/gl-ocm lint
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(BIN)/python tools/cli_reference.py --check
	tools/build-tools.sh build actionlint && .tools/bin/actionlint .github/workflows/*.yml

reformat: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench tools
	$(BIN)/ruff format src tests bench tools

doc: install ## Regenerate docs/cli.md from gl-ocm --help
	$(BIN)/python tools/cli_reference.py

system-deps: ## Install the Debian tools the integration tests run, when missing (docker-registry, skopeo, umoci, podman)
	@tools/system-deps.sh

test: install system-deps tools ## Run all tests (integration tests start their own registries and run the Go clients)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install ## Unit tests only
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install system-deps tools ## Integration tests only (real registries, skopeo, umoci, oras, ...)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

registry: ## Start a local registry (Debian docker-registry) on 127.0.0.1:$(REGISTRY_PORT)
	@command -v docker-registry >/dev/null || { echo "error: docker-registry not found; install it: apt-get install -y docker-registry" >&2; exit 2; }
	@mkdir -p registry/data
	@printf 'version: 0.1\nlog: {level: warn}\nstorage:\n  filesystem: {rootdirectory: %s/registry/data}\n  delete: {enabled: true}\n  redirect: {disable: true}\nhttp:\n  addr: 127.0.0.1:%s\n  secret: local-only\n' "$$PWD" "$(REGISTRY_PORT)" > registry/config.yml
	@if [ -f registry/pid ] && kill -0 $$(cat registry/pid) 2>/dev/null; then echo "registry already running (pid $$(cat registry/pid))"; \
	else nohup docker-registry serve registry/config.yml > registry/log 2>&1 & echo $$! > registry/pid; \
	  for i in $$(seq 50); do curl -fs http://127.0.0.1:$(REGISTRY_PORT)/v2/ >/dev/null && break; sleep 0.1; done; \
	  echo "registry on 127.0.0.1:$(REGISTRY_PORT) (pid $$(cat registry/pid)); stop it with make registry-stop"; fi

registry-stop: ## Stop the local registry
	@if [ -f registry/pid ]; then kill $$(cat registry/pid) 2>/dev/null || true; rm -f registry/pid; echo stopped; fi

bench: install ## Run the benchmarks (see docs/benchmarks.md)
	$(BIN)/python bench/publish_blob.py

tools: ## Build the pinned Go reference clients into .tools/bin (docs/tools.md)
	@tools/build-tools.sh build

tools-versions: ## Print the version of each binary in .tools/bin and check it against its pin
	@tools/build-tools.sh versions

clean: ## Remove build output (not the venv)
	rm -rf build
