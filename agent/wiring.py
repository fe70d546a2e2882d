"""Wiring the deterministic core: journal, consent book, executor and the operations facade.

One place builds an :class:`~agent.service.Operations` from its parts, so the composition root
(``bot.bootstrap``), the eval harness and the tests all get the same wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from adapters.sim import SimEstate
from agent.approval import ConsentBook, Guardrails, RoleMap
from agent.audit import AuditLog
from agent.execution import Adapters, Executor, Journal
from agent.policy import Policy
from agent.service import Operations
from twin.graph import TwinGraph
from twin.store import TwinStore

__all__ = ["build_operations", "sim_adapters"]


def sim_adapters(sim: SimEstate) -> Adapters:
    """The simulated estate behind every category."""
    return Adapters(
        rmm=sim.rmm,
        psa=sim.psa,
        siem=sim.siem,
        identity=sim.identity,
        backup=sim.backup,
        firewall=sim.firewall,
    )


def build_operations(
    *,
    engine: Engine,
    store: TwinStore,
    graph: TwinGraph,
    adapters: Adapters,
    policy: Policy,
    roles: RoleMap,
    audit: AuditLog,
    team_id: str,
    guardrails: Guardrails | None = None,
    now: Callable[[], datetime] | None = None,
    **executor_options: Any,
) -> Operations:
    """Wire :class:`Operations` with its journal, consent book and executor.

    ``executor_options`` go to :class:`~agent.execution.executor.Executor` (``poll_interval``,
    ``sleep``,
    ``worker_id``, ``lease``, ``redact`` ...); ``now`` drives both the facade and the executor.
    """

    def audit_fn(conn: Connection, **kw: Any) -> Any:
        return audit.append(conn, **kw)

    journal = Journal(engine, audit_fn)
    if now is not None:
        executor_options.setdefault("now", now)

    def make_executor(ops: Operations) -> Executor:
        return Executor(
            engine,
            journal,
            store,
            lambda: ops.graph,
            adapters,
            audit=audit_fn,
            recheck=ops.recheck,
            **executor_options,
        )

    return Operations(
        engine=engine,
        store=store,
        graph=graph,
        journal=journal,
        policy=policy,
        consent=ConsentBook(engine, roles, now) if now is not None else ConsentBook(engine, roles),
        roles=roles,
        executor_factory=make_executor,
        audit=audit_fn,
        team_id=team_id,
        guardrails=guardrails,
        **({"now": now} if now is not None else {}),
    )
