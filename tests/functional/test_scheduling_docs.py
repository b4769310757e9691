# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``docs/scheduling.md`` and ``docs/gitlab-ci-rotation.yml`` tell users to paste, checked.

Every YAML block of the guide parses; the credential type injects what the rotate playbook reads; the
``awx.awx`` tasks use only options those modules have; the role example uses only the role's variables; the
GitLab CI job runs only on schedules, runs the rotate playbook, keeps the report and holds no token.
"""

from __future__ import annotations

import ast
import os
import re
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUIDE = os.path.join(REPO, "docs", "scheduling.md")
CI_FILE = os.path.join(REPO, "docs", "gitlab-ci-rotation.yml")
ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")
ROLE_SPECS = os.path.join(REPO, "roles", "rotation_timer", "meta", "argument_specs.yml")
TOKEN_PATTERN = re.compile(r"(glpat|gldt|glrt|glptt)-[A-Za-z0-9_-]{8,}")


class _Loader(yaml.SafeLoader):
    """SafeLoader that knows Ansible's ``!unsafe`` tag (a plain string)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def yaml_blocks():
    with open(GUIDE, encoding="utf-8") as handle:
        text = handle.read()
    return [yaml.load(block, Loader=_Loader) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def find_block(predicate):
    found = [block for block in yaml_blocks() if predicate(block)]
    assert len(found) == 1, "expected one such block in docs/scheduling.md, found %d" % len(found)
    return found[0]


def playbook_tasks(block):
    return [task for play in block for task in play.get("tasks", [])]


def module_of(task):
    return next(key for key in task if "." in key and key.count(".") == 2)


def awx_module_options(name):
    """The options of an awx.awx module, from its DOCUMENTATION (None when awx.awx is not installed)."""
    for entry in sys.path:
        path = os.path.join(entry, "ansible_collections", "awx", "awx", "plugins", "modules", name + ".py")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in tree.body:
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
                    options = yaml.safe_load(node.value.value)["options"]
                    names = set(options)
                    for spec in options.values():
                        names.update(spec.get("aliases", []))
                    return names
    return None


def test_every_yaml_block_of_the_guide_parses():
    blocks = yaml_blocks()
    assert len(blocks) >= 8
    assert all(block is not None for block in blocks)


def test_the_credential_type_injects_what_the_rotate_playbook_reads():
    with open(ROTATE, encoding="utf-8") as handle:
        rotate = handle.read()
    inputs = find_block(lambda b: isinstance(b, dict) and "fields" in b)
    fields = {field["id"]: field for field in inputs["fields"]}
    assert set(fields) == {"gitlab_url", "gitlab_token"}
    assert fields["gitlab_token"].get("secret") is True and not fields["gitlab_url"].get("secret")
    assert sorted(inputs["required"]) == ["gitlab_token", "gitlab_url"]

    env = find_block(lambda b: isinstance(b, dict) and set(b) == {"env"})["env"]
    assert env == {"GITLAB_URL": "{{ gitlab_url }}", "GITLAB_TOKEN": "{{ gitlab_token }}"}
    extra = find_block(lambda b: isinstance(b, dict) and set(b) == {"extra_vars"})["extra_vars"]
    assert extra == {"runnercreds_gitlab_url": "{{ gitlab_url }}", "runnercreds_gitlab_token": "{{ gitlab_token }}"}
    for name in env:
        assert "lookup('ansible.builtin.env', '%s')" % name in rotate
    for name in extra:
        assert name in rotate

    # The awx.awx task creates the same credential type.
    tasks = playbook_tasks(find_block(lambda b: isinstance(b, list) and "awx.awx" in str(b)))
    created = next(t["awx.awx.credential_type"] for t in tasks if "awx.awx.credential_type" in t)
    assert created["injectors"] == {"env": env}
    assert {f["id"]: bool(f.get("secret")) for f in created["inputs"]["fields"]} == \
        {k: bool(v.get("secret")) for k, v in fields.items()}
    assert created["kind"] in ("cloud", "net")


def test_the_awx_job_template_and_schedule():
    block = find_block(lambda b: isinstance(b, list) and "awx.awx" in str(b))
    assert "group/awx.awx.controller" in block[0]["module_defaults"]
    tasks = playbook_tasks(block)
    by_module = {module_of(task): task[module_of(task)] for task in tasks}
    assert set(by_module) == {"awx.awx.credential_type", "awx.awx.credential", "awx.awx.execution_environment",
                              "awx.awx.project", "awx.awx.job_template", "awx.awx.schedule"}
    template = by_module["awx.awx.job_template"]
    assert template["playbook"] == "rotate.yml"
    assert template["allow_simultaneous"] is False
    assert template["execution_environment"] == by_module["awx.awx.execution_environment"]["name"]
    assert by_module["awx.awx.credential"]["name"] in template["credentials"]
    assert by_module["awx.awx.credential"]["credential_type"] == by_module["awx.awx.credential_type"]["name"]
    schedule = by_module["awx.awx.schedule"]
    assert schedule["unified_job_template"] == template["name"]
    assert re.match(r"DTSTART;TZID=[\w/]+:\d{8}T\d{6} RRULE:FREQ=\w+", schedule["rrule"])
    # No secret in the block: the tokens come from Vault variables.
    assert not TOKEN_PATTERN.search(str(block))
    assert by_module["awx.awx.credential"]["inputs"]["gitlab_token"].startswith("{{ vault_")

    # Only options the modules have (when awx.awx, which the ansible package bundles, is installed).
    for module, args in by_module.items():
        options = awx_module_options(module.split(".")[-1])
        if options is None:
            pytest.skip("awx.awx is not installed")
        assert set(args) <= options, "%s: unknown options %s" % (module, sorted(set(args) - options))

    project_playbook = find_block(lambda b: isinstance(b, list) and "import_playbook" in str(b))
    assert project_playbook[0]["ansible.builtin.import_playbook"] == "runnercreds.gitlab.rotate"


def test_the_execution_environment_lists_the_collection():
    ee = find_block(lambda b: isinstance(b, dict) and b.get("version") == 3)
    names = [c["name"] for c in ee["dependencies"]["galaxy"]["collections"]]
    assert names == ["runnercreds.gitlab"]
    with open(os.path.join(REPO, "meta", "execution-environment.yml"), encoding="utf-8") as handle:
        meta = yaml.safe_load(handle)
    for kind in ("python", "system"):
        assert os.path.isfile(os.path.join(REPO, meta["dependencies"][kind]))


def test_localhost_needs_no_become():
    localhost = find_block(lambda b: isinstance(b, dict) and "ansible_connection" in b)
    assert localhost == {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}


def test_the_role_example_uses_the_role_variables():
    with open(ROLE_SPECS, encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    play = find_block(lambda b: isinstance(b, list) and "runnercreds.gitlab.rotation_timer" in str(b))[0]
    role = play["roles"][0]
    assert role["role"] == "runnercreds.gitlab.rotation_timer"
    assert set(role["vars"]) <= set(options)
    assert {name for name, spec in options.items() if spec.get("required")} <= set(role["vars"])
    assert role["vars"]["rotation_timer_gitlab_token"].startswith("{{ vault_")
    for spec in options.values():
        assert spec["version_added"] == "0.2.0" and spec["description"] and spec["type"]


def test_the_gitlab_ci_job_runs_on_schedules_only_and_holds_no_token():
    with open(CI_FILE, encoding="utf-8") as handle:
        text = handle.read()
    ci = yaml.safe_load(text)
    jobs = {name: job for name, job in ci.items() if isinstance(job, dict) and "script" in job}
    assert list(jobs) == ["rotate-runner-credentials"]
    job = jobs["rotate-runner-credentials"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert job["stage"] in ci["stages"]
    assert job["image"]
    assert job["resource_group"]
    commands = [line for line in job["script"] if "ansible-playbook" in line]
    assert len(commands) == 1 and "runnercreds.gitlab.rotate" in commands[0]
    assert "runnercreds_rotate_report=$RUNNERCREDS_REPORT" in commands[0]
    report = os.path.basename(job["variables"]["RUNNERCREDS_REPORT"])
    assert job["artifacts"]["paths"] == [report] and job["artifacts"]["when"] == "always"
    # The token comes from a masked, protected CI/CD variable: never set or written in the file.
    assert "GITLAB_TOKEN" not in job.get("variables", {}) and "GITLAB_TOKEN" not in ci.get("variables", {})
    assert not TOKEN_PATTERN.search(text)
    assert not re.search(r"GITLAB_TOKEN\s*[:=]\s*\S", text)
    assert not re.search(r"(?i)(private-token|token=|--token)", "\n".join(job["script"]))
    assert all(value.startswith("$") or "token" not in value.lower() for value in job["variables"].values())
