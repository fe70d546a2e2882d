"""An opshand core over the sample estate and the sim, without Slack, for autonomy tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from adapters.sim import SimEstate, SimTimings, SystemClock
from agent.approval import Guardrails
from agent.audit import AuditLog
from agent.incidents import IncidentBook
from agent.policy import load_policy, load_policy_text
from agent.service import Operations
from agent.signals import IncidentNote, SignalLoop, load_runbooks
from agent.wiring import build_core, sim_adapters
from twin.ingest import IngestBatch
from twin.model import utcnow
from twin.sample import generate_estate
from twin.store import TwinStore

ROOT = Path(__file__).resolve().parents[3]
TEAM = "T0AUTO"
BEN, CHLOE = f"{TEAM}:U0BEN", f"{TEAM}:U0CHLOE"


@dataclass
class AutoWorld:
    ops: Operations
    sim: SimEstate
    audit: AuditLog
    loop: SignalLoop
    incidents: IncidentBook
    notes: list[IncidentNote] = field(default_factory=list)


class TickingClock:
    """Starts at ``start`` and runs at wall speed: opshand and the sim share it, so a cycle can
    run "inside the maintenance window" while job deadlines still pass."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def build_ops(
    engine: Engine,
    tmp: Path,
    *,
    endpoints: int = 300,
    policy_text: str | None = None,
    policy_file: Path | None = None,
    timings: SimTimings | None = None,
    now: datetime | None = None,
    breaker_failures: int = 5,
) -> tuple[Operations, SimEstate, AuditLog]:
    store = TwinStore(engine)
    store.create()
    sim_clock = TickingClock(now) if now is not None else SystemClock()
    clock: Callable[[], datetime] = sim_clock.now if now is not None else utcnow
    # The twin was last synced an hour ago, so its facts are fresh for the rehearsal.
    est = generate_estate(endpoints=endpoints, now=(now or utcnow()) - timedelta(hours=1))
    store.apply(
        IngestBatch(source="sample", entities=list(est.entities), relations=list(est.relations))
    )
    graph = store.load()
    sim = SimEstate.from_twin(
        list(graph.entities()),
        list(graph.relations()),
        clock=sim_clock,
        timings=timings or SimTimings(scale=0),
    )
    policy = (
        load_policy_text(policy_text)
        if policy_text
        else load_policy(policy_file or ROOT / "examples" / "policy.yaml")
    )
    core = build_core(
        engine=engine,
        store=store,
        graph=graph,
        adapters=sim_adapters(sim),
        policy=policy,
        members={"approvers": ["U0BEN", "U0CHLOE"], "admins": ["U0BEN"]},
        team_id=TEAM,
        checkpoint=tmp / "audit.checkpoint",
        guardrails=Guardrails(max_auto_per_hour=100_000, breaker_failures=breaker_failures),
        now=clock,
        poll_interval=0.0,
        sleep=lambda s: None,
    )
    ops, audit = core.ops, core.audit
    return ops, sim, audit


def make_auto_world(
    engine: Engine, tmp: Path, *, runbooks: Path | None = None, **kw: Any
) -> AutoWorld:
    ops, sim, audit = build_ops(engine, tmp, **kw)

    def audit_fn(conn: Connection, **a: Any) -> Any:
        return audit.append(conn, **a)

    incidents = IncidentBook(engine, psa=sim.psa, audit=audit_fn)
    notes: list[IncidentNote] = []
    loop = SignalLoop(
        ops,
        load_runbooks(runbooks or ROOT / "examples" / "runbooks.yaml"),
        incidents,
        notify=notes.append,
    )
    return AutoWorld(ops, sim, audit, loop, incidents, notes)
