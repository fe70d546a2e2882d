"""The composition root: settings in, a wired opshand out. Nothing else reads settings.

``bootstrap(settings)`` creates the data folder and database, seeds the twin with the sample
estate on first start, builds the simulated estate (or real integrations), the audit log, policy,
roles, consent book, journal, executor, operations facade and agent.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy import Engine

from adapters.contracts import CATEGORIES
from adapters.registry import build_integrations
from adapters.sim import SimEstate, SimTimings, SqliteCallStore, SystemClock
from agent.approval import Guardrails, RoleMap
from agent.audit import AuditLog, Redactor
from agent.chat import Agent, ModelSpec, make_chat_model, parse_model_spec
from agent.execution import Adapters
from agent.incidents import IncidentBook
from agent.policy import Policy, load_policy
from agent.service import Operations
from agent.signals import SignalAgent, SignalLoop, load_runbooks
from agent.wiring import build_core
from bot.dblock import database_lock
from bot.secrets import redactor_for
from bot.settings import Settings
from twin import IngestBatch, TwinGraph, TwinStore, make_engine, metadata, migrate

__all__ = ["Opshand", "bootstrap", "build_fallback", "build_model", "seed_sample"]

log = logging.getLogger(__name__)


@dataclass
class Opshand:
    """Everything wired, for the bot, the CLI and tests."""

    settings: Settings
    engine: Engine
    store: TwinStore
    ops: Operations
    agent: Agent
    audit: AuditLog
    policy: Policy
    roles: RoleMap
    redactor: Redactor
    sim: SimEstate | None
    signals: SignalLoop
    """Signals in: incident records, runbooks, proposals (webhooks hand signals here)."""

    def circuits(self) -> dict[str, str]:
        """Each integration's circuit state (its client's breaker, for ``/readyz``)."""
        return {c: b.state for c, b in self.ops.executor.breakers().items()}

    def close(self) -> None:
        """Stop background work, checkpoint the audit head and release the database."""
        self.ops.stop_worker()
        self.audit.checkpoint()
        self.engine.dispose()


def seed_sample(
    store: TwinStore,
    endpoints: int,
    progress: Callable[[int], None] | None = None,
    *,
    through_sources: bool = False,
) -> int:
    """Load the deterministic sample estate into an empty twin; returns entities loaded.

    With ``through_sources`` only what the inventories report is loaded, and topology comes
    from a sync over the simulated topology sources (:mod:`adapters.topology.sim`), gaps and all.
    """
    from twin.sample import generate_estate

    estate = generate_estate(endpoints=endpoints)
    if through_sources:
        from adapters.topology import sim_topology_sources, sync_topology, without_topology

        ents, rels = without_topology(estate.entities, estate.relations)
        res = store.apply(
            IngestBatch(
                source="inventory",
                entities=list(ents),
                relations=list(rels),
                actor="opshand",
                reason="sample estate, as the inventories report it",
            ),
            progress=progress,
        )
        if res.rejections:
            raise RuntimeError(f"sample estate rejected: {res.rejections[0]}")
        sync_topology(
            store, sim_topology_sources(estate.entities, estate.relations), actor="opshand"
        )
        return len(ents)
    res = store.apply(
        IngestBatch(
            source="sample",
            entities=list(estate.entities),
            relations=list(estate.relations),
            actor="opshand",
            reason="sample estate",
        ),
        progress=progress,
    )
    if res.rejections:
        raise RuntimeError(f"sample estate rejected: {res.rejections[0]}")
    return len(estate.entities)


def build_model(settings: Settings, graph: Callable[[], TwinGraph]) -> BaseChatModel:
    """The chat model chosen in settings (the offline model by default)."""
    m = settings.model
    spec = ModelSpec(
        provider=m.provider,
        name=m.name,
        base_url=m.base_url,
        api_key=m.api_key,
        timeout=m.max_seconds,
        temperature=m.temperature,
    )
    return make_chat_model(spec, graph)


def build_fallback(settings: Settings, graph: Callable[[], TwinGraph]) -> BaseChatModel | None:
    """The fallback model (``provider:name``) tried when the first one fails, if any."""
    m = settings.model
    if not m.fallback:
        return None
    spec = parse_model_spec(
        m.fallback,
        base_url=m.fallback_base_url,
        api_key=m.fallback_api_key,
        timeout=m.fallback_max_seconds or m.max_seconds,
        temperature=m.temperature,
    )
    return make_chat_model(spec, graph)


def bootstrap(
    settings: Settings,
    *,
    progress: Callable[[int], None] | None = None,
    sim_timings: SimTimings | None = None,
    start_worker: bool = False,
    adapters: Adapters | None = None,
) -> Opshand:
    """Wire opshand from ``settings``. Raises on bad configuration (policy, roles, model)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    policy = load_policy(settings.policy_file)  # a broken policy stops start-up here
    runbooks = load_runbooks(settings.runbooks_file)  # so does a broken runbook file
    engine = make_engine(settings.db_url)
    import bot.tables  # noqa: F401  (registers the bot's tables on the metadata)

    store = TwinStore(engine)
    # Replicas starting together on an empty database take turns: one migrates and seeds,
    # the others then find the schema current and the twin non-empty.
    with database_lock(engine, "bootstrap"):
        migrate(engine, metadata=metadata)
        store.create()
        _, serial = store.meta()
        if serial == 0:
            seed_sample(
                store,
                settings.sample_endpoints,
                progress,
                through_sources=settings.sample_topology == "sources",
            )
    graph = store.load()
    # The twin is long-lived: move it out of the collector's generations so a full collection
    # does not walk 100k entities in the middle of a blast-radius answer.
    gc.collect()
    gc.freeze()

    # Every SecretStr in the settings (integrations and webhooks included), one redactor.
    redactor = redactor_for(settings)
    r = settings.roles
    members = {
        "admins": r.admins,
        "approvers": r.approvers,
        "managers": r.managers,
        "breakglass": r.breakglass,
        "requesters": r.requesters if "*" not in r.requesters else [],
    }
    sim: SimEstate | None = None
    if adapters is None:
        ents: list[Any] = list(graph.entities())
        rels: list[Any] = list(graph.relations())
        if settings.sample_topology == "sources":
            # the twin knows what the sources say; the simulated estate is the ground truth
            from twin.sample import generate_estate

            truth = generate_estate(endpoints=settings.sample_endpoints)
            ents, rels = list(truth.entities), list(truth.relations)
        sim = SimEstate.from_twin(
            ents,
            rels,
            clock=SystemClock(),
            timings=sim_timings or SimTimings(scale=settings.sim_scale),
            # one file shared by replicas, so a call made by any of them is seen by all
            store=SqliteCallStore(settings.sim_calls_file) if settings.sim_calls_file else None,
        )
        # Every category through the one retry layer (adapters._retry): the sim or a real vendor
        # as configured; None switches a category off.
        built = build_integrations(settings.integrations, sim=sim)
        adapters = Adapters(**{c: built[c].client if c in built else None for c in CATEGORIES})
    a = settings.autonomy
    core = build_core(
        engine=engine,
        store=store,
        graph=graph,
        adapters=adapters,
        policy=policy,
        members={
            role: {"users": users, "usergroups": r.usergroups.get(role, [])}
            for role, users in members.items()
        },
        checkpoint=settings.data_dir / "audit.checkpoint",
        redactor=redactor,
        team_id=settings.slack.team_id,
        guardrails=Guardrails(
            max_auto_per_hour=a.max_auto_per_hour,
            max_auto_per_hour_by_action=dict(a.max_auto_per_hour_by_action),
            breaker_failures=a.breaker_failures,
            breaker_window=timedelta(minutes=a.breaker_window_minutes),
        ),
        poll_interval=0.05,
        # each replica audits under its own name, so a takeover is visible in the audit
        worker_id=settings.replica_id or f"{socket.gethostname()}:{os.getpid()}",
        lease=timedelta(seconds=settings.lease_seconds),
        redact=redactor.redact_text,
    )
    ops, audit, roles = core.ops, core.audit, core.roles
    model = build_model(settings, lambda: ops.graph)
    agent = Agent(
        ops,
        model,
        redactor=redactor,
        max_tool_calls=settings.model.max_tool_calls,
        max_seconds=settings.model.max_seconds,
        fallback=build_fallback(settings, lambda: ops.graph),
        ask_when=True,
    )
    if start_worker:
        ops.start_worker(interval=0.5)
    incidents = IncidentBook(engine, psa=adapters.psa, audit=ops.audit, now=ops.now)
    signals = SignalLoop(
        ops,
        runbooks,
        incidents,
        agent=SignalAgent(agent, a.agent_fallback_actions) if a.agent_fallback else None,
    )
    return Opshand(
        settings, engine, store, ops, agent, audit, policy, roles, redactor, sim, signals
    )
