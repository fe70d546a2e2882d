"""Check that every request a client made is in the vendor's published spec (a trimmed copy).

Each ``specs/<vendor>.json`` holds ``source`` (where the fragment was taken from),
``api_version`` (the spec version checked) and ``paths``: path template -> method -> the query
parameter names the spec declares (``{"query": [...]}``). A request whose path, method or a
query parameter is not in the fragment fails the test with the request named.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx

SPECS = Path(__file__).parent / "specs"


@cache
def load_spec(vendor: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((SPECS / f"{vendor}.json").read_text(encoding="utf-8"))
    assert spec.get("source") and spec.get("api_version"), f"{vendor}.json must cite its source"
    return spec


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")


def unmatched(vendor: str, requests: list[httpx.Request], *, prefix: str = "") -> list[str]:
    """Requests (``METHOD path?query``) that the spec fragment does not allow."""
    spec = load_spec(vendor)
    bad: list[str] = []
    for request in requests:
        path = request.url.path
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
        found = [ops for tpl, ops in spec["paths"].items() if _template(tpl).match(path)]
        op = next((o[request.method.lower()] for o in found if request.method.lower() in o), None)
        allowed = set(op.get("query", [])) if isinstance(op, dict) else set()
        extra = sorted(set(request.url.params.keys()) - allowed)
        if op is None or extra:
            why = "path/method" if op is None else f"query {extra}"
            bad.append(f"{request.method} {request.url.path} ({why} not in {vendor} spec)")
    return bad


def assert_in_spec(vendor: str, requests: list[httpx.Request], *, prefix: str = "") -> None:
    """Fail naming every request the vendor's spec fragment does not allow."""
    bad = unmatched(vendor, requests, prefix=prefix)
    assert not bad, "\n".join(bad)
