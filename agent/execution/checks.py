"""The checks run before every wave and every call of a change, new or resumed (RELIABILITY B10).

A change may wait between its waves: a circuit opened on its integration and handed it back to
the queue, a worker died and its lease was taken over. Whatever held while it waited is asked
again before anything more is sent:

* ``plan_hash``: the plan in hand still hashes to what was decided, and the journal row still
  names that hash (a plan edited in the database never runs);
* ``expiry``: the plan has not outlived its time-to-live;
* ``drift``: nothing the rehearsal read has changed since (targets this change already acted on
  are left out: their change is its own doing);
* ``freeze``, ``consent``, ``breakglass`` and any other refusal of ``recheck``, the host's
  check: the approval still stands and every approver still holds the role, no freeze is in
  force unless the change is break-glass and its requester still holds that permission;
* ``circuit``: the integration is not held (open circuit, auth failure).

A failed check is a :class:`Refusal`: ``circuit`` hands the change back to the queue untouched
(:attr:`Refusal.defers`); every other one stops it where it stands and says why.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, select

from agent.execution.calls import category_of
from agent.execution.change import Change
from agent.execution.journal import journal_table
from twin.actions import get_action
from twin.graph import TwinGraph
from twin.plan import Plan, stale_entities

__all__ = ["CheckName", "Checks", "Recheck", "Refusal"]

CheckName = Literal[
    "plan_hash", "expiry", "drift", "consent", "freeze", "breakglass", "circuit", "recheck"
]


@dataclass(frozen=True)
class Refusal:
    """Why a change may not go on: which check failed and a sentence for people."""

    check: CheckName
    reason: str

    @property
    def defers(self) -> bool:
        """Whether the change goes back to the queue (to be checked again) rather than stop."""
        return self.check == "circuit"

    def as_dict(self) -> dict[str, Any]:
        """The refusal as stored in the change's result."""
        return {"check": self.check, "reason": self.reason}


Recheck = Callable[[Change], "Refusal | str | None"]
"""The host's check (consent, freeze, break-glass): a refusal, a bare sentence, or ``None``."""


class Checks:
    """Runs every check before a wave or a call; ``None`` when the change may go on.

    Args:
        engine: The journal's database (the stored plan hash is read again on every check).
        now: Aware UTC clock, for plan expiry.
        graph: The twin, caught up with the change log.
        held: Integrations whose work is held now (category -> why).
        recheck: The host's check of consent, freeze and break-glass.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        now: Callable[[], datetime],
        graph: Callable[[], TwinGraph],
        held: Callable[[], dict[str, str]],
        recheck: Recheck,
    ) -> None:
        self.engine = engine
        self.now = now
        self.graph = graph
        self.held = held
        self.recheck = recheck
        self._last: tuple[Plan, str] | None = None

    def _hash(self, plan: Plan) -> str:
        # A Plan is frozen: hashed once while the executor runs it, however many calls follow.
        # The plan itself is held (not its id), so a new plan never inherits an old hash.
        if self._last is None or self._last[0] is not plan:
            self._last = (plan, plan.compute_hash())
        return self._last[1]

    def stored_hash(self, change_id: int) -> str | None:
        """The plan hash the journal row names now."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(journal_table.c.plan_hash).where(journal_table.c.id == change_id)
            ).first()
        return None if row is None else row[0]

    def before(self, change: Change, plan: Plan, *, acted: Collection[str] = ()) -> Refusal | None:
        """Every check, in order; ``acted`` are targets already called (left out of drift)."""
        if (
            self._hash(plan) != plan.hash
            or plan.hash != change.plan_hash
            or self.stored_hash(change.id) != plan.hash
        ):
            return Refusal("plan_hash", "the plan's content no longer matches its hash")
        if plan.expires_at < self.now():
            return Refusal("expiry", "the plan expired before it ran")
        done = set(acted)
        if drift := [e for e in stale_entities(plan, self.graph()) if e not in done]:
            return Refusal(
                "drift", f"the twin changed since rehearsal: {', '.join(sorted(drift)[:5])}"
            )
        said = self.recheck(change)
        if isinstance(said, str):
            return Refusal("recheck", said)
        if said is not None:
            return said
        category = category_of(get_action(plan.action))
        if (why := self.held().get(category)) is not None:
            return Refusal("circuit", f"{category} integration held: {why}")
        return None
