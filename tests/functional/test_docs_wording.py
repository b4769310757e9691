# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What users read: the tarball's texts, the docsite's guides, the two READMEs.

The project grew from a handful of problem descriptions it called seeds; "seed 003's steps" means
nothing to a user, so no text that ships may say it. The tarball is built the way it is released
(scripts/build-collection.sh), so the test sees exactly what Galaxy and users get.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCSITE = os.path.join(REPO, "docs", "docsite")
# The word on its own, any case: "seed 000", "Seeds", "seed's". Not "seedling" or "--seed-file".
SEED_WORDING = re.compile(r"(?<![\w-])seeds?(?![\w-])", re.IGNORECASE)
MAKE_TARGET = re.compile(r"\bmake\s+(demo|test|unit|units|integration|sanity|lint|molecule|bench|bench-quick|"
                         r"docs|venv|image|deps|clean)\b")
# The scenarios issue 16 asks the docsite to cover, by guide name in extra-docs.yml.
REQUIRED_GUIDES = {"guide_installation", "guide_release_tags_ssh", "guide_registry_login", "guide_ssh_command",
                   "guide_protected_tags", "guide_rotation", "guide_audit", "guide_awx"}


def _ansible_galaxy():
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    return beside if os.path.exists(beside) else shutil.which("ansible-galaxy")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """{path in the tarball: text} for every text file of the collection tarball as released."""
    out = tmp_path_factory.mktemp("tarball")
    result = subprocess.run([os.path.join(REPO, "scripts", "build-collection.sh"), str(out), _ansible_galaxy()],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    texts = {}
    with tarfile.open(result.stdout.strip()) as tarball:
        for member in tarball.getmembers():
            if not member.isfile():
                continue
            data = tarball.extractfile(member).read()
            try:
                texts[member.name] = data.decode("utf-8")
            except UnicodeDecodeError:
                continue  # images
    return texts


def _seed_lines(text):
    return [line.strip() for line in text.splitlines() if SEED_WORDING.search(line)]


def test_the_wording_check_catches_what_it_is_for():
    assert _seed_lines("compared with seed 003's steps\nok") == ["compared with seed 003's steps"]
    assert _seed_lines("Seeds 000 and 001") and _seed_lines("(seed)")
    assert not _seed_lines("--seed-file fixtures.yml, seedling, reseeded")


def test_the_tarball_holds_what_users_read(shipped):
    names = set(shipped)
    assert "README.md" in names and "COPYING" in names
    for role in ("rotation_timer", "runner_deploy_token", "runner_ssh_key"):
        assert f"roles/{role}/README.md" in names
        assert f"roles/{role}/meta/argument_specs.yml" in names
    assert {f"docs/docsite/rst/{guide}.rst" for guide in REQUIRED_GUIDES} <= names
    assert "plugins/modules/deploy_key.py" in names
    assert not any(name.startswith(("tests/", "scripts/", "molecule/", "benchmarks/")) for name in names)


def test_no_shipped_text_talks_of_seeds(shipped):
    found = {name: lines for name, text in shipped.items() if (lines := _seed_lines(text))}
    assert not found, f"user-facing text says 'seed': {found}"


def test_the_shipped_readme_is_the_users_readme(shipped):
    with open(os.path.join(DOCSITE, "README.md"), encoding="utf-8") as handle:
        assert shipped["README.md"] == handle.read()
    readme = shipped["README.md"]
    assert not MAKE_TARGET.search(readme), "the tarball has no Makefile: its README must not send users to make"
    # Installation from Galaxy, from a tarball, offline with the dependencies, and the Python packages.
    for words in ("ansible-galaxy collection install runnercreds.gitlab",
                  "ansible-galaxy collection install runnercreds-gitlab-",
                  "ansible-galaxy collection download runnercreds.gitlab",
                  "--offline", "community.crypto", "community.general",
                  "pip download", "python-gitlab"):
        assert words in readme, words
    for guide in REQUIRED_GUIDES - {"guide_installation"}:
        assert f"docs/docsite/rst/{guide}.rst" in readme, guide


def test_every_guide_of_extra_docs_exists_with_its_label():
    with open(os.path.join(DOCSITE, "extra-docs.yml"), encoding="utf-8") as handle:
        extra = yaml.safe_load(handle)
    listed = [entry for section in extra["sections"] for entry in section["toctree"]]
    assert len(listed) == len(set(listed)), "a guide is listed twice"
    assert REQUIRED_GUIDES <= set(listed)
    for guide in listed:
        path = os.path.join(DOCSITE, "rst", f"{guide}.rst")
        assert os.path.isfile(path), f"extra-docs.yml lists {guide}, but {path} does not exist"
        with open(path, encoding="utf-8") as handle:
            assert f".. _ansible_collections.runnercreds.gitlab.docsite.{guide}:" in handle.read(), guide
    on_disk = {name[:-4] for name in os.listdir(os.path.join(DOCSITE, "rst")) if name.endswith(".rst")}
    assert on_disk == set(listed), f"guides not in extra-docs.yml: {sorted(on_disk - set(listed))}"


def test_galaxy_documentation_is_the_docsite():
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert galaxy["documentation"] == galaxy["repository"] + "/tree/main/docs/docsite"
    assert os.path.isfile(os.path.join(DOCSITE, "links.yml"))


def test_the_repository_readme_keeps_the_developer_commands_and_links_the_docsite():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    assert "make demo" in readme and "make test" in readme
    assert "docs/docsite/" in readme
    assert not re.search(r"\bseeds? \d{3}", readme, re.IGNORECASE)


def test_every_guide_the_shipped_texts_name_ships(shipped):
    named = {(name, guide) for name, text in shipped.items()
             for guide in re.findall(r"docs/docsite/rst/[\w-]+\.rst", text)}
    assert {pair[0] for pair in named} >= {"README.md", "roles/runner_ssh_key/README.md"}
    missing = sorted((name, guide) for name, guide in named if guide not in shipped)
    assert not missing, f"texts name guides that do not ship: {missing}"
