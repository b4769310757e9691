"""Pure pieces of the server: key sanitising, wildcard matching, param parsing."""

from __future__ import annotations

import pytest

from gitlab_server import keys, protection
from gitlab_server.app import parse_query
from gitlab_server.pagination import _to_query
from support import sshkeys


def test_sanitize_keeps_first_comment_word_and_joins_split_base64():
    bare = sshkeys.public_key(comment=None)
    kind, b64 = bare.split()
    assert keys.sanitize(f"  {bare} one two three\n") == f"{bare} one"
    assert keys.sanitize(f"{kind} {b64[:20]}\n{b64[20:]} me@host extra") == f"{bare} me@host"
    assert keys.sanitize("ssh-rsa garbage words") == "ssh-rsa garbage words"
    assert keys.sanitize("") == ""


@pytest.mark.parametrize("kind, bits, tech", [("ed25519", None, "ed25519"), ("rsa", 1024, "rsa"),
                                              ("ecdsa", 521, "ecdsa")])
def test_parse_reports_technology_and_bits(kind, bits, tech):
    pk = keys.parse(sshkeys.public_key(kind, bits))
    assert pk.technology == tech
    assert pk.bits == (bits or 256)


def test_forbidden_sentence():
    settings = dict(keys.DEFAULT_RESTRICTIONS, dsa_key_restriction=-1)
    assert keys.restriction_errors(None, settings) == [
        "type is forbidden. Must be RSA, ECDSA, ED25519, ECDSA_SK, or ED25519_SK"]


@pytest.mark.parametrize("rule, tag, expected", [
    ("v*", "v1.0.0", True), ("v*", "version-9.1", True), ("*-deploy", "march-deploy", True),
    ("*gitlab*", "gitlab", True), ("*gitlab*", "gitlab/v1", True), ("*", "anything/at/all", True),
    ("v1.0", "v1x0", False), ("release", "release-1", False), ("v?", "v1", False), ("v?", "v?", True),
])
def test_wildcard_matching(rule, tag, expected):
    assert protection.rule_matches(rule, tag) is expected


def test_rack_style_nested_params():
    parsed = parse_query("a=1&s[]=x&s[]=y&h[k]=v&l[][id]=1&l[][lvl]=2&l[][id]=3")
    assert parsed == {"a": "1", "s": ["x", "y"], "h": {"k": "v"}, "l": [{"id": "1", "lvl": "2"}, {"id": "3"}]}


def test_to_query_sorts_and_escapes():
    assert _to_query({"b": "x y", "a": ["1", "2"], "page": 2}) == "a%5B%5D=1&a%5B%5D=2&b=x+y&page=2"
