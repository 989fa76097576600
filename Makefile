# Two commands on a fresh machine:  `make demo`  and  `make test`  (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= test,browser,onnx,tensorflow,bench,lint
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo test lint test-core test-browser venv system-deps labextension clean proto

## Install, then train the quickstart pipeline on the embedded Dask cluster and print the leaderboard.
demo: venv
	$(VENV)/bin/stratum train examples/quickstart.yaml --name quickstart

## Install everything the suite needs, lint, then run the whole test suite (core, then browser).
test: venv system-deps labextension lint test-core test-browser

## The checks a reviewer should not have to make: ruff (lint + format), mypy on the typed core,
## eslint + prettier and the jest unit tests for the sidebar's TypeScript.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	jlpm install
	jlpm lint:check
	jlpm test

## ansible-lint in a venv of its own (it pins its own ansible-core): tests/deploy lint a generated project with it.
ANSIBLE_LINT := venvs/ansible-lint/bin/ansible-lint
$(ANSIBLE_LINT):
	python3 -m venv venvs/ansible-lint
	venvs/ansible-lint/bin/pip install -q --disable-pip-version-check ansible-lint==26.10.1

test-core: $(ANSIBLE_LINT)
	STRATUM_ANSIBLE_LINT=$(abspath $(ANSIBLE_LINT)) $(PY) -m pytest tests

test-browser:
	@if [ -d tests_browser ]; then $(PY) -m pytest tests_browser -p no:pytest_jupyter; fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[$(EXTRAS)]"
	@# JupyterHub's proxy for the team-mode tests (tests/team), kept out of the extension's node_modules
	@if command -v npm >/dev/null; then mkdir -p $(VENV)/chp && echo '{"name": "chp", "private": true}' > $(VENV)/chp/package.json && \
	  npm install -s --no-audit --no-fund --prefix $(VENV)/chp configurable-http-proxy@5; fi
	touch $@

## Debian packages the real-part tests use (sshd and network namespaces, Chromium, PostgreSQL, dockerd and debootstrap). Needs root.
system-deps:
	@missing=""; \
	for c in /usr/sbin/sshd:openssh-server /usr/sbin/ip:iproute2 /usr/bin/chromium:chromium /usr/sbin/dockerd:docker.io /usr/sbin/debootstrap:debootstrap /usr/bin/docker-registry:docker-registry /usr/bin/pg_ctlcluster:postgresql; do \
	  test -e $${c%%:*} || missing="$$missing $${c##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: skipping apt-get install$$missing (tests that need them will skip)"; fi; \
	fi

## Build the JupyterLab extension into jupyter_stratum/labextension and, as the wheel's
## shared-data would, link it into the venv's JupyterLab and enable the server extension there.
labextension:
	@if [ -f package.json ]; then \
	  jlpm install && jlpm build:prod && \
	  jupyter labextension develop --overwrite . && \
	  install -D -m 644 jupyter-config/server-config/jupyter_stratum.json \
	    $(VENV)/etc/jupyter/jupyter_server_config.d/jupyter_stratum.json; \
	fi

clean:
	rm -rf $(VENV) node_modules lib jupyter_stratum/labextension

## Regenerate the edge runtime's OIP gRPC messages from jupyter_stratum/serve/grpc_predict_v2.proto
## (committed, so that serving needs only grpcio + protobuf; this needs grpcio-tools).
proto:
	$(PIP) install -q grpcio-tools
	cd jupyter_stratum/serve && $(abspath $(PY)) -m grpc_tools.protoc -I. --python_out=. grpc_predict_v2.proto
