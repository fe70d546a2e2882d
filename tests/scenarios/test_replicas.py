"""Three ``opshand serve`` replicas on one PostgreSQL schema, one killed mid-run (issue 12).

Each replica is the production command (``python -m bot.cli serve``, see
:mod:`tests.scenarios.replica_launcher`) configured only through ``OPSHAND_*`` variables: HTTP
mode against one local Slack Web API, a short executor lease, a fast inbox sweeper, and one
SQLite file for the simulated estate's call records, so "reached the sim once" is counted across
processes. A small round-robin balancer sits in front of them for Slack's deliveries and the
signal webhooks. The load mixes questions, restart requests, consent clicks and Alertmanager
alerts; one replica is SIGKILLed while it executes a change.

Checked: every request made exactly one change and every change reached the sim once; every
question and request was answered exactly once in its thread; every alert opened exactly one
incident and its repeat no second change; the killed replica's change was taken over; the
daily digest was posted once; the audit chain verifies.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import Engine, func, select

from tests.bot.world import all_blocks, texts
from tests.scenarios.replica_launcher import (
    ALERTMANAGER_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    ClusterConfig,
    Replica,
    mention_event,
    signed_headers,
    start_replica,
    stop_replicas,
    wait_ready,
)

T = TypeVar("T")

ANA, BEN, CHLOE = "U0LOCAL01", "U0LOCAL02", "U0LOCAL03"
LEASE_SECONDS = 2
"""Executor lease in the replicas: short, so a killed replica's claims move on quickly."""
SIM_SCALE = 0.08
"""A service restart takes ~2.8 s: long enough to hand the victim its orphan questions and kill
it while it executes, even on a loaded CI machine (at ~1.75 s one full run saw it finish
first)."""
INBOX_SWEEP_SECONDS = 1.0
INBOX_LEASE_SECONDS = 3.0
"""The durable Slack inbox: an event acked by the killed replica is replayed by a survivor
after its lease runs out, found by the next sweep."""
REPLAY_WINDOW = INBOX_LEASE_SECONDS + INBOX_SWEEP_SECONDS + 2.0
"""Seconds after which a replayed event has been answered (or a second answer has shown)."""
ORPHANS = 4
"""Questions sent straight to the victim just before it is killed."""
SIGNAL_SERVICE_SUFFIX = "-portal"
"""Services restarted by alerts, not by people (one open change per service at a time)."""


@dataclass
class Balancer:
    """Round-robin over live replicas; a replica that refuses connections is taken out.

    Forwards every POST path as is: Slack's request URL and the signal webhooks.
    """

    replicas: list[Replica]
    hits: Counter[str] = field(default_factory=Counter)
    _turn: Iterator[int] = field(default_factory=itertools.count)

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def forward(request: Request) -> Response:
            body = await request.body()
            skip = {"host", "content-length", "connection"}
            headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            for _ in range(len(self.replicas)):
                r = self.replicas[next(self._turn) % len(self.replicas)]
                if r.dead:
                    continue
                try:
                    async with httpx.AsyncClient(timeout=20) as client:
                        resp = await client.post(r.url + path, content=body, headers=headers)
                except httpx.TransportError:
                    r.dead = True  # what a load balancer's health check would conclude
                    continue
                self.hits[r.name] += 1
                kept = {"content-type": resp.headers.get("content-type", "text/plain")}
                return Response(resp.content, status_code=resp.status_code, headers=kept)
            return Response("no replica", status_code=503)

        return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])


def _wait(cond: Callable[[], T | None], timeout: float, what: str | Callable[[], str]) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(
        f"timed out after {timeout:g} s waiting for " + (what if isinstance(what, str) else what())
    )


def _texts(msgs: list[dict[str, Any]]) -> str:
    return texts(msgs)


def alertmanager_alert(service: str) -> dict[str, Any]:
    """An Alertmanager v4 webhook with one firing ``ServiceDown`` alert for ``service``.

    ``examples/runbooks.yaml`` (restart-down-service) answers it with ``service.restart``.
    """
    labels = {"alertname": "ServiceDown", "service": service, "severity": "critical"}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="ServiceDown"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "opshand",
        "groupLabels": {"alertname": "ServiceDown"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"{service} health check failing"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{service} health check failing"},
                "startsAt": "2026-03-02T08:55:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": uuid.uuid5(uuid.NAMESPACE_DNS, service).hex[:16],
            }
        ],
    }


# What the bot posts in a request's thread besides its answer to the event: the consent
# outcome, the result of the change. Anything else counts as an answer.
_FOLLOW_UP = re.compile(
    r"^(:(white_check_mark|no_entry_sign): CR-\d+ was "
    r"|CR-\d+ [a-z_ ]+$"
    r"|CR-\d+: \S.* )"
)
_DECISION = re.compile(
    r"^(CR-\d+: [a-z_ ]+|:hourglass_flowing_sand: CR-\d+ is waiting for consent .*)$"
)
"""The decision line, once per proposal the turn made: after the answer, or (waiting for consent)
the line linking the card."""


def _replies(msgs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The bot's answers to the event in a thread, and its decision lines."""
    said = [m for m in msgs if m.get("bot_id") and "Consent needed: CR-" not in _texts([m])]
    texts = [str(m.get("text", "")) for m in said]
    decisions = [t for t in texts if _DECISION.match(t)]
    answers = [t for t in texts if not _DECISION.match(t) and not _FOLLOW_UP.match(t)]
    return answers, decisions


@pytest.mark.postgres
@pytest.mark.timeout(150)
def test_three_replicas_one_killed_every_change_once(tmp_path: Path) -> None:
    from adapters.sim import SqliteCallStore
    from agent.audit import AuditLog, FileCheckpoint, Redactor, audit_table
    from agent.execution import FINAL_STATES, journal_table, target_table
    from agent.incidents import incident_table
    from bot.ingress import HttpServer
    from bot.localslack import LocalSlack
    from bot.tables import inbox_table
    from tests.bot.world import EVENTS
    from tests.conftest import _drop_schema, _pg_engine
    from twin.store import TwinStore

    schema = f"s_{uuid.uuid4().hex[:10]}"
    eng = _pg_engine(schema)
    url = eng.url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"
    eng.dispose()
    slack = LocalSlack(
        signing_secret=SIGNING_SECRET,
        bot_token=BOT_TOKEN,
        events=EVENTS,
        retry_delays=(0.2, 0.5, 1.0),
    )
    slack.start()
    calls_path = tmp_path / "sim-calls.db"
    cfg = ClusterConfig(
        database_url=url,
        slack_api_url=slack.api_url,
        sim_calls_file=calls_path,
        sim_scale=SIM_SCALE,
        lease_seconds=LEASE_SECONDS,
        env={
            "OPSHAND_INBOX__SWEEP_SECONDS": str(INBOX_SWEEP_SECONDS),
            "OPSHAND_INBOX__LEASE_SECONDS": str(INBOX_LEASE_SECONDS),
            # Due at once: all three schedulers try to post yesterday's digest at start-up.
            "OPSHAND_DIGEST__AT": "00:00",
        },
    )
    replicas: list[Replica] = []
    balancer_server: HttpServer | None = None
    engine: Engine | None = None
    try:
        # The replicas create the tables and seed the twin themselves (one does, under a lock).
        replicas = [start_replica(cfg, name=f"r{i}", workdir=tmp_path) for i in range(3)]
        wait_ready(replicas, timeout=90)
        balancer = Balancer(replicas)
        balancer_server = HttpServer(balancer.app())
        balancer_server.start()
        slack.bot_url = balancer_server.url
        signals_url = balancer_server.base_url + "/signals/alertmanager"
        engine = _pg_engine(schema)
        db: Engine = engine
        graph = TwinStore(db).load()
        services = sorted(e.name for e in graph.entities() if e.kind.value == "service")
        alerted = [s for s in services if s.endswith(SIGNAL_SERVICE_SUFFIX)]
        restarted = [s for s in services if s not in alerted]
        dbs = [n for n in restarted if n.endswith("-erp-db")]
        assert len(alerted) >= 3 and dbs, services

        def journal() -> list[Any]:
            with db.connect() as conn:
                return list(conn.execute(select(journal_table)).all())

        clicked: set[tuple[int, str]] = set()

        def approve_waiting() -> None:
            """Approvers click each open card once each (a second approver if quorum needs)."""
            for row in journal():
                if row.state != "awaiting_consent":
                    continue
                for voter in (BEN, CHLOE):
                    if (row.id, voter) in clicked:
                        continue
                    card = next(
                        (
                            m
                            for m in slack.messages("ops-approvals")
                            if f"Consent needed: CR-{row.id} " in _texts([m])
                        ),
                        None,
                    )
                    if card is None or not any(b["type"] == "actions" for b in all_blocks(card)):
                        break
                    clicked.add((row.id, voter))
                    slack.click(voter, "ops-approvals", card["ts"], "consent_approve")
                    break  # re-read the card before a second vote

        def alert(service: str) -> list[str]:
            resp = httpx.post(
                signals_url,
                json=alertmanager_alert(service),
                headers={"Authorization": f"Bearer {ALERTMANAGER_TOKEN}"},
                timeout=30,
            )
            assert resp.status_code == 202, resp.text
            return list(resp.json()["incidents"])

        def mention(words: str) -> str:
            return slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> {words}")

        questions: list[str] = []
        requests: list[str] = []
        opened: dict[str, list[str]] = {}
        half = len(restarted) // 2
        # Phase 1: mixed load on three replicas (alerts interleaved with Slack deliveries).
        for i, name in enumerate(restarted[:half]):
            requests.append(mention(f"restart {name}"))
            if i < len(dbs):
                questions.append(mention(f"what depends on {dbs[i]}?"))
            if i < 2:
                opened[alerted[i]] = alert(alerted[i])
        _wait(lambda: len(journal()) >= half + 2, 30, "phase-1 requests recorded")
        approve_waiting()
        # Kill a replica while it holds a change it is executing.
        victim = _wait(lambda: _executing_replica(db, replicas), 20, "a change executing")
        # Hand the victim questions it acknowledges but does not live to answer (sent at once,
        # killed as soon as it acked them): the inbox keeps them and a survivor's sweeper
        # replays them once their lease runs out.
        orphans = [
            mention_event(slack, ANA, "ops", f"<@{slack.bot_user_id}> what depends on {name}?")
            for name in restarted[:ORPHANS]
        ]

        def hand_to_victim(body: bytes) -> int:
            url = victim.url + "/slack/events"
            return httpx.post(url, content=body, headers=signed_headers(body)).status_code

        with ThreadPoolExecutor(ORPHANS) as pool:
            acks = list(pool.map(hand_to_victim, [body for _, body in orphans]))
        victim.kill()
        assert acks == [200] * ORPHANS, acks
        questions.extend(ts for ts, _ in orphans)
        held = sorted(c for c, w in _holders(db).items() if w == victim.name)
        assert held, f"{victim.name} finished its change before the kill: no takeover to check"
        # Phase 2: more load on the two survivors, a new alert and a repeat of an old one.
        for i, name in enumerate(restarted[half:]):
            requests.append(mention(f"restart {name}"))
            if i == 1:
                opened[alerted[2]] = alert(alerted[2])
            if i == 3:
                assert alert(alerted[0]) == opened[alerted[0]], "the repeat joins its incident"
            if i % 4 == 0:
                questions.append(mention(f"what depends on {name}?"))
        expected = len(requests) + 3
        _wait(lambda: len(journal()) >= expected, 30, "phase-2 requests recorded")

        def settled() -> bool:
            approve_waiting()
            rows = journal()
            return len(rows) == expected and all(r.state in FINAL_STATES for r in rows)

        # a bound, not a speed limit: ~35 restarts of ~2.8 s each on two or three replicas
        _wait(settled, 90, lambda: f"every change final: {Counter(r.state for r in journal())}")

        # Every request recorded exactly one change; every alert one change, via its incident.
        people = [r for r in journal() if r.source != "signal"]
        per_thread = Counter(r.thread_ts for r in people)
        assert sorted(per_thread) == sorted(requests)
        assert set(per_thread.values()) == {1}
        with db.connect() as conn:
            incidents = list(conn.execute(select(incident_table)).all())
        by_key = Counter(i.dedupe_key for i in incidents)
        assert by_key == Counter(f"restart:{s}" for s in alerted[:3]), by_key
        assert all(len(refs) == 1 for refs in opened.values()), opened
        repeated = next(i for i in incidents if i.dedupe_key == f"restart:{alerted[0]}")
        assert repeated.occurrences == 2
        from_signals = {r.id: r for r in journal() if r.source == "signal"}
        assert sorted(from_signals) == sorted(i.change_id for i in incidents), incidents
        assert len({tuple(r.targets) for r in from_signals.values()}) == 3

        # Every question and request answered exactly once in its thread. Wait long enough for
        # the inbox to replay an event the killed replica acked but never answered, then count
        # after a quiet period in which a second answer (a double replay) would have shown.
        def unanswered() -> list[str]:
            return [
                ts
                for ts in questions + requests
                if not _replies(slack.messages("ops", thread_ts=ts))[0]
            ]

        deadline = time.monotonic() + 4 * REPLAY_WINDOW
        while unanswered() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(REPLAY_WINDOW)
        for ts in questions + requests:
            answers, decisions = _replies(slack.messages("ops", thread_ts=ts))
            asked = next(m["text"] for m in slack.messages("ops") if m["ts"] == ts)
            assert len(answers) == 1, f"{asked!r} (ts {ts}) answered {len(answers)}x: {answers}"
            assert len(decisions) == (ts in requests), f"{asked!r}: decisions {decisions}"

        # Every Slack event stored by the inbox was finished; none was given up on.
        with db.connect() as conn:
            inbox = Counter(
                (row.state, row.attempts > 1)
                for row in conn.execute(select(inbox_table.c.state, inbox_table.c.attempts))
            )
        assert {state for state, _ in inbox} == {"done"}, inbox

        # Every change reached the sim once: one accepted call per idempotency key.
        with db.connect() as conn:
            keys = {
                k
                for (k,) in conn.execute(
                    select(target_table.c.idempotency_key).where(target_table.c.state != "pending")
                )
            }
            done = conn.execute(
                select(func.count())
                .select_from(journal_table)
                .where(journal_table.c.state == "reconciled")
            ).scalar_one()
        store = SqliteCallStore(calls_path)
        accepted = Counter(
            r.idempotency_key for r in store.records() if r.outcome == "ok" and r.idempotency_key
        )
        store.close()
        assert done >= expected // 2, "most restarts should have run"
        assert accepted and set(accepted.values()) == {1}, accepted.most_common(3)
        # A change's call carries its target row's key with the host it ran on appended; the
        # incidents' ticket calls carry the incident's ref (each ticket opened once).
        changes = [k for k in accepted if not k.startswith("INC-")]
        assert all(any(k == t or k.startswith(t + ":") for t in keys) for k in changes)
        opened_tickets = {k for k in accepted if k.startswith("INC-") and k.endswith(":open")}
        assert opened_tickets == {f"INC-{i.id}:open" for i in incidents}, opened_tickets

        # The load was spread, the victim's work was taken over, the digest was posted once.
        assert len([r for r in replicas if balancer.hits[r.name]]) == 3, balancer.hits
        with db.connect() as conn:
            takeovers = conn.execute(
                select(audit_table.c.change_id, audit_table.c.actor)
                .where(audit_table.c.kind == "change.lease_taken_over")
                .order_by(audit_table.c.seq)
            ).all()

        def taken_over_by(ids: list[int]) -> dict[int, str]:
            """Change id -> the worker that took it over last, for ``ids``."""
            last = {int(c): a.removeprefix("system:") for c, a in takeovers}
            missing = [c for c in ids if c not in last]
            assert not missing, f"{victim.name}'s changes {missing} were never taken over"
            return {c: last[c] for c in ids}

        assert takeovers, "no claimed change was ever taken over"
        # Each change the victim held when it died was taken over by a survivor. (A live
        # replica may also take over another live one's claim: the executor claims a batch and
        # heartbeats only the change it runs, so with a 2 s lease the rest of a batch expires.)
        assert taken_over_by(held) and victim.name not in taken_over_by(held).values()
        digests = Counter(_digest_day(c.params) for c in slack.calls("chat.postMessage"))
        del digests[None]
        assert digests and set(digests.values()) == {1}, digests

        # The audit chain written by three processes verifies.
        audit = AuditLog(db, Redactor(), FileCheckpoint(tmp_path / "verify.checkpoint"))
        verdict = audit.verify()
        assert verdict.ok, verdict
    finally:
        if engine is not None:
            engine.dispose()
        if balancer_server is not None:
            balancer_server.stop()
        stop_replicas(replicas)
        slack.stop()
        _drop_schema(schema)


def _digest_day(params: dict[str, Any]) -> str | None:
    """The day a ``chat.postMessage`` call posted the digest for, or None for other posts."""
    from bot.digest import DIGEST_EVENT

    meta = params.get("metadata")
    if isinstance(meta, str):
        meta = json.loads(meta)
    if not isinstance(meta, dict) or meta.get("event_type") != DIGEST_EVENT:
        return None
    return str((meta.get("event_payload") or {}).get("day"))


def _holders(engine: Engine) -> dict[int, str]:
    """Change id -> the worker that holds it now, for every change in ``executing``.

    The holder is the actor of the change's latest claim: its move to ``executing`` or, after
    a lease ran out, the ``change.lease_taken_over`` by another worker.
    """
    from agent.audit import audit_table
    from agent.execution import journal_table

    with engine.connect() as conn:
        ids = [
            str(i)
            for (i,) in conn.execute(
                select(journal_table.c.id).where(journal_table.c.state == "executing")
            )
        ]
        claims = conn.execute(
            select(audit_table.c.change_id, audit_table.c.actor)
            .where(
                audit_table.c.change_id.in_(ids),
                audit_table.c.kind.like("%executing%")
                | (audit_table.c.kind == "change.lease_taken_over"),
            )
            .order_by(audit_table.c.seq)
        ).all()
    return {int(cid): actor.removeprefix("system:") for cid, actor in claims}


def _executing_replica(engine: Engine, replicas: list[Replica]) -> Replica | None:
    """A live replica holding a change in ``executing`` now."""
    holders = set(_holders(engine).values())
    return next((r for r in replicas if not r.dead and r.name in holders), None)
