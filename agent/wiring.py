"""The composition root of the deterministic core: audit, roles, journal, consent, executor.

:func:`build_core` is the one place that builds an :class:`~agent.service.Operations` and what it
stands on, so ``bot.bootstrap``, the eval harness, the test worlds and the benchmarks all run the
same wiring; they differ only in the parts they pass (estate, adapters, policy, clock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from adapters import HttpHooks, ResilienceOptions
from adapters.resilient import Resilient
from adapters.sim import SimEstate
from agent.approval import ConsentBook, Guardrails, RoleMap
from agent.audit import AuditLog, FileCheckpoint, Redactor
from agent.execution import Adapters, Executor, Journal
from agent.policy import Policy
from agent.service import Operations
from twin.graph import TwinGraph
from twin.store import TwinStore

__all__ = ["Core", "build_core", "sim_adapters"]


def sim_adapters(
    sim: SimEstate, *, options: ResilienceOptions | None = None, hooks: HttpHooks | None = None
) -> Adapters:
    """The simulated estate behind every category, each through the one retry layer.

    Each category is wrapped as :func:`adapters.registry.build_integration` wraps it (retries,
    ``Retry-After`` cap, one circuit breaker per integration), so test worlds and benchmarks
    meet the sim as the running bot does.
    """

    def wrap(category: str) -> Any:
        return Resilient(
            getattr(sim, category), integration=f"sim-{category}", options=options, hooks=hooks
        )

    return Adapters(
        rmm=wrap("rmm"),
        psa=wrap("psa"),
        siem=wrap("siem"),
        identity=wrap("identity"),
        backup=wrap("backup"),
        firewall=wrap("firewall"),
    )


@dataclass(frozen=True, kw_only=True)
class Core:
    """The wired core: the facade and the parts callers still need beside it."""

    ops: Operations
    audit: AuditLog
    roles: RoleMap
    redactor: Redactor


def build_core(
    *,
    engine: Engine,
    store: TwinStore,
    graph: TwinGraph,
    adapters: Adapters,
    policy: Policy,
    members: Mapping[str, Any],
    team_id: str,
    checkpoint: Path,
    redactor: Redactor | None = None,
    guardrails: Guardrails | None = None,
    now: Callable[[], datetime] | None = None,
    checkpoint_every: int = 100,
    audit_class: type[AuditLog] = AuditLog,
    executor_class: type[Executor] = Executor,
    **executor_options: Any,
) -> Core:
    """Wire the audit log, the role map and :class:`Operations` with its journal, consent book
    and executor.

    Args:
        members: Role -> user ids (or ``{"users": [...], "usergroups": [...]}``), see
            :class:`~agent.approval.roles.RoleMap`.
        team_id: The Slack workspace whose users the roles name.
        checkpoint: The file holding the audit chain's external checkpoint.
        redactor: Secrets to keep out of the audit (a fresh one when omitted).
        checkpoint_every: Record the audit checkpoint after this many appends (0: only on
            request), see :class:`~agent.audit.AuditLog`.
        audit_class: A subclass of :class:`~agent.audit.AuditLog` (tests inject faults with one).
        executor_class: A subclass of :class:`Executor` (benchmarks use one).
        executor_options: Go to the executor (``poll_interval``, ``sleep``, ``worker_id``,
            ``lease``, ``redact`` ...); ``now`` drives the facade, consent and the executor.
    """
    redactor = redactor if redactor is not None else Redactor()
    audit = audit_class(
        engine, redactor, FileCheckpoint(checkpoint), checkpoint_every=checkpoint_every
    )
    roles = RoleMap(dict(members), team_id=team_id)

    def audit_fn(conn: Connection, **kw: Any) -> Any:
        return audit.append(conn, **kw)

    # Keys name this installation: the workspace and this database's twin lineage.
    journal = Journal(engine, audit_fn, installation=f"{team_id}.{store.meta()[0][:8]}")
    if now is not None:
        executor_options.setdefault("now", now)

    def make_executor(ops: Operations) -> Executor:
        return executor_class(
            engine,
            journal,
            store,
            lambda: ops.graph,
            adapters,
            audit=audit_fn,
            recheck=ops.recheck,
            **executor_options,
        )

    ops = Operations(
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
    return Core(ops=ops, audit=audit, roles=roles, redactor=redactor)
