"""Builders shared by the execution tests: an Operations over any engine and any adapters,
a way to queue a rehearsed plan directly, and the estate served to worker processes."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from adapters import HttpHooks, ResilienceOptions
from adapters.sim import SimEstate, SimTimings, SystemClock
from agent.approval import Guardrails, RoleMap
from agent.audit import AuditLog, Redactor
from agent.execution import Adapters, Change, Executor, HoldPolicy
from agent.execution.executor import LEASE
from agent.policy import load_policy, load_policy_text
from agent.service import Operations
from agent.wiring import build_core, sim_adapters
from tests.estate import small_estate
from twin.ingest import IngestBatch
from twin.model import Entity, Relation, utcnow
from twin.plan import rehearse
from twin.store import TwinStore

ROOT = Path(__file__).resolve().parents[3]
TEAM = "T0TEST"
ANA, BEN, CHLOE = f"{TEAM}:U0ANA", f"{TEAM}:U0BEN", f"{TEAM}:U0CHLOE"
CATEGORIES = ("rmm", "psa", "siem", "identity", "backup", "firewall")
CANARY = "sk-live-CANARY0123456789abcdefABCDEF"
ALLOW_ALL = """
version: 1
defaults: {decision: consent, approvers: approvers, quorum: 1, expires_in: 1h}
rules:
  - id: everything-auto
    when: "true"
    decision: auto
    reason: tests run everything without consent
"""


@dataclass
class World:
    """One opshand core plus the sim it acts on."""

    ops: Operations
    audit: AuditLog
    roles: RoleMap
    sim: SimEstate | None

    @property
    def executor(self) -> Executor:
        return self.ops.executor

    def states(self) -> dict[int, str]:
        return {c.id: c.state for c in self.ops.journal.list(limit=10_000)}


def sim_for(ents: list[Entity], rels: list[Relation], store: Any = None) -> SimEstate:
    return SimEstate.from_twin(
        ents, rels, clock=SystemClock(), timings=SimTimings(scale=0), store=store
    )


def build(
    engine: Engine,
    tmp: Path,
    *,
    adapters: Adapters | None = None,
    sim: SimEstate | None = None,
    estate: tuple[list[Entity], list[Relation]] | None = None,
    seed: bool = True,
    policy_text: str | None = None,
    worker_id: str = "worker",
    step_hook: Callable[[str], None] | None = None,
    lease: timedelta = LEASE,
    holds: HoldPolicy | None = None,
    resilience: ResilienceOptions | None = None,
    now: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = lambda s: None,
    audit_hook: Callable[[str], None] | None = None,
    checkpoint_every: int = 100,
    guardrails: Guardrails | None = None,
) -> World:
    """An Operations over ``engine``; seeds the twin (and builds a sim) unless told not to."""
    store = TwinStore(engine)
    ents, rels = estate or small_estate()
    if seed:
        store.create()
        store.apply(IngestBatch(source="test", entities=ents, relations=rels))
    graph = store.load()
    if adapters is None:
        sim = sim or sim_for(ents, rels)
        adapters = sim_adapters(
            sim, options=resilience, hooks=HttpHooks(sleep=sleep, clock=monotonic)
        )
    redactor = Redactor([CANARY])
    policy = (
        load_policy_text(policy_text)
        if policy_text
        else load_policy(ROOT / "examples" / "policy.yaml")
    )
    core = build_core(
        engine=engine,
        store=store,
        graph=graph,
        adapters=adapters,
        policy=policy,
        members={"approvers": ["U0BEN", "U0CHLOE"], "admins": ["U0BEN"]},
        team_id=TEAM,
        checkpoint=tmp / "audit.checkpoint",
        redactor=redactor,
        guardrails=guardrails,
        now=now,
        checkpoint_every=checkpoint_every,
        audit_class=_hooked(audit_hook) if audit_hook is not None else AuditLog,
        poll_interval=0.0,
        sleep=sleep,
        worker_id=worker_id,
        lease=lease,
        holds=holds,
        monotonic=monotonic,
        step_hook=step_hook,
        redact=redactor.redact_text,
    )
    return World(core.ops, core.audit, core.roles, sim)


def _hooked(hook: Callable[[str], None]) -> type[AuditLog]:
    """An audit log that calls ``hook`` with each row's kind before appending it."""

    class _Hooked(AuditLog):
        def append(self, conn: Connection, **kw: Any) -> Any:
            hook(kw["kind"])
            return super().append(conn, **kw)

    return _Hooked


def enqueue(
    w: World,
    action: str,
    targets: list[str],
    params: dict[str, Any] | None = None,
    *,
    wave_percent: int = 25,
    halt_threshold: float | None = None,
) -> Change:
    """Rehearse and queue a change without policy (an auto decision), through the journal."""
    j = w.ops.journal
    plan = rehearse(
        w.ops.graph, action, targets, params or {}, reason="test", wave_percent=wave_percent
    )
    if halt_threshold is not None:
        plan = plan.model_copy(update={"halt_threshold": halt_threshold})
        plan = plan.model_copy(update={"hash": plan.compute_hash()})
    c = j.create(
        action=action,
        targets=targets,
        params=params or {},
        reason="test",
        requester=ANA,
        source="person",
    )
    j.move(
        c.id,
        "rehearsed",
        actor="system:rehearsal",
        plan=plan.model_dump(mode="json"),
        plan_hash=plan.hash,
    )
    j.move(c.id, "auto_approved", actor="system:policy", decision={"outcome": "auto"})
    return j.move(c.id, "queued", actor="system:policy")


# ---------------------------------------------------------------------- estate over a socket
@contextmanager
def serve_estate(sim: SimEstate) -> Iterator[tuple[tuple[str, int], bytes]]:
    """Serve the sim's adapters to other processes: the estate outlives a killed worker."""

    class _Serve(BaseManager):
        pass

    for cat in CATEGORIES:
        _Serve.register(cat, callable=lambda c=cat: getattr(sim, c))
    key = secrets.token_bytes(16)
    server = _Serve(address=("127.0.0.1", 0), authkey=key).get_server()

    def serve() -> None:
        # serve_forever ends with sys.exit(0), meant for a server process of its own.
        with contextlib.suppress(SystemExit):
            server.serve_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.address, key
    finally:
        # The accept thread stays blocked in accept() (a daemon): closing the listener under
        # it would make it spin, so the socket is left to the end of the test run.
        server.stop_event.set()
        thread.join(timeout=5)


def connect_estate(address: tuple[str, int], key: bytes) -> Adapters:
    """Adapters that call the estate served by :func:`serve_estate`."""

    class _Client(BaseManager):
        pass

    for cat in CATEGORIES:
        _Client.register(cat)
    m = _Client(address=address, authkey=key)
    m.connect()
    return Adapters(**{cat: getattr(m, cat)() for cat in CATEGORIES})
