"""Spec contract: every request a vendor client sends must exist in the vendor's published spec.

The spec fragments live in ``tests/adapters/vendors/specs/<name>.json``. Each is the vendor's
own OpenAPI document (or, where a vendor publishes none, its API reference written down in the
same shape) trimmed to the operations opshand uses; ``x-source`` says where it came from
(repository, path, commit, URL). Only the parts a contract needs are kept: paths, methods,
parameter names. A request matches when

* its method and path match one path template of the spec (``{param}`` is one segment), and
* every query parameter it sends is declared for that operation (path-level ones included).

:class:`tests.adapters.vendors.fakes_base.FakeVendor` checks every request it receives against
``spec`` (the fake's class attribute), so a client that drifts from the vendor's API fails the
test that made the call, with a message naming the request and the spec file; a test holding a
client's recorded requests checks them all at once with :func:`assert_in_spec`.

Plugging a new vendor in (see also ``README.md`` in this folder):

1. Trim the vendor's spec into ``specs/<name>.json`` (``x-source`` filled in).
2. Set ``spec = "<name>"`` on the fake (and cite the source in the fake's module docstring).
3. Add the harness factory to ``SPEC_FACTORIES`` in ``test_spec_contract.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

SPEC_DIR = Path(__file__).resolve().parent / "specs"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class SpecViolation(AssertionError):
    """A request that the vendor's spec does not describe."""


@dataclass(frozen=True)
class Operation:
    """One method on one path template, with the query parameters the spec declares."""

    method: str
    template: str
    operation_id: str
    query: frozenset[str]
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Spec:
    """A trimmed vendor spec: its operations and where it came from."""

    name: str
    title: str
    version: str
    source: dict[str, Any]
    operations: tuple[Operation, ...]
    base_path: str = ""

    def match(self, method: str, path: str) -> Operation | None:
        """The operation for ``method`` + ``path`` (path relative to the API root), if any."""
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :]
        for op in self.operations:
            if op.method == method.upper() and op.pattern.fullmatch(path):
                return op
        return None

    def check(self, request: httpx.Request, *, prefix: str = "") -> Operation:
        """The matching operation, or :class:`SpecViolation` naming what did not match.

        ``prefix`` is left off the request's path first (an API root the spec omits).
        """
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
        op = self.match(request.method, path)
        if op is None:
            known = sorted({f"{o.method} {o.template}" for o in self.operations})
            raise SpecViolation(
                f"{request.method} {path} is not in specs/{self.name}.json "
                f"({self.title} {self.version}); the spec has: {known}"
            )
        unknown = sorted(set(request.url.params.keys()) - op.query)
        if unknown:
            raise SpecViolation(
                f"{request.method} {path} sends query parameters {unknown} that "
                f"specs/{self.name}.json does not declare for {op.operation_id or op.template} "
                f"(declared: {sorted(op.query)})"
            )
        return op


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    # A path parameter is one segment; percent-encoded characters are fine, a raw "/" is not.
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p)
    return re.compile(regex)


@cache
def load_spec(name: str) -> Spec:
    """Read ``specs/<name>.json``; a missing or malformed file fails with its path."""
    path = SPEC_DIR / f"{name}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no spec fragment at {path}") from exc
    if "openapi" not in doc and "swagger" not in doc:
        return _compact(name, path, doc)
    source = doc.get("x-source")
    if not isinstance(source, dict) or not (source.get("url") or source.get("repo")):
        raise ValueError(f"{path}: x-source must name the url or repo the spec came from")
    ops: list[Operation] = []
    for template, item in doc["paths"].items():
        shared = [p for p in item.get("parameters", []) if p.get("in") == "query"]
        for method in _METHODS:
            if method not in item:
                continue
            op = item[method]
            query = {p["name"] for p in [*shared, *op.get("parameters", [])] if p["in"] == "query"}
            ops.append(
                Operation(
                    method=method.upper(),
                    template=template,
                    operation_id=op.get("operationId", ""),
                    query=frozenset(query),
                    pattern=_pattern(template),
                )
            )
    info = doc.get("info", {})
    return Spec(
        name=name,
        title=str(info.get("title", name)),
        version=str(info.get("version", "")),
        source=source,
        operations=tuple(ops),
        base_path=str(doc.get("x-base-path", "")),
    )


def _compact(name: str, path: Path, doc: dict[str, Any]) -> Spec:
    """A fragment written from a vendor's reference where no OpenAPI document is published:
    ``source`` (text naming the page), ``api_version`` and ``paths``: template -> method ->
    ``{"query": [names]}``. Read into the same operations as an OpenAPI fragment."""
    source, version = doc.get("source"), doc.get("api_version")
    if not isinstance(source, str) or not source or not version:
        raise ValueError(f"{path}: source and api_version must say where the fragment came from")
    urls = re.findall(r"https?://[^\s)]+", source)
    ops = [
        Operation(
            method=method.upper(),
            template=template,
            operation_id="",
            query=frozenset((detail or {}).get("query", [])),
            pattern=_pattern(template),
        )
        for template, methods in doc["paths"].items()
        for method, detail in methods.items()
        if method in _METHODS
    ]
    return Spec(
        name=name,
        title=source.split(" (", 1)[0],
        version=str(version),
        source={"url": urls[0] if urls else "", "text": source},
        operations=tuple(ops),
    )


def assert_in_spec(name: str, requests: list[httpx.Request], *, prefix: str = "") -> None:
    """Fail naming every request that ``specs/<name>.json`` does not describe."""
    spec = load_spec(name)
    bad: list[str] = []
    for request in requests:
        try:
            spec.check(request, prefix=prefix)
        except SpecViolation as exc:
            bad.append(str(exc))
    assert not bad, "\n".join(bad)


def available_specs() -> list[str]:
    """Names of every spec fragment kept under ``specs/``."""
    return sorted(p.stem for p in SPEC_DIR.glob("*.json"))
