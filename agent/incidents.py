"""Incident records: one per problem, however often its signal fires, with its PSA ticket.

A signal is grouped into an incident by its *dedupe key* (from the runbook, or the signal's
fingerprint). Within the group window a repeat only counts; a signal that resolves and fires
again inside the window is *flapping* and re-opens the same incident without acting twice.
Opening an incident opens a PSA ticket; the resolve of its signal comments on and closes it.
Every ticket call carries an idempotency key derived from the incident id.

Replicas all receive the same alert (Alertmanager sends to each; an HA pair sends twice), so the
"new incident" decision must hold across processes. A unique *open slot* does it on PostgreSQL
and SQLite alike: ``open_key`` holds the dedupe key while an incident is the key's current one and
is NULL once it is resolved or superseded, and NULLs never collide. The replica that loses the
race to open an incident gets an ``IntegrityError`` and counts a repeat of the winner's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    and_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from adapters.contracts import PsaContract
from adapters.errors import AdapterError
from adapters.signals import Signal
from agent.execution import AuditFn
from twin.db import metadata
from twin.model import utcnow

__all__ = ["FLAP_LIMIT", "Disposition", "Incident", "IncidentBook", "incident_table"]

log = logging.getLogger(__name__)

FLAP_LIMIT = 3
"""Re-opens within the window after which an incident is marked flapping."""

IncidentStatus = Literal["open", "resolved", "flapping"]
Disposition = Literal["new", "repeat", "flap", "resolved", "resolve_unknown"]

incident_table = Table(
    "agent_incident",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(255), nullable=False, index=True),
    Column("fingerprint", String(255), nullable=False, index=True),
    Column("source", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("entity_id", String(255)),
    Column("runbook_id", String(128)),
    Column("change_id", Integer),
    Column("outcome", String(32), nullable=False, default=""),
    Column("ticket_id", String(128)),
    Column("ticket_number", String(64)),
    Column("thread_channel", String(64), nullable=False, default=""),
    Column("thread_ts", String(32), nullable=False, default=""),
    Column("occurrences", Integer, nullable=False, default=1),
    Column("flaps", Integer, nullable=False, default=0),
    Column("cluster", String(128), nullable=False, default=""),
    Column("suspected_cause", Text, nullable=False, default=""),
    Column("labels", JSON, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    # The dedupe key while this is the key's current incident, else NULL: its unique index lets
    # one incident per key be open for grouping, whichever replica inserts first.
    Column("open_key", String(255), unique=True, index=True),
)


@dataclass(frozen=True)
class Incident:
    """One incident record."""

    id: int
    dedupe_key: str
    fingerprint: str
    source: str
    title: str
    severity: str
    status: IncidentStatus
    entity_id: str | None
    runbook_id: str | None
    change_id: int | None
    outcome: str
    """What opshand did: ``proposed:auto``, ``consent``, ``no_runbook``, ``reconciled`` ..."""
    ticket_id: str | None
    ticket_number: str | None
    thread_channel: str
    thread_ts: str
    occurrences: int
    flaps: int
    cluster: str
    suspected_cause: str
    labels: dict[str, str]
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None

    @property
    def ref(self) -> str:
        """``INC-<id>``, how people name it."""
        return f"INC-{self.id}"


def _aware(dt: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    from datetime import UTC

    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=UTC)


def _trusted(signal: Signal, label: str) -> str:
    return signal.labels.get(label, "") if signal.aiops_trusted else ""


def _row(r: Any) -> Incident:
    d = dict(r._mapping)
    d.pop("open_key", None)  # storage for the race guard, not part of the record
    for k in ("first_seen", "last_seen", "resolved_at"):
        d[k] = _aware(d[k])
    return Incident(**d)


class IncidentBook:
    """The incident table, grouping and the PSA ticket lifecycle."""

    def __init__(
        self,
        engine: Engine,
        *,
        psa: PsaContract | None = None,
        audit: AuditFn | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.psa = psa
        self.audit = audit
        self.now = now

    # ------------------------------------------------------------------ reads
    def get(self, incident_id: int) -> Incident:
        """One incident; ``KeyError`` if there is none."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(incident_table).where(incident_table.c.id == incident_id)
            ).first()
        if r is None:
            raise KeyError(f"no incident INC-{incident_id}")
        return _row(r)

    def for_change(self, change_id: int) -> Incident | None:
        """The incident whose remediation is ``change_id``."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(incident_table).where(incident_table.c.change_id == change_id)
            ).first()
        return None if r is None else _row(r)

    def all(self, *, entity_id: str | None = None, open_only: bool = False) -> list[Incident]:
        """Incidents, newest first; by entity (what the agent and policy see about it)."""
        q = select(incident_table).order_by(incident_table.c.id.desc())
        if entity_id is not None:
            q = q.where(incident_table.c.entity_id == entity_id)
        if open_only:
            q = q.where(incident_table.c.status != "resolved")
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def _latest(self, conn: Any, key: str) -> Incident | None:
        r = conn.execute(
            select(incident_table)
            .where(incident_table.c.dedupe_key == key)
            .order_by(incident_table.c.id.desc())
            .limit(1)
            .with_for_update()
        ).first()
        return None if r is None else _row(r)

    # ------------------------------------------------------------------ grouping
    def record(
        self, signal: Signal, *, dedupe_key: str, window: timedelta, entity_id: str | None = None
    ) -> tuple[Incident, Disposition]:
        """Group ``signal`` into an incident and say what it was: new, a repeat, a flap, a resolve.

        One transaction per signal, so two replicas receiving the same webhook agree.
        """
        now = self.now()
        if len(dedupe_key) > 200:  # label values are unbounded; the column is not
            dedupe_key = "sha256:" + hashlib.sha256(dedupe_key.encode()).hexdigest()
        disp: Disposition
        with self.engine.begin() as conn:
            last = self._latest(conn, dedupe_key)
            recent = last is not None and now - last.last_seen <= window
            if signal.status == "resolved":
                if last is None or last.status == "resolved":
                    return (last or self._stub(signal, dedupe_key, now)), "resolve_unknown"
                conn.execute(
                    update(incident_table)
                    .where(incident_table.c.id == last.id)
                    .values(status="resolved", resolved_at=now, last_seen=now, open_key=None)
                )
                inc, disp = self._get(conn, last.id), "resolved"
            elif last is not None and last.status != "resolved" and recent:
                inc, disp = self._repeat(conn, last, now), "repeat"
            else:
                try:
                    # A savepoint, so losing the race for the open slot leaves the transaction
                    # usable (PostgreSQL aborts a transaction on any failed statement).
                    with conn.begin_nested():
                        if last is not None and recent:
                            inc, disp = self._flap(conn, last, dedupe_key, now), "flap"
                        else:
                            inc = self._insert(conn, signal, dedupe_key, entity_id, now, last)
                            disp = "new"
                except IntegrityError:
                    # Another replica took the slot between our read and write; its incident
                    # is committed now, so this signal is a repeat of it.
                    winner = self._latest(conn, dedupe_key)
                    if winner is None or winner.status == "resolved":
                        raise
                    log.info("%s was opened by another replica; counting a repeat", winner.ref)
                    inc, disp = self._repeat(conn, winner, now), "repeat"
            if self.audit is not None:
                self.audit(
                    conn,
                    kind=f"incident.{disp}",
                    actor=f"signal:{signal.source}",
                    change_id=None,
                    plan_hash=None,
                    body={"incident": inc.ref, "dedupe_key": dedupe_key, "title": inc.title},
                )
        if disp == "new":
            inc = self._open_ticket(inc)
        elif disp == "resolved":
            self._close_ticket(inc)
        elif disp == "flap":
            self._reopen_ticket(inc)
        return inc, disp

    def _repeat(self, conn: Any, last: Incident, now: datetime) -> Incident:
        # Relative to the stored value, not the one read, so no concurrent count is lost.
        conn.execute(
            update(incident_table)
            .where(incident_table.c.id == last.id)
            .values(occurrences=incident_table.c.occurrences + 1, last_seen=now)
        )
        return self._get(conn, last.id)

    def _flap(self, conn: Any, last: Incident, key: str, now: datetime) -> Incident:
        flaps = last.flaps + 1
        conn.execute(
            update(incident_table)
            .where(incident_table.c.id == last.id)
            .values(
                status="flapping" if flaps >= FLAP_LIMIT else "open",
                flaps=flaps,
                occurrences=last.occurrences + 1,
                last_seen=now,
                resolved_at=None,
                open_key=key,
            )
        )
        return self._get(conn, last.id)

    def _insert(
        self,
        conn: Any,
        signal: Signal,
        key: str,
        entity_id: str | None,
        now: datetime,
        last: Incident | None,
    ) -> Incident:
        if last is not None and last.status != "resolved":
            # Open but outside the window: the new incident takes over the key's open slot.
            conn.execute(
                update(incident_table).where(incident_table.c.id == last.id).values(open_key=None)
            )
        res = conn.execute(
            incident_table.insert().values(
                dedupe_key=key,
                open_key=key,
                fingerprint=signal.fingerprint[:255],
                source=signal.source[:64],
                title=signal.title[:500],
                severity=signal.severity,
                status="open",
                entity_id=entity_id,
                outcome="",
                thread_channel="",
                thread_ts="",
                occurrences=1,
                flaps=0,
                # AIOps output is believed only from a source trusted for it; from any other
                # source the labels stay data in `labels` and feed no rule.
                cluster=_trusted(signal, "aiops_cluster")[:128],
                suspected_cause=_trusted(signal, "suspected_cause")[:500],
                labels=dict(signal.labels),
                first_seen=now,
                last_seen=now,
            )
        )
        pk = res.inserted_primary_key
        assert pk is not None
        return self._get(conn, int(pk[0]))

    def _stub(self, signal: Signal, key: str, now: datetime) -> Incident:
        return Incident(
            id=0, dedupe_key=key, fingerprint=signal.fingerprint, source=signal.source,
            title=signal.title, severity=signal.severity, status="resolved", entity_id=None,
            runbook_id=None, change_id=None, outcome="", ticket_id=None, ticket_number=None,
            thread_channel="", thread_ts="", occurrences=0, flaps=0, cluster="",
            suspected_cause="", labels=dict(signal.labels), first_seen=now, last_seen=now,
            resolved_at=now,
        )  # fmt: skip

    def _get(self, conn: Any, incident_id: int) -> Incident:
        return _row(
            conn.execute(select(incident_table).where(incident_table.c.id == incident_id)).one()
        )

    def update(self, incident_id: int, **values: Any) -> Incident:
        """Set fields (runbook, change, outcome, thread reference)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(incident_table).where(incident_table.c.id == incident_id).values(**values)
            )
            return self._get(conn, incident_id)

    def set_thread(self, incident_id: int, channel: str, ts: str) -> Incident:
        """Remember the Slack thread the incident is discussed in (set by the bot)."""
        return self.update(incident_id, thread_channel=channel, thread_ts=ts)

    def open_for_entity(self, entity_id: str) -> list[Incident]:
        """Open incidents linked to one entity (AIOps clusters and suspected causes included)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(incident_table).where(
                    and_(
                        incident_table.c.entity_id == entity_id,
                        incident_table.c.status != "resolved",
                    )
                )
            )
            return [_row(r) for r in rows]

    # ------------------------------------------------------------------ PSA
    def _open_ticket(self, inc: Incident, key: str = "open") -> Incident:
        if self.psa is None:
            return inc
        priority = {"critical": "critical", "high": "high", "warning": "medium"}.get(
            inc.severity, "low"
        )
        try:
            t = self.psa.create_ticket(
                f"[{inc.ref}] {inc.title}"[:200],
                f"Opened by opshand from a {inc.source} signal ({inc.fingerprint}).",
                priority=priority,
                idempotency_key=f"{inc.ref}:{key}",
            )
        except AdapterError as exc:  # the incident still counts; the ticket is retried on resolve
            log.warning("could not open a ticket for %s: %s", inc.ref, exc)
            return inc
        return self.update(inc.id, ticket_id=t.ticket_id, ticket_number=t.number)

    def _comment(self, inc: Incident, text: str) -> None:
        if self.psa is None or not inc.ticket_id:
            return
        try:
            self.psa.comment(
                inc.ticket_id, text, idempotency_key=f"{inc.ref}:c:{inc.occurrences}:{inc.flaps}"
            )
        except AdapterError as exc:
            log.warning("could not comment on %s: %s", inc.ticket_id, exc)

    def note(self, inc: Incident, text: str, key: str) -> None:
        """Comment on the incident's ticket once per ``key`` (e.g. the change's outcome)."""
        if self.psa is None or not inc.ticket_id:
            return
        try:
            self.psa.comment(inc.ticket_id, text, idempotency_key=f"{inc.ref}:{key}")
        except AdapterError as exc:
            log.warning("could not comment on %s: %s", inc.ticket_id, exc)

    def _reopen_ticket(self, inc: Incident) -> None:
        if self.psa is None or not inc.ticket_id:
            return
        try:
            self.psa.update_status(
                inc.ticket_id, "open", idempotency_key=f"{inc.ref}:reopen:{inc.flaps}"
            )
        except AdapterError:
            # A closed ticket cannot re-open in every PSA: follow up in a new one instead.
            inc = self._open_ticket(inc, key=f"reopen:{inc.flaps}")
        if inc.status == "flapping" and inc.flaps == FLAP_LIMIT:
            self._comment(inc, f"{inc.ref} is flapping ({inc.flaps} re-opens); not acting again.")

    def _close_ticket(self, inc: Incident) -> None:
        if self.psa is None or not inc.ticket_id:
            return
        done = inc.outcome or "no action"
        try:
            self.psa.comment(
                inc.ticket_id,
                f"The signal resolved. opshand: {done}.",
                idempotency_key=f"{inc.ref}:resolved:{inc.flaps}",
            )
            self.psa.close(
                inc.ticket_id,
                f"resolved at source; {done}",
                idempotency_key=f"{inc.ref}:close:{inc.flaps}",
            )
        except AdapterError as exc:
            log.warning("could not close %s: %s", inc.ticket_id, exc)
