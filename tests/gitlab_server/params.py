"""Grape-like declared parameters: presence, type coercion, ``values:``,
``except_values:``, nested ``Array[JSON]`` members and ``at_least_one_of``.

Grape (GitLab pins ``grape ~> 2.0.0`` in its Gemfile) runs every validator
of every declared parameter, collects the failures in declaration order and
answers 400 ``{"error": "a is missing, b is invalid"}``
(lib/grape/endpoint.rb ``run_validators``,
lib/grape/exceptions/validation_errors.rb; messages from
lib/grape/locale/en.yml).  ``Declared`` reproduces that:

- a parameter that is absent is "missing" when required; one that is present
  with ``null``, or with ``""`` for a non-String type, is *present with nil*
  (lib/grape/validations/types/primitive_coercer.rb ``treat_as_nil?``: "Grape
  considers an empty string as absence of a value and coerces it into nil");
  a ``default:`` replaces nil (validators/default_validator.rb).  One
  simplification: a *required* parameter sent as nil is reported "is
  missing" here, where Grape's presence check (key present) would pass and
  the endpoint would then trip over the nil;
- a value that fails coercion is "is invalid"; the ``values:`` check still
  runs on the uncoerced value, so ``x=abc`` for ``type: Integer, values: [...]``
  gives "x is invalid, x does not have a valid value" (Grape's
  spec/grape/validations/validators/values_spec.rb);
- nested members of an ``Array[JSON]`` parameter are named
  ``parent[member]`` without an index: the attributes iterator only records
  indices for scopes whose type is ``Array`` (validations/attributes_iterator.rb,
  and spec/grape/validations/validators/coerce_spec.rb "accepts Array[JSON]
  shorthand": ``splines[x] does not have a valid value``).
"""

from __future__ import annotations

import json
import math
import re

from . import errors
from .clock import parse_time

_MISSING = object()

# dry-types Params::Bool, what Grape maps ``Boolean`` to
# (dry-types lib/dry/types/coercions/params.rb TRUE_VALUES / FALSE_VALUES):
# an exact, case-sensitive match on ``input.to_s``.
_TRUE = {"1", "on", "On", "ON", "t", "true", "True", "TRUE", "T", "y", "yes", "Yes", "YES", "Y"}
_FALSE = {"0", "off", "Off", "OFF", "f", "false", "False", "FALSE", "F", "n", "no", "No", "NO", "N"}
# Ruby ``Integer(str, 10)`` (dry-types ``to_int``): optional whitespace and sign,
# digits with single underscores between them.
_RUBY_INT = re.compile(r"\s*[+-]?\d+(?:_\d+)*\s*")


def coerce_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value) if isinstance(value, (int, str)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def coerce_int(value):
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(value)
        return int(value)             # Ruby Integer(1.5) truncates
    if isinstance(value, str) and _RUBY_INT.fullmatch(value):
        return int(value.replace("_", ""))
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


def _ruby_split_comma(text: str) -> list[str]:
    """Ruby ``String#split(',')``: trailing empty fields are dropped."""
    parts = text.split(",")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def coerce_comma_array(value):
    """``API::Validations::Types::CommaSeparatedToArray``
    (lib/api/validations/types/comma_separated_to_array.rb): a String is split
    on ``,`` and stripped; Array elements are split the same way; anything
    else is ``[]``.  Empty fields in the middle stay (and then fail
    ``values:``)."""
    if isinstance(value, str):
        return [p.strip() for p in _ruby_split_comma(value)]
    if isinstance(value, list):
        out = []
        for item in value:
            text = "" if item is None else coerce_str(item) if not isinstance(item, (dict, list)) else json.dumps(item)
            out.extend(p.strip() for p in _ruby_split_comma(text))
        return out
    return []


def coerce_str_array(value):
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise ValueError(value)
    return [coerce_str(v) for v in value]


def coerce_json_array(value):
    """Grape's ``Array[JSON]`` (lib/grape/validations/types/json.rb
    ``JsonArray``): an Array of Hashes is taken as it is; a String is parsed
    as JSON (blank: nil) and a single object wrapped in an Array; anything
    else (a bare Hash from form fields, an array of scalars) is invalid."""
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            return value
        raise ValueError(value)
    if not isinstance(value, str):
        raise ValueError(value)
    if not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ValueError(value) from None
    if isinstance(parsed, dict):
        return [parsed]
    if isinstance(parsed, list) and all(isinstance(v, dict) for v in parsed):
        return parsed
    raise ValueError(value)


TYPES = {
    bool: coerce_bool,
    int: coerce_int,
    str: coerce_str,
    "datetime": coerce_datetime,
    "comma_array": coerce_comma_array,
    "str_array": coerce_str_array,
    "json_array": coerce_json_array,
}
# Types whose coercer is a Grape PrimitiveCoercer, i.e. ``""`` becomes nil.
_NIL_FOR_EMPTY = (bool, int, "datetime")


class _Decl:
    __slots__ = ("name", "kind", "required", "values", "default", "except_values", "members")

    def __init__(self, name, kind, required, values, default, except_values, members):
        self.name, self.kind, self.required = name, kind, required
        self.values, self.default, self.except_values = values, default, except_values
        self.members = members


class Declared:
    """Collects declarations, then ``validate()`` returns the coerced values
    of the parameters that were sent (``declared_params(include_missing:
    false)``: present-with-nil ones included, as ``None``) or raises the
    joined Grape error."""

    def __init__(self, params: dict) -> None:
        self.params = params
        self._decls: list = []

    def requires(self, name, kind=str, values=None, default=_MISSING, except_values=None, members=None):
        self._decls.append(_Decl(name, kind, True, values, default, except_values, members))
        return self

    def optional(self, name, kind=str, values=None, default=_MISSING, except_values=None, members=None):
        self._decls.append(_Decl(name, kind, False, values, default, except_values, members))
        return self

    def pagination(self):
        """``use :pagination`` (lib/api/pagination_params.rb):
        ``optional :page, type: Integer, default: 1`` and
        ``optional :per_page, type: Integer, default: 20, except_values: [0]``."""
        self.optional("page", int, default=1)
        self.optional("per_page", int, default=20, except_values=(0,))
        return self

    def at_least_one_of(self, *names):
        """Grape ``at_least_one_of``: passes when any of the keys is present,
        whatever its value (validators/multiple_params_base.rb ``keys_in_common``)."""
        self._decls.append(("at_least_one_of", names))
        return self

    def validate(self) -> dict:
        out: dict = {}
        problems: list[str] = []
        for decl in self._decls:
            if isinstance(decl, tuple):
                names = decl[1]
                if not any(n in self.params for n in names):
                    problems.append(f"{', '.join(names)} are missing, at least one parameter must be provided")
                continue
            self._one(decl, self.params, decl.name, out, problems)
        if problems:
            seen, unique = set(), []
            for p in problems:            # ValidationErrors#full_messages: messages.uniq!
                if p not in seen:
                    seen.add(p)
                    unique.append(p)
            raise errors.error(400, ", ".join(unique))
        return out

    def _one(self, decl, params: dict, full_name: str, out: dict, problems: list) -> None:
        name = decl.name
        if name not in params:
            if decl.required:
                problems.append(f"{full_name} is missing")
            elif decl.default is not _MISSING:
                out[name] = decl.default
            return
        raw = params[name]
        if raw is None or (raw == "" and decl.kind in _NIL_FOR_EMPTY):
            if decl.required:
                problems.append(f"{full_name} is missing")
                return
            out[name] = None if decl.default is _MISSING else decl.default
            return
        value, coerced = raw, True
        try:
            value = TYPES[decl.kind](raw)
        except (ValueError, TypeError):
            problems.append(f"{full_name} is invalid")
            coerced = False
        if decl.except_values is not None and coerced:
            check = value if isinstance(value, list) else [value]
            if any(v in decl.except_values for v in check):
                problems.append(f"{full_name} has a value not allowed")
                return
        if decl.values is not None and value is not None:
            check = value if isinstance(value, list) else [value]
            if any(v not in decl.values for v in check):
                problems.append(f"{full_name} does not have a valid value")
                return
        if not coerced:
            return
        if decl.members and isinstance(value, list):
            value = [self._members(decl, item, problems) for item in value]
        out[name] = value

    def _members(self, decl, item: dict, problems: list) -> dict:
        out: dict = {}
        for member in decl.members:
            self._one(member, item, f"{decl.name}[{member.name}]", out, problems)
        return out


def member(name, kind=str, values=None, required=False):
    """A member of an ``Array[JSON]`` parameter (``optional`` inside its block)."""
    return _Decl(name, kind, required, values, _MISSING, None, None)


def flag(req, name: str):
    """An ``optional :name, type: Boolean`` read on its own: ``None`` when
    absent or nil, else the coerced value, else 400 "name is invalid"."""
    vals = Declared(req.params).optional(name, bool).validate()
    return vals.get(name)


def at_least_one_of(params: dict, *names: str) -> None:
    """Grape ``at_least_one_of`` on its own (key presence, see ``Declared``)."""
    if not any(n in params for n in names):
        raise errors.error(400, f"{', '.join(names)} are missing, at least one parameter must be provided")
