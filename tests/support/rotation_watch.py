#!/usr/bin/env python
"""Watch a credential rotation from outside: GitLab's API, the runner containers' disks and the
runner loops (tests/support/runner_loop.sh), while a command (the rotate playbook) runs.

Test-only, stdlib only. The GitLab test server's URL and admin token come from an endpoint state
dir (tests/support/endpoints.py start ...: STATE_DIR/env.json); the runners are podman containers
named like their inventory hosts, whose deploy keys are titled ``runner:<host>``.

  rotation_watch.py phase NAME --endpoint DIR --out DIR --hosts H1,H2 --projects P1,P2
                    [--stop HOST] [--fault JSON]... -- COMMAND...
      Runs COMMAND (its output, each line stamped with the seconds since the start, in
      OUT/NAME.log) and polls GitLab about three times a second until it ends:
      - events: deploy keys and tokens added or removed, protected tag rules changed;
      - invariants, checked at every poll: every ``runner:<host>`` title a project had at the
        start keeps at least one enabled key there; every protected tag pattern of the start stays
        covered (the pattern, or its temporary twin ``v**``); every title a protected tag allowed at
        the start stays allowed, and each key of that title (a successor too) is allowed within
        UNALLOWED_GRACE_SECONDS of being linked; every deploy key a protected tag names is enabled
        on the project (read before and after the tags); every token name of the start keeps a live
        token;
      - ``--stop HOST``: ``podman stop HOST`` as soon as a new key titled ``runner:HOST`` appears on
        one of the projects (the rotation's successor), after saving HOST's loop counters;
      - ``--fault JSON``: fault rules added to the server before COMMAND starts and cleared when it
        ends (the server's /-/test/faults contract); the request log then tells what they hit.
      Writes OUT/NAME.json: the command's exit status, wall time and PLAY RECAP, per-host spans of
      the SSH key play and the token play, events, violations, faults hit, the loop counters of every
      runner before and after (and their deltas), the error lines the loops wrote during the phase,
      and snapshots of GitLab and of the runners' disks after. Always exits 0 once the JSON is
      written: the caller asserts.

  rotation_watch.py backdate --endpoint DIR --projects P1,P2 [--key-age-days N] [--token-days-left N]
      Makes the runners' deploy keys N days old (created_at; expires_at moved by the same amount)
      and the deploy tokens expire in N days (fractions allowed; never later than they do now),
      through the server's /-/test/objects endpoint.

  rotation_watch.py state --endpoint DIR --hosts H1,H2 --projects P1,P2
      Prints the GitLab and disk snapshots and the loop counters as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

POLL_SECONDS = 0.3
# A release runner's new key (its successor) must be allowed by the protected tags within this long
# of being linked: add_successor links it and updates the tags in one module run.
UNALLOWED_GRACE_SECONDS = 15
LOOP_DIR = "/home/gitlab-runner/rotloop"
SSH_DIR = "/home/gitlab-runner/.ssh"
KEY_NAME = "gitlab_deploy_ed25519"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
                   r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)")
RESULT_HOST = re.compile(r"^(?:ok|changed|skipping|fatal|failed|included|fatal): \[([^\]\s]+)")
INCLUDED_FOR = re.compile(r"^included: .* for (.+)$")


# --- GitLab ------------------------------------------------------------------------------------


class Api:
    def __init__(self, endpoint: str) -> None:
        with open(os.path.join(endpoint, "env.json"), encoding="utf-8") as fh:
            env = json.load(fh)
        self.url = env["GITLAB_URL"].rstrip("/")
        self.token = env["GITLAB_TOKEN"]

    def request(self, method: str, path: str, body=None, tries: int = 5):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(tries):
            req = urllib.request.Request(self.url + path, data=data, method=method)
            req.add_header("PRIVATE-TOKEN", self.token)
            if data is not None:
                req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    text = resp.read()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429 or attempt == tries - 1:
                    raise
            except OSError:
                if attempt == tries - 1:
                    raise
            time.sleep(0.2 * (attempt + 1))
        return None

    def get(self, path: str):
        sep = "&" if "?" in path else "?"
        return self.request("GET", f"{path}{sep}per_page=100")

    def project_id(self, path: str) -> int:
        return self.get("/api/v4/projects/" + urllib.parse.quote(path, safe=""))["id"]


def live_token(token: dict) -> bool:
    if token.get("revoked"):
        return False
    expires = token.get("expires_at")
    if not expires:
        return True
    when = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when > datetime.datetime.now(datetime.timezone.utc)


def key_view(key: dict) -> dict:
    return {"id": key["id"], "title": key["title"], "fingerprint": key.get("fingerprint_sha256", ""),
            "can_push": key.get("can_push"), "created_at": key.get("created_at"), "expires_at": key.get("expires_at")}


def tag_view(rule: dict) -> dict:
    return {"name": rule["name"],
            "deploy_key_ids": sorted(level["deploy_key_id"] for level in rule.get("create_access_levels") or []
                                     if level.get("deploy_key_id")),
            "create_access_levels": rule.get("create_access_levels") or []}


def token_view(token: dict) -> dict:
    return {"id": token["id"], "name": token["name"], "username": token["username"],
            "expires_at": token.get("expires_at"), "live": live_token(token)}


def poll(api: Api, projects: dict) -> dict:
    """One reading of every project: keys (before and after the tags), protected tags, tokens."""
    out = {}
    for path, pid in projects.items():
        base = f"/api/v4/projects/{pid}"
        keys_before = api.get(f"{base}/deploy_keys")
        tags = api.get(f"{base}/protected_tags")
        tokens = api.get(f"{base}/deploy_tokens")
        keys_after = api.get(f"{base}/deploy_keys") if tags else keys_before
        out[path] = {"deploy_keys": [key_view(k) for k in keys_after],
                     "key_ids_around_tags": sorted({k["id"] for k in keys_before} | {k["id"] for k in keys_after}),
                     "protected_tags": [tag_view(t) for t in tags],
                     "deploy_tokens": [token_view(t) for t in tokens]}
    return out


class Watcher:
    """Polls GitLab; records events and invariant violations; optionally stops a runner."""

    def __init__(self, api: Api, projects: dict, t0: float, stop_host: str = "", on_stop=None) -> None:
        self.api = api
        self.projects = projects
        self.t0 = t0
        self.stop_host = stop_host
        self.on_stop = on_stop
        self.events: list = []
        self.violations: list = []
        self.polls = 0
        self.poll_errors: list = []
        self.first = poll(api, projects)
        self.last = self.first
        self.stopped_at = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        start = self.first
        # What must hold at every moment, taken from the state at the start.
        self.titles = {p: sorted({k["title"] for k in s["deploy_keys"] if k["title"].startswith("runner:")})
                       for p, s in start.items()}
        self.patterns = {p: sorted({t["name"] for t in s["protected_tags"] if not t["name"].endswith("**")})
                         for p, s in start.items()}
        self.allowed_titles = {}
        for p, s in start.items():
            by_id = {k["id"]: k["title"] for k in s["deploy_keys"]}
            self.allowed_titles[p] = {t["name"]: sorted({by_id.get(i, f"#{i}") for i in t["deploy_key_ids"]})
                                      for t in s["protected_tags"] if t["name"] in self.patterns[p]}
        self.token_names = {p: sorted({t["name"] for t in s["deploy_tokens"] if t["live"]}) for p, s in start.items()}
        self._unallowed_since: dict = {}
        self._reported: set = set()
        self.start_key_ids = {k["id"] for s in start.values() for k in s["deploy_keys"]}

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._stop.set()
        self._thread.join()
        self._step()   # one last reading after the command ended

    def _run(self) -> None:
        while not self._stop.is_set():
            self._step()
            self._stop.wait(POLL_SECONDS)

    def _step(self) -> None:
        try:
            state = poll(self.api, self.projects)
        except Exception as exc:  # noqa: BLE001 - recorded, the next poll tries again
            self.poll_errors.append(f"{self.now()}s: {exc!r}")
            return
        self.polls += 1
        now = self.now()
        self._diff(self.last, state, now)
        self._check(state, now)
        self._maybe_stop(state, now)
        self.last = state

    def _diff(self, before: dict, after: dict, now: float) -> None:
        for path in after:
            old = {k["id"]: k for k in before[path]["deploy_keys"]}
            new = {k["id"]: k for k in after[path]["deploy_keys"]}
            for ident in new.keys() - old.keys():
                self.events.append({"t": now, "event": "key added", "project": path, **new[ident]})
            for ident in old.keys() - new.keys():
                self.events.append({"t": now, "event": "key removed", "project": path, **old[ident]})
            old_t = {t["id"]: t for t in before[path]["deploy_tokens"] if t["live"]}
            new_t = {t["id"]: t for t in after[path]["deploy_tokens"] if t["live"]}
            for ident in new_t.keys() - old_t.keys():
                self.events.append({"t": now, "event": "token added", "project": path, **new_t[ident]})
            for ident in old_t.keys() - new_t.keys():
                self.events.append({"t": now, "event": "token removed", "project": path, **old_t[ident]})
            old_r = {t["name"]: t["deploy_key_ids"] for t in before[path]["protected_tags"]}
            new_r = {t["name"]: t["deploy_key_ids"] for t in after[path]["protected_tags"]}
            for name in sorted(old_r.keys() | new_r.keys()):
                if old_r.get(name) != new_r.get(name):
                    self.events.append({"t": now, "event": "protected tag", "project": path, "name": name,
                                        "deploy_key_ids": new_r.get(name), "was": old_r.get(name)})

    def _violation(self, now: float, text: str) -> None:
        self.violations.append({"t": now, "violation": text})

    def _check(self, state: dict, now: float) -> None:
        for path, s in state.items():
            titles = [k["title"] for k in s["deploy_keys"]]
            for title in self.titles[path]:
                if title not in titles:
                    self._violation(now, f"{path}: no deploy key titled {title}")
            rules = {t["name"]: t for t in s["protected_tags"]}
            by_id = {k["id"]: k["title"] for k in s["deploy_keys"]}
            for pattern in self.patterns[path]:
                covering = [rules[name] for name in (pattern, pattern + "*") if name in rules]
                if not covering:
                    self._violation(now, f"{path}: protected tag {pattern} not covered (neither {pattern} nor "
                                         f"{pattern}* protected)")
                    continue
                allowed = {by_id.get(i, f"#{i}") for rule in covering for i in rule["deploy_key_ids"]}
                allowed_ids = {i for rule in covering for i in rule["deploy_key_ids"]}
                for title in self.allowed_titles[path].get(pattern, []):
                    if title not in allowed:
                        self._violation(now, f"{path}: {title} not allowed to create {pattern} tags "
                                             f"(rules {[(r['name'], r['deploy_key_ids']) for r in covering]})")
                    # Each key of that title (the successor too, once linked) must become allowed.
                    for key in s["deploy_keys"]:
                        if key["title"] != title:
                            continue
                        mark = (path, pattern, key["id"])
                        if key["id"] in allowed_ids:
                            self._unallowed_since.pop(mark, None)
                            continue
                        since = self._unallowed_since.setdefault(mark, now)
                        if now - since > UNALLOWED_GRACE_SECONDS and mark not in self._reported:
                            self._reported.add(mark)
                            self._violation(now, f"{path}: key #{key['id']} ({title}) enabled since {since} s is not "
                                                 f"allowed to create {pattern} tags (rules "
                                                 f"{[(r['name'], r['deploy_key_ids']) for r in covering]})")
            enabled = set(s["key_ids_around_tags"])
            for rule in s["protected_tags"]:
                for ident in rule["deploy_key_ids"]:
                    if ident not in enabled:
                        self._violation(now, f"{path}: protected tag {rule['name']} names deploy key {ident}, "
                                             "which is not enabled on the project")
            live = {t["name"] for t in s["deploy_tokens"] if t["live"]}
            for name in self.token_names[path]:
                if name not in live:
                    self._violation(now, f"{path}: no live deploy token named {name}")

    def _maybe_stop(self, state: dict, now: float) -> None:
        if not self.stop_host or self.stopped_at is not None:
            return
        title = f"runner:{self.stop_host}"
        for path, s in state.items():
            for key in s["deploy_keys"]:
                if key["title"] == title and key["id"] not in self.start_key_ids:
                    self.stopped_at = now
                    event = f"successor of {title} seen on {path} (key {key['id']}): stopping {self.stop_host}"
                    self.events.append({"t": now, "event": event})
                    threading.Thread(target=self.on_stop, daemon=True).start()
                    return


# --- runners -------------------------------------------------------------------------------------


def podman(*args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=check, timeout=timeout)


def running(container: str) -> bool:
    res = podman("container", "inspect", "--format", "{{.State.Running}}", container)
    return res.returncode == 0 and res.stdout.strip() == "true"


def read_loop_dir(container: str) -> dict:
    """The container's loops: ``stats`` and ``errors`` (error lines) by label, and the labels whose
    process is ``alive`` (none when the container is stopped). Works on a stopped container too."""
    files, alive = {}, []
    if running(container):
        res = podman("exec", container, "sh", "-c",
                     f"cd {LOOP_DIR} 2>/dev/null || exit 0; for f in *.stats *.err; do [ -f \"$f\" ] && "
                     "{ echo \"=== $f\"; cat \"$f\"; }; done; for f in *.pid; do [ -f \"$f\" ] && "
                     "kill -0 \"$(cat \"$f\")\" 2>/dev/null && echo \"=== alive ${f%.pid}\"; done; true")
        current = None
        for line in res.stdout.splitlines():
            if line.startswith("=== alive "):
                alive.append(line[len("=== alive "):])
                current = None
            elif line.startswith("=== "):
                current = line[4:]
                files[current] = []
            elif current is not None:
                files[current].append(line)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            if podman("cp", f"{container}:{LOOP_DIR}", tmp).returncode == 0:
                base = os.path.join(tmp, os.path.basename(LOOP_DIR))
                for name in sorted(os.listdir(base)):
                    if name.endswith((".stats", ".err")):
                        with open(os.path.join(base, name), encoding="utf-8", errors="replace") as fh:
                            files[name] = fh.read().splitlines()
    stats, errors = {}, {}
    for name, lines in files.items():
        label, kind = name.rsplit(".", 1)
        if kind == "stats" and lines:
            try:
                stats[label] = json.loads(lines[-1])
            except ValueError:
                pass
        elif kind == "err":
            errors[label] = lines
    return {"running": running(container), "stats": stats, "errors": errors, "alive": sorted(alive)}


def read_loops(hosts: list) -> dict:
    return {host: read_loop_dir(host) for host in hosts}


def loop_delta(before: dict, after: dict) -> dict:
    """Per host and loop label: the counters gained in the phase, and the error lines written in it."""
    out = {}
    for host, now in after.items():
        was = before.get(host, {"stats": {}, "errors": {}})
        per = {}
        for label, stats in now["stats"].items():
            old = was["stats"].get(label, {})
            delta = {k: v - old.get(k, 0) for k, v in stats.items()
                     if isinstance(v, int) and k not in ("started", "updated", "done", "max_ms")}
            delta["max_ms"] = stats.get("max_ms", 0)
            delta["done"] = stats.get("done", 0)
            # Alive when the phase started and when it ended: it ran through the whole phase.
            delta["alive_before"] = label in was.get("alive", [])
            delta["alive_after"] = label in now["alive"]
            delta["errors"] = now["errors"].get(label, [])[len(was["errors"].get(label, [])):]
            per[label] = delta
        out[host] = per
    return out


def read_disk(container: str) -> dict:
    """What a runner holds: its key slots (fingerprints), the rotation marker, the token usernames."""
    script = f"""
cd {SSH_DIR} 2>/dev/null || exit 0
for f in {KEY_NAME} {KEY_NAME}.b; do
  if [ -f "$f" ]; then echo "key $f $(ssh-keygen -lf "$f.pub" 2>/dev/null | cut -d' ' -f2) $(stat -c %a "$f")"; fi
done
[ -f {KEY_NAME}.rotating ] && echo "marker $(cat {KEY_NAME}.rotating)"
python3 - <<'EOF'
import base64, json
try:
    auths = json.load(open('/home/gitlab-runner/.config/containers/auth.json'))['auths']
except (OSError, ValueError, KeyError):
    auths = {{}}
for reg, entry in sorted(auths.items()):
    print('auth', reg, base64.b64decode(entry.get('auth', '')).decode().split(":", 1)[0])
EOF
for f in /home/gitlab-runner/.config/git/runnercreds/*; do
  [ -f "$f" ] && echo "git $(basename "$f") $(sed -n 's/^username=//p' "$f")"
done
true
"""
    out = {"running": running(container), "key_slots": {}, "marker": None, "auth": {}, "git": {}}
    if not out["running"]:
        return out
    res = podman("exec", container, "bash", "-c", script)
    for line in res.stdout.splitlines():
        parts = line.split()
        if parts[0] == "key" and len(parts) >= 3:
            out["key_slots"][parts[1]] = {"fingerprint": parts[2].replace("SHA256:", ""),
                                          "mode": parts[3] if len(parts) > 3 else ""}
        elif parts[0] == "marker":
            out["marker"] = parts[1] if len(parts) > 1 else ""
        elif parts[0] == "auth" and len(parts) == 3:
            out["auth"][parts[1]] = parts[2]
        elif parts[0] == "git" and len(parts) == 3:
            out["git"][parts[1]] = parts[2]
    return out


# --- the command -------------------------------------------------------------------------------


def run_command(command: list, log_path: str, t0: float) -> tuple:
    lines = []
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            t = round(time.monotonic() - t0, 2)
            lines.append((t, line.rstrip("\n")))
            log.write(f"[{t:7.2f}s] {line}")
            log.flush()
        rc = proc.wait()
    return rc, lines


def parse_output(lines: list) -> dict:
    """PLAY RECAP, and per host the first and last result line of the key play and of the token play."""
    recap, spans = {}, {}
    play = ""
    in_recap = False
    for t, line in lines:
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if line.startswith("PLAY ["):
            play = ("ssh_keys" if "SSH deploy keys" in line else "deploy_tokens" if "deploy tokens" in line
                    else "other")
            continue
        if in_recap:
            match = RECAP.match(line)
            if match:
                recap[match.group(1)] = dict(zip(
                    ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"),
                    map(int, match.groups()[1:])))
            continue
        hosts = []
        match = RESULT_HOST.match(line)
        if match:
            hosts = [match.group(1)]
        else:
            match = INCLUDED_FOR.match(line)
            if match:
                hosts = [h.strip() for h in match.group(1).split(",")]
        for host in hosts:
            span = spans.setdefault(play, {}).setdefault(host, [t, t])
            span[1] = t
    return {"recap": recap, "spans": spans}


def add_faults(api: Api, rules: list) -> list:
    ids = []
    for rule in rules:
        ids.append(api.request("POST", "/-/test/faults", rule)["id"])
    return ids


def writes_seen(api: Api) -> dict:
    """From the server's request log (cleared when the phase started): the API writes of the phase
    (GitLab Shell's /internal calls left out) by route and answer, and how many answers were 5xx / 429."""
    log = api.request("GET", "/-/test/requests")["log"]
    by = {}
    answers = {"total": 0, "5xx": 0, "429": 0}
    for entry in log:
        if entry["method"] not in ("POST", "PUT", "DELETE") or "/internal/" in entry["path"]:
            continue
        path = re.sub(r"/projects/[^/]+", "/projects/:project", entry["path"])
        path = re.sub(r"/protected_tags/[^/]+", "/protected_tags/:name", path)
        path = re.sub(r"/\d+(?=/|$)", "/:id", path)
        route = f"{entry['method']} {path}"
        statuses = by.setdefault(route, {})
        statuses[str(entry["status"])] = statuses.get(str(entry["status"]), 0) + 1
        answers["total"] += 1
        if entry["status"] == 429:
            answers["429"] += 1
        elif entry["status"] >= 500 or entry["status"] == 0:
            answers["5xx"] += 1
    return {"answers": answers, "by_route": by}


def cmd_phase(args) -> int:
    api = Api(args.endpoint)
    hosts = args.hosts.split(",")
    projects = {path: api.project_id(path) for path in args.projects.split(",")}
    os.makedirs(args.out, exist_ok=True)
    loops_before = read_loops(hosts)
    at_stop = {}

    def stop_runner():
        at_stop["loops"] = read_loop_dir(args.stop)
        at_stop["t_stop_begin"] = round(time.monotonic() - t0, 2)
        res = podman("stop", args.stop)
        at_stop["t_stopped"] = round(time.monotonic() - t0, 2)
        at_stop["rc"] = res.returncode
        at_stop["stderr"] = res.stderr.strip()

    t0 = time.monotonic()
    watcher = Watcher(api, projects, t0, args.stop or "", stop_runner)
    api.request("DELETE", "/-/test/requests")
    fault_ids = add_faults(api, [json.loads(rule) for rule in args.fault])
    watcher.start()
    started = time.time()
    rc, lines = run_command(args.command, os.path.join(args.out, f"{args.name}.log"), t0)
    wall = round(time.monotonic() - t0, 2)
    if args.fault:
        api.request("DELETE", "/-/test/faults")
    watcher.finish()
    writes = writes_seen(api)
    faults = {"rules": [json.loads(rule) for rule in args.fault], "ids": fault_ids} if args.fault else None
    loops_after = read_loops(hosts)
    result = {
        "name": args.name,
        "command": args.command,
        "rc": rc,
        "started": started,
        "wall_seconds": wall,
        **parse_output(lines),
        "events": watcher.events,
        "violations": watcher.violations,
        "polls": watcher.polls,
        "poll_errors": watcher.poll_errors,
        "stop": {"host": args.stop, "successor_seen_at": watcher.stopped_at,
                 **{k: v for k, v in at_stop.items() if k != "loops"}} if args.stop else None,
        "faults": faults,
        "writes": writes,
        "loops_before": {h: v["stats"] for h, v in loops_before.items()},
        "loops_after": {h: v["stats"] for h, v in loops_after.items()},
        "loops": loop_delta(loops_before, loops_after),
        "gitlab": watcher.last,
        "disk": {host: read_disk(host) for host in hosts},
    }
    with open(os.path.join(args.out, f"{args.name}.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    print(f"{args.name}: rc={rc} in {wall}s, {watcher.polls} polls, {len(watcher.events)} events, "
          f"{len(watcher.violations)} violations")
    return 0


def cmd_backdate(args) -> int:
    """Keys made older by --key-age-days (created_at, and expires_at by as much); tokens made to expire in
    --token-days-left days, never later than they do now (so a token's age only grows)."""
    api = Api(args.endpoint)
    now = datetime.datetime.now(datetime.timezone.utc)
    done = {"keys": [], "tokens": []}
    seen = set()
    for path in args.projects.split(","):
        pid = api.project_id(path)
        for key in api.get(f"/api/v4/projects/{pid}/deploy_keys") if args.key_age_days is not None else []:
            if not key["title"].startswith("runner:") or key["id"] in seen:
                continue
            seen.add(key["id"])
            created = now - datetime.timedelta(days=args.key_age_days)
            body = {"created_at": created.isoformat()}
            if key.get("expires_at"):
                expires = datetime.datetime.fromisoformat(key["expires_at"].replace("Z", "+00:00"))
                body["expires_at"] = (expires - datetime.timedelta(days=args.key_age_days)).isoformat()
            done["keys"].append(api.request("PUT", f"/-/test/objects/deploy_keys/{key['id']}", body))
        for token in api.get(f"/api/v4/projects/{pid}/deploy_tokens") if args.token_days_left is not None else []:
            expires = now + datetime.timedelta(days=args.token_days_left)
            if token.get("expires_at"):
                current = datetime.datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
                if current.tzinfo is None:
                    current = current.replace(tzinfo=datetime.timezone.utc)
                if current <= expires:
                    continue
            done["tokens"].append(api.request("PUT", f"/-/test/objects/deploy_tokens/{token['id']}",
                                              {"expires_at": expires.isoformat()}))
    print(json.dumps(done))
    return 0


def cmd_state(args) -> int:
    api = Api(args.endpoint)
    hosts = args.hosts.split(",")
    projects = {path: api.project_id(path) for path in args.projects.split(",")}
    loops = read_loops(hosts)
    print(json.dumps({"gitlab": poll(api, projects), "disk": {h: read_disk(h) for h in hosts},
                      "loops": {h: v["stats"] for h, v in loops.items()},
                      "loop_errors": {h: v["errors"] for h, v in loops.items()}}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="rotation_watch.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    phase = sub.add_parser("phase")
    phase.add_argument("name")
    for p in (phase, sub.add_parser("backdate"), sub.add_parser("state")):
        p.add_argument("--endpoint", required=True)
        p.add_argument("--projects", required=True)
    phase.add_argument("--out", required=True)
    phase.add_argument("--hosts", required=True)
    phase.add_argument("--stop", default="")
    phase.add_argument("--fault", action="append", default=[])
    backdate = sub.choices["backdate"]
    backdate.add_argument("--key-age-days", type=float)
    backdate.add_argument("--token-days-left", type=float)
    sub.choices["state"].add_argument("--hosts", required=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = []
    if "--" in argv:
        command = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    args = parser.parse_args(argv)
    if args.cmd == "phase":
        if not command:
            parser.error("phase needs a command after --")
        args.command = command
        return cmd_phase(args)
    if args.cmd == "backdate":
        return cmd_backdate(args)
    return cmd_state(args)


if __name__ == "__main__":
    sys.exit(main())
