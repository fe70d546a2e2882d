"""Facts about one entity for one question, from the twin and the journal.

"is X healthy?", "what changed on X?", "when was X last patched?", "who owns X?" each want a few
facts, not the whole entity: :func:`entity_aspect` gathers them (``twin_show`` with an
``aspect``). :func:`scheduled_changes` lists what waits in the journal for its time ("what is
scheduled tonight?"). Both read; neither changes anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from agent.execution import Change, Journal
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, utcnow

__all__ = ["ASPECTS", "Aspect", "SchedulePeriod", "entity_aspect", "scheduled_changes"]

Aspect = Literal["health", "changes", "patch", "owner"]
ASPECTS: tuple[str, ...] = ("health", "changes", "patch", "owner")
SchedulePeriod = Literal["tonight", "today", "this_week", "week", "all"]

_ACTIVE = ("proposed", "awaiting_consent", "approved", "auto_approved", "queued", "running")
_DONE = ("succeeded", "reconciled", "verified")
_FAILED = ("failed", "rolled_back", "halted", "drifted")
_STALE_AFTER = timedelta(hours=24)
_JOURNAL_SCAN = 500


def _change(c: Change) -> dict[str, Any]:
    return {
        "change_id": c.ref,
        "action": c.action,
        "state": c.state,
        "requested_by": c.requester,
        "updated_at": c.updated_at.isoformat(),
        **({"not_before": c.not_before.isoformat()} if c.not_before else {}),
    }


def _changes_on(journal: Journal, entity_id: str) -> list[Change]:
    """The journal's changes that target ``entity_id``, newest first."""
    return [c for c in journal.list(limit=_JOURNAL_SCAN) if entity_id in c.targets]


def _name(graph: TwinGraph, entity_id: str) -> str:
    try:
        return graph.get(entity_id).name
    except KeyError:
        return entity_id


def _needed_by(graph: TwinGraph, e: Entity, kind: str) -> list[Entity]:
    return [graph.get(s) for _, s in graph.in_edges(e.id) if graph.get(s).kind.value == kind]


def _health(graph: TwinGraph, journal: Journal, e: Entity) -> dict[str, Any]:
    now = utcnow()
    changes = _changes_on(journal, e.id)
    backups = [
        {
            "name": b.name,
            "last_result": b.attrs.get("last_result"),
            "last_success": b.attrs.get("last_success"),
        }
        for b in _needed_by(graph, e, "backup")
    ]
    facts: dict[str, Any] = {
        k: e.attrs[k]
        for k in ("status", "state", "health", "pending_reboot", "last_boot", "coverage")
        if k in e.attrs
    }
    return {
        **facts,
        "last_seen": e.last_seen.isoformat(),
        "stale": now - e.last_seen > _STALE_AFTER,
        "backups": backups,
        "open_changes": [_change(c) for c in changes if c.state in (*_ACTIVE, "scheduled")][:5],
        "failed_changes": [_change(c) for c in changes if c.state in _FAILED][:5],
    }


def _patch(graph: TwinGraph, journal: Journal, e: Entity) -> dict[str, Any]:
    pending = [
        {
            "patch_id": p.attrs.get("patch_id", p.name),
            "severity": p.attrs.get("severity"),
            "released_at": p.attrs.get("released_at"),
        }
        for p in _needed_by(graph, e, "patch")
        if p.attrs.get("status", "pending") == "pending"
    ]
    patches = [c for c in _changes_on(journal, e.id) if c.action == "patch.apply"]
    done = [c for c in patches if c.state in _DONE]
    return {
        "pending_patches": sorted(pending, key=lambda p: str(p["patch_id"])),
        "last_patch_change": _change(done[0]) if done else None,
        "patch_changes": [_change(c) for c in patches[:5]],
        **{k: e.attrs[k] for k in ("last_patched", "patch_ring", "last_boot") if k in e.attrs},
        "pending_reboot": bool(e.attrs.get("pending_reboot", False)),
    }


def _owner(graph: TwinGraph, e: Entity) -> dict[str, Any]:
    client = str(e.attrs.get("client") or "")
    client_name = None
    if client:
        try:
            client_name = graph.get(f"client:{client}").name
        except KeyError:
            client_name = client
    owner = e.attrs.get("owner")
    services = [
        graph.get(s).name
        for t, s in graph.in_edges(e.id)
        if t is EdgeType.RUNS_ON and graph.get(s).kind.value == "service"
    ]
    return {
        "client": client_name,
        "owner": _name(graph, str(owner)) if owner else None,
        **{k: e.attrs[k] for k in ("site", "team", "contact", "department") if k in e.attrs},
        "services": sorted(services),
    }


def entity_aspect(graph: TwinGraph, journal: Journal, e: Entity, aspect: str) -> dict[str, Any]:
    """The facts about ``e`` that answer one kind of question (see :data:`ASPECTS`)."""
    if aspect == "health":
        return _health(graph, journal, e)
    if aspect == "patch":
        return _patch(graph, journal, e)
    if aspect == "owner":
        return _owner(graph, e)
    if aspect == "changes":
        return {
            "changes": [_change(c) for c in _changes_on(journal, e.id)[:10]],
            "twin_version": e.version,
            "source": e.source,
            "last_seen": e.last_seen.isoformat(),
        }
    raise ValueError(f"unknown aspect '{aspect}'; the aspects are: {', '.join(ASPECTS)}")


def _window(period: str, now: datetime) -> datetime | None:
    if period in ("tonight", "today"):
        return now + timedelta(hours=24)
    if period in ("this_week", "week"):
        return now + timedelta(days=7)
    return None


def scheduled_changes(journal: Journal, period: str = "all") -> dict[str, Any]:
    """Changes waiting in the journal for their time (``scheduled``, and those still waiting
    for consent that have a time), soonest first, due within ``period`` (``tonight`` and
    ``today``: the next 24 hours; ``week``: 7 days)."""
    now = utcnow()
    until = _window(period, now)
    items = [
        c
        for c in journal.list(states=["scheduled", "awaiting_consent"], limit=_JOURNAL_SCAN)
        if (c.state == "scheduled" or c.not_before is not None)
        and (until is None or c.not_before is None or c.not_before <= until)
    ]
    items.sort(key=lambda c: c.not_before or now)
    return {"period": period, "total": len(items), "items": [_change(c) for c in items[:20]]}
