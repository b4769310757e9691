# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The fleet audit's report: JSON (docs/audit-report.schema.json), Markdown, one self-contained HTML page,
the one-screen summary, and writing the three files.

The report never holds a secret: its input is what the info modules return
(they never return one) and the inventory's names, scopes and policies.
"""

from __future__ import annotations

import html
import json
import os
import tempfile

from ansible_collections.runnercreds.gitlab.plugins.module_utils._audit import SCHEMA_VERSION, SEVERITIES, AuditError

FILES = {"json": "audit-report.json", "markdown": "audit-report.md", "html": "audit-report.html"}

# Days left below which an expiry is shown as close (amber) when no rotation policy says more.
SOON_DAYS = 30


def report(result, generated_at, fail_on=()):
    """The JSON document: what docs/audit-report.schema.json describes."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at,
        "fail_on": list(fail_on or []),
        "summary": result["summary"],
        "targets": {"projects": result["projects"], "groups": result["groups"], "hosts": result["hosts"]},
        "credentials": result["credentials"],
        "findings": result["findings"],
    }


def where(item):
    if item.get("project"):
        return item["project"]
    return f"group {item['group']}" if item.get("group") else ""


def _text(value):
    return "" if value is None else str(value)


def summary_lines(doc, report_dir=None, limit=20):
    """The one-screen summary (at most ``limit`` lines) the playbook prints."""
    summary = doc["summary"]
    severities = ", ".join(f"{summary['by_severity'][s]} {s}" for s in reversed(SEVERITIES))
    lines = [
        f"Audit of {summary['hosts']} runner hosts, {summary['projects']} projects, {summary['groups']} groups: "
        f"{summary['deploy_keys']} deploy keys, {summary['deploy_tokens']} deploy tokens, "
        f"{summary['protected_tags']} protected tags",
        f"Findings: {summary['findings']} ({severities})",
    ]
    kinds = [(kind, count) for kind, count in summary["by_kind"].items() if count]
    room = limit - len(lines) - (1 if report_dir else 0)
    for kind, count in kinds[:room]:
        first = next(f for f in doc["findings"] if f["kind"] == kind)
        lines.append(f"  {count:3d} {kind} [{first['severity']}], e.g. {where(first)}: {first['message']}")
    if report_dir:
        lines.append("Report: " + ", ".join(os.path.join(report_dir, FILES[k]) for k in ("html", "markdown", "json")))
    return [line if len(line) <= 200 else line[:197] + "..." for line in lines[:limit]]


# --- Markdown ---------------------------------------------------------------------------------

def _md(value):
    return _text(value).replace("|", "\\|").replace("\n", " ")


def markdown(doc):
    lines = ["# Runner credentials audit", "", f"Generated {doc['generated_at']}.", ""]
    lines += ["    " + line for line in summary_lines(doc)] + [""]
    lines += ["## Findings", ""]
    if doc["findings"]:
        lines += ["| severity | kind | where | credential | hosts | finding | fix |", "|---|---|---|---|---|---|---|"]
        for f in doc["findings"]:
            cred = f["credential"] or {}
            name = f"{_text(cred.get('name'))} #{cred['id']}" if cred.get("id") is not None else _text(cred.get("name"))
            lines.append("| " + " | ".join(_md(v) for v in (
                f["severity"], f["kind"], where(f), name, ", ".join(f["hosts"]), f["message"], f["fix"])) + " |")
    else:
        lines.append("None: every credential is held, within policy and guarded.")
    lines += ["", "## Credentials", "",
              "| type | name | id | where | access | hosts | age (days) | expires | days left | policy | status |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in doc["credentials"]:
        lines.append("| " + " | ".join(_md(v) for v in (
            c["type"], c["name"], c["id"], where(c), c["access"], ", ".join(c["hosts"]) or "(none)", c["age_days"],
            (c["expires_at"] or "never")[:10], c["days_until_expiry"], c["policy"], c["status"])) + " |")
    return "\n".join(lines) + "\n"


# --- HTML -------------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1f1f1f}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}
.meta{color:#555;margin:0 0 10px}
.chips span{display:inline-block;padding:2px 8px;margin:0 6px 4px 0;border-radius:10px;background:#eee}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.nw{white-space:nowrap}
.st{font-weight:600;border-radius:4px;padding:1px 6px}
.ok{background:#e3f4e1}.soon{background:#fff3c4}.due{background:#ffd8a8}.expired,.orphan{background:#ffc9c9}
.never,.revoked{background:#eee}
.sev-high{color:#b00020;font-weight:600}.sev-medium{color:#a15c00;font-weight:600}.sev-low{color:#555}
"""

# Sorts the table whose header was clicked: numbers as numbers (data-sort holds a cell's sort key), text otherwise.
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    function key(row) { var c = row.cells[col]; return c.hasAttribute("data-sort") ? c.getAttribute("data-sort") : c.textContent; }
    Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      var d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? d : -d;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""


def _td(value, sort=None, cls=None):
    attrs = ""
    if sort is not None:
        attrs += f' data-sort="{html.escape(str(sort))}"'
    if cls:
        attrs += f' class="{cls}"'
    return f"<td{attrs}>{html.escape(_text(value))}</td>"


def days_class(credential):
    """The colour of a credential's days left: expired red, close amber, fine green, never grey.

    The status cell beside it carries the policy's verdict (due, orphan), so a key past its age
    policy with a year left shows both facts.
    """
    left = credential["days_until_expiry"]
    if credential["status"] in ("expired", "revoked"):
        return credential["status"]
    if left is None:
        return "never"
    return "expired" if left < 0 else ("soon" if left <= SOON_DAYS else "ok")


def _table(table_id, headers, rows):
    head = "".join(f'<th scope="col" title="sort by {html.escape(h)}">{html.escape(h)}</th>' for h in headers)
    return (f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def html_page(doc):
    summary = doc["summary"]
    chips = "".join(f"<span>{html.escape(k)}: {v}</span>" for k, v in summary["by_kind"].items() if v)
    finding_rows = []
    for f in doc["findings"]:
        cred = f["credential"] or {}
        finding_rows.append("<tr>" + "".join((
            _td(f["severity"], SEVERITIES.index(f["severity"]), f"sev-{f['severity']}"), _td(f["kind"]), _td(where(f)),
            _td(cred.get("name")), _td(", ".join(f["hosts"])), _td(f["message"]), _td(f["fix"]))) + "</tr>")
    cred_rows = []
    for c in doc["credentials"]:
        left = c["days_until_expiry"]
        status_class = {"due": "due", "orphan": "orphan", "expired": "expired", "revoked": "revoked"}.get(
            c["status"], "ok")
        cred_rows.append("<tr>" + "".join((
            _td(c["type"].replace("deploy_", ""), cls="nw"), _td(c["name"], cls="nw"), _td(c["id"], c["id"], "num"),
            _td(where(c), cls="nw"), _td(c["access"]), _td(", ".join(c["hosts"]) or "(none)"),
            _td(c["age_days"], -1 if c["age_days"] is None else c["age_days"], "num"),
            _td((c["expires_at"] or "never")[:10], cls="nw"),
            f'<td class="num" data-sort="{99999 if left is None else left}"><span class="st {days_class(c)}">'
            f'{html.escape("never" if left is None else str(left))}</span></td>',
            _td(c["policy"]), f'<td><span class="st {status_class}">{html.escape(c["status"])}</span></td>')) + "</tr>")
    findings_html = _table("findings", ["severity", "kind", "where", "credential", "hosts", "finding", "fix"],
                           finding_rows) if finding_rows else "<p>None: every credential is held, within policy and guarded.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Runner credentials audit</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><h1>Runner credentials audit</h1>
<p class="meta">Generated {html.escape(doc['generated_at'])} &middot; {summary['hosts']} runner hosts &middot;
{summary['projects']} projects &middot; {summary['groups']} groups &middot; {summary['deploy_keys']} deploy keys &middot;
{summary['deploy_tokens']} deploy tokens &middot; {summary['findings']} findings
({", ".join(f"{summary['by_severity'][s]} {s}" for s in reversed(SEVERITIES))}). Click a column header to sort.</p>
<div class="chips">{chips}</div>
<h2>Credentials</h2>
{_table("credentials", ["type", "name", "id", "where", "access", "hosts", "age (days)", "expires", "days left",
                        "policy", "status"], cred_rows)}
<h2>Findings</h2>
{findings_html}
<script>{_SCRIPT}</script></body></html>
"""


def render(doc):
    """File name -> content of the three files."""
    return {
        FILES["json"]: json.dumps(doc, indent=2, sort_keys=True) + "\n",
        FILES["markdown"]: markdown(doc),
        FILES["html"]: html_page(doc),
    }


# --- writing ----------------------------------------------------------------------------------

def check_report_dir(report_dir):
    """Refuse a report_dir that cannot take the files, before anything is written."""
    if not report_dir or not str(report_dir).strip():
        raise AuditError("report_dir", "is empty (an undefined variable?); give the directory for the report")
    path = os.path.abspath(report_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise AuditError("report_dir", f"is {path}, which exists and is not a directory")
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise AuditError("report_dir", f"is {path}, and {existing} is not a directory this user may write in")
    for name in FILES.values():
        target = os.path.join(path, name)
        if os.path.isdir(target) or os.path.islink(target):
            raise AuditError("report_dir", f"holds {target}, which is a directory or a symlink; the report will not "
                                           "replace it")
    return path


def write(path, files):
    """Write each file atomically (temporary file, then rename) with mode 0644; returns the paths written."""
    os.makedirs(path, mode=0o755, exist_ok=True)
    written = []
    for name, content in files.items():
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=path)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(content)
            os.chmod(temporary, 0o644)
            os.replace(temporary, os.path.join(path, name))
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        written.append(os.path.join(path, name))
    return written
