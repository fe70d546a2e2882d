"""The change journal: one row per change, moved through the state machine of
:mod:`agent.execution.change`.

Every transition is a compare-and-set (``UPDATE ... WHERE state IN (...)``) inside a transaction
that also writes the transition's audit row, so the journal and the audit can never disagree and
two actors can never move one change twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from agent.execution.change import (
    TRANSITIONS,
    Change,
    IllegalTransition,
    LeaseLost,
    change_ref,
)
from twin.db import metadata
from twin.model import utcnow

__all__ = ["AuditFn", "DuplicateRequest", "Journal", "idempotency_key", "journal_table"]

journal_table = Table(
    "journal_change",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(24), nullable=False, index=True),
    Column("action", String(64), nullable=False),
    Column("targets", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("requester", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("thread_ts", String(32), nullable=False),
    Column("plan", JSON),
    Column("plan_hash", String(64)),
    Column("policy_hash", String(64)),
    Column("decision", JSON),
    Column("result", JSON),
    Column("supersedes", Integer),
    # What asked for the change, e.g. ``slack:<event id>:0``: a replayed request finds its
    # change instead of making a second one. NULLs are distinct, so most rows leave it empty.
    Column("request_key", String(160)),
    Column("lease_token", String(64)),
    # Not to run before this time (a scheduled change waits in ``scheduled``); NULL = at once.
    Column("not_before", DateTime(timezone=True), index=True),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
    Index("ix_journal_change_request_key", "request_key", unique=True),
)


def _row(r: Any) -> Change:
    from datetime import UTC

    def aware(dt: datetime) -> datetime:
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)

    return Change(
        id=r.id,
        state=r.state,
        action=r.action,
        targets=list(r.targets),
        params=dict(r.params),
        reason=r.reason,
        requester=r.requester,
        source=r.source,
        channel=r.channel,
        thread_ts=r.thread_ts,
        plan=r.plan,
        plan_hash=r.plan_hash,
        policy_hash=r.policy_hash,
        decision=r.decision,
        result=r.result,
        supersedes=r.supersedes,
        created_at=aware(r.created_at),
        updated_at=aware(r.updated_at),
        not_before=aware(r.not_before) if r.not_before is not None else None,
    )


class AuditFn(Protocol):
    """Writes one audit row inside the caller's transaction (``AuditLog.append`` fits)."""

    def __call__(
        self,
        conn: Connection,
        *,
        kind: str,
        actor: str,
        body: Mapping[str, Any],
        change_id: str | None = None,
        plan_hash: str | None = None,
    ) -> object:
        """Append the row to ``conn``'s transaction; it commits (or not) with the caller's."""
        ...


class DuplicateRequest(Exception):
    """A request key that already names a change: the request was replayed."""

    def __init__(self, change: Change) -> None:
        super().__init__(f"{change.ref} was already recorded for this request")
        self.change = change


_KEY_LENGTH = 128  # the idempotency_key columns' size


def idempotency_key(installation: str, change_id: int, target: str) -> str:
    """``<installation>:CR-<id>:<nonce>:<target>``, made once per target row and stored.

    The installation id keeps two installations that share a vendor tenant apart; the random
    nonce keeps a database restored from a backup apart from its own past (the change ids
    start again from the backup's, the keys do not). Retries reuse the stored key.
    """
    prefix = f"{installation}:" if installation else ""
    key = f"{prefix}CR-{change_id}:{secrets.token_hex(4)}:{target}"
    if len(key) > _KEY_LENGTH:  # a very long target id: keep its hash, the column is bounded
        digest = hashlib.sha256(target.encode()).hexdigest()[:24]
        key = f"{prefix[: _KEY_LENGTH - 48]}CR-{change_id}:{secrets.token_hex(4)}:{digest}"
    return key


class Journal:
    """Reads and moves journal rows; each move writes its audit row in the same transaction."""

    def __init__(self, engine: Engine, audit: AuditFn, *, installation: str = "") -> None:
        self.engine = engine
        self._audit = audit
        self.installation = installation
        """Prefixes every idempotency key (:func:`idempotency_key`, written by
        :class:`TargetBook`)."""

    def create(
        self,
        *,
        action: str,
        targets: list[str],
        params: dict[str, Any],
        reason: str,
        requester: str,
        source: str,
        channel: str = "",
        thread_ts: str = "",
        supersedes: int | None = None,
        request_key: str | None = None,
        not_before: datetime | None = None,
    ) -> Change:
        """Record a new change in ``proposed`` (``not_before``: not to run before then).

        Raises:
            DuplicateRequest: ``request_key`` already names a change (a replayed request).
        """
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                cid = conn.execute(
                    insert(journal_table)
                    .values(
                        request_key=request_key,
                        state="proposed",
                        action=action,
                        targets=targets,
                        params=params,
                        reason=reason,
                        requester=requester,
                        source=source,
                        channel=channel,
                        thread_ts=thread_ts,
                        supersedes=supersedes,
                        not_before=not_before,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(journal_table.c.id)
                ).scalar_one()
                self._audit(
                    conn,
                    kind="change.proposed",
                    actor=requester,
                    change_id=str(cid),
                    plan_hash=None,
                    body={
                        "action": action,
                        "targets": targets,
                        "params": params,
                        "reason": reason,
                        "source": source,
                        "channel": channel,
                        "supersedes": supersedes,
                        **({"not_before": not_before.isoformat()} if not_before else {}),
                    },
                )
        except IntegrityError:
            existing = self.by_request_key(request_key) if request_key else None
            if existing is None:
                raise
            raise DuplicateRequest(existing) from None
        return self.get(int(cid))

    def by_request_key(self, key: str) -> Change | None:
        """The change a request key recorded, if any."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(journal_table).where(journal_table.c.request_key == key)
            ).first()
        return _row(r) if r is not None else None

    def get(self, change_id: int) -> Change:
        """One change; ``KeyError`` if absent."""
        with self.engine.connect() as conn:
            r = conn.execute(select(journal_table).where(journal_table.c.id == change_id)).first()
        if r is None:
            raise KeyError(f"{change_ref(change_id)} does not exist")
        return _row(r)

    def move(
        self,
        change_id: int,
        to: str,
        *,
        actor: str,
        body: dict[str, Any] | None = None,
        conn: Connection | None = None,
        expect: Iterable[str] | None = None,
        lease_token: str | None = None,
        new_lease: str | None = None,
        **values: Any,
    ) -> Change:
        """Compare-and-set the state to ``to`` (from any state that allows it), with audit.

        ``lease_token``, when given, must match the row's current lease: a late write from a
        worker whose claim was taken over is rejected. ``new_lease`` sets a new lease token.
        """
        if new_lease is not None:
            values["lease_token"] = new_lease
        allowed = [s for s, nxt in TRANSITIONS.items() if to in nxt]
        if expect is not None:
            allowed = [s for s in allowed if s in set(expect)]
        if conn is None:
            with self.engine.begin() as c:
                return self.move(
                    change_id,
                    to,
                    actor=actor,
                    body=body,
                    conn=c,
                    expect=allowed,
                    lease_token=lease_token,
                    **values,
                )  # new_lease folded in
        cond = [journal_table.c.id == change_id, journal_table.c.state.in_(allowed)]
        if lease_token is not None:
            cond.append(journal_table.c.lease_token == lease_token)
        res = conn.execute(
            update(journal_table).where(*cond).values(state=to, updated_at=utcnow(), **values)
        )
        if res.rowcount != 1:
            cur = conn.execute(
                select(journal_table.c.state, journal_table.c.lease_token).where(
                    journal_table.c.id == change_id
                )
            ).first()
            if cur is None:
                raise IllegalTransition(f"{change_ref(change_id)} does not exist")
            if lease_token is not None and cur.lease_token != lease_token:
                raise LeaseLost(f"{change_ref(change_id)}: lease lost (claimed by another worker)")
            raise IllegalTransition(f"{change_ref(change_id)} is {cur.state}; cannot move to {to}")
        r = conn.execute(select(journal_table).where(journal_table.c.id == change_id)).one()
        self._audit(
            conn,
            kind=f"change.{to}",
            actor=actor,
            change_id=str(change_id),
            plan_hash=r.plan_hash,
            body={"state": to, **(body or {})},
        )
        return _row(r)

    def list(
        self,
        *,
        states: Iterable[str] | None = None,
        since: datetime | None = None,
        requester: str | None = None,
        limit: int = 100,
    ) -> list[Change]:
        """Changes, newest first."""
        q = select(journal_table).order_by(journal_table.c.id.desc()).limit(limit)
        if states is not None:
            q = q.where(journal_table.c.state.in_(list(states)))
        if since is not None:
            q = q.where(journal_table.c.updated_at >= since)
        if requester is not None:
            q = q.where(journal_table.c.requester == requester)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def counts(self, since: datetime) -> dict[str, int]:
        """Changes by state updated since ``since``."""
        q = (
            select(journal_table.c.state, func.count())
            .where(journal_table.c.updated_at >= since)
            .group_by(journal_table.c.state)
        )
        with self.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(q)}

    def history(self, action: str, *, exclude: int | None = None) -> dict[str, int]:
        """How often this action kind succeeded or failed before (for policy input)."""
        q = (
            select(journal_table.c.state, func.count())
            .where(journal_table.c.action == action)
            .group_by(journal_table.c.state)
        )
        if exclude is not None:
            q = q.where(journal_table.c.id != exclude)
        with self.engine.connect() as conn:
            rows = {str(s): int(n) for s, n in conn.execute(q)}
        ok = rows.get("reconciled", 0) + rows.get("verified", 0)
        bad = rows.get("failed", 0) + rows.get("rolled_back", 0) + rows.get("escalated", 0)
        return {"succeeded": ok, "failed": bad}

    def dumps(self, change: Change) -> str:
        """JSON for ``--json`` output."""
        return json.dumps(change.__dict__, default=str, indent=2)
