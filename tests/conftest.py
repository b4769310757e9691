"""Shared fixtures: the GitLab target (bundled test server, or a real GitLab
when GITLAB_URL and GITLAB_TOKEN are set) and clients for it."""

from __future__ import annotations

import os
import secrets
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from support.gitlab_target import CONTROL_SKIP, GitlabTarget  # noqa: E402
from support.endpoints import SEED, ServerProcess  # noqa: E402


def _real_gitlab() -> tuple[str, str] | None:
    url, token = os.environ.get("GITLAB_URL"), os.environ.get("GITLAB_TOKEN")
    return (url, token) if url and token else None


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_control: needs the GitLab test server's /-/test/ control API "
                                       "(skipped against a real GitLab)")


def pytest_collection_modifyitems(config, items):
    if not _real_gitlab():
        return
    skip = pytest.mark.skip(reason=CONTROL_SKIP)
    for item in items:
        if "needs_control" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def gitlab_target(tmp_path_factory):
    real = _real_gitlab()
    if real:
        yield GitlabTarget(real[0], real[1], is_test_server=False)
        return
    token = "test-admin-" + secrets.token_hex(12)
    log_path = str(tmp_path_factory.mktemp("gitlab-server") / "server.log")
    with ServerProcess("--port", "0", "--seed", SEED, "--admin-token", token, log_path=log_path) as server:
        yield GitlabTarget(server.url, token, is_test_server=True)


@pytest.fixture
def clean_target(gitlab_target):
    """Seed state, no faults, zeroed counters (test server); on a real GitLab
    tests isolate themselves through the builders' unique names."""
    if gitlab_target.is_test_server:
        gitlab_target.reset()
        gitlab_target.clear_requests()
    yield gitlab_target
    if gitlab_target.is_test_server:
        gitlab_target.clear_faults()
        gitlab_target.set_latency(0)


@pytest.fixture
def admin_gl(gitlab_target):
    return gitlab_target.admin_client()
