# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Look for secrets where they must not be, and say where without showing them.

* :class:`SecretScanner` knows the secrets of one test (each with a label,
  such as ``deploy token``) in the forms they could take (raw, without their
  ``gldt-``/``glpat-`` prefix, base64 ``user:password``, each line of a private
  key), plus patterns for secrets nobody told it about (``glpat-``/``gldt-``
  followed by 20+ token characters). It scans texts (captured output, log
  files), files under a directory (minus the files meant to hold a
  credential) and sampled process command lines.
* A :class:`Hit` names the source, the line and column (or the process and
  argument), the secret's label and form, and a context in which every known
  secret and every pattern match is replaced by ``«label»``. The secret itself
  is never in a hit, a report or an assertion message.
* :class:`CmdlineSampler` reads every process's ``/proc/<pid>/cmdline`` every
  ~20 ms in a background thread while a command runs, remembering each
  distinct command line and each process's parent, so hits can be limited to
  the processes a test started.

Text is also searched "squashed" (without whitespace and backslashes), so a
secret that a YAML dumper folded over two lines is still found.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from urllib.parse import quote

# Secrets nobody told the scanner about: GitLab personal access and deploy tokens.
TOKEN_PATTERNS = (
    ("unknown GitLab personal access token", re.compile(r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}")),
    ("unknown GitLab deploy token", re.compile(r"(?<![A-Za-z0-9_-])gldt-[A-Za-z0-9_-]{20,}")),
)
TOKEN_PREFIXES = ("glpat-", "gldt-")
CONTEXT = 40
MIN_LINE = 9  # private-key lines shorter than this are not worth a needle
MIN_SQUASHED = 16  # shorter needles could match squashed text by accident
_SQUASH = re.compile(r"[\s\\]+")
# A word of the characters tokens, passwords and base64 are made of, long enough to mean something.
_WORD = re.compile(r"[A-Za-z0-9+/=_.:@-]{8,}")


class Needle:
    """One form of one secret: ``label`` (which secret) and ``form`` (how it is written)."""

    __slots__ = ("label", "form", "text")

    def __init__(self, label: str, form: str, text: str) -> None:
        self.label = label
        self.form = form
        self.text = text


class Hit:
    """Where a secret was found; never the secret itself."""

    __slots__ = ("source", "where", "label", "form", "context")

    def __init__(self, source: str, where: str, label: str, form: str, context: str = "") -> None:
        self.source = source
        self.where = where
        self.label = label
        self.form = form
        self.context = context

    def __str__(self) -> str:
        text = f"{self.source} {self.where}: {self.label} ({self.form})"
        return f"{text}; context: {self.context}" if self.context else text

    __repr__ = __str__


class SecretScanner:
    """The secrets of one test, and the scans of everything that must not hold them."""

    def __init__(self) -> None:
        self.needles: list = []
        self.sources = 0  # texts scanned (outputs, logs, files, command lines)
        self.excluded = 0  # files left out on purpose (credential files by design)
        self.bytes = 0
        self.by_kind: dict = {}

    # --- what to look for ------------------------------------------------------------------------

    def add(self, label: str, value: str) -> None:
        """A token or password: raw, without a known prefix, URL-encoded and as base64."""
        if not value or len(value) < 8:
            raise ValueError(f"{label}: a secret this short cannot be scanned for reliably")
        self._add(label, "raw", value)
        for prefix in TOKEN_PREFIXES:
            if value.startswith(prefix) and len(value) - len(prefix) >= MIN_SQUASHED:
                self._add(label, f"without its {prefix} prefix", value[len(prefix):])
        if quote(value, safe="") != value:
            self._add(label, "URL-encoded", quote(value, safe=""))
        self._add(label, "base64", base64.b64encode(value.encode()).decode().rstrip("="))

    def add_basic_auth(self, label: str, username: str, password: str) -> None:
        """``username:password`` as Docker's ``auth`` and HTTP Basic carry it."""
        pair = f"{username}:{password}".encode()
        self._add(label, "base64 user:password", base64.b64encode(pair).decode().rstrip("="))
        self._add(label, "URL-safe base64 user:password", base64.urlsafe_b64encode(pair).decode().rstrip("="))

    def add_lines(self, label: str, text: str) -> None:
        """Each line of a multi-line secret (a private key) longer than 8 characters."""
        lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_LINE]
        if not lines:
            raise ValueError(f"{label}: no line long enough to scan for")
        for number, line in enumerate(lines, 1):
            self._add(label, f"line {number} of {len(lines)}", line)

    def _add(self, label: str, form: str, text: str) -> None:
        if not any(needle.text == text for needle in self.needles):
            self.needles.append(Needle(label, form, text))

    @property
    def labels(self) -> list:
        return sorted({needle.label for needle in self.needles})

    # --- redaction -----------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every known secret and every pattern match replaced by ``«label»``."""
        for needle in sorted(self.needles, key=lambda n: -len(n.text)):
            text = text.replace(needle.text, f"«{needle.label}»")
        for label, pattern in TOKEN_PATTERNS:
            text = pattern.sub(f"«{label}»", text)
        return text

    def _context(self, text: str, start: int, end: int) -> str:
        """Up to CONTEXT characters either side of ``text[start:end]``, every secret in them redacted.

        The window is widened until no known secret or pattern match crosses its edges, so no secret
        can be cut in two and escape redaction; then any word left that is part of a known secret
        (a piece of one folded over two lines, say) is masked too.
        """
        start, end = self._covering(text, start, end)
        low, high = self._covering(text, max(0, start - CONTEXT), min(len(text), end + CONTEXT))
        shown = text[low:start] + "\x00HIT\x00" + text[end:high]
        shown = self.redact(shown).replace("\x00HIT\x00", "«HERE»")
        shown = _WORD.sub(lambda match: self._mask_piece(match.group(0)), shown)
        return repr(shown)

    def _covering(self, text: str, low: int, high: int) -> tuple:
        """``(low, high)`` widened until no secret or pattern match crosses either edge."""
        widened = True
        while widened:
            widened = False
            for begin, finish in self._occurrences(text, low, high):
                if begin < low or finish > high:
                    low, high, widened = min(low, begin), max(high, finish), True
        return low, high

    def _occurrences(self, text: str, low: int, high: int):
        """``(begin, end)`` of every known secret and pattern match overlapping ``text[low:high]``."""
        longest = max([len(n.text) for n in self.needles] + [256])
        area_start = max(0, low - longest)
        area = text[area_start:high + longest]
        for needle in self.needles:
            found = area.find(needle.text)
            while found >= 0:
                begin = area_start + found
                if begin < high and begin + len(needle.text) > low:
                    yield begin, begin + len(needle.text)
                found = area.find(needle.text, found + 1)
        for dummy, pattern in TOKEN_PATTERNS:
            for match in pattern.finditer(area):
                begin = area_start + match.start()
                if begin < high and area_start + match.end() > low:
                    yield begin, area_start + match.end()

    def _mask_piece(self, word: str) -> str:
        for needle in self.needles:
            if word in needle.text:
                return f"«part of {needle.label}»"
        return word

    # --- scans ---------------------------------------------------------------------------------

    def scan_text(self, source: str, text: str, patterns: bool = True, kind: str = "text") -> list:
        """Every known secret (and, with ``patterns``, every unknown token) in ``text``."""
        self._count(kind, text)
        hits = []
        for needle in self.needles:
            found = text.find(needle.text)
            if found >= 0:
                count = text.count(needle.text)
                where = _line_col(text, found) + (f" (and {count - 1} more)" if count > 1 else "")
                hits.append(Hit(source, where, needle.label, needle.form,
                                self._context(text, found, found + len(needle.text))))
        if patterns:
            for label, pattern in TOKEN_PATTERNS:
                for match in pattern.finditer(text):
                    if any(needle.text in match.group(0) for needle in self.needles):
                        continue  # a known secret: reported above under its own label
                    hits.append(Hit(source, _line_col(text, match.start()), label, "pattern",
                                    self._context(text, match.start(), match.end())))
        hits.extend(self._squashed(source, text))
        return _without_echoes(hits, self.needles, text)

    def _squashed(self, source: str, text: str) -> list:
        """Needles found only once whitespace and backslashes are gone (folded YAML, wrapped lines)."""
        candidates = [n for n in self.needles if len(n.text) >= MIN_SQUASHED and not _SQUASH.search(n.text)]
        squashed = _SQUASH.sub("", text)
        hits = []
        positions = None
        for needle in candidates:
            found = squashed.find(needle.text)
            while found >= 0:
                if positions is None:
                    positions = [i for i, char in enumerate(text) if not (char.isspace() or char == "\\")]
                start = positions[found]
                covered = positions[found:found + len(needle.text)]
                # Not a split secret: the whole secret is there as it is, or every character of it is
                # inside secrets found as they are (an OpenSSH key repeats its public part across lines).
                if not text.startswith(needle.text, start) and not self._inside_raw(text, covered):
                    # No context: the secret is split over lines, and a piece could escape redaction.
                    hits.append(Hit(source, _line_col(text, start) + " (split over lines)", needle.label,
                                    needle.form))
                    break
                found = squashed.find(needle.text, found + 1)
        return hits

    def _inside_raw(self, text: str, indexes) -> bool:
        spans = list(self._occurrences(text, indexes[0], indexes[-1] + 1))
        return all(any(begin <= index < end for begin, end in spans) for index in indexes)

    def scan_file(self, path: str, source: str | None = None) -> list:
        with open(path, "rb") as handle:
            data = handle.read()
        return self.scan_text(source or f"file {path}", data.decode("utf-8", errors="replace"), kind="file")

    def scan_tree(self, root: str, exclude=()) -> list:
        """Every regular file under ``root`` except the paths in ``exclude`` (credential files by design)."""
        skip = {os.path.realpath(path) for path in exclude}
        hits = []
        for directory, dummy, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                if os.path.realpath(path) in skip:
                    self.excluded += 1
                    continue
                hits.extend(self.scan_file(path, f"file {os.path.relpath(path, root)}"))
        return hits

    def scan_cmdlines(self, sampler: "CmdlineSampler", own_root: int | None = None) -> list:
        """Every sampled command line. Known secrets count in any process; unknown tokens only in
        ``own_root`` and its descendants (other tests on the machine have tokens of their own)."""
        own = sampler.descendants(own_root) if own_root is not None else set()
        hits = []
        for (pid, argv), dummy in sampler.seen.items():
            text = " ".join(argv)
            program = os.path.basename(argv[0]) if argv else "?"
            source = f"command line of pid {pid} ({program})"
            for hit in self.scan_text(source, text, patterns=pid in own, kind="command line"):
                # Where as the argument index, not a column: arguments are what ps shows.
                column = int(hit.where.split("col ", 1)[1].split()[0]) - 1 if "col " in hit.where else 0
                hit.where = f"argv[{_arg_index(argv, column)}]"
                hits.append(hit)
        return hits

    def _count(self, kind: str, text: str) -> None:
        self.sources += 1
        self.bytes += len(text)
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def summary(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.by_kind.items()))
        return (f"{self.sources} sources scanned ({kinds}; {self.bytes} characters; {self.excluded} credential files "
                f"left out) for {len(self.needles)} forms of {len(self.labels)} secrets and {len(TOKEN_PATTERNS)} "
                "token patterns")


def _without_echoes(hits, needles, text) -> list:
    """Drop a hit whose needle is only found inside a longer needle of the same secret found too
    (the token without its prefix, where the whole token is)."""
    by_form = {(n.label, n.form): n.text for n in needles}
    found = [(hit, by_form.get((hit.label, hit.form))) for hit in hits]
    kept = []
    for hit, needle in found:
        echo = needle is not None and any(
            other is not None and other != needle and needle in other and other_hit.label == hit.label
            and text.count(needle) == text.count(other) for other_hit, other in found)
        if not echo:
            kept.append(hit)
    return kept


def report(hits) -> str:
    """One line per hit, for an assertion message (no secret in it)."""
    return "\n".join(["%d secret(s) found where none may be:" % len(hits)] + ["  " + str(hit) for hit in hits])


def _line_col(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line} col {column}"


def _arg_index(argv, column: int) -> int:
    position = 0
    for index, arg in enumerate(argv):
        position += len(arg) + 1
        if column < position:
            return index
    return len(argv) - 1


class CmdlineSampler:
    """Every process's command line, read from ``/proc`` every ``interval`` seconds in a thread.

    ``seen`` maps ``(pid, argv)`` to the parent pid; ``samples`` counts the
    rounds. Use as a context manager around the command to watch.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.seen: dict = {}
        self.parents: dict = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cmdline-sampler", daemon=True)

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    raw = handle.read()
            except OSError:
                continue  # gone meanwhile
            if not raw:
                continue  # a kernel thread, or a zombie
            argv = tuple(arg.decode("utf-8", errors="replace") for arg in raw.rstrip(b"\0").split(b"\0"))
            key = (pid, argv)
            if key not in self.seen:
                self.seen[key] = self.parents.get(pid) if pid in self.parents else self._parent(pid)
        self.samples += 1

    def _parent(self, pid: int):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            return None
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        self.parents[pid] = ppid
        return ppid

    def descendants(self, root: int) -> set:
        """``root`` and every process seen whose chain of parents leads to it."""
        found = {root}
        changed = True
        while changed:
            changed = False
            for pid, parent in self.parents.items():
                if parent in found and pid not in found:
                    found.add(pid)
                    changed = True
        return found

    def processes(self, root: int) -> int:
        """How many distinct command lines of ``root``'s tree were seen."""
        own = self.descendants(root)
        return sum(1 for (pid, dummy) in self.seen if pid in own)
