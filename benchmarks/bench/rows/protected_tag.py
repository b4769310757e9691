"""Protected tag v* (Maintainers may create) on N projects: one runnercreds.gitlab.protected_tag
task vs ansible.builtin.uri written the obvious way (community.general has no such module)."""

from __future__ import annotations

from ..common import OURS
from .base import PlaybookComparison, Tool, register


@register
class ProtectedTagRows(PlaybookComparison):
    name = "protected_tag"
    title = "Protected tag v* (Maintainers) on N projects"
    order = 30
    ours = Tool(OURS, "protected_tag_runnercreds.yml")
    alternative = Tool("ansible.builtin.uri loop", "protected_tag_uri.yml")
    extra_vars = {"bench_tag_pattern": "v*"}

    def verify(self, server, fixture):
        gl = server.admin().admin_client()
        for path in (fixture.projects[0], fixture.projects[-1]):
            tags = gl.projects.get(path, lazy=True).protectedtags.list(get_all=True)
            if not any(t.name == "v*" and t.create_access_levels[0]["access_level"] == 40 for t in tags):
                return f"{path} has no protection v* for Maintainers"
        return None
