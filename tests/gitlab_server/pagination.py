"""Offset pagination exactly as GitLab emits it
(lib/gitlab/pagination/offset_pagination.rb, offset_header_builder.rb;
doc/api/rest/_index.md "Pagination").

Kaminari semantics: ``page`` default 1, ``per_page`` default 20 and clamped
to 100; ``X-Next-Page``/``X-Prev-Page`` are ``""`` when absent (including when
the page is out of range); ``X-Total-Pages`` is at least 1; ``Link`` holds
absolute URLs on the host the client used, with the request's query merged
with page/per_page and rendered by Rails ``to_query`` (keys sorted).
"""

from __future__ import annotations

from urllib.parse import quote

from .params import Declared

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
COUNT_LIMIT = 10_000  # above this GitLab omits X-Total / X-Total-Pages / rel="last"


def page_params(req) -> tuple[int, int]:
    """``use :pagination`` (lib/api/pagination_params.rb): ``page`` and
    ``per_page`` are Integers (``page=abc``: 400 "page is invalid") and
    ``per_page`` has ``except_values: [0]`` (400 "per_page has a value not
    allowed").  A route that validated its parameters already (so Grape's
    messages for all of them come out together) leaves the result in
    ``req.page_values``.  Then Kaminari: a page below 1 is page 1, a negative
    ``per_page`` is ignored (``per`` returns the relation unchanged, so the
    default 20 stays) and anything above 100 is clamped."""
    vals = getattr(req, "page_values", None)
    if vals is None:
        vals = Declared(req.params).pagination().validate()
    page, per_page = vals.get("page") or 1, vals.get("per_page") or DEFAULT_PER_PAGE
    page = max(page, 1)
    if per_page < 1:
        per_page = DEFAULT_PER_PAGE
    return page, min(per_page, MAX_PER_PAGE)


def _to_query(params: dict) -> str:
    """Rails ``Hash#to_query``: keys sorted, arrays as ``key[]=v``, CGI escaping."""
    def esc(value) -> str:
        return quote(str(value), safe="").replace("%20", "+")

    parts = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            parts.extend(f"{esc(key + '[]')}={esc(v)}" for v in value)
        elif isinstance(value, dict):
            parts.extend(f"{esc(f'{key}[{k}]')}={esc(v)}" for k, v in sorted(value.items()))
        elif isinstance(value, bool):
            parts.append(f"{esc(key)}={'true' if value else 'false'}")
        elif value is None:
            parts.append(esc(key))
        else:
            parts.append(f"{esc(key)}={esc(value)}")
    return "&".join(parts)


def paginate(req, items: list):
    """Slice ``items`` for the request and return ``(page_items, headers)``."""
    page, per_page = page_params(req)
    total = len(items)
    total_pages = max(1, -(-total // per_page))
    start = (page - 1) * per_page
    page_items = items[start:start + per_page]
    out_of_range = page > total_pages
    next_page = page + 1 if (page < total_pages and not out_of_range) else None
    prev_page = page - 1 if (page > 1 and not out_of_range) else None

    def link(n: int) -> str:
        query = dict(req.query)
        query["page"] = n
        query["per_page"] = per_page
        return f"{req.base_url}{req.path}?{_to_query(query)}"

    rels = []
    if prev_page:
        rels.append(f'<{link(prev_page)}>; rel="prev"')
    if next_page:
        rels.append(f'<{link(next_page)}>; rel="next"')
    rels.append(f'<{link(1)}>; rel="first"')
    headers = {
        "X-Per-Page": str(per_page),
        "X-Page": str(page),
        "X-Next-Page": str(next_page) if next_page else "",
        "X-Prev-Page": str(prev_page) if prev_page else "",
    }
    if total <= COUNT_LIMIT:
        rels.append(f'<{link(total_pages)}>; rel="last"')
        headers["X-Total"] = str(total)
        headers["X-Total-Pages"] = str(total_pages)
    headers["Link"] = ", ".join(rels)
    return page_items, headers
