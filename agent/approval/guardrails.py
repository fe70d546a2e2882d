"""Guard rails on autonomy: change freeze, auto-run rate limits, circuit breaker, break-glass.

Policy may say ``auto``; these rails can still move a change to consent (too many changes ran by
themselves in the last hour, or too many failed recently) or stop everything (the freeze, which
only break-glass gets past). They live in two small tables: runtime switches (``agent_flag``) and
a log of autonomous runs and failures (``agent_autonomy``), counted over sliding windows.

:class:`AutonomyGuards` is one object per :class:`~agent.service.Operations` (``ops.guards``): it
holds the engine, role map, audit callable, clock and :class:`Guardrails` it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Integer, String, Table, Text, func, select

from agent.approval.roles import RoleMap
from agent.execution import AuditFn, Change
from agent.policy import Decision
from twin.db import metadata

__all__ = ["AutonomyGuards", "Guardrails", "autonomy_table", "flags_table"]

flags_table = Table(
    "agent_flag",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("set_by", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


autonomy_table = Table(
    "agent_autonomy",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("change_id", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class Guardrails:
    """Limits on autonomy: auto actions per hour, and the failure circuit breaker."""

    max_auto_per_hour: int = 120
    max_auto_per_hour_by_action: dict[str, int] = field(default_factory=dict)
    breaker_failures: int = 5
    """Failed changes within ``breaker_window`` that open the breaker."""
    breaker_window: timedelta = timedelta(minutes=30)


class AutonomyGuards:
    """Freeze, rate limits, circuit breaker and break-glass: ``guards`` of
    :class:`~agent.service.Operations`.

    Args:
        engine: The database holding ``agent_flag`` and ``agent_autonomy``.
        roles: Who is an admin (freeze, breaker reset) and who holds ``breakglass``.
        audit: The audit append (``audit(conn, kind=..., actor=..., ...)``).
        now: The clock, called each time it is needed: the host passes one that reads its own
            clock then, so moving the host's clock (as tests do) moves the guards' too.
        guardrails: The limits (defaults when omitted).
    """

    def __init__(
        self,
        engine: Engine,
        roles: RoleMap,
        audit: AuditFn,
        *,
        now: Callable[[], datetime],
        guardrails: Guardrails | None = None,
    ) -> None:
        self.engine = engine
        self.roles = roles
        self.audit = audit
        self.now = now
        self.guardrails = guardrails or Guardrails()

    # ------------------------------------------------------------------ flags
    def flag(self, name: str) -> str | None:
        """A runtime switch (``freeze``), or None."""
        with self.engine.connect() as conn:
            v = conn.execute(select(flags_table.c.value).where(flags_table.c.name == name)).first()
        return None if v is None else str(v[0])

    def set_freeze(self, on: bool, *, actor: str, reason: str = "") -> str:
        """Turn the global change freeze on or off (admins only)."""
        if "admins" not in self.roles.roles_for(*actor.split(":", 1)):
            return "Only opshand admins can change the freeze."
        with self.engine.begin() as conn:
            conn.execute(flags_table.delete().where(flags_table.c.name == "freeze"))
            if on:
                conn.execute(
                    flags_table.insert().values(
                        name="freeze", value=reason or "on", set_by=actor, at=self.now()
                    )
                )
            self.audit(
                conn,
                kind="autonomy.freeze" if on else "autonomy.unfreeze",
                actor=actor,
                body={"reason": reason},
                change_id=None,
                plan_hash=None,
            )
        return (
            "Change freeze is on: nothing runs without break-glass."
            if on
            else "Change freeze lifted."
        )

    # ------------------------------------------------------------------ rate limits, breaker
    def _count(self, kind: str, since: datetime, action: str | None = None) -> int:
        q = select(func.count()).where(autonomy_table.c.kind == kind, autonomy_table.c.at >= since)
        if action is not None:
            q = q.where(autonomy_table.c.action == action)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def _note(self, kind: str, change: Change) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                autonomy_table.insert().values(
                    kind=kind, action=change.action, change_id=change.id, at=self.now()
                )
            )

    def note_auto(self, change: Change) -> None:
        """Count ``change`` against the auto-run rate limits (it was approved by policy alone)."""
        self._note("auto", change)

    def note_failure(self, change: Change) -> bool:
        """Count a failed ``change`` towards the breaker; True if this failure opened it.

        The opening is audited here (``autonomy.breaker_open``); telling people is the caller's.
        """
        was_open = self.breaker_open()
        self._note("failure", change)
        if was_open or not self.breaker_open():
            return False
        with self.engine.begin() as conn:
            self.audit(
                conn,
                kind="autonomy.breaker_open",
                actor="system",
                change_id=str(change.id),
                plan_hash=None,
                body={"failures": self.guardrails.breaker_failures},
            )
        return True

    def breaker_open(self) -> bool:
        """Whether recent failures moved autonomy to consent (until an admin resets it)."""
        g = self.guardrails
        since = self.now() - g.breaker_window
        reset = self.flag("breaker_reset")
        if reset:
            since = max(since, datetime.fromisoformat(reset))
        return self._count("failure", since) >= g.breaker_failures

    def reset_breaker(self, *, actor: str) -> str:
        """Close the failure circuit breaker (admins only)."""
        if "admins" not in self.roles.roles_for(*actor.split(":", 1)):
            return "Only opshand admins can reset the circuit breaker."
        with self.engine.begin() as conn:
            conn.execute(flags_table.delete().where(flags_table.c.name == "breaker_reset"))
            conn.execute(
                flags_table.insert().values(
                    name="breaker_reset",
                    value=self.now().isoformat(),
                    set_by=actor,
                    at=self.now(),
                )
            )
            self.audit(
                conn,
                kind="autonomy.breaker_reset",
                actor=actor,
                body={},
                change_id=None,
                plan_hash=None,
            )
        return "Circuit breaker reset: routine work may run by itself again."

    def status(self) -> dict[str, Any]:
        """Freeze, breaker and rate-limit state, for App Home and the CLI."""
        hour = self.now() - timedelta(hours=1)
        return {
            "freeze": self.flag("freeze"),
            "breaker_open": self.breaker_open(),
            "auto_last_hour": self._count("auto", hour),
            "auto_limit_per_hour": self.guardrails.max_auto_per_hour,
        }

    def apply(self, decision: Decision, action: str) -> Decision:
        """Downgrade an ``auto`` decision to consent when a guard rail says so."""
        if decision.outcome != "auto":
            return decision
        g = self.guardrails
        hour = self.now() - timedelta(hours=1)
        why = None
        limit = g.max_auto_per_hour_by_action.get(action)
        if self.breaker_open():
            why = (
                "autonomy-breaker",
                "Recent changes failed too often; autonomy is paused "
                "and every change needs consent until an admin resets the breaker.",
            )
        elif self._count("auto", hour) >= g.max_auto_per_hour:
            why = (
                "autonomy-rate-limit",
                f"More than {g.max_auto_per_hour} changes ran by "
                "themselves in the last hour; this one needs consent.",
            )
        elif limit is not None and self._count("auto", hour, action) >= limit:
            why = (
                "autonomy-rate-limit",
                f"More than {limit} {action} changes ran by "
                "themselves in the last hour; this one needs consent.",
            )
        if why is None:
            return decision
        return decision.model_copy(
            update={
                "outcome": "consent",
                "matched": (*decision.matched, why[0]),
                "deciding": (why[0],),
                "reasons": {**decision.reasons, why[0]: why[1]},
                "approvers": "approvers",
                "quorum": 1,
                "expires_in": timedelta(hours=1),
            }
        )

    def check_break_glass(
        self, *, requester: str, action: str, targets: list[str], reason: str | None
    ) -> str | None:
        """Check a break-glass request; returns a refusal (recorded loudly) or None.

        A granted request is recorded by the caller once its change exists
        (:meth:`break_glass_used`), so the audit row names the change.
        """
        refusal = self.break_glass_refusal(requester, reason)
        if refusal is None:
            return None
        reason = (reason or "").strip()
        with self.engine.begin() as conn:
            self.audit(
                conn,
                kind="breakglass.refused",
                actor=requester,
                change_id=None,
                plan_hash=None,
                body={"action": action, "targets": targets, "reason": reason},
            )
        return refusal

    def break_glass_refusal(self, requester: str, reason: str | None) -> str | None:
        """Why ``requester`` may not use break-glass with ``reason`` now (nothing recorded)."""
        team, _, user = requester.partition(":")
        if "breakglass" not in self.roles.roles_for(team, user):
            return "Break-glass needs the breakglass permission, which you do not have."
        if len((reason or "").strip()) < 10:
            return "Break-glass needs a reason (at least a sentence) saying why."
        return None

    def break_glass_used(self, change: Change, reason: str, *, conn: Any = None) -> None:
        """Record that ``change`` was proposed under break-glass (the audit row names it)."""
        body = {"action": change.action, "targets": change.targets, "reason": reason.strip()}
        if conn is not None:
            self.audit(
                conn,
                kind="breakglass.used",
                actor=change.requester,
                change_id=str(change.id),
                plan_hash=None,
                body=body,
            )
            return
        with self.engine.begin() as c:
            self.break_glass_used(change, reason, conn=c)
