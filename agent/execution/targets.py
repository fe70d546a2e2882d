"""Per-target rows and the call ledger of changes being executed.

``journal_target`` holds one row per target of a running change (its wave, state, idempotency
key and job ids); ``journal_call`` one row per integration call opshand made or started, written
*before* the request leaves. :class:`TargetBook` writes both, each write checking the writer
still holds the change's lease and committing with its audit rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)

from agent.execution.change import LeaseLost
from agent.execution.journal import AuditFn, idempotency_key, journal_table
from twin.db import metadata
from twin.model import utcnow

__all__ = ["TargetBook", "call_table", "target_table"]

target_table = Table(
    "journal_target",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("change_id", Integer, nullable=False, index=True),
    Column("target", String(255), nullable=False),
    Column("wave", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Column("job_id", String(128)),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("change_id", "target", name="uq_journal_target_change_target"),
)

call_table = Table(
    "journal_call",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("change_id", Integer, nullable=False, index=True),
    Column("target", String(255), nullable=False),
    Column("idempotency_key", String(128), nullable=False, index=True),
    Column("capability", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("outcome", String(24), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
)
"""One row per integration call opshand made or started (the read-back ledger).

A row is inserted, in the same transaction that marks the target ``calling``, *before* the
request leaves; after a crash it says when the call may have reached the estate (reconciliation
compares boot times against it) and under which idempotency key to look for it.
"""


class TargetBook:
    """Per-target rows (``journal_target``) and the call ledger (``journal_call``) of changes
    being executed. Every write checks the writer still holds the change's lease, and writes its
    audit rows in the same transaction.

    Args:
        engine: The journal's database.
        audit: ``audit(conn, *, kind, actor, body, change_id, plan_hash)``.
        actor: The audit actor (the worker).
        now: Wall clock (aware UTC).
        redact: Scrubs secrets from detail texts before they are stored.
        installation: This installation's id, the first part of every idempotency key.
    """

    def __init__(
        self,
        engine: Engine,
        audit: AuditFn,
        actor: str,
        *,
        now: Callable[[], datetime] = utcnow,
        redact: Callable[[str], str] = lambda text: text,
        installation: str = "",
    ) -> None:
        self.installation = installation
        self.engine = engine
        self._audit = audit
        self.actor = actor
        self.now = now
        self.redact = redact

    def rows(self, change_id: int) -> dict[str, Any]:
        """The target rows of a change, by target id."""
        with self.engine.connect() as conn:
            return {
                r.target: r
                for r in conn.execute(
                    select(target_table).where(target_table.c.change_id == change_id)
                )
            }

    def set(
        self,
        change_id: int,
        target: str,
        token: str,
        *,
        call: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        """Update one target row, its call ledger row and their audit rows in one transaction."""
        if "detail" in values:
            values["detail"] = self.redact(str(values["detail"]))
        if call is not None and "detail" in call:
            call = {**call, "detail": self.redact(str(call["detail"]))}
        with self.engine.begin() as conn:
            live = conn.execute(
                select(journal_table.c.id).where(
                    journal_table.c.id == change_id, journal_table.c.lease_token == token
                )
            ).first()
            if live is None:
                raise LeaseLost(f"CR-{change_id}: lease lost")
            conn.execute(
                update(target_table)
                .where(target_table.c.change_id == change_id, target_table.c.target == target)
                .values(updated_at=self.now(), **values)
            )
            if call is not None:
                self._ledger(conn, change_id, target, call)
            if "state" in values:
                self._audit(
                    conn,
                    kind="change.target",
                    actor=self.actor,
                    change_id=str(change_id),
                    plan_hash=None,
                    body={
                        "target": target,
                        **{k: v for k, v in values.items() if k in ("state", "job_id", "detail")},
                    },
                )

    def _ledger(self, conn: Connection, change_id: int, target: str, call: dict[str, Any]) -> None:
        """Insert (``start``) or finish a ``journal_call`` row and audit the integration call."""
        key = call["idempotency_key"]
        if call.get("start"):
            conn.execute(
                insert(call_table).values(
                    change_id=change_id,
                    target=target,
                    idempotency_key=key,
                    capability=call["capability"],
                    started_at=self.now(),
                    outcome="calling",
                    attempts=0,
                    detail="",
                )
            )
            return
        conn.execute(
            update(call_table)
            .where(call_table.c.idempotency_key == key, call_table.c.outcome == "calling")
            .values(
                finished_at=self.now(),
                outcome=call["outcome"],
                attempts=call.get("attempts", 0),
                detail=call.get("detail", ""),
            )
        )
        self._audit(
            conn,
            kind="integration.call",
            actor=self.actor,
            change_id=str(change_id),
            plan_hash=call.get("plan_hash"),
            body={
                "capability": call["capability"],
                "target": target,
                "outcome": call["outcome"],
                "attempts": call.get("attempts", 0),
                "detail": call.get("detail", ""),
                "idempotency_key": key,
            },
        )

    def insert(self, conn: Connection, change_id: int, waves: list[list[str]]) -> None:
        """Create the pending target rows of a change (those not there yet), wave by wave."""
        have = {
            r.target
            for r in conn.execute(
                select(target_table.c.target).where(target_table.c.change_id == change_id)
            )
        }
        rows = [
            {
                "change_id": change_id,
                "target": t,
                "wave": w,
                "state": "pending",
                "idempotency_key": idempotency_key(self.installation, change_id, t),
                "detail": "",
                "updated_at": self.now(),
            }
            for w, wave in enumerate(waves)
            for t in wave
            if t not in have
        ]
        if rows:
            conn.execute(target_table.insert(), rows)
