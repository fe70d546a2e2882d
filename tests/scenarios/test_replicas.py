"""Three opshand replica processes on one PostgreSQL schema, one replica killed mid-run.

Each replica is a real process serving the production HTTP app (``bot.http``) with its own
executor worker, all behind a small round-robin load balancer and talking to one local Slack
Web API. The simulated estate's call records live in one SQLite file shared by the replicas,
so "reached the sim once" is counted across processes.

Run as a module (``python -m tests.scenarios.test_replicas --port ...``) this file *is* a
replica: ``opshand serve`` cannot yet be given a shared sim call store or a short executor
lease (see the report of issue 12), so the replica is wired here the way ``serve`` wires it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.settings import Settings

SIGNING_SECRET = "replica-signing-secret-0001"
BOT_TOKEN = "xoxb-replica-0001"
ANA, BEN, CHLOE = "U0LOCAL01", "U0LOCAL02", "U0LOCAL03"
LEASE_SECONDS = 2.0
"""Executor lease in the replicas: short, so a killed replica's claims move on quickly."""
SIM_SCALE = 0.05
"""A service restart takes ~1.75 s: long enough to kill a replica while it executes."""
ROOT = Path(__file__).resolve().parents[2]


def replica_settings(url: str, data_dir: Path, port: int = 0, api_url: str = "") -> Settings:
    """The settings every replica (and the seeding process) uses."""
    return Settings(
        data_dir=data_dir,
        database_url=url,
        sample_endpoints=200,
        sim_scale=SIM_SCALE,
        slack={
            "mode": "http",
            "bot_token": BOT_TOKEN,
            "signing_secret": SIGNING_SECRET,
            "api_url": api_url or None,
            "port": port,
        },
    )


# ---------------------------------------------------------------------------- the replica
def replica_main(argv: list[str]) -> None:
    """Serve one replica until killed (what ``opshand serve`` does, plus the test hooks)."""
    import uvicorn

    from adapters.sim import SimEstate, SimTimings, SqliteCallStore, SystemClock
    from agent.capabilities import Adapters
    from agent.executor import Executor
    from bot.app import build_app
    from bot.bootstrap import bootstrap
    from bot.http import create_http_app
    from bot.logs import configure_logging
    from bot.metrics import install_metrics, metrics_routes
    from twin.db import make_engine
    from twin.store import TwinStore

    p = argparse.ArgumentParser()
    for name in ("--url", "--data-dir", "--api-url", "--calls", "--name"):
        p.add_argument(name, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sim-scale", type=float, default=SIM_SCALE)
    a = p.parse_args(argv)
    os.environ["OPSHAND_REPLICA_ID"] = a.name
    settings = replica_settings(a.url, Path(a.data_dir), a.port, a.api_url)
    configure_logging(settings.model_copy(update={"log_format": "json"}))
    engine = make_engine(a.url)
    graph = TwinStore(engine).load()
    engine.dispose()
    # Hook 1: the sim's call records shared by every replica (bootstrap builds a private sim).
    sim = SimEstate.from_twin(
        list(graph.entities()),
        list(graph.relations()),
        clock=SystemClock(),
        timings=SimTimings(scale=a.sim_scale),
        store=SqliteCallStore(a.calls),
    )
    adapters = Adapters(
        rmm=sim.rmm,
        psa=sim.psa,
        siem=sim.siem,
        identity=sim.identity,
        backup=sim.backup,
        firewall=sim.firewall,
    )
    oh = bootstrap(settings, adapters=adapters)
    # Hook 2: a named worker with a short lease (bootstrap's executor holds claims for 60 s).
    ops = oh.ops
    ops.executor = Executor(
        oh.engine,
        ops.journal,
        oh.store,
        lambda: ops.graph,
        adapters,
        audit=ops.audit,
        recheck=ops.recheck,
        poll_interval=0.05,
        worker_id=a.name,
        lease=timedelta(seconds=LEASE_SECONDS),
    )
    ops.start_worker(interval=0.2)
    bolt = build_app(oh)
    metrics = install_metrics(bolt, oh)
    asgi = create_http_app(
        bolt,
        engine=oh.engine,
        signing_secret=SIGNING_SECRET,
        routes=metrics_routes(oh),
    )
    uvicorn.run(
        metrics.asgi(asgi), host="127.0.0.1", port=a.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    replica_main(sys.argv[1:])


# ---------------------------------------------------------------------------- the test
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    dead: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Balancer:
    """Round-robin over live replicas; a replica that refuses connections is taken out."""

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
            for _ in range(len(self.replicas)):
                r = self.replicas[next(self._turn) % len(self.replicas)]
                if r.dead:
                    continue
                try:
                    async with httpx.AsyncClient(timeout=10) as client:
                        resp = await client.post(
                            r.url + "/slack/events", content=body, headers=headers
                        )
                except httpx.TransportError:
                    r.dead = True  # what a load balancer's health check would conclude
                    continue
                self.hits[r.name] += 1
                kept = {"content-type": resp.headers.get("content-type", "text/plain")}
                return Response(resp.content, status_code=resp.status_code, headers=kept)
            return Response("no replica", status_code=503)

        return Starlette(routes=[Route("/slack/events", forward, methods=["POST"])])


def _wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _texts(msgs: list[dict[str, Any]]) -> str:
    from tests.bot.world import texts

    return texts(msgs)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_three_replicas_one_killed_every_change_once(tmp_path: Path) -> None:
    from adapters.sim import SqliteCallStore
    from agent.audit import AuditLog, FileCheckpoint, audit_table
    from agent.journal import FINAL_STATES, journal_table, target_table
    from agent.redact import Redactor
    from bot.bootstrap import bootstrap
    from bot.http import HttpServer
    from bot.localslack import LocalSlack
    from tests.bot.world import EVENTS
    from tests.conftest import _drop_schema, _pg_engine

    schema = f"s_{uuid.uuid4().hex[:10]}"
    eng = _pg_engine(schema)
    url = eng.url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"
    eng.dispose()
    # Seed the twin and create the tables once, before any replica starts.
    seeded = bootstrap(replica_settings(url, tmp_path / "seed"))
    services = sorted(e.name for e in seeded.ops.graph.entities() if e.kind.value == "service")
    dbs = [n for n in services if n.endswith("-erp-db")]
    seeded.close()

    slack = LocalSlack(
        signing_secret=SIGNING_SECRET,
        bot_token=BOT_TOKEN,
        events=EVENTS,
        retry_delays=(0.2, 0.5, 1.0),
    )
    slack.start()
    calls_path = tmp_path / "sim-calls.db"
    replicas: list[Replica] = []
    balancer_server: HttpServer | None = None
    engine: Any = None
    try:
        for i in range(3):
            port = free_port()
            log = tmp_path / f"r{i}.log"
            cmd = [
                sys.executable, "-m", "tests.scenarios.test_replicas",
                "--url", url, "--data-dir", str(tmp_path / f"r{i}"), "--api-url", slack.api_url,
                "--calls", str(calls_path), "--name", f"r{i}", "--port", str(port),
            ]  # fmt: skip
            with log.open("wb") as out:
                proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            replicas.append(Replica(f"r{i}", port, proc, log))
        for r in replicas:
            _wait(lambda r=r: _ready(r), 60, f"replica {r.name} ready ({r.log.read_text()[-800:]})")
        balancer = Balancer(replicas)
        balancer_server = HttpServer(balancer.app())
        balancer_server.start()
        slack.bot_url = balancer_server.url
        engine = _pg_engine(schema)
        assert engine is not None

        def journal() -> list[Any]:
            with engine.connect() as conn:
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
                    if card is None or not any(b["type"] == "actions" for b in card["blocks"]):
                        break
                    clicked.add((row.id, voter))
                    slack.click(voter, "ops-approvals", card["ts"], "consent_approve")
                    break  # re-read the card before a second vote

        questions: list[str] = []
        requests: list[str] = []
        half = len(services) // 2
        # Phase 1: mixed load on three replicas.
        for i, name in enumerate(services[:half]):
            requests.append(
                slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> restart {name}")
            )
            if i < len(dbs):
                questions.append(
                    slack.send_message(
                        ANA, "ops", f"<@{slack.bot_user_id}> what depends on {dbs[i]}?"
                    )
                )
        _wait(lambda: len(journal()) >= half, 30, "phase-1 requests recorded")
        approve_waiting()
        # Kill a replica while it holds a change it is executing.
        victim = _wait(lambda: _executing_replica(engine, replicas), 20, "a change executing")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        victim.dead = True
        # Phase 2: more load on the two survivors.
        for name in services[half:]:
            requests.append(
                slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> restart {name}")
            )
        _wait(lambda: len(journal()) >= len(services), 30, "phase-2 requests recorded")

        def settled() -> bool:
            approve_waiting()
            rows = journal()
            return len(rows) == len(requests) and all(r.state in FINAL_STATES for r in rows)

        _wait(settled, 45, "every change final")

        # Every request recorded exactly one change; every question answered once.
        per_thread = Counter(r.thread_ts for r in journal())
        assert sorted(per_thread) == sorted(requests)
        assert set(per_thread.values()) == {1}
        for ts in questions:
            said = _wait(
                lambda ts=ts: [m for m in slack.messages("ops", thread_ts=ts) if m.get("bot_id")],
                20,
                "an answer",
            )
            time.sleep(0)  # answers are posted once; count after all changes settled
            assert len(said) == 1, _texts(said)
        # Every change reached the sim once: one accepted call per idempotency key.
        with engine.connect() as conn:
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
        assert done >= len(services) // 2, "most restarts should have run"
        assert accepted and set(accepted.values()) == {1}, accepted.most_common(3)
        # the sim's key is the target row's key with the host it ran on appended
        assert all(any(k == t or k.startswith(t + ":") for t in keys) for k in accepted)
        # The load was spread, the victim's work was taken over, the audit chain holds.
        assert len([r for r in replicas if balancer.hits[r.name]]) == 3, balancer.hits
        with engine.connect() as conn:
            takeovers = conn.execute(
                select(audit_table.c.actor).where(audit_table.c.kind == "change.lease_taken_over")
            ).all()
        assert takeovers, "the killed replica's claimed change was never taken over"
        assert all(a != f"system:{victim.name}" for (a,) in takeovers)
        audit = AuditLog(engine, Redactor(), FileCheckpoint(tmp_path / "verify.checkpoint"))
        verdict = audit.verify()
        assert verdict.ok, verdict
    finally:
        if engine is not None:
            engine.dispose()
        if balancer_server is not None:
            balancer_server.stop()
        for r in replicas:
            if r.proc.poll() is None:
                r.proc.send_signal(signal.SIGTERM)
                try:
                    r.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    r.proc.kill()
                    r.proc.wait(timeout=5)
        slack.stop()
        _drop_schema(schema)


def _ready(r: Replica) -> bool:
    if r.proc.poll() is not None:
        raise AssertionError(f"replica {r.name} exited:\n{r.log.read_text()[-2000:]}")
    try:
        return httpx.get(r.url + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _executing_replica(engine: Any, replicas: list[Replica]) -> Replica | None:
    """A live replica holding a change in ``executing`` now (from the audit of its claim)."""
    from agent.audit import audit_table
    from agent.journal import journal_table

    with engine.connect() as conn:
        ids = [
            str(i)
            for (i,) in conn.execute(
                select(journal_table.c.id).where(journal_table.c.state == "executing")
            )
        ]
        if not ids:
            return None
        actors = {
            a
            for (a,) in conn.execute(
                select(audit_table.c.actor).where(
                    audit_table.c.change_id.in_(ids), audit_table.c.kind.like("%executing%")
                )
            )
        }
    for r in replicas:
        if not r.dead and f"system:{r.name}" in actors:
            return r
    return None
