# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""``project_set_info``: resolve the inventory's project sets, one list request per group (per 100 projects).

The pure half (validation, what a set holds) is ``_project_sets.py``.
Endpoint: ``GET /groups/:id/projects`` (lib/api/groups.rb), with
``include_subgroups`` per group, ``with_shared=false`` (GitLab's default
``true`` would add projects of other groups merely shared with this one:
credentials must go where the inventory says, not where a share happens to
point) and ``archived=false`` unless the set includes archived projects
(an archived project is read-only: no job runs there).
"""

from __future__ import annotations

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import api_path
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Plan
from ansible_collections.runnercreds.gitlab.plugins.module_utils._project_sets import parse_sets
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import Operation


class GroupListing(tuple):
    """``(group ref, subgroups, include_archived)``: one list request, named in messages as the group."""

    kind = "group"

    def __str__(self) -> str:
        ref, subgroups, include_archived = self
        return f"{ref}{'' if subgroups else ' (without subgroups)'}{' (with archived)' if include_archived else ''}"


def list_group_projects(client, listing: GroupListing) -> list:
    """Full paths of a group's projects (and its subgroups' with ``subgroups``)."""
    ref, subgroups, include_archived = listing
    # Booleans spelled as GitLab's documentation spells them (Grape coerces "true"/"false").
    query = dict(include_subgroups=str(subgroups).lower(), with_shared="false", simple="true", order_by="id",
                 sort="asc")
    if not include_archived:
        query["archived"] = "false"
    items = client.list(api_path("groups", ref, "projects"), f"list the projects of group {ref}", listing, **query)
    return [item["path_with_namespace"] for item in items]


class ProjectSetInfoOperation(Operation):
    module_name = "project_set_info"
    argument_spec = dict(sets=dict(type="dict", required=True))
    targets_option = None

    def validate(self) -> None:
        self.sets = parse_sets(self.params["sets"])

    def read(self, client, targets):
        # Each (group, subgroups, archived) listing once, however many sets name it.
        wanted = sorted({GroupListing((ref, subgroups, project_set.include_archived))
                         for project_set in self.sets for ref, subgroups in project_set.groups}, key=str)
        return client.map_all("listing group projects", wanted, lambda listing: list_group_projects(client, listing))

    def plan(self, current):
        projects = {}
        for project_set in self.sets:
            listed = {ref: current[GroupListing((ref, subgroups, project_set.include_archived))]
                      for ref, subgroups in project_set.groups}
            projects[project_set.name] = project_set.select(listed)
        union = {}
        for chosen in projects.values():
            for value in chosen:
                union.setdefault(str(value).casefold(), value)
        return Plan(context=dict(
            projects=projects,
            all_projects=sorted(union.values(), key=lambda value: (isinstance(value, int), str(value))),
            exclusive=sorted(project_set.name for project_set in self.sets if project_set.exclusive),
        ))

    def result(self, the_plan) -> dict:
        return dict(the_plan.context)
