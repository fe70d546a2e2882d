"""Safety checks: backups before destructive changes, change windows and freezes, fresh facts."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from twin.actions._base import attr_time
from twin.actions.data import restore_subject
from twin.actions.scripts import default_allowlist
from twin.invariants._core import CheckContext, Violation
from twin.model import Entity

__all__ = ["backup_ready", "change_window", "freshness", "in_window", "next_opening"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _destructive_targets(ctx: CheckContext) -> list[Entity]:
    """The hosts whose data this change could destroy."""
    g = ctx.fork.base
    if ctx.action == "backup.restore":
        out = []
        for tid in ctx.targets:
            host, _ = restore_subject(g, g.get(tid))
            out.append(host if host is not None else g.get(tid))
        return out
    if ctx.action == "script.run":
        spec = default_allowlist().scripts.get(str(ctx.params.get("script_id")))
        return [g.get(t) for t in ctx.targets] if spec and spec.destructive else []
    # Patching a data holder (database host) can corrupt it: treat it as destructive.
    return [
        g.get(t)
        for t in ctx.targets
        if g.get(t).attrs.get("db_role") or g.get(t).attrs.get("role") == "db"
    ]


def backup_ready(ctx: CheckContext) -> list[Violation]:
    """A restore or destructive change needs a backup within its RPO, a recent restore test,
    and (for a restore) a target whose database role matches the stated intent."""
    fork, now = ctx.fork, ctx.now
    max_test = timedelta(days=int(ctx.setting("restore_test_max_days")))
    rows: list[Violation] = []
    for host in _destructive_targets(ctx):
        fork.note_read([host.id])
        _, backups = restore_subject(fork.base, host)
        fork.note_read(b.id for b in backups)
        if not backups:
            rows.append(
                Violation("backup_ready", "deny", f"no backup protects {host.name}", (host.id,))
            )
        else:
            best = max(
                backups,
                key=lambda b: (
                    attr_time(b.attrs.get("last_success")) or now - (timedelta(days=36500))
                ),
            )
            last = attr_time(best.attrs.get("last_success"))
            rpo = int(best.attrs.get("rpo_hours", 24))
            if last is None or now - last > timedelta(hours=rpo):
                age = (
                    "never succeeded"
                    if last is None
                    else f"is {(now - last).total_seconds() / 3600:.0f} h old"
                )
                rows.append(
                    Violation(
                        "backup_ready",
                        "deny",
                        f"the last good backup of {host.name} {age} (RPO {rpo} h)",
                        (host.id, best.id),
                    )
                )
            tested = attr_time(best.attrs.get("tested_at"))
            if tested is None or now - tested > max_test:
                when = (
                    "has never been restore-tested"
                    if tested is None
                    else f"was last restore-tested {(now - tested).days} days ago"
                )
                rows.append(
                    Violation(
                        "backup_ready",
                        "needs_consent",
                        f"the backup of {host.name} {when} (limit {max_test.days} days)",
                        (host.id, best.id),
                    )
                )
        if ctx.action == "backup.restore":
            rows += _role(ctx, host)
    return rows


def _role(ctx: CheckContext, host: Entity) -> list[Violation]:
    actual = host.attrs.get("db_role")
    wanted = ctx.params.get("role")
    if actual and wanted and actual != wanted:
        return [
            Violation(
                "backup_ready",
                "deny",
                f"{host.name} is the {actual}, but the restore was asked for the {wanted}",
                (host.id,),
            )
        ]
    if actual == "primary" and not wanted:
        return [
            Violation(
                "backup_ready",
                "needs_consent",
                f"{host.name} is the primary: a restore overwrites live data "
                f"(say role=primary to confirm the intent)",
                (host.id,),
            )
        ]
    return []


def _hm(text: str) -> dtime:
    h, _, m = text.partition(":")
    return dtime(int(h), int(m or 0))


def in_window(window: dict[str, Any], now: datetime) -> bool:
    """Whether ``now`` falls in a maintenance window (``end`` before ``start`` = overnight)."""
    local = now.astimezone(ZoneInfo(str(window.get("tz", "UTC"))))
    days = {str(d).lower()[:3] for d in window.get("days", _DAYS)}
    start, end = _hm(str(window.get("start", "00:00"))), _hm(str(window.get("end", "00:00")))
    today, yesterday = _DAYS[local.weekday()], _DAYS[(local.weekday() - 1) % 7]
    t = local.time()
    if start < end:
        return today in days and start <= t < end
    return (today in days and t >= start) or (yesterday in days and t < end)


def next_opening(window: dict[str, Any], now: datetime) -> datetime | None:
    """When the window next opens after ``now`` (``None`` if it never does)."""
    tz = ZoneInfo(str(window.get("tz", "UTC")))
    local = now.astimezone(tz)
    days = {str(d).lower()[:3] for d in window.get("days", _DAYS)}
    start = _hm(str(window.get("start", "00:00")))
    for i in range(8):
        day = local.date() + timedelta(days=i)
        if _DAYS[day.weekday()] in days:
            at = datetime.combine(day, start, tzinfo=tz)
            if at > now:
                return at
    return None


def _freezes(ctx: CheckContext, client: Entity | None) -> list[dict[str, Any]]:
    out = [dict(f) for f in ctx.setting("freezes")]
    raw = client.attrs.get("change_freeze") if client is not None else None
    if isinstance(raw, dict):
        out.append(raw)
    elif isinstance(raw, list):
        out += [f for f in raw if isinstance(f, dict)]
    return out


def change_window(ctx: CheckContext) -> list[Violation]:
    """Disruptive changes run inside each client's maintenance window and never in a freeze.

    A freeze in force is a ``deny``; outside the window needs consent. A change that takes
    nothing down (a rolling restart) is not held to the window.
    """
    fork, now = ctx.fork, ctx.now
    disruptive = bool(ctx.outage.down or ctx.outage.degraded) or ctx.action in ctx.setting(
        "window_always"
    )
    by_client: dict[str, list[str]] = {}
    for tid in ctx.targets:
        if fork.exists(tid):
            by_client.setdefault(str(fork.entity(tid).attrs.get("client", "")), []).append(tid)
    rows: list[Violation] = []
    for slug, tids in sorted(by_client.items()):
        cid = f"client:{slug}"
        client = fork.entity(cid) if slug and fork.exists(cid) else None
        for f in _freezes(ctx, client):
            start, end = attr_time(f.get("start")), attr_time(f.get("end"))
            if start is not None and end is not None and start <= now < end:
                rows.append(
                    Violation(
                        "change_window",
                        "deny",
                        f"a change freeze is in force for {slug or 'the estate'} until "
                        f"{end.isoformat()}" + (f" ({f['reason']})" if f.get("reason") else ""),
                        (cid, *ctx.listed(tids)) if client else ctx.listed(tids),
                    )
                )
        window = client.attrs.get("maintenance_window") if client is not None else None
        if not disruptive or not isinstance(window, dict):
            continue
        try:
            inside = in_window(window, now)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ValueError(f"{cid} has an unreadable maintenance_window: {exc}") from exc
        if not inside:
            nxt = next_opening(window, now)
            when = f"; it next opens {nxt.isoformat()}" if nxt else ""
            span = f"{window.get('start')}-{window.get('end')} {window.get('tz')}"
            rows.append(
                Violation(
                    "change_window",
                    "needs_consent",
                    f"{len(tids)} target(s) of {slug} are outside its maintenance window "
                    f"({','.join(window.get('days', []))} {span}){when}",
                    (cid, *ctx.listed(tids)),
                )
            )
    return rows


def freshness(ctx: CheckContext) -> list[Violation]:
    """Observed facts in the blast radius (targets, down, degraded) are recent enough."""
    fork, out = ctx.fork, ctx.outage
    limit = ctx.now - timedelta(hours=float(ctx.setting("max_fact_age_hours")))
    declared = set(ctx.setting("declared_sources"))
    nodes = fork.base.g.nodes
    stale: list[tuple[datetime, str]] = []
    for nid in dict.fromkeys((*ctx.targets, *out.down, *out.degraded)):
        if nid not in nodes:
            continue  # added by the change itself
        e: Entity = nodes[nid]["e"]
        if e.source not in declared and e.last_seen < limit:
            stale.append((e.last_seen, nid))
    if not stale:
        return []
    stale.sort()
    oldest = stale[0][0]
    return [
        Violation(
            "freshness",
            "needs_consent",
            f"{len(stale)} fact(s) in the blast radius were last observed before "
            f"{limit.isoformat()} (oldest {oldest.isoformat()}); re-sync or accept the risk",
            ctx.listed([nid for _, nid in stale]),
        )
    ]
