"""A real ``opshand serve`` in Socket Mode against the local workspace's Socket Mode endpoint.

The replica is the production command configured only through ``OPSHAND_*`` variables; it
reaches LocalSlack's ``apps.connections.open`` with its app-level token and gets every event,
click and command as an envelope over the WebSocket. Events go through the durable inbox
(stored before the ack), so the inbox table is read here to show what happened.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_bolt import App
from sqlalchemy import Engine, select

from bot.ingress import Inbox
from bot.localslack import LocalSlack, payloads
from bot.tables import inbox_table
from tests.bot.world import texts
from tests.conftest import _drop_schema, _pg_engine
from twin.db import make_engine
from twin.model import utcnow

SECRET = "socket-serve-signing-secret"
BOT_TOKEN = "xoxb-socket-serve-0001"
APP_TOKEN = "xapp-1-A0LOCAL01-socket-serve"
REPLICA = "socket-replica"
ANA, BEN = "U0LOCAL01", "U0LOCAL02"
ROOT = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 90.0


@dataclass
class Replica:
    """One ``opshand serve --socket`` process and the workspace it is connected to."""

    slack: LocalSlack
    proc: subprocess.Popen[bytes]
    log: Path
    engine: Engine
    port: int = 0
    """Where serve answers the signal webhooks."""
    management_port: int = 0
    """Where serve answers health, readiness and metrics."""

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def said(self, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's messages in the thread of ``#ops`` started at ``thread_ts``."""
        return [m for m in self.slack.messages("ops", thread_ts=thread_ts) if m.get("bot_id")]

    def inbox_row(self, event_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(inbox_table).where(inbox_table.c.event_id == event_id)
            ).first()


def _env(slack: LocalSlack, data_dir: Path, db_url: str, app_token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSHAND_")}
    env.update(
        {
            "OPSHAND_DATA_DIR": str(data_dir),
            "OPSHAND_DATABASE_URL": db_url,
            "OPSHAND_REPLICA_ID": REPLICA,
            "OPSHAND_SAMPLE_ENDPOINTS": "200",
            "OPSHAND_SIM_SCALE": "0",
            "OPSHAND_INBOX__SWEEP_SECONDS": "0.5",
            "OPSHAND_SLACK__MODE": "socket",
            "OPSHAND_SLACK__APP_TOKEN": app_token,
            "OPSHAND_SLACK__BOT_TOKEN": BOT_TOKEN,
            "OPSHAND_SLACK__SIGNING_SECRET": SECRET,
            "OPSHAND_SLACK__API_URL": slack.api_url,
            "OPSHAND_SLACK__PORT": str(_free_port()),
            "OPSHAND_MANAGEMENT__PORT": str(_free_port()),
        }
    )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _local_slack() -> LocalSlack:
    return LocalSlack(
        signing_secret=SECRET,
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        ack_timeout=2.0,
        retry_delays=(0.0, 0.1, 0.2),
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def replica(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replica]:
    tmp = tmp_path_factory.mktemp("socket")
    schema = ""
    if request.param == "postgres":
        schema = f"s_{uuid.uuid4().hex[:10]}"
        eng = _pg_engine(schema)
        db_url = (
            eng.url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"
        )
        eng.dispose()
    else:
        db_url = f"sqlite:///{tmp / 'opshand.db'}"
    slack = _local_slack()
    slack.start()
    log = tmp / "serve.log"
    env = _env(slack, tmp / "data", db_url, APP_TOKEN)
    proc = _serve(env, log)
    engine = make_engine(db_url)
    r = Replica(
        slack,
        proc,
        log,
        engine,
        int(env["OPSHAND_SLACK__PORT"]),
        int(env["OPSHAND_MANAGEMENT__PORT"]),
    )
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not slack.socket_mode.connected:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not connect over Socket Mode:\n{r.tail()}")
            time.sleep(0.1)
        yield r
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        engine.dispose()
        slack.stop()
        if schema:
            _drop_schema(schema)
    assert proc.returncode == 0, r.tail()


def _wait_done(r: Replica, event_id: str) -> Any:
    return r.slack.wait_for(
        lambda: (row := r.inbox_row(event_id)) is not None and row.state == "done" and row,
        timeout=30,
    )


def _event_id_of(r: Replica, ts: str) -> str:
    for a in r.slack.socket_mode.attempts:
        inner = a.payload["payload"]
        if a.kind == "event" and inner["event"].get("ts") == ts:
            return str(inner["event_id"])
    raise AssertionError(f"no envelope for message {ts}")


def test_mention_is_answered_in_its_thread_through_the_inbox(replica: Replica) -> None:
    slack = replica.slack
    ts = slack.send_message(ANA, "#ops", f"<@{slack.bot_user_id}> what is down?")
    slack.wait_for(lambda: replica.said(ts), timeout=30)
    row = _wait_done(replica, _event_id_of(replica, ts))
    assert (row.owner, row.attempts, row.event_type) == (REPLICA, 1, "app_mention")
    assert slack.deliveries() == []  # nothing went over HTTP


def test_consent_click_is_recorded_over_the_socket(replica: Replica) -> None:
    slack = replica.slack
    ts = slack.send_message(
        ANA, "#ops", f"<@{slack.bot_user_id}> reboot contoso-ny-bkp-prod-01 now"
    )
    ask = slack.wait_for(
        lambda: next((m for m in replica.said(ts) if "waiting for consent" in texts([m])), None),
        timeout=30,
    )
    ref = re.search(r"CR-\d+", texts([ask]))
    assert ref is not None
    needle = f"Consent needed: {ref.group(0)} "
    card = slack.wait_for(
        lambda: next((m for m in slack.messages("ops-approvals") if needle in texts([m])), None),
        timeout=30,
    )
    assert slack.click(BEN, "ops-approvals", card["ts"], "consent_approve") == 200
    slack.wait_for(
        lambda: f"was approved by <@{BEN}>" in texts(replica.said(ts)),
        timeout=30,
    )
    [click] = [a for a in slack.socket_mode.attempts if a.kind == "interaction"]
    assert click.payload["type"] == "interactive"
    assert click.payload["payload"]["user"]["id"] == BEN


def test_slash_command_is_answered_in_the_ack_and_through_response_url(replica: Replica) -> None:
    slack = replica.slack
    assert slack.slash(ANA, "#ops", "/opshand", "help") == 200
    help_text = slack.wait_for(lambda: slack.ephemerals(ANA, "ops"), timeout=10)[-1]["text"]
    assert "/opshand pending" in help_text  # the ack's payload, shown as Slack shows it
    assert slack.slash(ANA, "#ops", "/opshand", "pending") == 200
    slack.wait_for(
        lambda: any("waiting for consent" in e["text"] for e in slack.ephemerals(ANA, "ops")),
        timeout=20,
    )
    commands = [a for a in slack.socket_mode.attempts if a.kind == "command"]
    assert [a.payload["payload"]["text"] for a in commands] == ["help", "pending"]


def test_envelope_whose_ack_was_lost_is_redelivered_and_processed_once(
    replica: Replica,
) -> None:
    slack = replica.slack
    ask = f"<@{slack.bot_user_id}> what is the status of contoso-ny-bkp-prod-01?"
    baseline = slack.send_message(ANA, "#ops", ask)
    slack.wait_for(lambda: replica.said(baseline), timeout=30)
    _wait_done(replica, _event_id_of(replica, baseline))

    slack.socket_mode.drop_next_acks(1)
    ts = slack.send_message(ANA, "#ops", ask)
    tries = [
        a
        for a in slack.socket_mode.attempts
        if a.kind == "event" and a.payload["payload"]["event"]["ts"] == ts
    ]
    assert [(a.retry_num, a.status) for a in tries] == [(0, 0), (1, 200)]
    assert tries[1].payload["retry_attempt"] == 1
    row = _wait_done(replica, _event_id_of(replica, ts))
    assert row.attempts == 1  # stored once; the redelivery was acknowledged and dropped
    time.sleep(1.0)  # room for a wrongly repeated answer to show up
    assert len(replica.said(ts)) == len(replica.said(baseline))


def test_event_stored_by_a_replica_that_died_is_answered_by_the_sweeper(
    replica: Replica,
) -> None:
    slack = replica.slack
    ops = slack.channel_id("ops")
    stored = slack.workspace.add_message(
        ops,
        payloads.user_message(
            user_id=ANA,
            text=f"<@{slack.bot_user_id}> what is down?",
            ts=slack.workspace.next_ts(),
            thread_ts=None,
            parent_user_id=None,
        ),
    )
    envelope = payloads.event_envelope(
        payloads.message_event(stored, channel_id=ops, event_type="app_mention")
    )
    # Another replica stored the event and acknowledged the envelope, then was killed before
    # dispatching it; its lease ran out long ago.
    dead = Inbox(
        replica.engine,
        App(signing_secret=SECRET, token=BOT_TOKEN, token_verification_enabled=False),
        signing_secret=SECRET,
        owner="replica-killed",
        lease=timedelta(seconds=30),
        max_attempts=5,
        now=lambda: utcnow() - timedelta(minutes=5),
    )
    assert dead.accept(json.dumps(envelope), envelope) is not None
    slack.wait_for(lambda: replica.said(str(stored["ts"])), timeout=30)
    row = _wait_done(replica, envelope["event_id"])
    assert (row.owner, row.attempts) == (REPLICA, 2)
    # it came from the sweeper, not from a delivery
    assert all(
        a.payload["payload"].get("event_id") != envelope["event_id"]
        for a in slack.socket_mode.attempts
    )


@pytest.mark.parametrize(
    ("token", "code"),
    [("xapp-1-A0LOCAL01-not-ours", "invalid_auth"), (BOT_TOKEN, "not_allowed_token_type")],
)
def test_refused_app_token_makes_serve_exit_with_a_clear_message(
    tmp_path: Path, token: str, code: str
) -> None:
    with _local_slack() as slack:
        log = tmp_path / "serve.log"
        env = _env(slack, tmp_path / "data", f"sqlite:///{tmp_path / 'o.db'}", token)
        proc = _serve(env, log)
        try:
            assert proc.wait(timeout=BOOT_TIMEOUT) == 2
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
    said = log.read_text()
    assert f"Slack refused the app-level token ({code})" in said
    assert "OPSHAND_SLACK__APP_TOKEN" in said
    assert token not in said
    assert "Traceback" not in said


def test_health_metrics_and_webhooks_are_served_over_http_in_socket_mode(
    replica: Replica,
) -> None:
    base = f"http://127.0.0.1:{replica.port}"
    manage = f"http://127.0.0.1:{replica.management_port}"
    assert httpx.get(manage + "/healthz", timeout=5).json() == {"ok": True}
    ready = httpx.get(manage + "/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["database"] == "ok", ready.text
    assert "opshand_inbox_pending" in httpx.get(manage + "/metrics", timeout=5).text
    # none of the three is on the public listener (the webhooks' and Slack's door)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(base + path, timeout=5).status_code == 404
    # Slack's requests never come over HTTP in Socket Mode: the route is not there
    assert httpx.post(base + "/slack/events", content=b"{}", timeout=5).status_code == 404
