"""One deploy key (can_push) on N projects: one runnercreds.gitlab.deploy_key task vs
community.general.gitlab_deploy_key in a loop (it takes one project per task)."""

from __future__ import annotations

from ..common import OURS, public_key
from .base import PlaybookComparison, Tool, register


@register
class DeployKeyRows(PlaybookComparison):
    name = "deploy_key"
    title = "One deploy key (can_push) on N projects"
    order = 20
    ours = Tool(OURS, "deploy_key_runnercreds.yml")
    alternative = Tool("community.general loop", "deploy_key_community_general.yml")

    def __init__(self) -> None:
        self.extra_vars = {"bench_public_key": public_key(), "bench_key_title": "runner-fleet"}

    def verify(self, server, fixture):
        gl = server.admin().admin_client()
        for path in (fixture.projects[0], fixture.projects[-1]):
            keys = gl.projects.get(path, lazy=True).keys.list(get_all=True)
            if not any(k.title == "runner-fleet" and k.can_push for k in keys):
                return f"{path} has no runner-fleet key with can_push"
        return None
