# The two commands a new user needs:
#   make lab    install, build what is missing, start the lab cluster, open JupyterLab
#   make test   the whole test suite (unit + the live simulated cluster)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
LAB_PORT ?= 8888

.PHONY: help install binaries kubelet kindnode kind-image release-binaries lab serve up down test unit lint bench soak matrix clean

help:
	@echo "make lab     start learning: installs, builds, starts the lab cluster, opens JupyterLab"
	@echo "make test    run every test (unit tests and the live simulated cluster)"
	@echo "make bench   measure cluster start/stop time and memory (writes bench/report.md)"
	@echo "make soak    up/down 20 times and every lab 3 times; report leaks (bench/soak.md)"
	@echo "make matrix  every lab on each Kubernetes release (build/matrix/matrix.md)"
	@echo "make serve   serve the workshop from this machine (JupyterHub; root; after workshop create)"
	@echo "make down    tear the lab cluster down"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "stslab needs Python >= 3.10"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

# Builds the simulated cluster's binaries from the Go module proxy into ~/.cache/stslab.
binaries:
	@scripts/build-binaries.sh

# The release besides the pinned one that `make test` runs labs 00-02 on (tests/test_matrix.py).
TEST_RELEASE ?= 1.35
release-binaries:
	@STSLAB_KUBERNETES=$(TEST_RELEASE) scripts/build-binaries.sh kubernetes

# The kubelet for the real-node tests (not needed for the labs).
kubelet:
	@scripts/build-binaries.sh kubelet

# What the offline kind node image is made of (kubeadm, kube-proxy, kind, CoreDNS, ...).
kindnode:
	@scripts/build-binaries.sh kubelet kindnode

# kind's node image built offline from Debian packages and our build (needs a Docker engine).
kind-image: install binaries kindnode
	$(BIN)/stslab kind-image

# Start the lab cluster unless it is already up (auto: kind, else k3d, else kwok).
up: install
	@if $(BIN)/stslab status >/dev/null 2>&1; then $(BIN)/stslab status; else \
	  if [ "$$($(BIN)/stslab which)" = kwok ]; then scripts/build-binaries.sh; fi; \
	  $(BIN)/stslab up; fi

lab: up
	@echo "Opening JupyterLab on http://127.0.0.1:$(LAB_PORT)/ (the URL with its token follows)"
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) --no-browser \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root) --ServerApp.root_dir=labs labs/00-index.ipynb

# The workshop `stslab workshop create` made here, served to the room by JupyterHub (as root).
HUB_PORT ?= 8000
serve: install
	$(BIN)/stslab workshop serve --port $(HUB_PORT)

down: install
	$(BIN)/stslab down

lint: install
	$(BIN)/ruff check stslab tests scripts
	$(BIN)/ruff format --check stslab tests scripts
	$(BIN)/mypy stslab tests scripts

unit: install
	$(BIN)/pytest -m "not cluster and not realnode and not kind and not browser"

# Two lanes at once (see tests/conftest.py): the real-container tiers wait on containers
# most of the time, so the simulated-cluster tests run beside them.
test: install binaries release-binaries kubelet kindnode lint
	STSLAB_TEST_RELEASE=$(TEST_RELEASE) $(BIN)/pytest -n 2 --durations=15

bench: install binaries
	$(BIN)/python scripts/bench.py

# 20 up/down cycles, then every lab 3 times in a row; compares the machine before and after.
soak: install binaries
	$(BIN)/python scripts/soak.py

# Every lab headless, with its proofs, on each release stslab can build (one simulated cluster
# per release; a release not built yet is built first, about 5-8 min each).
matrix: install binaries
	$(BIN)/stslab labs matrix

clean:
	-$(BIN)/stslab down 2>/dev/null
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
