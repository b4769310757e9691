"""A GitLab-REST-API-v4-compatible test server.

Behaviour follows /work/shared/research/gitlab-api-spec.md (cited below as
"spec §N").  Standard library HTTP server, SQLite state, real bare git
repositories; no web framework.  Start it with ``tests/bin/gitlab-test-server``.
"""
