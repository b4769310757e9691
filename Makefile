# runnercreds.gitlab — developer and CI entry points.
#
#   make demo   start the bundled GitLab test server and show the collection at work
#   make test   everything CI runs: lint, the importer, sanity/units/functional on the oldest
#               and newest ansible-core, server tests, Molecule, integration
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

.PHONY: help deps venv image test unit units server integration sanity lint molecule molecule-serial demo bench bench-quick \
        build galaxy-importer docs matrix matrix-ends ee clean

# Molecule in two lanes (scripts/molecule-lanes.sh says why): the rotation scenario, the longest,
# beside every other one, and one scenario on the second runner OS (Debian trixie): `default`,
# the cheapest, for CI's 45 minutes (`make matrix` runs every scenario on trixie).
MOLECULE_LANES := "rotation" "default default@trixie fleet rotation_timer runner_deploy_token runner_packages runner_ssh_key"
# The oldest and the newest ansible-core meta/runtime.yml claims; `make matrix` runs all five.
MATRIX_ENDS := 2.17 2.21

help:
	@echo "make demo      start the GitLab test server and run the demo playbook against it"
	@echo "make test      what CI runs: lint, galaxy-importer, the matrix's ends (2.17, 2.21), server tests, molecule, integration"
	@echo "make unit      pytest: unit tests (no server), functional tests and server tests (GitLab test server)"
	@echo "make integration  ansible-test integration targets against the GitLab test server (copy under build/integration/)"
	@echo "make sanity    ansible-test sanity on a copy under ansible_collections/"
	@echo "make units     ansible-test units (tests/unit) on the same copy"
	@echo "make lint      ansible-lint (production profile)"
	@echo "make molecule  Molecule scenarios in podman containers (two lanes; molecule-serial: one after another)"
	@echo "make matrix    sanity, units, functional tests on ansible-core 2.17-2.21, and every scenario on bookworm and trixie"
	@echo "make docs      the docsite (antsibull-docs lint + Sphinx) into build/docsite/build/html"
	@echo "make build     the release tarball (users' README) into build/collection"
	@echo "make galaxy-importer  galaxy-importer on that tarball"
	@echo "make ee        an Execution Environment built with ansible-builder, the site playbook run inside it"
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

# tests/server only: tests/unit and tests/functional run in the matrix (matrix-ends in `make test`).
server: venv
	$(PYTHON) -m pytest tests/server -p no:cacheprovider -q -n 2

molecule: venv image
	@scripts/molecule-lanes.sh $(MOLECULE_LANES)

molecule-serial: venv image
	@scripts/molecule.sh

build:
	@scripts/build-collection.sh

galaxy-importer: deps
	@scripts/galaxy-importer.sh

docs: venv
	@scripts/docs.sh

# sanity and pytest (tests/unit + tests/functional) on the ends; `ansible-test units` runs the same
# unit tests again, so it is left to `make matrix` and `make units`, for CI's 45 minutes.
matrix-ends: deps
	@MATRIX_PARTS="sanity functional" scripts/matrix.sh $(MATRIX_ENDS)

matrix: deps venv image
	@scripts/matrix.sh
	@scripts/molecule-matrix.sh

ee: deps venv
	@scripts/ee.sh

# Cheap static checks first; then Molecule beside the suites (matrix-ends, server,
# integration), which scripts/test-lanes.sh runs at once (it says why).
# ansible-core 2.19 (.venv) runs lint, Molecule and integration; sanity, units and the
# functional tests run on 2.17 and 2.21 here, on all five in `make matrix`.
test: deps venv image lint galaxy-importer docs
	@scripts/test-lanes.sh

demo: deps venv
	@scripts/demo.sh

bench: venv
	$(PYTHON) benchmarks/run.py

bench-quick: venv
	$(PYTHON) benchmarks/run.py --quick

clean:
	rm -rf build tests/output .pytest_cache
