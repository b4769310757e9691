# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Concurrency (issue 12): several runs of one module at the same moment, on overlapping targets.

Each run is its own process (tests/support/module_process.py) executing the
module file as Ansible does; all are released at one barrier, and the GitLab
test server adds 20-50 ms to every request so that their requests
interleave. Every case runs REPEAT times.

A run is told apart from the others on the server by how it names the
projects: run 0 by id, run 1 by the lower-case path, run 2 upper case, and so
on (GitLab finds paths without regard to case). So the server's request log
says which run sent which request, and a fault (5xx, lost answer, delay) can
hit one run only.

What is asserted, per module:

* no run deletes a credential another run created (deploy tokens: no DELETE
  of a token created during the race; deploy keys: no DELETE at all;
  protected tags, among runs that want the same settings: no rule removed
  twice, i.e. once some run had re-created it);
* every run that reports success ends with its credential alive (the token
  ids it returns exist and are live; the key is on each of its projects;
  each of its patterns is protected at the end, with one of the runs'
  settings, and was never unprotected at any moment a background sampler
  saw);
* failures are clean (a message naming the module and a project, no
  traceback) and ``changed`` is true whenever GitLab applied a write of
  that run, false when the run sent none;
* sequential runs afterwards converge to ``changed=False`` (at once, when
  every run succeeded and they want compatible settings).

Scenarios the modules get wrong are ``xfail(strict=True)`` tests at the end,
each forcing its interleaving with delays on one run's requests.
"""

from __future__ import annotations

import json
import re
import threading
import time
from urllib.parse import quote

import pytest
import requests

from module_process import run_concurrently
from module_runner import run_module
from sshkeys import public_key

from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_key, deploy_token, protected_tag

pytestmark = pytest.mark.needs_control

REPEAT = 3
BASE_LATENCY_MS = 20
JITTER_MS = (10, 10, 10)  # each added with probability 1/2: 20-50 ms a request
WRITES = ("POST", "PUT", "PATCH", "DELETE")
INFO_FORM = 5  # how info modules name the projects
SAMPLER_FORM = 6  # how the protected-tag sampler names them (no added latency)
NO_ONE, DEVELOPER, MAINTAINER = 0, 30, 40
LEVEL_NAMES = {NO_ONE: "no_one", DEVELOPER: "developer", MAINTAINER: "maintainer"}
MAINS = {"deploy_key": deploy_key.main, "deploy_token": deploy_token.main, "protected_tag": protected_tag.main}


# --- the race harness --------------------------------------------------------------------

def ref_forms(project) -> list:
    """Seven names of one project that GitLab resolves alike and the request log tells apart."""
    path = project.path_with_namespace.lower()
    namespace, name = path.rsplit("/", 1)
    title = path.title()
    forms = [project.id, path, path.upper(), title, title.swapcase(),
             f"{namespace}/{name[:1].upper()}{name[1:]}", f"{namespace[:1].upper()}{namespace[1:]}/{name}"]
    assert len({str(form) for form in forms}) == len(forms), forms
    return forms


def encoded(ref) -> str:
    return quote(str(ref), safe="")


class Race:
    """One case: its projects, the runs started at once, the server's log of their requests."""

    def __init__(self, target, tmp_path, projects) -> None:
        self.target = target
        self.tmp_path = tmp_path
        self.projects = list(projects)
        self.forms = {project.id: ref_forms(project) for project in self.projects}
        self.log: list = []

    def ref(self, project, form):
        return self.forms[project.id][form]

    def refs(self, projects, form) -> list:
        return [self.ref(project, form) for project in projects]

    def project_of(self, label):
        """The project a run's result names (the label is the reference the run was given)."""
        for project in self.projects:
            if str(label) in {str(ref) for ref in self.forms[project.id]}:
                return project
        raise AssertionError(f"no project is named {label!r}")

    def path_regex(self, form, *parts, projects=None) -> str:
        """A fault path regex for requests of the run that names ``projects`` in ``form``."""
        names = "|".join(re.escape(encoded(self.ref(project, form))) for project in projects or self.projects)
        return "/projects/(?:%s)/%s$" % (names, "/".join(parts))

    def connection(self, max_retries=3) -> dict:
        return dict(api_url=self.target.url, api_token=self.target.admin_token, max_retries=max_retries)

    def start(self, jobs, faults=(), sampler=None) -> list:
        """Run ``jobs`` at once with 20-50 ms on every request (and ``faults``); their ModuleRuns."""
        target = self.target
        target.clear_faults()
        sampled = "|".join(re.escape(encoded(self.ref(project, SAMPLER_FORM))) for project in self.projects)
        not_sampled = r"^/api/v4/(?!projects/(?:%s)/)" % sampled
        target.add_fault(path=not_sampled, latency_ms=BASE_LATENCY_MS)
        for extra in JITTER_MS:
            target.add_fault(path=not_sampled, latency_ms=extra, rate=0.5)
        for fault in faults:
            target.add_fault(**fault)
        target.clear_requests()
        if sampler is not None:
            sampler.start()
        try:
            runs = run_concurrently(self.tmp_path, jobs)
        finally:
            if sampler is not None:
                sampler.stop()
            target.clear_faults()
        self.log = target.requests()["log"]
        return runs

    def requests_of(self, form) -> list:
        """The logged requests of the run that names the projects in ``form``, in server order."""
        prefixes = tuple("/api/v4/projects/%s/" % encoded(self.ref(project, form)) for project in self.projects)
        return [entry for entry in self.log if entry["path"].startswith(prefixes)]


@pytest.fixture
def race_factory(gitlab_target, tmp_path):
    """Races on projects of their own: no server reset is needed between cases, only no faults left over."""
    gitlab_target.clear_faults()
    gitlab_target.set_latency(0)

    def make(*projects):
        return Race(gitlab_target, tmp_path, projects)
    yield make
    gitlab_target.clear_faults()


def new_projects(target, prefix, count=3) -> list:
    return [target.make_project(prefix, initialize_with_readme=False) for dummy in range(count)]


def check_run(race, run, form) -> None:
    """A clean result whichever way the run ended, and ``changed`` as the server saw its writes."""
    result = run.result
    assert "module_stderr" not in result and "exception" not in result, result
    assert isinstance(result.get("changed"), bool), result
    if run.failed:
        assert run.returncode == 1, run.stderr
        assert result["msg"].startswith(f"{run.module}: "), result["msg"]
        assert "Traceback" not in result["msg"]
        labels = {str(ref) for ref in race.refs(race.projects, form)}
        assert any(label in result["msg"] for label in labels), result["msg"]
    else:
        assert run.returncode == 0, run.stderr
    writes = [entry for entry in race.requests_of(form) if entry["method"] in WRITES]
    applied = [entry for entry in writes if 200 <= entry["status"] < 300]
    if applied:
        assert result["changed"] is True, (result, applied)
    elif not writes:
        assert result["changed"] is False, result
    # Writes that failed without being applied (5xx faults, 4xx races) may go either way: the run cannot know.


def converge(configs, compatible=True, settled=False) -> None:
    """Run the configurations one after another, twice: the second pass changes nothing.

    With ``settled`` the first pass changes nothing either: the races left
    GitLab as every run reported it. With ``compatible=False`` (runs that
    want different settings) only the first configuration is run, twice.
    """
    if not compatible:
        configs = configs[:1]
    passes = [[run_module(MAINS[module], args) for module, args in configs] for dummy in range(2)]
    for index, results in enumerate(passes):
        if index or settled:
            for (module, args), result in zip(configs, results):
                assert result["changed"] is False, (index, module, args.get("projects"), result["actions"])


def writers(runs, module) -> list:
    return [run for run in runs if run.module == module]


def check_info_runs(race, runs, module) -> None:
    for run in runs:
        if run.module != module:
            continue
        assert not run.failed, run.result
        assert run.result["changed"] is False
        assert not [entry for entry in race.requests_of(INFO_FORM) if entry["method"] in WRITES]


# --- deploy_key -----------------------------------------------------------------------------

def key_fingerprints(target, project) -> list:
    gl = target.admin_client()
    return ["SHA256:" + item["fingerprint_sha256"]
            for item in gl.http_list(f"/projects/{project.id}/deploy_keys", get_all=True)]


def key_links(target, project) -> dict:
    gl = target.admin_client()
    return {"SHA256:" + item["fingerprint_sha256"]: item["can_push"]
            for item in gl.http_list(f"/projects/{project.id}/deploy_keys", get_all=True)}


def sha256_of(key) -> str:
    return "SHA256:" + parse_public_key(key).fingerprint_sha256


def case(sets, **options) -> dict:
    """One scenario: ``sets`` holds the project indexes of each run; ``options`` what else differs."""
    return dict(sets=sets, **options)


def case_names(cases) -> list:
    """The parameters for a table of cases; a case with ``skip`` (a reason) is skipped, visibly."""
    return [pytest.param(name, marks=pytest.mark.skip(reason=scenario["skip"])) if scenario.get("skip") else name
            for name, scenario in cases.items()]


DEPLOY_KEY_CASES = {
    "2 runs, same projects": case([[0, 1, 2], [0, 1, 2]]),
    "4 runs, overlapping projects, info alongside": case([[0, 1], [1, 2], [2, 0], [0, 1, 2]], info=True),
    "2 runs, same key under another comment": case([[0, 1, 2], [2, 1, 0]], comments=["fleet@ctl", "fleet@ci"]),
    "4 runs, a key each (runner hosts), overlapping projects": case(
        [[0, 1], [1, 2], [2, 0], [0, 1, 2]], own_keys=True, titles=["runner-a", "runner-b", "runner-c", "runner-d"]),
    "2 runs, 5xx once on one run's adds": case([[0, 1, 2], [0, 1, 2]], fault=dict(status=500, count=1)),
    "2 runs, 5xx always on one run's adds": case([[0, 1, 2], [1, 2]], fault=dict(status=503, count=50), retries=1),
    "2 runs, one run's add loses its answer": case([[0, 1, 2], [0, 1, 2]], fault=dict(lose_answer=True, count=1)),
    "2 runs, can_push differs": case([[0, 1], [0, 1]], can_push=[True, False]),
    "4 runs, read-only, one run's adds lose their answers, info alongside": case(
        [[0, 1], [1, 2], [0, 2], [0, 1, 2]], can_push=[False] * 4, fault=dict(lose_answer=True, count=2), info=True),
}


@pytest.mark.parametrize("repeat", range(REPEAT))
@pytest.mark.parametrize("name", case_names(DEPLOY_KEY_CASES))
def test_deploy_key_runs_at_once(gitlab_target, race_factory, name, repeat):
    scenario = DEPLOY_KEY_CASES[name]
    sets, fault = scenario["sets"], scenario.get("fault")
    can_push = scenario.get("can_push", [True] * len(sets))
    projects = new_projects(gitlab_target, "conc-dk")
    race = race_factory(*projects)
    keys = [public_key(comment=None)] * len(sets)
    if scenario.get("own_keys"):
        keys = [public_key(comment=None) for dummy in sets]
    fingerprints = [sha256_of(key) for key in keys]
    fingerprint = fingerprints[0]
    comments = scenario.get("comments", ["fleet@ctl"] * len(sets))
    titles = scenario.get("titles", ["runner-fleet"] * len(sets))
    last = len(sets) - 1
    jobs = []
    for form, indexes in enumerate(sets):
        retries = scenario.get("retries", 3) if form == last else 3
        mine = [projects[i] for i in indexes]
        jobs.append(("deploy_key", dict(race.connection(retries), projects=race.refs(mine, form),
                                        key=f"{keys[form]} {comments[form]}", title=titles[form],
                                        can_push=can_push[form])))
    if scenario.get("info"):
        jobs.append(("deploy_key_info", dict(race.connection(), projects=race.refs(projects, INFO_FORM),
                                             fingerprint=fingerprint)))
    faults = [dict(fault, method="POST", path=race.path_regex(last, r"deploy_keys(?:/\d+/enable)?"))] if fault else []
    runs = race.start(jobs, faults)

    for form, run in enumerate(runs):
        check_run(race, run, INFO_FORM if run.module == "deploy_key_info" else form)
    check_info_runs(race, runs, "deploy_key_info")
    for run in runs:
        if run.module == "deploy_key_info":
            for entry in run.result["deploy_keys"]:
                assert entry["fingerprint_sha256"] == fingerprint
    # Nothing was removed: these tasks add a key, they never delete one.
    assert [entry for entry in race.log if entry["method"] == "DELETE"] == []
    for run, indexes, mine in zip(writers(runs, "deploy_key"), sets, fingerprints):
        if not run.failed:
            assert run.result["deploy_key"]["fingerprint_sha256"] == mine
            for index in indexes:
                assert mine in key_fingerprints(gitlab_target, projects[index]), (name, run.index)
    for project in projects:
        found = key_fingerprints(gitlab_target, project)
        assert len(found) == len(set(found)), found
    if fault is not None and fault.get("status") and runs[last].failed:
        assert f"HTTP {fault['status']}" in runs[last].result["msg"], runs[last].result
    configs = [(run.module, run.args) for run in writers(runs, "deploy_key")]
    compatible = len(set(can_push)) == 1
    converge(configs, compatible, settled=compatible and not any(run.failed for run in runs))


# --- deploy_token ---------------------------------------------------------------------------

def all_token_ids(target) -> list:
    gl = target.admin_client()
    return [item["id"] for item in gl.http_list("/deploy_tokens", get_all=True)]


def live_tokens(target, project) -> dict:
    """``{id: token}`` of the project's deploy tokens that are neither revoked nor expired."""
    gl = target.admin_client()
    return {item["id"]: item for item in gl.http_list(f"/projects/{project.id}/deploy_tokens", get_all=True)
            if not item.get("revoked") and not item.get("expired")}


def deleted_token_ids(race) -> list:
    """``(run's request path, token id)`` of every deploy token a DELETE removed."""
    found = []
    for entry in race.log:
        match = re.search(r"/deploy_tokens/(\d+)$", entry["path"])
        if entry["method"] == "DELETE" and match and 200 <= entry["status"] < 300:
            found.append((entry["path"], int(match.group(1))))
    return found


def seed_token(target, project, scope) -> int:
    """A token named like the task's, made before the race; its id."""
    gl = target.admin_client()
    return gl.http_post(f"/projects/{project.id}/deploy_tokens",
                        post_data={"name": "registry-pull", "scopes": [scope]})["id"]


def token_args(race, projects, form, **extra) -> dict:
    # no_log: deploy_token refuses to create a token (and print its secret) in a task without it.
    return dict(race.connection(), projects=race.refs(projects, form), name="registry-pull",
                scopes=["read_registry"], _ansible_no_log=True, **extra)


def check_token_runs(race, runs, pre_max) -> set:
    """The deploy-token invariants after a race; returns the ids the runs hand out."""
    target = race.target
    killed = [(path, ident) for path, ident in deleted_token_ids(race) if ident > pre_max]
    assert killed == [], f"a run revoked a deploy token created during the race: {killed}"
    live = {project.id: live_tokens(target, project) for project in race.projects}
    handed_out = set()
    for run in writers(runs, "deploy_token"):
        for entry in run.result.get("deploy_tokens", []):
            project = race.project_of(entry["project"])
            if run.failed and not entry["created"]:
                continue
            assert entry["id"] in live[project.id], (run.index, entry["id"], sorted(live[project.id]))
            handed_out.add(entry["id"])
            if entry["created"]:
                assert entry["token"].startswith("gldt-")
                assert live[project.id][entry["id"]]["username"] == entry["username"]
        if run.failed:
            public = dict(run.result, deploy_tokens=[dict(e, token=None) for e in run.result.get("deploy_tokens", [])])
            assert "gldt-" not in json.dumps(public), run.result
            for orphan in run.result.get("possible_orphans", []):
                assert orphan["id"] in live[race.project_of(orphan["project"]).id], orphan
    # Every token created during the race is still there (none deleted, none revoked).
    gl = target.admin_client()
    for project in race.projects:
        every = {item["id"] for item in gl.http_list(f"/projects/{project.id}/deploy_tokens", get_all=True)}
        assert {ident for ident in every if ident > pre_max} <= set(live[project.id])
    return handed_out


DEPLOY_TOKEN_CASES = {
    "2 runs, same projects": case([[0, 1], [0, 1]]),
    "4 runs, overlapping projects, info alongside": case([[0, 1], [1, 2], [2, 0], [0, 1, 2]], info=True),
    "2 runs, 5xx once on one run's create": case([[0, 1], [0, 1]], fault=dict(status=503, count=1)),
    "2 runs, one run's create loses its answer": case([[0, 1], [0, 1]], fault=dict(lose_answer=True, count=1)),
    "4 runs, one run loses two create answers, info alongside": case(
        [[0, 1], [1, 2], [0, 2], [0, 1, 2]], fault=dict(lose_answer=True, count=2), info=True),
}


@pytest.mark.parametrize("repeat", range(REPEAT))
@pytest.mark.parametrize("name", case_names(DEPLOY_TOKEN_CASES))
def test_deploy_token_runs_at_once(gitlab_target, race_factory, name, repeat):
    scenario = DEPLOY_TOKEN_CASES[name]
    sets, fault, info = scenario["sets"], scenario.get("fault"), scenario.get("info")
    projects = new_projects(gitlab_target, "conc-dt")
    race = race_factory(*projects)
    jobs = [("deploy_token", token_args(race, [projects[i] for i in indexes], form))
            for form, indexes in enumerate(sets)]
    if info:
        jobs.append(("deploy_token_info", dict(race.connection(), projects=race.refs(projects, INFO_FORM),
                                               name="registry-pull")))
    faults = []
    if fault is not None:
        faults.append(dict(fault, method="POST", path=race.path_regex(len(sets) - 1, "deploy_tokens")))
    pre_max = max(all_token_ids(gitlab_target), default=0)
    runs = race.start(jobs, faults)

    for form, run in enumerate(runs):
        check_run(race, run, INFO_FORM if run.module == "deploy_token_info" else form)
    check_info_runs(race, runs, "deploy_token_info")
    for run in runs:
        if run.module == "deploy_token_info":
            assert "gldt-" not in run.stdout and all("token" not in e for e in run.result["deploy_tokens"])
    handed_out = check_token_runs(race, runs, pre_max)
    if fault is not None and fault.get("lose_answer"):
        # A token whose answer was lost is reported, never deleted and never silently kept.
        new = {ident for project in projects for ident in live_tokens(gitlab_target, project) if ident > pre_max}
        reported = {orphan["id"] for run in runs for orphan in run.result.get("possible_orphans", [])}
        assert new - handed_out <= reported, (sorted(new), sorted(handed_out), sorted(reported))
        lossy = runs[len(sets) - 1]
        if [entry for entry in race.requests_of(len(sets) - 1) if entry.get("answer_lost")]:
            assert lossy.failed and lossy.result["changed"] is True
            assert "possible_orphans" in lossy.result and "nothing was deleted" in lossy.result["msg"]
    # Tokens that match are kept, whoever made them: every configuration is satisfied already.
    converge([(run.module, run.args) for run in writers(runs, "deploy_token")], settled=True)


@pytest.mark.parametrize("repeat", range(REPEAT))
@pytest.mark.parametrize("lost", [False, True], ids=["answers", "one run's revokes lose their answer"])
def test_deploy_token_revoke_predecessors_twice_at_once(gitlab_target, race_factory, lost, repeat):
    """Two runs replace a token whose scopes changed and revoke its predecessor at the same moment."""
    projects = new_projects(gitlab_target, "conc-dtr", 2)
    race = race_factory(*projects)
    old = {project.id: seed_token(gitlab_target, project, "read_repository") for project in projects}
    pre_max = max(all_token_ids(gitlab_target), default=0)
    jobs = [("deploy_token", token_args(race, projects, form, revoke_predecessors=True)) for form in range(2)]
    faults = [dict(method="DELETE", path=race.path_regex(1, r"deploy_tokens/\d+"), lose_answer=True, count=2)]
    runs = race.start(jobs, faults if lost else ())

    for form, run in enumerate(runs):
        check_run(race, run, form)
        assert not run.failed, run.result
    handed_out = check_token_runs(race, runs, pre_max)
    assert len(handed_out) >= len(projects)
    for project in projects:
        assert old[project.id] not in live_tokens(gitlab_target, project)
    for run in runs:
        for entry in run.result["deploy_tokens"]:
            # What a run revoked is the old token only, never what the other run returned.
            assert set(entry["deleted_ids"]) <= set(old.values()), entry
    converge([(run.module, dict(run.args, revoke_predecessors=False)) for run in runs], settled=True)


# --- protected_tag --------------------------------------------------------------------------

def tag_covered(rule: str, tag: str) -> bool:
    """GitLab's matcher: ``*`` matches any characters (lib/gitlab/ref_matcher.rb)."""
    return re.fullmatch(".*?".join(re.escape(part) for part in rule.split("*")), tag) is not None


def example_tag(pattern: str) -> str:
    return pattern.replace("*", "9.1")


def protections(target, project) -> dict:
    """``{pattern: frozenset of role levels}`` read with an independent client."""
    gl = target.admin_client()
    return {item["name"]: frozenset(row["access_level"] for row in item["create_access_levels"])
            for item in gl.http_list(f"/projects/{project.id}/protected_tags", get_all=True)}


class TagSampler:
    """Reads the protected tags of each project of a race, again and again (a thread each), while the runs go on.

    It names the projects in SAMPLER_FORM, which gets no added latency: a
    project is read about every ``interval`` seconds, well within the
    20-50 ms that any window between two requests of a run lasts.
    """

    def __init__(self, race, interval: float = 0.01) -> None:
        self.race = race
        self.interval = interval
        self.samples: dict = {project.id: [] for project in race.projects}
        self.errors: list = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(project,), daemon=True)
                         for project in race.projects]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _loop(self, project) -> None:
        session = requests.Session()
        session.headers["PRIVATE-TOKEN"] = self.race.target.admin_token
        url = "%s/api/v4/projects/%s/protected_tags?per_page=100" % (
            self.race.target.url, encoded(self.race.ref(project, SAMPLER_FORM)))
        samples = self.samples[project.id]
        while not self._stop.is_set():
            try:
                answer = session.get(url, timeout=10)
            except requests.RequestException as exc:
                self.errors.append(repr(exc))
                continue
            if answer.status_code != 200:
                self.errors.append(answer.status_code)
                continue
            samples.append((time.monotonic(), [item["name"] for item in answer.json()]))
            time.sleep(self.interval)

    def gaps(self, project, pattern, protected_before: bool) -> list:
        """Moments at which no rule covered the tags ``pattern`` matches (once it had been protected)."""
        tag = example_tag(pattern)
        seen = protected_before
        found = []
        for moment, names in self.samples[project.id]:
            covered = any(tag_covered(name, tag) for name in names)
            if covered:
                seen = True
            elif seen:
                found.append((moment, names))
        return found


def write_log(race) -> list:
    """Each run's writes as ``(form, method, path tail, status)``, in the order the server logged them."""
    writes = []
    for entry in race.log:
        for form in (0, 1):
            if entry in race.requests_of(form) and entry["method"] in WRITES:
                writes.append((form, entry["method"], entry["path"].rsplit("/protected_tags", 1)[-1], entry["status"]))
    return writes


def tag_args(race, projects, form, tags, retries=3) -> dict:
    return dict(race.connection(retries), projects=race.refs(projects, form),
                tags=[{"name": name, "create_access_level": LEVEL_NAMES[level]} for name, level in tags.items()])


LOST_WRITES = [dict(method="POST", lose_answer=True, count=2), dict(method="DELETE", lose_answer=True, count=2)]

# wanted: {pattern: role} of each run; before: protected before the race; faults: on the last run's requests
PROTECTED_TAG_CASES = {
    "2 runs protect a new pattern": case([[0, 1], [0, 1]], wanted=[{"v*": MAINTAINER}] * 2),
    "4 runs, overlapping patterns and projects, info alongside": case(
        [[0, 1], [1, 2], [2, 0], [0, 1, 2]],
        wanted=[{"v*": MAINTAINER, "release-*": DEVELOPER}, {"release-*": DEVELOPER, "stable-*": NO_ONE},
                {"stable-*": NO_ONE, "v*": MAINTAINER},
                {"v*": MAINTAINER, "release-*": DEVELOPER, "stable-*": NO_ONE}], info=True),
    "2 runs change a pattern to the same settings": case(
        [[0, 1], [0, 1]], wanted=[{"v*": DEVELOPER}] * 2, before={"v*": MAINTAINER}),
    "2 runs change a pattern to different settings": case(
        [[0, 1], [0, 1]], wanted=[{"v*": DEVELOPER}, {"v*": NO_ONE}], before={"v*": MAINTAINER}),
    "2 runs, 5xx always on one run's protect": case(
        [[0, 1], [0, 1]], wanted=[{"v*": DEVELOPER, "rc-*": MAINTAINER}] * 2,
        faults=[dict(method="POST", status=500, count=50)], retries=1),
    "2 runs, one run's protect loses its answer": case(
        [[0, 1], [0, 1]], wanted=[{"v*": MAINTAINER, "rc-*": MAINTAINER}] * 2,
        faults=[dict(method="POST", lose_answer=True, count=2)]),
    "2 runs change different patterns, one run's writes lose their answer": case(
        [[0, 1], [0, 1]], wanted=[{"v*": DEVELOPER}, {"rc-*": NO_ONE}], before={"v*": MAINTAINER, "rc-*": MAINTAINER},
        faults=LOST_WRITES),
}


@pytest.mark.parametrize("repeat", range(REPEAT))
@pytest.mark.parametrize("name", case_names(PROTECTED_TAG_CASES))
def test_protected_tag_runs_at_once(gitlab_target, race_factory, name, repeat):
    scenario = PROTECTED_TAG_CASES[name]
    sets, wanted, info = scenario["sets"], scenario["wanted"], scenario.get("info")
    before, faults = scenario.get("before", {}), scenario.get("faults", [])
    projects = new_projects(gitlab_target, "conc-pt")
    race = race_factory(*projects)
    gl = gitlab_target.admin_client()
    for project in projects:
        for pattern, level in before.items():
            gl.http_post(f"/projects/{project.id}/protected_tags",
                         post_data={"name": pattern, "create_access_level": level})
    last = len(sets) - 1
    jobs = [("protected_tag", tag_args(race, [projects[i] for i in indexes], form, tags,
                                       scenario.get("retries", 3) if form == last else 3))
            for form, (indexes, tags) in enumerate(zip(sets, wanted))]
    if info:
        jobs.append(("protected_tag_info", dict(race.connection(), projects=race.refs(projects, INFO_FORM))))
    faults = [dict(fault, path=race.path_regex(last, r"protected_tags(?:/[^/]+)?")) for fault in faults]
    sampler = TagSampler(race)
    runs = race.start(jobs, faults, sampler=sampler)

    assert sampler.errors == []
    for form, run in enumerate(runs):
        check_run(race, run, INFO_FORM if run.module == "protected_tag_info" else form)
    check_info_runs(race, runs, "protected_tag_info")
    for index, project in enumerate(projects):
        assert len(sampler.samples[project.id]) >= 5
        final = protections(gitlab_target, project)
        patterns = {pattern for indexes, tags in zip(sets, wanted) if index in indexes for pattern in tags}
        for pattern in patterns:
            gaps = sampler.gaps(project, pattern, protected_before=pattern in before)
            assert gaps == [], f"{pattern} on {project.path_with_namespace} was unprotected: {gaps[:3]}"
            settings = {frozenset([tags[pattern]]) for indexes, tags in zip(sets, wanted)
                        if index in indexes and pattern in tags}
            # A run may still re-create a rule another run just put in place (its read came first); that is
            # harmless because its own temporary rule covers the tags throughout, which the gaps above prove.
            succeeded = [run for run, indexes, tags in zip(runs, sets, wanted)
                         if index in indexes and pattern in tags and not run.failed]
            if succeeded:
                assert final.get(pattern) in settings, (pattern, final)
    for run in runs:
        if run.module == "protected_tag_info":
            for item in run.result["protected_tags"]:
                assert item["create_access_levels"]
    configs = [(run.module, run.args) for run in writers(runs, "protected_tag")]
    compatible = all(tags.get(p, level) == level for tags in wanted for other in wanted for p, level in other.items())
    converge(configs, compatible, settled=compatible and not any(run.failed for run in runs))


# --- deploy_key_rotation: the hosts of one play rotating at once ------------------------------

def allowed_key_ids(target, project, pattern) -> set:
    gl = target.admin_client()
    for item in gl.http_list(f"/projects/{project.id}/protected_tags", get_all=True):
        if item["name"] == pattern:
            return {row["deploy_key_id"] for row in item["create_access_levels"] if row.get("deploy_key_id")}
    return set()


def key_ids(target, project) -> dict:
    gl = target.admin_client()
    return {"SHA256:" + item["fingerprint_sha256"]: item["id"]
            for item in gl.http_list(f"/projects/{project.id}/deploy_keys", get_all=True)}


@pytest.mark.parametrize("repeat", range(REPEAT))
def test_hosts_rotating_at_once_each_keep_their_key_on_the_protected_tag(gitlab_target, race_factory, repeat):
    """Three release hosts rotate at once (as the rotate playbook's forks do); v* allows each host's key.

    GitLab has no update for a protected tag, so each run writes the whole rule
    back: without taking turns, the last writer drops the other hosts' new
    keys, and their next release push is refused. Each run names the project
    differently (id, path, PATH): they must still take turns.
    """
    (project,) = new_projects(gitlab_target, "conc-rot", 1)
    race = race_factory(project)
    gl = gitlab_target.admin_client()
    hosts = range(3)
    old = [public_key(comment=f"runner@h{host}") for host in hosts]
    new = [public_key(comment=f"runner@h{host}-next") for host in hosts]
    old_ids = {gl.http_post(f"/projects/{project.id}/deploy_keys",
                            post_data={"title": f"runner:h{host}", "key": old[host], "can_push": True})["id"]
               for host in hosts}
    gl.http_post(f"/projects/{project.id}/protected_tags",
                 post_data={"name": "v*", "allowed_to_create": [{"deploy_key_id": ident} for ident in sorted(old_ids)]})

    for step in ("add_successor", "retire_predecessor"):
        jobs = [("deploy_key_rotation", dict(race.connection(), projects=[race.ref(project, host)], key=old[host],
                                             successor=new[host], step=step)) for host in hosts]
        sampler = TagSampler(race)
        runs = race.start(jobs, sampler=sampler)
        for host, run in enumerate(runs):
            check_run(race, run, host)
            assert not run.failed, (step, run.result["msg"])
        ids = key_ids(gitlab_target, project)
        new_ids = {ids[sha256_of(key)] for key in new}
        allowed = allowed_key_ids(gitlab_target, project, "v*")
        if step == "add_successor":
            assert allowed == old_ids | new_ids, (sorted(allowed), sorted(old_ids), sorted(new_ids))
        else:
            assert allowed == new_ids, (sorted(allowed), sorted(new_ids))
            assert set(ids.values()) == new_ids
        assert set(protections(gitlab_target, project)) == {"v*"}, "a temporary rule was left behind"
        gaps = sampler.gaps(project, "v*", protected_before=True)
        assert gaps == [], f"{step}: v* was unprotected for {gaps[-1][0] - gaps[0][0]:.3f} s"


# --- defects: interleavings forced with a delay on one run's request -------------------------
#
# Each test delays requests of one run so that the runs interleave in the
# order that shows the defect, then checks from the server's log that they
# did (on a machine so busy that a process starts late, the order can still
# differ: the test is then skipped rather than passing or failing by chance).

FORCE_MS = 1000


def position(race, form, method, suffix="") -> int:
    """Where the first request of the run in ``form`` with ``method`` and a path ending in ``suffix`` is in the log."""
    for entry in race.requests_of(form):
        if entry["method"] == method and entry["path"].endswith(suffix):
            return race.log.index(entry)
    return skip_unforced()


def skip_unforced():
    pytest.skip("the runs did not interleave as forced (machine too busy); nothing shown either way")


def last_position(race, form) -> int:
    return race.log.index(race.requests_of(form)[-1])


def require_order(*positions) -> None:
    if list(positions) != sorted(positions):
        skip_unforced()


# GitLab records no creation time for a deploy token: the module can tell that a predecessor was created
# moments ago by another run (and must not be revoked) only from the lifetime it gave it (lifetime_days).
# Without lifetime_days this stays a known limitation, documented in deploy_token's notes; the rotate
# playbook's schedulers never run two rotations at once (a lock).
WITHOUT_LIFETIME = pytest.param(None, marks=pytest.mark.xfail(
    strict=True, raises=AssertionError,
    reason="known limitation: without lifetime_days a token's age is unknown, so revoke_predecessors cannot tell "
           "another run's fresh successor from an old predecessor"), id="no-lifetime")


@pytest.mark.parametrize("lifetime", [WITHOUT_LIFETIME, pytest.param(90, id="lifetime_days")])
def test_rotation_never_revokes_the_token_a_concurrent_rotation_returned(gitlab_target, race_factory, lifetime):
    """Two scheduled rotations (rotate: true, revoke_predecessors: true) overlap; run 1 reads once run 0 is done."""
    (project,) = new_projects(gitlab_target, "conc-rot", 1)
    race = race_factory(project)
    seed_token(gitlab_target, project, "read_registry")
    pre_max = max(all_token_ids(gitlab_target))
    extra = {"lifetime_days": lifetime} if lifetime else {}
    jobs = [("deploy_token", token_args(race, [project], form, rotate=True, revoke_predecessors=True, **extra))
            for form in range(2)]
    late_read = dict(method="GET", path=race.path_regex(1, "deploy_tokens"), latency_ms=FORCE_MS, count=1)
    runs = race.start(jobs, [late_read])
    require_order(last_position(race, 0), position(race, 1, "GET"))
    for form, run in enumerate(runs):
        check_run(race, run, form)
        assert not run.failed, run.result
    check_token_runs(race, runs, pre_max)


@pytest.mark.parametrize("lifetime", [WITHOUT_LIFETIME, pytest.param(90, id="lifetime_days")])
def test_revoke_predecessors_never_revokes_what_concurrent_runs_returned(gitlab_target, race_factory, lifetime):
    """Three runs replace a token whose scopes changed; two create at once, the third reads after both."""
    (project,) = new_projects(gitlab_target, "conc-rev", 1)
    race = race_factory(project)
    seed_token(gitlab_target, project, "read_repository")
    pre_max = max(all_token_ids(gitlab_target))
    extra = {"lifetime_days": lifetime} if lifetime else {}
    jobs = [("deploy_token", token_args(race, [project], form, revoke_predecessors=True, **extra))
            for form in range(3)]
    delays = [dict(method="POST", path=race.path_regex(form, "deploy_tokens"), latency_ms=FORCE_MS, count=1)
              for form in (0, 1)]
    delays.append(dict(method="GET", path=race.path_regex(2, "deploy_tokens"), latency_ms=3 * FORCE_MS, count=1))
    runs = race.start(jobs, delays)
    reads = (position(race, 0, "GET"), position(race, 1, "GET"))
    creates = (position(race, 0, "POST"), position(race, 1, "POST"))
    require_order(max(reads), min(creates), max(creates), position(race, 2, "GET"))
    for form, run in enumerate(runs):
        check_run(race, run, form)
        assert not run.failed, run.result
    check_token_runs(race, runs, pre_max)


def test_deploy_key_reports_the_can_push_gitlab_has(gitlab_target, race_factory):
    """Run 1 wants the key read-only, run 0 with push; run 1 reads first, its add reaches GitLab after run 0's."""
    (project,) = new_projects(gitlab_target, "conc-push", 1)
    race = race_factory(project)
    key = public_key(comment="fleet@ctl")
    jobs = [("deploy_key", dict(race.connection(), projects=[race.ref(project, form)], key=key,
                                title="runner-fleet", can_push=push)) for form, push in enumerate((True, False))]
    delays = [dict(method="POST", path=race.path_regex(0, "deploy_keys"), latency_ms=FORCE_MS, count=1),
              dict(method="POST", path=race.path_regex(1, "deploy_keys"), latency_ms=2 * FORCE_MS, count=1)]
    runs = race.start(jobs, delays)
    require_order(position(race, 1, "GET"), last_position(race, 0), position(race, 1, "POST"))
    for form, run in enumerate(runs):
        check_run(race, run, form)
        assert not run.failed, run.result
    # Run 0 was done before run 1's add arrived: run 1's report is the last word.
    (reported,) = runs[1].result["deploy_key"]["projects"]
    assert key_links(gitlab_target, project)[sha256_of(key)] == reported["can_push"]


def test_two_updates_of_a_pattern_never_unprotect_it(gitlab_target, race_factory):
    """Both runs change v* from Maintainers to Developers; run 1 removes v* after run 0 is done."""
    (project,) = new_projects(gitlab_target, "conc-upd", 1)
    race = race_factory(project)
    gl = gitlab_target.admin_client()
    gl.http_post(f"/projects/{project.id}/protected_tags", post_data={"name": "v*", "create_access_level": MAINTAINER})
    jobs = [("protected_tag", tag_args(race, [project], form, {"v*": DEVELOPER})) for form in range(2)]
    delays = [dict(method="POST", path=race.path_regex(0, "protected_tags"), latency_ms=FORCE_MS, count=1),
              # Run 0 reads before run 1's temporary rule exists (the other order is the test below).
              dict(method="POST", path=race.path_regex(1, "protected_tags"), match_body={"name": "v**"},
                   latency_ms=FORCE_MS // 2, count=1),
              dict(method="DELETE", path=race.path_regex(1, "protected_tags", "v%2A"), latency_ms=3 * FORCE_MS,
                   count=1),
              dict(method="POST", path=race.path_regex(1, "protected_tags"), match_body={"name": "v*"},
                   latency_ms=300, count=1)]
    sampler = TagSampler(race)
    runs = race.start(jobs, delays, sampler=sampler)
    require_order(position(race, 1, "GET"), position(race, 0, "POST"), last_position(race, 0),
                  position(race, 1, "DELETE", "/v%2A"))
    require_order(position(race, 0, "GET"), position(race, 1, "POST"))
    for form, run in enumerate(runs):
        check_run(race, run, form)
        assert not run.failed, run.result
    assert protections(gitlab_target, project)["v*"] == frozenset([DEVELOPER])
    gaps = sampler.gaps(project, "v*", protected_before=True)
    assert gaps == [], (f"v* was unprotected for {gaps[-1][0] - gaps[0][0]:.3f} s: {len(gaps)} samples, the first "
                        f"with the rules {gaps[0][1]}; the writes in server order: {write_log(race)}")
    # Run 1 read v* before run 0 re-created it, so it re-creates it too: each run's own temporary rule
    # (run 1's is not run 0's v**) covers the tags while it does, so the sampler saw no gap.


def test_a_run_whose_protect_was_refused_reports_no_change(gitlab_target, race_factory):
    """Both runs protect the new pattern v* alike; run 1 reads first, its POST arrives after run 0's."""
    (project,) = new_projects(gitlab_target, "conc-chg", 1)
    race = race_factory(project)
    jobs = [("protected_tag", tag_args(race, [project], form, {"v*": MAINTAINER})) for form in range(2)]
    delays = [dict(method="POST", path=race.path_regex(0, "protected_tags"), latency_ms=FORCE_MS, count=1),
              dict(method="POST", path=race.path_regex(1, "protected_tags"), latency_ms=2 * FORCE_MS, count=1)]
    runs = race.start(jobs, delays)
    require_order(position(race, 1, "GET"), last_position(race, 0), position(race, 1, "POST"))
    for form, run in enumerate(runs):
        check_run(race, run, form)
        assert not run.failed, run.result
    writes = [(entry["method"], entry["status"]) for entry in race.requests_of(1) if entry["method"] in WRITES]
    assert writes == [("POST", 422)]
    assert protections(gitlab_target, project)["v*"] == frozenset([MAINTAINER])
    # GitLab refused run 1's only write: run 1 changed nothing, and says so.
    assert runs[1].result["changed"] is False, runs[1].result["msg"]


def test_a_run_whose_revoke_found_the_token_gone_reports_no_change(gitlab_target, race_factory):
    """Both runs revoke the same predecessor; run 1's DELETE arrives after run 0's."""
    (project,) = new_projects(gitlab_target, "conc-rvk", 1)
    race = race_factory(project)
    old = seed_token(gitlab_target, project, "read_repository")
    seed_token(gitlab_target, project, "read_registry")
    jobs = [("deploy_token", token_args(race, [project], form, revoke_predecessors=True)) for form in range(2)]
    delays = [dict(method="DELETE", path=race.path_regex(1, r"deploy_tokens/\d+"), latency_ms=FORCE_MS, count=1)]
    runs = race.start(jobs, delays)
    require_order(position(race, 1, "GET"), last_position(race, 0), position(race, 1, "DELETE"))
    for form, run in enumerate(runs):
        check_run(race, run, form)
        assert not run.failed, run.result
    writes = [(entry["method"], entry["status"]) for entry in race.requests_of(1) if entry["method"] in WRITES]
    assert writes == [("DELETE", 404)]
    assert old not in live_tokens(gitlab_target, project)
    # Run 0 revoked the token; run 1 found it gone and changed nothing.
    (entry,) = runs[1].result["deploy_tokens"]
    assert (runs[1].result["changed"], entry["deleted_ids"]) == (False, []), runs[1].result["msg"]


def test_a_run_never_removes_the_temporary_rule_another_run_is_using(gitlab_target, race_factory):
    """Run 1 protects its temporary rule v** first; run 0 reads after that and updates v* too.

    v** has the declared settings, as a temporary rule left by an interrupted update would; but v* is older
    than v** (lower access-level ids), so run 0 leaves v** alone: run 1's unprotect of v* is still on its way.
    """
    (project,) = new_projects(gitlab_target, "conc-car", 1)
    race = race_factory(project)
    gl = gitlab_target.admin_client()
    gl.http_post(f"/projects/{project.id}/protected_tags", post_data={"name": "v*", "create_access_level": MAINTAINER})
    jobs = [("protected_tag", tag_args(race, [project], form, {"v*": DEVELOPER})) for form in range(2)]
    delays = [dict(method="GET", path=race.path_regex(0, "protected_tags"), latency_ms=FORCE_MS, count=1),
              dict(method="DELETE", path=race.path_regex(1, "protected_tags", "v%2A"), latency_ms=3 * FORCE_MS,
                   count=1),
              dict(method="POST", path=race.path_regex(1, "protected_tags"), match_body={"name": "v*"},
                   latency_ms=300, count=1)]
    sampler = TagSampler(race)
    runs = race.start(jobs, delays, sampler=sampler)
    require_order(position(race, 1, "POST"), position(race, 0, "GET"), last_position(race, 0),
                  position(race, 1, "DELETE", "/v%2A"))
    for form, run in enumerate(runs):
        check_run(race, run, form)
        assert not run.failed, run.result
    gaps = sampler.gaps(project, "v*", protected_before=True)
    assert gaps == [], (f"v* was unprotected for {gaps[-1][0] - gaps[0][0]:.3f} s: {len(gaps)} samples, the first "
                        f"with the rules {gaps[0][1]}; the writes in server order: {write_log(race)}")
    # Run 0 never touched run 1's temporary rule; run 1 removed it itself, once v* was re-created.
    assert [write for write in write_log(race) if write[0] == 0 and write[2] == "/v%2A%2A"] == []
    assert (1, "DELETE", "/v%2A%2A", 204) in write_log(race), write_log(race)
    assert protections(gitlab_target, project) == {"v*": frozenset([DEVELOPER])}
