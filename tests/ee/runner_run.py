#!/usr/bin/env python
"""Runs runnercreds.gitlab.site through ansible-runner, the engine AWX and
Ansible Automation Platform run playbooks with, INSIDE the test EE
(scripts/ee.sh feeds this file to the container's python3), and judges the run
by its playbook_on_stats event as AWX does: exit status 0 only when the run
succeeded with nothing changed, failed or unreachable.

Usage: python3 - INVENTORY < runner_run.py
GitLab's URL and token come from the container's environment (ansible-runner
passes it on to ansible-playbook).
"""

from __future__ import annotations

import sys
import tempfile

import ansible_runner


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="runnercreds-ee-runner-") as private_data_dir:
        run = ansible_runner.run(
            private_data_dir=private_data_dir,
            playbook="runnercreds.gitlab.site",
            inventory=sys.argv[1],
            quiet=True,
        )
        stats = run.stats or {}
        problems = {kind: stats.get(kind) for kind in ("changed", "failures", "dark") if stats.get(kind)}
        print(f"   ansible-runner: status={run.status} rc={run.rc} ok={stats.get('ok', {})} changed={stats.get('changed', {})}"
              f" failures={stats.get('failures', {})} unreachable={stats.get('dark', {})}")
        if run.status != "successful" or problems:
            sys.stdout.write(run.stdout.read() + "\n")
            sys.stdout.flush()
            print(f"FAIL: the run through ansible-runner was {run.status} with {problems or 'no stats'}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
