"""GitLab's error bodies (lib/api/helpers.rb ``render_api_error!``, ``not_found!``,
``forbidden!``, ``render_validation_error!``; lib/api/api.rb ``rescue_from``;
doc/api/rest/troubleshooting.md).

Two shapes exist: Grape parameter errors use ``{"error": ...}``; everything
raised from endpoint code uses ``{"message": ...}`` (a string, a list of full
messages, or a hash of attribute -> messages for model validation).
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, body, headers: dict | None = None) -> None:
        super().__init__(f"{status} {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def error(status: int, text: str) -> ApiError:
    """Grape-style ``{"error": text}``."""
    return ApiError(status, {"error": text})


def message(status: int, msg) -> ApiError:
    """``render_api_error!(msg, status)`` -> ``{"message": msg}``."""
    return ApiError(status, {"message": msg})


def missing(*names: str) -> ApiError:
    return error(400, ", ".join(f"{n} is missing" for n in names))


def invalid(name: str) -> ApiError:
    return error(400, f"{name} is invalid")


def not_valid_value(name: str) -> ApiError:
    return error(400, f"{name} does not have a valid value")


def not_found(what: str | None = None) -> ApiError:
    """``not_found!('Project')`` -> ``404 Project Not Found``."""
    return message(404, f"404 {what} Not Found" if what else "404 Not Found")


def record_not_found() -> ApiError:
    """``ActiveRecord::RecordNotFound`` rescued in lib/api/api.rb: lower-case "found"."""
    return message(404, "404 Not found")


def forbidden(reason: str | None = None) -> ApiError:
    return message(403, f"403 Forbidden - {reason}" if reason else "403 Forbidden")


def unauthorized() -> ApiError:
    return message(401, "401 Unauthorized")


def bad_request(msg) -> ApiError:
    return message(400, msg)


def validation(errors: dict) -> ApiError:
    """``render_validation_error!`` -> 400 ``{"message": {attr: [msgs]}}``."""
    return message(400, errors)


def conflict(msg: str) -> ApiError:
    return message(409, msg)


def to_sentence(items: list[str]) -> str:
    """ActiveSupport ``Array#to_sentence`` (``a, b, and c``)."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + ", and " + items[-1]
