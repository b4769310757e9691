"""Offset pagination (lib/gitlab/pagination/offset_header_builder.rb,
doc/api/rest/_index.md "Pagination") over >100 items."""

from __future__ import annotations

import re

import pytest
import requests

from support import sshkeys


@pytest.fixture(scope="module")
def many_keys(gitlab_target):
    """A project with 105 deploy keys (some servers cap per_page at 100)."""
    project = gitlab_target.make_project("pages")
    url = f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_keys"
    session = requests.Session()
    session.headers["PRIVATE-TOKEN"] = gitlab_target.admin_token
    for i in range(105):
        resp = session.post(url, json={"title": f"k{i:03d}", "key": sshkeys.public_key(comment=None)}, timeout=10)
        assert resp.status_code == 201
    return project


def test_python_gitlab_get_all_and_iterator(gitlab_target, many_keys):
    project = gitlab_target.admin_client().projects.get(many_keys.id, lazy=True)
    all_keys = project.keys.list(get_all=True)
    assert len(all_keys) == 105 and len({k.id for k in all_keys}) == 105
    assert [k.title for k in all_keys] == [f"k{i:03d}" for i in range(105)]    # default order: id
    iterated = list(project.keys.list(iterator=True, per_page=20))
    assert [k.id for k in iterated] == [k.id for k in all_keys]
    lazy = project.keys.list(iterator=True, per_page=50)
    assert (lazy.total, lazy.total_pages, lazy.per_page) == (105, 3, 50)


def _get(target, project, **params):
    return requests.get(f"{target.url}/api/v4/projects/{project.id}/deploy_keys", params=params,
                        headers={"PRIVATE-TOKEN": target.admin_token}, timeout=10)


def test_headers_first_middle_last_and_beyond(gitlab_target, many_keys):
    resp = _get(gitlab_target, many_keys)
    h = resp.headers
    assert len(resp.json()) == 20
    assert (h["X-Page"], h["X-Per-Page"], h["X-Total"], h["X-Total-Pages"]) == ("1", "20", "105", "6")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("2", "")
    resp = _get(gitlab_target, many_keys, per_page=1000, page=2)
    h = resp.headers
    assert (h["X-Per-Page"], h["X-Total-Pages"], h["X-Next-Page"], h["X-Prev-Page"]) == ("100", "2", "", "1")
    assert len(resp.json()) == 5
    resp = _get(gitlab_target, many_keys, page=99)
    assert resp.status_code == 200 and resp.json() == []
    assert (resp.headers["X-Next-Page"], resp.headers["X-Prev-Page"]) == ("", "")


def test_link_header_is_absolute_on_the_client_host(gitlab_target, many_keys):
    resp = _get(gitlab_target, many_keys, per_page=50, page=2)
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', resp.headers["Link"]))
    assert set(links) == {"prev", "next", "first", "last"}
    base = f"{gitlab_target.url}/api/v4/projects/{many_keys.id}/deploy_keys"
    assert links["next"] == f"{base}?page=3&per_page=50"
    assert links["prev"] == f"{base}?page=1&per_page=50"
    assert links["first"] == f"{base}?page=1&per_page=50"
    assert links["last"] == f"{base}?page=3&per_page=50"
    if gitlab_target.is_test_server:
        port = gitlab_target.url.rsplit(":", 1)[1]
        other = requests.get(f"http://localhost:{port}/api/v4/projects/{many_keys.id}/deploy_keys",
                             headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
        assert f"<http://localhost:{port}/api/v4/" in other.headers["Link"]


def test_query_keys_sorted_in_links(gitlab_target, many_keys):
    resp = _get(gitlab_target, many_keys, zeta="1", alpha="x y", per_page=10)
    first = re.search(r'<([^>]+)>; rel="first"', resp.headers["Link"]).group(1)
    assert first.endswith("?alpha=x+y&page=1&per_page=10&zeta=1")


def test_empty_list_has_one_total_page(gitlab_target):
    project = gitlab_target.make_project("nopages")
    resp = _get(gitlab_target, project)
    assert resp.json() == []
    assert (resp.headers["X-Total"], resp.headers["X-Total-Pages"]) == ("0", "1")
    assert 'rel="next"' not in resp.headers["Link"] and 'rel="first"' in resp.headers["Link"]


def test_invalid_page_param(gitlab_target):
    project = gitlab_target.make_project("badpage")
    resp = _get(gitlab_target, project, page="abc")
    assert (resp.status_code, resp.json()) == (400, {"error": "page is invalid"})
