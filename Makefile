# runnercreds.gitlab — developer and CI entry points.
#
#   make demo   start the bundled GitLab test server and show the collection at work
#   make test   everything CI runs: sanity, lint, unit + server tests, molecule, integration
#
# Both install what they need themselves (apt packages, .venv, the runner
# image) and reuse it on the next run.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV   := .venv
PYTHON := $(VENV)/bin/python
# The venv is rebuilt when the pinned requirements change.
VENV_STAMP := $(VENV)/.stamp-$(shell sha256sum requirements-test.txt | cut -c1-12)

export CONTAINERS_CONF := $(CURDIR)/.config/containers.conf
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help deps venv image test unit units integration sanity lint molecule demo bench bench-quick clean

help:
	@echo "make demo      start the GitLab test server and run the demo playbook against it"
	@echo "make test      sanity, lint, molecule, unit and server tests, integration (what CI runs)"
	@echo "make unit      pytest: unit tests (no server), functional tests and server tests (GitLab test server)"
	@echo "make integration  ansible-test integration targets against the GitLab test server (copy under build/integration/)"
	@echo "make sanity    ansible-test sanity on a copy under ansible_collections/"
	@echo "make units     ansible-test units (tests/unit) on the same copy"
	@echo "make lint      ansible-lint (production profile)"
	@echo "make molecule  Molecule scenarios in podman containers"
	@echo "make bench     benchmarks against GitLabForm, community.general, uri (under 30 min); benchmarks/results/latest.md"
	@echo "make bench-quick  benchmark smoke run (N=20, 0 ms, GitLabForm rows included; under 3 minutes)"

deps:
	@scripts/install-system-deps.sh

$(VENV_STAMP): requirements-test.txt
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-test.txt
	@rm -f $(VENV)/.stamp-* && touch $@

venv: $(VENV_STAMP)

image: deps
	@scripts/build-runner-image.sh

unit: venv
	$(PYTHON) -m pytest tests/unit tests/functional tests/server -p no:cacheprovider -q -n 2

integration: venv
	@scripts/integration.sh

sanity: venv
	@scripts/sanity.sh

# tests/unit as ansible-test runs them (its own venv from tests/unit/requirements.txt, the collection tree).
units: venv
	@ANSIBLE_TEST_COMMAND=units scripts/sanity.sh

lint: venv
	@scripts/lint.sh
	$(VENV)/bin/antsibull-changelog lint

molecule: venv image
	@scripts/molecule.sh

# Order matters only for speed: cheap static checks first, then the suites.
test: deps venv sanity units lint molecule unit integration

demo: deps venv
	@scripts/demo.sh

bench: venv
	$(PYTHON) benchmarks/run.py

bench-quick: venv
	$(PYTHON) benchmarks/run.py --quick

clean:
	rm -rf build tests/output .pytest_cache
