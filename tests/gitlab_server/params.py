"""Grape-like declared parameters: presence, type coercion and ``values:``.

Grape validates every declared parameter, collects the failures in
declaration order and answers 400 ``{"error": "a is missing, b is invalid"}``
(spec §1.4).  ``Declared`` reproduces that.
"""

from __future__ import annotations

import json
import re

from . import errors
from .clock import parse_time

_MISSING = object()

# dry-types Params::Bool (what Grape uses for Boolean coercion).
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def coerce_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    raise ValueError(value)


def coerce_int(value):
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError(value)


def coerce_str(value):
    if isinstance(value, (dict, list)):
        raise ValueError(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def coerce_datetime(value):
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(value)
    return parsed


def coerce_comma_array(value):
    """``Types::CommaSeparatedToArray``: a string is split on ``,``, array
    elements are split as well; blanks are dropped (spec §3.2)."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, (dict, list)):
            raise ValueError(value)
        out.extend(p.strip() for p in str(item).split(",") if p.strip())
    return out


def coerce_str_array(value):
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise ValueError(value)
    return [coerce_str(v) for v in value]


def coerce_json_array(value):
    """``Array[JSON]``: a list of hashes, or a JSON string of one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(value) from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(value)
    return value


TYPES = {
    bool: coerce_bool,
    int: coerce_int,
    str: coerce_str,
    "datetime": coerce_datetime,
    "comma_array": coerce_comma_array,
    "str_array": coerce_str_array,
    "json_array": coerce_json_array,
}


class Declared:
    """Collects declarations, then ``validate()`` returns the coerced values
    (only the params that were sent, like ``declared_params(include_missing:
    false)``) or raises the joined Grape error."""

    def __init__(self, params: dict) -> None:
        self.params = params
        self._decls: list[tuple] = []

    def requires(self, name, kind=str, values=None, default=_MISSING):
        self._decls.append((name, kind, True, values, default))
        return self

    def optional(self, name, kind=str, values=None, default=_MISSING):
        self._decls.append((name, kind, False, values, default))
        return self

    def validate(self) -> dict:
        out: dict = {}
        problems: list[str] = []
        for name, kind, required, values, default in self._decls:
            if name not in self.params or self.params[name] is None:
                if required:
                    problems.append(f"{name} is missing")
                elif default is not _MISSING:
                    out[name] = default
                continue
            raw = self.params[name]
            try:
                value = TYPES[kind](raw)
            except (ValueError, TypeError):
                problems.append(f"{name} is invalid")
                continue
            if values is not None:
                check = value if isinstance(value, list) else [value]
                if any(v not in values for v in check):
                    problems.append(f"{name} does not have a valid value")
                    continue
            out[name] = value
        if problems:
            raise errors.error(400, ", ".join(problems))
        return out


def at_least_one_of(params: dict, *names: str) -> None:
    """Grape ``at_least_one_of`` (spec §1.4 row 4)."""
    if not any(n in params and params[n] is not None for n in names):
        raise errors.error(400, f"{', '.join(names)} are missing, at least one parameter must be provided")
