"""Recorded exchanges: real vendor payloads replayed against a client as regression cases.

A case is one JSON file under ``recorded/<vendor>/<case>.json``::

    {
      "vendor": "okta",                       # a key of REPLAY_CLIENTS
      "description": "what this case shows",
      "source": "where the payloads came from (estate, date, API version); scrubbed",
      "client": {"disable_mode": "suspend"},  # optional extra constructor arguments
      "call": {"method": "disable_user", "args": ["00u1"], "kwargs": {"idempotency_key": "k1"}},
      "exchanges": [                          # in the order the client sends them
        {"request": {"method": "GET", "path": "/api/v1/users/00u1",
                     "query": {"limit": "200"},   # optional: these keys must match exactly
                     "json": {...}},              # optional: the body must equal this
         "response": {"status": 200, "headers": {"Link": "..."}, "json": {...}}}
      ],
      "expect": {"result": {"status": "disabled"}}    # a subset of the result's model_dump
             or {"error": "RequestRejected"}          # the adapters.errors class raised
    }

Replay serves the responses in order and fails when the client sends a different request, an
extra one, or fewer; every request is also checked against the vendor's spec fragment. Token
requests of OAuth vendors are answered automatically unless the case records them.

Secrets never belong in a case: :func:`scrub` replaces the values of secret-looking keys and
bearer/basic credentials with ``"<scrubbed>"``, and ``test_recorded`` refuses any case that
still holds one. To add a case from your estate: capture the request/response pairs (e.g. with
``httpx`` event hooks or your proxy's export), run them through :func:`scrub`, write the file,
and run ``pytest tests/adapters/vendors/test_recorded.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import ResilienceOptions
from adapters.vendors import (
    JiraServiceManagementClient,
    OktaClient,
    OPNsenseClient,
    ServiceNowClient,
)
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.spec_contract import load_spec

RECORDED_DIR = Path(__file__).resolve().parent / "recorded"
SCRUBBED = "<scrubbed>"
_SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|authorization|cookie|session[_-]?id|private)",
    re.I,
)
_SECRET_VALUE = re.compile(r"^(Bearer|Basic|SSWS)\s+\S+", re.I)

ClientFactory = Callable[[httpx.Client, FakeTime, dict[str, Any]], Any]
_OPTIONS = ResilienceOptions(max_attempts=1, failure_threshold=100)


def _okta(http: httpx.Client, t: FakeTime, extra: dict[str, Any]) -> OktaClient:
    return OktaClient(
        "https://acme.okta.example", api_token=SecretStr("x"), http_client=http,
        options=_OPTIONS, hooks=t.hooks(), secret_sink=lambda _a, _s: None, **extra,
    )  # fmt: skip


def _jira(http: httpx.Client, t: FakeTime, extra: dict[str, Any]) -> JiraServiceManagementClient:
    return JiraServiceManagementClient(
        "https://acme.atlassian.example", email="bot@acme.example", api_token=SecretStr("x"),
        http_client=http, project_key=extra.pop("project_key", "OPS"), options=_OPTIONS,
        hooks=t.hooks(), **extra,
    )  # fmt: skip


def _servicenow(http: httpx.Client, t: FakeTime, extra: dict[str, Any]) -> ServiceNowClient:
    return ServiceNowClient(
        "https://acme.service-now.example", username="opshand", password=SecretStr("x"),
        http_client=http, options=_OPTIONS, hooks=t.hooks(), **extra,
    )  # fmt: skip


def _opnsense(http: httpx.Client, t: FakeTime, extra: dict[str, Any]) -> OPNsenseClient:
    return OPNsenseClient(
        "https://fw.example", api_key="k", api_secret=SecretStr("x"), http_client=http,
        options=_OPTIONS, hooks=t.hooks(), **extra,
    )  # fmt: skip


REPLAY_CLIENTS: dict[str, tuple[ClientFactory, str]] = {
    "okta": (_okta, "okta"),
    "jira_sm": (_jira, "jira"),
    "servicenow": (_servicenow, "servicenow"),
    "opnsense": (_opnsense, "opnsense"),
}
"""vendor -> (client factory, spec fragment name). Other vendors add their entry here."""

_TOKEN_PATHS = ("/oauth_token.do", "/ws/oauth/token", "/api/oauth2/token", "/oauth2/v2.0/token")


@dataclass
class Case:
    """One recorded case, as read from its file."""

    path: Path
    vendor: str
    description: str
    source: str
    call: dict[str, Any]
    exchanges: list[dict[str, Any]]
    expect: dict[str, Any]
    client: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.vendor}/{self.path.stem}"


def load_cases(root: Path = RECORDED_DIR) -> list[Case]:
    """Every case under ``root``; a malformed file fails naming the file and the field."""
    cases = []
    for path in sorted(root.glob("*/*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        try:
            cases.append(
                Case(
                    path=path,
                    vendor=raw["vendor"],
                    description=raw["description"],
                    source=raw["source"],
                    call=raw["call"],
                    exchanges=raw["exchanges"],
                    expect=raw["expect"],
                    client=raw.get("client", {}),
                )
            )
        except KeyError as exc:
            raise ValueError(f"{path}: recorded case lacks the field {exc}") from exc
    return cases


def scrub(value: Any, *, secret: bool = False) -> Any:
    """``value`` with every secret-looking field or credential replaced by ``<scrubbed>``.

    A key that names a secret (``client_secret``, ``password``, ``Authorization`` ...) scrubs
    everything beneath it; credentials (``Bearer``/``Basic``/``SSWS`` values) are scrubbed
    wherever they are.
    """
    if isinstance(value, dict):
        return {k: scrub(v, secret=secret or bool(_SECRET_KEY.search(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secret=secret) for v in value]
    scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
    credential = isinstance(value, str) and bool(_SECRET_VALUE.match(value))
    if scalar and value != SCRUBBED and (secret or credential):
        return SCRUBBED
    return value


class Replayer:
    """An ``httpx`` transport handler serving a case's responses in order."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.spec = load_spec(REPLAY_CLIENTS[case.vendor][1])
        self.pending = list(case.exchanges)
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        self.spec.check(request)
        path = request.url.path
        if path.endswith(_TOKEN_PATHS) and not (
            self.pending and self.pending[0]["request"]["path"] == path
        ):
            return httpx.Response(200, json={"access_token": "replay", "expires_in": 3600})
        where = f"{self.case.name}: request {len(self.sent)} ({request.method} {path})"
        assert self.pending, f"{where} was not recorded (the client sent more than the case)"
        exchange = self.pending.pop(0)
        want = exchange["request"]
        assert (request.method, path) == (want["method"].upper(), want["path"]), (
            f"{where}: the case recorded {want['method']} {want['path']} next"
        )
        for name, value in want.get("query", {}).items():
            got = request.url.params.get(name)
            assert got == str(value), f"{where}: query {name}={got!r}, recorded {value!r}"
        if "json" in want:
            body = json.loads(request.content) if request.content else None
            assert body == want["json"], f"{where}: body {body!r}, recorded {want['json']!r}"
        answer = exchange["response"]
        headers = answer.get("headers", {})
        if "json" in answer:
            return httpx.Response(answer["status"], json=answer["json"], headers=headers)
        return httpx.Response(
            answer["status"], content=answer.get("text", "").encode(), headers=headers
        )


def replay(case: Case) -> tuple[Any, Replayer]:
    """Run the case's call against its vendor client; return (result or exception, replayer)."""
    factory, _spec = REPLAY_CLIENTS[case.vendor]
    replayer = Replayer(case)
    client = factory(
        httpx.Client(transport=httpx.MockTransport(replayer)), FakeTime(), dict(case.client)
    )
    method = getattr(client, case.call["method"])
    try:
        result: Any = method(*case.call.get("args", []), **case.call.get("kwargs", {}))
    except Exception as exc:  # the case may expect an error; the caller compares
        result = exc
    return result, replayer
