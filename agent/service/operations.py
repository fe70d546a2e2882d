"""The operations facade: what the bot, the CLI and the agent's tools call.

``propose`` runs the deterministic part of the loop — journal, rehearsal, policy, consent or
queue — and nothing the model says can alter it. ``vote`` records signed consent. The one worker
loop (:meth:`Operations.worker`, run by ``start_worker``, ``drain`` and the crash tests) executes
queued changes and reconciles them. Every state change is announced to subscribers (the Slack
bot) as a :class:`ChangeEvent`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from agent.execution import Change, call_table, journal_table, parse_ref
from agent.service.running import Running
from twin.plan import Plan, stale_entities

__all__ = ["Operations"]


class Operations(Running):
    """The deterministic core of opshand: proposing (:class:`~agent.service.proposing.Proposing`),
    consent (:class:`~agent.service.consenting.Consenting`), the worker loop
    (:class:`~agent.service.running.Running`), and what the bot and metrics read.

    The guard rails on autonomy are ``guards`` (:class:`~agent.approval.AutonomyGuards`); the
    three of their operations the bot offers people are on this facade too.
    """

    # ------------------------------------------------------------------ guard rails the bot drives
    def set_freeze(self, on: bool, *, actor: str, reason: str = "") -> str:
        """Turn the global change freeze on or off (admins only): ``/opshand freeze``."""
        return self.guards.set_freeze(on, actor=actor, reason=reason)

    def break_glass_refusal(self, requester: str, reason: str | None) -> str | None:
        """Why ``requester`` may not use break-glass with ``reason`` now (nothing recorded)."""
        return self.guards.break_glass_refusal(requester, reason)

    def autonomy_status(self) -> dict[str, Any]:
        """Freeze, breaker and rate-limit state, for App Home."""
        return self.guards.status()

    # ------------------------------------------------------------------ what metrics read
    def circuit_states(self) -> dict[str, str]:
        """Each integration category's circuit as this replica sees it (closed, half_open,
        open): the breaker of each client (the one retry layer's)."""
        return {c: b.state for c, b in self.executor.breakers().items()}

    def queue_by_state(self, states: Iterable[str]) -> dict[str, tuple[int, datetime | None]]:
        """Changes in each of ``states``: how many, and when the oldest last moved."""
        j = journal_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(j.c.state, func.count(), func.min(j.c.updated_at))
                .where(j.c.state.in_(list(states)))
                .group_by(j.c.state)
            ).all()
        return {str(state): (int(n), oldest) for state, n, oldest in rows}

    def calls_after(self, watermark: int) -> list[tuple[int, str, str]]:
        """(row id, capability, outcome) of the integration call ledger above ``watermark``,
        in id order: metrics count calls incrementally from it."""
        c = call_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.c.id, c.c.capability, c.c.outcome)
                .where(c.c.id > watermark)
                .order_by(c.c.id)
            ).all()
        return [(int(i), str(cap), str(outcome)) for i, cap, outcome in rows]

    # ------------------------------------------------------------------ reads
    def status(self, ref: str | int) -> Change:
        """One change by ``CR-N`` or number."""
        return self.journal.get(ref if isinstance(ref, int) else parse_ref(ref))

    def pending(self) -> list[Change]:
        """Changes waiting for consent."""
        return self.journal.list(states=["awaiting_consent"])

    def is_stale(self, change: Change) -> list[str]:
        """Read-set entities that changed since the change's rehearsal."""
        if change.plan is None:
            return []
        return stale_entities(Plan.model_validate(change.plan), self.graph)
