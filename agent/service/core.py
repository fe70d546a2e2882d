"""The state every part of :class:`~agent.service.Operations` shares: the engine, the twin, the
journal, policy, consent and roles, the guard rails on autonomy (``guards``, an
:class:`~agent.approval.AutonomyGuards`), the executor, and the subscribers told of every state
change. Scheduled changes come from :class:`~agent.schedule.Scheduling`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Self

from sqlalchemy import Engine

from agent.approval import AutonomyGuards, ConsentBook, Guardrails, RoleMap
from agent.execution import AuditFn, Change, Executor, Journal, Worker
from agent.policy import Policy
from agent.schedule import Scheduling
from agent.service.records import ChangeEvent
from twin.graph import TwinGraph
from twin.model import utcnow
from twin.store import TwinStore

__all__ = ["OperationsCore"]

log = logging.getLogger(__name__)


class OperationsCore(Scheduling):
    """What the parts of :class:`~agent.service.Operations` share, and the hooks
    :class:`~agent.schedule.Scheduling` asks of its host (all but ``_reask``, which is
    :class:`~agent.service.inputs.PolicyInputs`')."""

    def __init__(
        self,
        *,
        engine: Engine,
        store: TwinStore,
        graph: TwinGraph,
        journal: Journal,
        policy: Policy,
        consent: ConsentBook,
        roles: RoleMap,
        executor_factory: Callable[[Self], Executor],
        audit: AuditFn,
        team_id: str = "",
        now: Callable[[], datetime] = utcnow,
        guardrails: Guardrails | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self._graph = graph
        self._graph_lock = threading.RLock()
        self.journal = journal
        self.policy = policy
        self.consent = consent
        self.roles = roles
        self.audit = audit
        self.team_id = team_id
        self.now = now
        self.guards = AutonomyGuards(engine, roles, audit, now=self._clock, guardrails=guardrails)
        self.subscribers: list[Callable[[ChangeEvent], None]] = []
        self.executor = executor_factory(self)
        self._worker: threading.Thread | None = None
        self._loop: Worker | None = None
        self._wake = threading.Event()

    def _clock(self) -> datetime:
        """``now()`` looked up at each call, so the guards follow a clock tests move forward
        (``ops.now = ...``) rather than keep the one given at construction."""
        return self.now()

    # ------------------------------------------------------------------ twin
    @property
    def graph(self) -> TwinGraph:
        """The in-memory twin, caught up with the change log."""
        with self._graph_lock:
            self.store.catch_up(self._graph)
            return self._graph

    @property
    def held_graph(self) -> TwinGraph:
        """The in-memory twin as this replica holds it, without catching up (metrics read its
        serial against the store's to report the lag, which catching up would hide)."""
        return self._graph

    def _emit(self, event: ChangeEvent) -> None:
        for fn in list(self.subscribers):
            try:
                fn(event)
            except Exception:  # a broken subscriber must not break the loop
                log.exception("change subscriber failed for %s", event.change.ref)

    def _announce(self, kind: str, change: Change, detail: dict[str, Any]) -> None:
        self._emit(ChangeEvent(kind, change, detail))  # type: ignore[arg-type]

    def _wake_worker(self) -> None:
        self._wake.set()
