"""Structured logs: JSON and text lines, correlation ids across threads, no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.authorization import AuthorizeResult

from bot.logs import ContextExecutor, bind, configure_logging, current_ids, install_log_context
from bot.settings import Settings

CANARY_TOKEN = "xoxb-canary-1111-2222-abcdefabcdef"
CANARY_SECRET = "canary-signing-secret-9f8e7d6c5b4a"
CANARY_KEY = "sk-canary-model-key-0123456789abcdef"
CANARY_PD = "pd-canary-webhook-secret-5566778899"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        log_format="json",
        pagerduty_secret=CANARY_PD,
        slack={"bot_token": CANARY_TOKEN, "signing_secret": CANARY_SECRET},
        model={"api_key": CANARY_KEY},
    )


@pytest.fixture
def captured(settings: Settings) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(settings, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_bound_correlation_ids(captured: io.StringIO) -> None:
    log = logging.getLogger("agent.execution.executor")
    with bind(event_id="Ev0001", change_id=12):
        with bind(plan_hash="abc123"):
            log.info("running %s", "CR-12")
        log.warning("after the inner block")
    log.info("outside")
    first, second, third = lines(captured)
    assert first["message"] == "running CR-12"
    assert first["level"] == "info" and first["logger"] == "agent.execution.executor"
    assert (first["event_id"], first["change_id"], first["plan_hash"]) == ("Ev0001", "12", "abc123")
    assert "plan_hash" not in second and second["change_id"] == "12"
    assert not {"event_id", "change_id", "plan_hash", "call_id"} & set(third)
    assert current_ids() == {}


def test_extra_ids_win_over_bound_ones(captured: io.StringIO) -> None:
    with bind(change_id=1):
        logging.getLogger("x").info("call", extra={"change_id": 7, "call_id": "c-9"})
    (doc,) = lines(captured)
    assert doc["change_id"] == "7" and doc["call_id"] == "c-9"


def test_context_executor_keeps_ids_in_worker_threads(captured: io.StringIO) -> None:
    pool = ContextExecutor(max_workers=2)
    try:
        with bind(event_id="Ev0042"):
            fut = pool.submit(lambda: logging.getLogger("bot").info("in a thread"))
        fut.result(timeout=5)
        plain = pool.submit(lambda: logging.getLogger("bot").info("no ids"))
        plain.result(timeout=5)
    finally:
        pool.shutdown()
    with_ids, without = lines(captured)
    assert with_ids["event_id"] == "Ev0042"
    assert "event_id" not in without


def test_bind_refuses_an_unknown_id() -> None:
    with pytest.raises(ValueError, match="unknown correlation id"), bind(user="U1"):
        pass


def test_canary_secrets_never_reach_the_log(captured: io.StringIO) -> None:
    log = logging.getLogger("bot.app")
    log.info("token is %s", CANARY_TOKEN)
    log.info("webhook secret %s", CANARY_PD)
    log.warning("secret", extra={"call_id": CANARY_SECRET, "detail": {"key": CANARY_KEY}})
    try:
        raise RuntimeError(f"auth failed with {CANARY_KEY}")
    except RuntimeError:
        log.exception("integration failed")
    text = captured.getvalue()
    for canary in (CANARY_TOKEN, CANARY_SECRET, CANARY_KEY, CANARY_PD):
        assert canary not in text
    docs = lines(captured)
    assert len(docs) == 4
    assert "RuntimeError" in str(docs[3]["exc"])


def test_text_format_is_readable_with_ids(settings: Settings) -> None:
    stream = io.StringIO()
    handler = configure_logging(settings.model_copy(update={"log_format": "text"}), stream=stream)
    try:
        with bind(change_id=5):
            logging.getLogger("agent.execution.journal").info("moved to queued")
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    assert "INFO" in line and "agent.execution.journal: moved to queued" in line
    assert line.endswith("change_id=5")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_configuring_twice_keeps_one_handler(settings: Settings) -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    a = configure_logging(settings, stream=io.StringIO())
    b = configure_logging(settings, stream=io.StringIO())
    try:
        assert a not in root.handlers and b in root.handlers
        assert len(root.handlers) == before + 1
    finally:
        root.removeHandler(b)


def test_bolt_middleware_binds_the_event_id(captured: io.StringIO) -> None:
    def authorize(**_: object) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None, team_id="T1", bot_token="xoxb-unused", bot_user_id="UB", bot_id="B1"
        )

    app = App(
        authorize=authorize,
        signing_secret="unused",
        token_verification_enabled=False,
        request_verification_enabled=False,
        process_before_response=True,
    )
    install_log_context(app)

    @app.event("app_mention")
    def mention() -> None:
        logging.getLogger("bot.listeners").info("mention handled")

    body = {
        "type": "event_callback",
        "event_id": "Ev0BOLT1",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": {"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1.0"},
    }
    resp = app.dispatch(BoltRequest(body=json.dumps(body), headers={}))
    assert resp.status == 200
    docs = [d for d in lines(captured) if d["message"] == "mention handled"]
    assert docs and docs[0]["event_id"] == "Ev0BOLT1"


def test_serve_logging_replaces_the_cli_handler(settings: Settings) -> None:
    """``opshand`` starts with a plain stderr handler; serve's must replace it, not double it."""
    from bot.logs import configure_cli_logging

    root = logging.getLogger()
    kept = list(root.handlers)
    for h in kept:
        root.removeHandler(h)
    try:
        configure_cli_logging()
        assert len(root.handlers) == 1
        mine = configure_logging(settings, stream=io.StringIO())
        assert root.handlers == [mine]
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in kept:
            root.addHandler(h)
