"""The management listener: health, readiness and metrics apart, cheap and guarded."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import Engine, insert, update
from starlette.testclient import TestClient

from agent.execution import call_table
from agent.service import Operations
from bot.ingress.management import SlackCheck, health_routes, management_app
from bot.metrics import _CallCounts
from bot.settings import Settings
from twin.db import metadata
from twin.model import utcnow


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _failing() -> Any:
    resp = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/auth.test",
        req_args={},
        data={"ok": False, "error": "invalid_auth"},
        headers={},
        status_code=200,
    )
    raise SlackApiError("auth.test failed", resp)


def test_readiness_asks_a_failing_slack_once_per_ttl() -> None:
    clock = Clock()
    check = SlackCheck(_failing, clock=clock, ok_ttl=60, fail_ttl=10)
    answers = [check() for _ in range(50)]
    assert check.asked == 1 and set(answers) == {"auth.test failed: invalid_auth"}
    clock.t += 11
    check()
    assert check.asked == 2


def test_readiness_trusts_a_passing_slack_for_its_ttl() -> None:
    clock = Clock()
    calls: list[int] = []
    check = SlackCheck(lambda: calls.append(1), clock=clock, ok_ttl=60, fail_ttl=10)
    assert {check() for _ in range(20)} == {"ok"} and len(calls) == 1
    clock.t += 61
    assert check() == "ok" and len(calls) == 2


def _app(token: SecretStr | None, engine: Engine) -> TestClient:
    routes = health_routes(engine=engine, slack=lambda: "ok")
    return TestClient(management_app(list(routes), token=token))


def test_management_token_guards_every_route(engine: Engine) -> None:
    c = _app(SecretStr("mgmt-token"), engine)
    assert c.get("/healthz").status_code == 401
    assert c.get("/readyz", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = {"Authorization": "Bearer mgmt-token"}
    assert c.get("/healthz", headers=ok).json() == {"ok": True}
    assert c.get("/readyz", headers=ok).json()["ready"] is True
    assert _app(None, engine).get("/healthz").status_code == 200


def test_management_on_the_public_port_needs_a_token() -> None:
    assert "management.token" in Settings(management={"port": 0}).management_problem()
    assert Settings(management={"port": 0, "token": "t"}).management_problem() == ""
    assert Settings().management.host == "127.0.0.1" and Settings().management_problem() == ""


def _call(conn: Any, i: int, outcome: str = "calling") -> None:
    conn.execute(
        insert(call_table).values(
            change_id=1,
            target="host:x",
            idempotency_key=f"k{i}",
            capability="rmm.reboot",
            started_at=utcnow(),
            outcome=outcome,
            attempts=0,
            detail="",
        )
    )


class _Ledger:
    """The facade's ledger read, on a bare engine (no whole Operations needed)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    calls_after = Operations.calls_after


def test_call_counts_read_only_new_ledger_rows(engine: Engine) -> None:
    metadata.create_all(engine)
    counts = _CallCounts()
    ledger: Any = _Ledger(engine)
    with engine.begin() as conn:
        for i in range(100):
            _call(conn, i, "ok")
        _call(conn, 100)  # still in flight
    with engine.connect() as conn:
        counts.update(ledger)
    assert counts.counts == {("rmm.reboot", "ok"): 100}
    assert counts.in_flight == {"rmm.reboot": 1}
    first = counts.rows_read
    with engine.begin() as conn:
        conn.execute(
            update(call_table).where(call_table.c.idempotency_key == "k100").values(outcome="ok")
        )
        for i in range(101, 104):
            _call(conn, i, "failed")
    with engine.connect() as conn:
        counts.update(ledger)
        # a scrape reads what changed since the last one, not the whole ledger
        assert counts.rows_read - first == 4
        counts.update(ledger)
    assert counts.counts == {("rmm.reboot", "ok"): 101, ("rmm.reboot", "failed"): 3}
    assert counts.in_flight == {}
    assert counts.rows_read - first == 4
