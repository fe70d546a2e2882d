"""The daily digest's numbers, read from the audit log (what happened) and the journal (what).

Everything is counted from audit rows, because they say *when* each step happened: a change
proposed on Monday and approved on Tuesday counts as consented on Tuesday. Days are calendar
days in the digest's time zone.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from agent.audit import AuditLog, AuditRow
from agent.execution import change_ref, journal_table
from agent.schedule import Upcoming

__all__ = [
    "HISTORY_DAYS",
    "OUTCOMES",
    "PATCH_CYCLE_KIND",
    "CycleSummary",
    "DigestNumbers",
    "Failure",
    "compute_digest",
]

HISTORY_DAYS = 14
OUTCOMES: dict[str, str] = {
    "change.auto_approved": "auto",
    "change.approved": "consented",
    "change.denied": "denied",
    "change.rejected": "rejected",
    "change.expired": "expired",
    "change.failed": "failed",
    "change.rolled_back": "rolled back",
}
"""Audit kinds counted as an outcome, and the outcome's name in the digest."""
PATCH_CYCLE_KIND = "patch_cycle.finished"
"""Audit kind written when a patch cycle ends (:mod:`agent.patching`; a staged run writes one
per client, each with the run's ``run_id``)."""
_DECIDED = ("change.approved", "change.rejected", "change.expired", "change.stale")
_RULE_KINDS = ("change.awaiting_consent", "change.denied", "change.auto_approved")
_AGE_BUCKETS = (
    (timedelta(hours=1), "< 1 h"),
    (timedelta(hours=4), "1-4 h"),
    (timedelta(hours=24), "4-24 h"),
)


@dataclass(frozen=True, kw_only=True)
class Failure:
    """A failed, rolled-back or escalated change."""

    ref: str
    action: str
    state: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class CycleSummary:
    """The last patch cycle that finished by the end of the digest's day."""

    cycle_id: str
    at: datetime
    summary: str
    """The report's one-paragraph summary (``CycleReport.summary()``)."""


@dataclass(frozen=True, kw_only=True)
class DigestNumbers:
    """One day's figures."""

    day: date
    timezone: str
    outcomes: dict[str, int]
    """Outcome name (see :data:`OUTCOMES`) -> count."""
    by_kind: dict[str, dict[str, int]]
    """Action kind -> outcome -> count."""
    consent_median: timedelta | None
    consent_slowest: tuple[str, timedelta] | None
    failures: list[Failure]
    escalations: int
    waiting: dict[str, int]
    """Age bucket -> consent requests still open at the end of the day."""
    rules: list[tuple[str, int]]
    """Rules that decided most often, most first."""
    succeeded: dict[str, int]
    """Action kind -> changes reconciled that day (what time saved is counted on)."""
    minutes_saved: float
    history: list[tuple[date, int, int]] = field(default_factory=list)
    """(day, changes that ran, changes that failed) for the last :data:`HISTORY_DAYS` days."""
    outcome_history: list[tuple[date, dict[str, int]]] = field(default_factory=list)
    """(day, count per outcome name) for the last :data:`HISTORY_DAYS` days, oldest first."""
    patch_cycle: CycleSummary | None = None
    """The latest patch cycle finished within the history period, or None."""
    coming_up: list[Upcoming] = field(default_factory=list)
    """Scheduled changes when the digest was made, soonest first."""
    as_of: datetime | None = None
    """When it was made (what "in 2 days" of ``coming_up`` counts from)."""


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return start, end


def _bucket(age: timedelta) -> str:
    for limit, name in _AGE_BUCKETS:
        if age < limit:
            return name
    return "> 1 day"


def _actions(engine: Engine, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    q = select(journal_table.c.id, journal_table.c.action, journal_table.c.result).where(
        journal_table.c.id.in_(sorted(ids))
    )
    with engine.connect() as conn:
        return {
            int(r.id): (str(r.action), str((r.result or {}).get("message", "")))
            for r in conn.execute(q)
        }


def compute_digest(
    engine: Engine,
    audit: AuditLog,
    day: date,
    tz: ZoneInfo,
    *,
    minutes_per_action: Mapping[str, float],
    default_minutes: float,
    coming_up: list[Upcoming] | None = None,
    as_of: datetime | None = None,
) -> DigestNumbers:
    """The figures for calendar ``day`` in ``tz``.

    Args:
        engine: The database (for action kinds of the changes involved).
        audit: The audit log the figures are counted from.
        day: The day to report.
        tz: The digest's time zone (days start at local midnight).
        minutes_per_action: Estimated minutes a person spends on one action of a kind.
        default_minutes: The estimate for kinds not listed.
        coming_up: Scheduled changes to list (now, whatever ``day`` is).
        as_of: When the digest is made.
    """
    start, end = _day_bounds(day, tz)
    first, _ = _day_bounds(day - timedelta(days=HISTORY_DAYS - 1), tz)
    rows: list[AuditRow] = []
    cycle: CycleSummary | None = None
    run: list[AuditRow] = []
    for row in audit.iter_rows(since=first - timedelta(days=7)):
        if row.at >= end:
            break
        if row.kind.startswith("change.") and row.change_id is not None:
            rows.append(row)
        elif row.kind == PATCH_CYCLE_KIND and row.at >= first:
            # Rows come in chain order, so the last one seen is the latest cycle. A staged run
            # writes one row per client, all with the run's id: the cycle is all of them.
            rid = row.body.get("run_id")
            run = [*run, row] if rid and run and run[-1].body.get("run_id") == rid else [row]
            cycle = CycleSummary(
                cycle_id=str(rid or row.body.get("cycle_id", "")),
                at=row.at,
                summary=" ".join(str(r.body.get("summary", "")) for r in run),
            )
    today = [r for r in rows if start <= r.at < end]
    actions = _actions(engine, {int(r.change_id or 0) for r in today})

    outcomes: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    rules: Counter[str] = Counter()
    succeeded: Counter[str] = Counter()
    failures: list[Failure] = []
    escalations = 0
    for r in today:
        cid = int(r.change_id or 0)
        action, message = actions.get(cid, ("?", ""))
        if r.kind in OUTCOMES:
            outcomes[OUTCOMES[r.kind]] += 1
            by_kind[action][OUTCOMES[r.kind]] += 1
        if r.kind in _RULE_KINDS:
            rules.update(str(x) for x in r.body.get("rules") or [])
        if r.kind == "change.reconciled":
            succeeded[action] += 1
        if r.kind in ("change.rolled_back", "change.escalated"):
            escalations += r.kind == "change.escalated"
            failures.append(
                Failure(ref=change_ref(cid), action=action, state=r.kind[7:], detail=message)
            )

    asked = {r.change_id: r.at for r in rows if r.kind == "change.awaiting_consent"}
    waits = [
        (change_ref(int(r.change_id or 0)), r.at - asked[r.change_id])
        for r in today
        if r.kind in ("change.approved", "change.rejected") and r.change_id in asked
    ]
    decided = {r.change_id for r in rows if r.kind in _DECIDED}
    waiting: Counter[str] = Counter(
        _bucket(end - at) for cid, at in asked.items() if cid not in decided
    )

    history: list[tuple[date, int, int]] = []
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        d = r.at.astimezone(tz).date()
        if r.kind in ("change.auto_approved", "change.approved"):
            per_day[d][0] += 1
        elif r.kind == "change.failed":
            per_day[d][1] += 1
    by_outcome: dict[date, Counter[str]] = defaultdict(Counter)
    for r in rows:
        if r.kind in OUTCOMES:
            by_outcome[r.at.astimezone(tz).date()][OUTCOMES[r.kind]] += 1
    outcome_history: list[tuple[date, dict[str, int]]] = []
    for i in range(HISTORY_DAYS - 1, -1, -1):
        d = day - timedelta(days=i)
        history.append((d, per_day[d][0], per_day[d][1]))
        outcome_history.append((d, dict(by_outcome[d])))

    saved = sum(n * minutes_per_action.get(k, default_minutes) for k, n in succeeded.items())
    return DigestNumbers(
        day=day,
        timezone=str(tz),
        outcomes=dict(outcomes),
        by_kind={k: dict(v) for k, v in sorted(by_kind.items())},
        consent_median=(
            timedelta(seconds=statistics.median(w.total_seconds() for _, w in waits))
            if waits
            else None
        ),
        consent_slowest=max(waits, key=lambda w: w[1]) if waits else None,
        failures=failures,
        escalations=escalations,
        waiting=dict(waiting),
        rules=rules.most_common(5),
        succeeded=dict(succeeded),
        minutes_saved=saved,
        history=history,
        outcome_history=outcome_history,
        patch_cycle=cycle,
        coming_up=list(coming_up or []),
        as_of=as_of,
    )
