"""Small, strict readers for vendor JSON.

Vendor clients map JSON to contract records inside :func:`parsing`; any missing field, wrong
type or bad value becomes :class:`InvalidResponse` naming the vendor call and the field. Text
fields are copied as data only; nothing here interprets them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from adapters.errors import InvalidResponse, NotFound

__all__ = [
    "Malformed",
    "as_dict",
    "as_list",
    "epoch",
    "iso",
    "opt_str",
    "parsing",
    "req_str",
    "seg",
]


class Malformed(ValueError):
    """A vendor field is missing or has the wrong shape."""


@contextmanager
def parsing(integration: str, call: str) -> Iterator[None]:
    """Turn any shape error raised while mapping a response into :class:`InvalidResponse`."""
    try:
        yield
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])
        raise InvalidResponse(
            f"response does not fit the record ({fields})", integration=integration, call=call
        ) from exc
    except (Malformed, KeyError, TypeError, ValueError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InvalidResponse(
            f"unexpected response shape: {detail}", integration=integration, call=call
        ) from exc


def as_dict(value: Any, what: str) -> dict[str, Any]:
    """``value`` as a JSON object, or :class:`Malformed` naming ``what``."""
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` as a JSON array, or :class:`Malformed` naming ``what``."""
    if not isinstance(value, list):
        raise Malformed(f"{what} is not an array")
    return value


def req_str(obj: dict[str, Any], key: str) -> str:
    """A required string (numbers are accepted and rendered, ids often come as ints)."""
    if key not in obj or obj[key] is None:
        raise Malformed(f"missing field '{key}'")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Malformed(f"field '{key}' is not a string")
    return str(value)


def opt_str(obj: dict[str, Any], key: str, default: str = "") -> str:
    """An optional string; ``default`` when absent or null."""
    if obj.get(key) is None:
        return default
    return req_str(obj, key)


def iso(value: Any, what: str = "timestamp") -> datetime | None:
    """An ISO-8601 timestamp as aware UTC; ``None`` for null/empty."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Malformed(f"{what} is not a string")
    text = value.strip().replace("Z", "+00:00")
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)  # ServiceNow's "2024-01-02 03:04:05"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Malformed(f"{what} is not an ISO-8601 timestamp") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def epoch(value: Any, what: str = "timestamp") -> datetime | None:
    """Epoch seconds (int or float) as aware UTC; ``None`` for null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"{what} is not epoch seconds")
    return datetime.fromtimestamp(float(value), UTC)


def seg(value: str, *, integration: str = "", call: str = "") -> str:
    """``value`` as one percent-encoded path segment.

    An id can never address another resource: slashes are encoded, and empty or dot segments
    (which would walk up the path) are refused as :class:`NotFound`.
    """
    if value in ("", ".", ".."):
        raise NotFound(f"no object with id {value!r}", integration=integration, call=call)
    return quote(value, safe="")
