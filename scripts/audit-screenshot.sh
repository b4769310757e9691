#!/usr/bin/env bash
# Makes docs/images/audit-report.png: the audit's HTML report of a demo fleet, as a browser shows it.
#
#   scripts/audit-screenshot.sh [OUTPUT.png]
#
# 1. Starts the GitLab test server (tests/support/endpoints.py, seed tests/fixtures/seed.yml) and gives it a
#    demo fleet through GitLab's API: per-host runner keys of different ages and expiries, a project and a
#    group deploy token, v* protected for the release runner, and the usual problems (a decommissioned
#    host's key, a forgotten write token, an over-scoped token, a key past its rotation policy, a branch
#    named like a release tag).
# 2. Runs `ansible-playbook runnercreds.gitlab.audit` on the fleet's inventory.
# 3. Screenshots the HTML with headless Chromium (scripts/lib/screenshot.sh).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
out="${1:-$repo/docs/images/audit-report.png}"
export PATH="$repo/.venv/bin:$PATH"


work="$(mktemp -d /tmp/runnercreds-audit-shot.XXXXXX)"
state="$work/endpoint"
cleanup() {
  python3 tests/support/endpoints.py stop "$state" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 tests/support/endpoints.py start "$state" --seed tests/fixtures/seed.yml >/dev/null
# shellcheck disable=SC1091
. "$state/env"
export GITLAB_URL GITLAB_TOKEN

# The demo fleet, through GitLab's public API (python-gitlab) and the test server's clock control for ages.
python3 - "$work/inventory.yml" <<'EOF'
import datetime, sys
import gitlab, requests, yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
import os

url, token = os.environ["GITLAB_URL"], os.environ["GITLAB_TOKEN"]
gl = gitlab.Gitlab(url, private_token=token)
now = datetime.datetime.now(datetime.timezone.utc)

def day(offset):
    return (now + datetime.timedelta(days=offset, hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")

def new_key():
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()

def key(project, title, push=False, age=0, expires=None):
    data = {"title": title, "key": new_key(), "can_push": push}
    if expires is not None:
        data["expires_at"] = day(expires)
    created = gl.projects.get(project).keys.create(data)
    if age:
        requests.put(f"{url}/-/test/objects/deploy_keys/{created.id}", timeout=10,
                     json={"created_at": (now - datetime.timedelta(days=age)).strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    return created

api, web, infra = "fleet/apps/api", "fleet/apps/web", "fleet/infra"
for host, age in (("build-01", 12), ("build-02", 47), ("build-03", 131)):
    key(api, f"runner:{host}", age=age, expires=365 - age)
    key(web, f"runner:{host}", age=age, expires=365 - age)
release = key(api, "runner:release-01", push=True, age=20, expires=70)
key(web, "runner:build-old", push=True, age=400)                        # a decommissioned host's key
gl.projects.get(api).deploytokens.create({"name": "registry-pull", "scopes": ["read_registry"], "expires_at": day(62)})
gl.groups.get("fleet").deploytokens.create({"name": "deploy-pull", "scopes": ["read_registry", "read_repository"],
                                            "expires_at": day(12)})
gl.projects.get(infra).deploytokens.create({"name": "infra-pull", "scopes": ["read_registry"], "expires_at": day(200)})
gl.projects.get(infra).deploytokens.create({"name": "ci-legacy", "scopes": ["write_registry"]})    # held by no one
gl.projects.get(api).protectedtags.create({"name": "v*", "create_access_level": 0,
                                           "allowed_to_create": [{"deploy_key_id": release.id}]})
gl.projects.get(api).branches.create({"branch": "v2-maintenance", "ref": "main"})

build = {"runner_ssh_key_projects": [{"project": api}, {"project": web}], "runner_ssh_key_rotate_after_days": 90}
inventory = {"all": {
    "vars": {"runnercreds_protected_tags": [{"projects": [api], "name": "v*",
                                             "allowed_to_create": [{"deploy_key": "runner:release-01"}]}]},
    "children": {"runners": {"hosts": {
        "build-01": build, "build-02": build, "build-03": build,
        "release-01": {"runner_ssh_key_projects": [{"project": api, "can_push": True}],
                       "runner_ssh_key_rotate_before_expiry_days": 14,
                       "runner_deploy_token_tokens": [{"name": "registry-pull", "project": api,
                                                       "scopes": ["read_registry"], "lifetime_days": 90,
                                                       "rotate_after_days": 60}]},
        "deploy-01": {"runner_deploy_token_tokens": [{"name": "deploy-pull", "group": "fleet",
                                                      "scopes": ["read_registry"], "lifetime_days": 90,
                                                      "rotate_before_expiry_days": 14},
                                                     {"name": "infra-pull", "project": infra,
                                                      "scopes": ["read_registry"]}]},
    }}}}}
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    yaml.safe_dump(inventory, handle)
EOF

ANSIBLE_COLLECTIONS_PATH="$(scripts/collection-path.sh)" ANSIBLE_LOCALHOST_WARNING=false \
  ansible-playbook -i "$work/inventory.yml" runnercreds.gitlab.audit -e "runnercreds_audit_report_dir=$work/report"

# shellcheck source=scripts/lib/screenshot.sh
. "$repo/scripts/lib/screenshot.sh"
screenshot_html "$work/report/audit-report.html" "$out" 1200x700
