"""A GitLab-REST-API-v4-compatible test server.

Behaviour follows GitLab's own source (the gitlabhq/gitlabhq repository),
cited by file in each module.  Standard library HTTP server, SQLite state, real bare git
repositories; no web framework.  Start it with ``tests/bin/gitlab-test-server``.
"""
