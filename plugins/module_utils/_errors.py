# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The collection's error types and every sentence a failure prints.

Shared code never calls ``fail_json``; it raises :class:`GitlabModuleError`
(or a subclass) and only the runner (``_runner.py``) turns it into a failure,
the shape of community.crypto's ``ModuleFailException``. All wording lives
here: how an HTTP error reads, the hint for each status, how a failure on
some of many targets is summed up, and "Changed before the failure". This
file imports nothing outside the standard library, so the pure planning code
and plain pytest can use it.
"""

from __future__ import annotations

NOTHING_SENT = "Nothing was sent to GitLab."
NOTHING_CHANGED = "Nothing was changed."

# What the user can do about each HTTP status GitLab answered with.
STATUS_HINTS = {
    401: "check api_token: it is missing, expired, revoked or for another GitLab instance",
    403: "the token's user lacks the role this needs (Maintainer on the project; Owner on the "
         "group for group deploy tokens) or the token lacks the api scope",
    404: "it does not exist, or the token's user cannot see it",
    429: "GitLab kept rate limiting after the retries; lower concurrency or raise max_retries",
    500: "GitLab failed after the retries; try again later",
    502: "GitLab (or a proxy in front of it) failed after the retries; try again later",
    503: "GitLab was unavailable after the retries; try again later",
    504: "GitLab timed out after the retries; try again later",
}


class GitlabModuleError(Exception):
    """A failure with everything a user needs to act on it.

    ``msg`` says what failed and what to do; ``project`` names the project or
    group it happened on; ``status`` is GitLab's HTTP status (``None`` when
    GitLab was not reached); ``response`` is GitLab's error text (never a
    secret: GitLab does not echo tokens in errors). ``answer_lost`` is true
    when GitLab may have done the work although no success came back (no
    answer, or a 5xx), so a create must not be blindly sent again.
    """

    def __init__(self, msg: str, project=None, status: int | None = None, response=None,
                 answer_lost: bool = False) -> None:
        super().__init__(msg)
        self.msg = msg
        self.project = project
        self.status = status
        self.response = response
        self.answer_lost = answer_lost


class OptionError(GitlabModuleError):
    """Bad input, found before any request: names the option and the fix.

    ``problem`` continues the sentence after the option's name: ``must be``,
    ``is empty; give ...``.
    """

    def __init__(self, option: str, problem: str) -> None:
        text = f"{option} {problem}"
        if NOTHING_SENT.lower() not in text.lower():
            text = f"{text}. {NOTHING_SENT}"
        super().__init__(text)
        self.option = option


class TargetFailures(GitlabModuleError):
    """One step failed on some of the targets it worked on.

    ``failures`` maps each failed target to its :class:`GitlabModuleError`;
    ``not_attempted`` lists targets skipped because an earlier part of the
    same step failed; ``total`` is how many targets the step worked on.
    """

    def __init__(self, step: str, failures: dict, total: int, not_attempted=()) -> None:
        self.step = step
        self.failures = dict(failures)
        self.total = total
        self.not_attempted = list(not_attempted)
        only = next(iter(self.failures.values())) if len(self.failures) == 1 else None
        super().__init__(
            self._text(),
            project=next(iter(self.failures)) if only is not None else None,
            status=only.status if only is not None else None,
            response=only.response if only is not None else None,
        )

    def _text(self) -> str:
        # Targets are resolver Targets (with a kind: project, group) or plain labels.
        noun = getattr(next(iter(self.failures), None), "kind", "target")
        lines = [f"{self.step} failed on {len(self.failures)} of {counted(self.total, noun)}:"]
        lines.extend(f"- {target}: {error.msg}" for target, error in self.failures.items())
        if self.not_attempted:
            lines.append(f"Not attempted because of that failure: {', '.join(map(str, self.not_attempted))}.")
        return "\n".join(lines)


def counted(number: int, noun: str) -> str:
    """``1 project``, ``3 projects``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def http_error_text(action: str, status: int | None, message: str) -> str:
    """``cannot <action>: HTTP <status> <GitLab's message> (<hint>)``, the status once.

    GitLab's own messages often start with the status (``404 Project Not
    Found``); it is printed once.
    """
    if status is None:
        return f"cannot {action}: {message}"
    text = str(message).strip()
    if text.startswith(f"{status} ") or text == str(status):
        text = text[len(str(status)):].strip()
    result = f"cannot {action}: HTTP {status} {text}".rstrip()
    hint = STATUS_HINTS.get(status)
    return f"{result} ({hint})" if hint else result


def unreachable_text(action: str, exception_name: str, detail: str) -> str:
    # The exception text names the URL but never a token: tokens travel in headers.
    return (f"cannot {action}: GitLab did not answer after the retries ({exception_name}: {detail}); "
            "check api_url, the network and timeout")


def failure_message(module: str, error: GitlabModuleError, changes: list) -> str:
    """The whole text of a failed run: what failed, then what had changed before it.

    ``changes`` are ``(target, what)`` pairs of the writes GitLab accepted,
    in the order they happened.
    """
    text = error.msg if error.msg.startswith(f"{module}:") else f"{module}: {error.msg}"
    if isinstance(error, OptionError) or text.rstrip().endswith((NOTHING_SENT, NOTHING_CHANGED)):
        return text
    if not changes:
        return f"{text}\n{NOTHING_CHANGED}"
    per_target: dict = {}
    for target, what in changes:
        per_target.setdefault(target, []).append(what)
    noun = getattr(next(iter(per_target)), "kind", "target")
    done = ", ".join(f"{target} ({', '.join(whats)})" for target, whats in per_target.items())
    return f"{text}\nChanged before the failure: {counted(len(per_target), noun)}: {done}."
