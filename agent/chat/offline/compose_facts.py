"""Sentences for one side of one entity (health, changes, patch, owner) and for the schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.chat.offline.ages import ago
from agent.chat.offline.ages import when as when_at
from agent.chat.offline.compose_changes import state_words
from agent.chat.offline.types import ToolOutcome

__all__ = ["render_aspect", "render_scheduled"]

_LIMIT = 5


def _changes(items: Sequence[Mapping[str, Any]]) -> str:
    shown = [
        f"{c.get('change_id')} ({c.get('action')}, {state_words(c.get('state'))}, "
        f"{ago(c.get('updated_at'))})"
        for c in items[:_LIMIT]
    ]
    more = f" and {len(items) - _LIMIT} more" if len(items) > _LIMIT else ""
    return ", ".join(shown) + more


def _health(name: str, f: Mapping[str, Any]) -> str:
    worries = []
    if f.get("pending_reboot"):
        worries.append("it is waiting for a reboot")
    for key in ("status", "state", "health"):
        if f.get(key) not in (None, "", "active", "ok", "healthy", "running"):
            worries.append(f"its {key} is {f[key]}")
    failed_backups = [b for b in f.get("backups") or [] if b.get("last_result") != "success"]
    worries += [f"backup {b.get('name')} last ended {b.get('last_result')}" for b in failed_backups]
    failed = f.get("failed_changes") or []
    if failed:
        worries.append(f"recent changes failed: {_changes(failed)}")
    head = (
        f"{name} looks healthy in the twin: no pending reboot, no failed change or backup"
        if not worries
        else f"{name} needs a look: {worries[0]}"
        if len(worries) == 1
        else f"{name} needs a look:\n" + "\n".join(f"• {w}" for w in worries)
    )
    backups = [b for b in f.get("backups") or [] if b.get("last_result") == "success"]
    tail = (f" Last good backup {ago(backups[0].get('last_success'))}." if backups else "") + (
        f" Last boot {ago(f['last_boot'])}." if f.get("last_boot") else ""
    )
    if f.get("stale"):
        tail += f" (The twin last saw it {ago(f.get('last_seen'))}; these facts may be old.)"
    opened = f.get("open_changes") or []
    if opened:
        tail += f" Open changes: {_changes(opened)}."
    return head + "." + tail


def _patch(name: str, f: Mapping[str, Any]) -> str:
    last = f.get("last_patch_change")
    if isinstance(last, Mapping):
        text = (
            f"{name} was last patched by {last.get('change_id')} ({ago(last.get('updated_at'))})."
        )
    elif f.get("last_patched"):
        text = f"{name} was last patched {ago(f['last_patched'])}."
    else:
        text = f"I have no record of {name} being patched through opshand."
    pending = f.get("pending_patches") or []
    if pending:
        ids = [str(p.get("patch_id")) for p in pending]
        extra = f" and {len(ids) - _LIMIT} more" if len(ids) > _LIMIT else ""
        text += f" {len(ids)} patch{'es' if len(ids) != 1 else ''} pending: "
        text += ", ".join(ids[:_LIMIT]) + extra + "."
    else:
        text += " No patches are pending."
    if f.get("pending_reboot"):
        text += " It is waiting for a reboot."
    if f.get("last_boot"):
        text += f" Last boot {ago(f['last_boot'])}."
    return text


def _owner(name: str, f: Mapping[str, Any]) -> str:
    parts = []
    if f.get("owner"):
        parts.append(f"{name} is owned by {f['owner']}")
    if f.get("client"):
        parts.append(f"{'it' if parts else name} belongs to the client {f['client']}")
    if not parts:
        parts.append(f"The twin names no owner or client for {name}")
    text = ", and ".join(parts) + "."
    for key in ("team", "contact", "department", "site"):
        if f.get(key):
            text += f" {key.capitalize()}: {f[key]}."
    services = f.get("services") or []
    if services:
        text += f" Services on it: {', '.join(map(str, services[:_LIMIT]))}."
    return text


def _changed(name: str, f: Mapping[str, Any]) -> str:
    items = f.get("changes") or []
    text = (
        f"Changes on {name} in the journal, newest first: {_changes(items)}."
        if items
        else f"opshand has made no change on {name}."
    )
    return text + (
        f" The twin's record of it is at version {f.get('twin_version')}, from {f.get('source')}, "
        f"last seen {ago(f.get('last_seen'))}."
    )


def render_aspect(o: ToolOutcome, name: str) -> str | None:
    """The answer to one aspect question, or ``None`` when the result has no aspect."""
    aspect = o.data.get("aspect")
    facts = o.data.get(str(aspect)) if aspect else None
    if not isinstance(facts, Mapping):
        return None
    render = {"health": _health, "patch": _patch, "owner": _owner, "changes": _changed}
    fn = render.get(str(aspect))
    return fn(name, facts) if fn else None


def render_scheduled(o: ToolOutcome) -> str:
    """What waits for its time."""
    items = o.data.get("items") or []
    when = {"tonight": " tonight", "today": " today", "this_week": " this week"}.get(
        str(o.data.get("period")), ""
    )
    if not items:
        return f"Nothing is scheduled{when}."
    lines = [
        f"{c.get('change_id')} ({c.get('action')}"
        + (", waiting for consent" if c.get("state") == "awaiting_consent" else "")
        + f") at {when_at(c.get('not_before'))}"
        for c in items[:_LIMIT]
    ]
    total = int(o.data.get("total") or len(items))
    more = f" and {total - _LIMIT} more" if total > _LIMIT else ""
    return (
        f"{total} change{'s' if total != 1 else ''} scheduled{when}: "
        + "; ".join(lines)
        + more
        + "."
    )
