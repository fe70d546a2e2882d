"""Claims and leases: which worker runs which change, and for how long without a heartbeat.

A worker claims a queued change (or an executing one whose lease expired) by moving it to
``executing`` with a fresh lease token and an expiry; every later write names the token, so a
worker that stalled past its lease and was taken over finds its late writes rejected (D2).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, or_, select, update

from agent.execution.calls import category_of
from agent.execution.change import LeaseLost
from agent.execution.journal import AuditFn, Journal, journal_table
from agent.execution.targets import TargetBook
from twin.actions import CATALOG

__all__ = ["LEASE", "Leases"]

LEASE = timedelta(seconds=60)
"""How long a claim holds without a heartbeat, by default."""


class Leases:
    """Claims changes for one worker and renews its leases.

    Args:
        engine: The journal's database.
        journal: Moves claimed changes to ``executing`` (with their audit rows).
        targets: Creates a change's target rows with its claim.
        audit: ``audit(conn, *, kind, actor, body, change_id, plan_hash)``.
        actor: The audit actor (the worker).
        worker_id: Names the worker in audit rows.
        lease: How long a claim holds without a heartbeat.
        now: Wall clock (aware UTC) for lease expiry.
        monotonic: Clock for spacing heartbeats.
    """

    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        targets: TargetBook,
        audit: AuditFn,
        *,
        actor: str,
        worker_id: str,
        lease: timedelta,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.targets = targets
        self._audit = audit
        self.actor = actor
        self.worker_id = worker_id
        self.lease = lease
        self.now = now
        self.monotonic = monotonic
        self._beats: dict[tuple[int, str], float] = {}

    def claim(self, limit: int, held: dict[str, str]) -> list[tuple[int, str]]:
        """Claim queued changes (and executing ones whose lease expired) with a lease token.

        On PostgreSQL the select takes row locks with ``FOR UPDATE SKIP LOCKED`` so concurrent
        workers never claim the same row; on SQLite the write transaction is exclusive. Changes
        for an integration that is held (open circuit, auth failure) stay queued.
        """
        now = self.now()
        blocked = [k for k, spec in CATALOG.items() if category_of(spec) in held]
        out: list[tuple[int, str]] = []
        with self.engine.begin() as conn:
            q = (
                select(journal_table.c.id, journal_table.c.state, journal_table.c.plan)
                .where(
                    or_(
                        journal_table.c.state == "queued",
                        and_(
                            journal_table.c.state == "executing", journal_table.c.lease_until < now
                        ),
                    )
                )
                .order_by(journal_table.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            if blocked:
                q = q.where(journal_table.c.action.notin_(blocked))
            for row in conn.execute(q).all():
                token = secrets.token_hex(8)
                if row.state == "queued":
                    # The target rows are created with the claim: one commit fewer per change.
                    if row.plan:
                        self.targets.insert(conn, int(row.id), row.plan.get("waves", []))
                    self.journal.move(
                        row.id,
                        "executing",
                        actor=self.actor,
                        conn=conn,
                        expect=["queued"],
                        body={"worker": self.worker_id},
                        new_lease=token,
                        lease_until=now + self.lease,
                    )
                else:
                    conn.execute(
                        update(journal_table)
                        .where(journal_table.c.id == row.id)
                        .values(lease_token=token, lease_until=now + self.lease)
                    )
                    self._audit(
                        conn,
                        kind="change.lease_taken_over",
                        actor=self.actor,
                        change_id=str(row.id),
                        plan_hash=None,
                        body={"worker": self.worker_id},
                    )
                out.append((int(row.id), token))
        # Claiming set the lease: it counts as a heartbeat. Forget leases long gone.
        tick = self.monotonic()
        keep = self.lease.total_seconds()
        self._beats = {k: v for k, v in self._beats.items() if tick - v < keep}
        self._beats.update({c: tick for c in out})
        return out

    def heartbeat(self, change_id: int, token: str, *, force: bool = True) -> None:
        """Extend the lease; raises :class:`IllegalTransition` if another worker took it over.

        With ``force=False`` the lease is renewed only once a third of it has passed (every
        write checks the lease anyway, so renewing more often only costs a commit).
        """
        now = self.monotonic()
        last = self._beats.get((change_id, token))
        if not force and last is not None and now - last < self.lease.total_seconds() / 3:
            return
        self._beats[(change_id, token)] = now
        with self.engine.begin() as conn:
            res = conn.execute(
                update(journal_table)
                .where(journal_table.c.id == change_id, journal_table.c.lease_token == token)
                .values(lease_until=self.now() + self.lease)
            )
            if res.rowcount != 1:
                raise LeaseLost(f"CR-{change_id}: lease lost")
