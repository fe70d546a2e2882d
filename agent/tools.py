"""The agent's tools: typed, documented, structured results, read-only but one.

The docstring of each tool is what the model reads. Results are ``{"status", "data", "error"}``
(``success`` | ``error`` | ``no_data`` | ``approval_required`` | ``denied``) and are cut with a
note beyond a size limit. ``propose_change`` is the only tool that changes anything, and it only
*proposes*: it rehearses and asks policy; execution happens later in deterministic code.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

from agent.journal import Change, parse_ref
from agent.service import ChangeRequest, Operations
from twin.graph import TwinGraph, UnknownEntity
from twin.model import Entity, NodeKind, utcnow

__all__ = ["MAX_RESULT_CHARS", "ToolBox", "TurnContext", "tool_result"]

MAX_RESULT_CHARS = 6000  # ~1,500 tokens: every result stays well under 2,000 tokens
_ZW = re.compile("[\u200b-\u200f\u2060\ufeff]")


def tool_result(status: str, data: Any = None, error: str | None = None) -> dict[str, Any]:
    """A structured result, cut to :data:`MAX_RESULT_CHARS` with a note when too large."""
    out: dict[str, Any] = {"status": status, "data": data, "error": error}
    raw = json.dumps(out, default=str)
    if len(raw) <= MAX_RESULT_CHARS:
        return out
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        items = data["items"]
        while items and len(json.dumps(out, default=str)) > MAX_RESULT_CHARS:
            items = items[: max(0, len(items) * 2 // 3)]
            out["data"] = {
                **data,
                "items": items,
                "truncated": True,
                "note": f"showing {len(items)} of {len(data['items'])}",
            }
        return out
    return {"status": status, "data": raw[: MAX_RESULT_CHARS - 200] + " …(cut)", "error": error}


def normalise(text: str) -> str:
    """Fold look-alikes and strip zero-width characters before comparing names."""
    return _ZW.sub("", unicodedata.normalize("NFKC", text)).lower()


@dataclass
class TurnContext:
    """What is trusted in this turn: who asked, where, and their own words."""

    requester: str
    request_text: str
    channel: str = ""
    thread_ts: str = ""
    source: str = "person"
    signal_entities: tuple[str, ...] = ()
    calls: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[Change] = field(default_factory=list)


def _brief(e: Entity) -> dict[str, Any]:
    a = e.attrs
    return {
        "id": e.id,
        "name": e.name,
        "kind": e.kind.value,
        **{k: a[k] for k in ("client", "site", "env", "criticality", "role") if k in a},
    }


def named_in_request(e: Entity, ctx: TurnContext) -> bool:
    """Whether the trusted request (or the signal's own fields) names this entity."""
    if e.id in ctx.signal_entities:
        return True
    text = normalise(ctx.request_text)
    name = e.name.lower()
    if name in text:
        return True
    parts = name.split("-")
    for i in range(1, len(parts) - 1):
        if len("-".join(parts[i:])) >= 5 and "-".join(parts[i:]) in text:
            return True
    role = str(e.attrs.get("role", ""))
    return (
        bool(role)
        and re.search(
            rf"\b{re.escape(role)}s?\b.*\b(tier|servers|hosts|all)\b"
            rf"|\b(tier|all)\b.*\b{re.escape(role)}",
            text,
        )
        is not None
    )


class ToolArgs(BaseModel):
    """Base for tool arguments."""


class EntityArg(ToolArgs):
    entity: str = Field(description="Entity id or name, e.g. contoso-ny-db-prod-01")


class ToolBox:
    """The tools bound to one :class:`Operations` and one turn."""

    def __init__(self, ops: Operations, ctx: TurnContext) -> None:
        self.ops = ops
        self.ctx = ctx

    @property
    def g(self) -> TwinGraph:
        return self.ops.graph

    def _entity(self, mention: str, kinds: set[NodeKind] | None = None) -> Entity:
        return self.g.resolve(mention, kinds)

    # ------------------------------------------------------------------ twin reads
    def twin_search(
        self,
        query: str = "",
        kind: str | None = None,
        client: str | None = None,
        missing_patch: str | None = None,
        pending_reboot: bool | None = None,
        env: str | None = None,
        role: str | None = None,
        limit: int = 20,
    ) -> dict[str, Any]:
        """Search the estate by name (fuzzy), kind and attributes. ``missing_patch`` finds hosts
        where that patch (e.g. KB5034441) is pending; ``pending_reboot`` finds hosts waiting for
        a reboot."""
        g = self.g
        kinds = {NodeKind(kind)} if kind else None
        where: dict[str, Any] = {}
        for k, v in (("client", client), ("env", env), ("role", role)):
            if v:
                where[k] = v
        if pending_reboot is not None:
            where["pending_reboot"] = pending_reboot
        limit = max(1, min(limit, 200))
        if missing_patch:
            want = missing_patch.upper()
            hosts: list[str] = []
            for p in g.entities(NodeKind.PATCH):
                if (
                    str(p.attrs.get("patch_id", "")).upper() == want
                    and p.attrs.get("status", "pending") == "pending"
                ):
                    hosts.extend(d for t, d in g.out_edges(p.id) if t.value == "pending_on")
            items = [g.get(h) for h in sorted(set(hosts))]
            items = [e for e in items if all(e.attrs.get(k) == v for k, v in where.items())]
            return tool_result(
                "success" if items else "no_data",
                {"items": [_brief(e) for e in items[:limit]], "total": len(items)},
            )
        if kinds is None and (where or not query):
            kinds = {NodeKind.HOST}
        pool = g.search(query, kinds=kinds, where=where, limit=10_000 if not query else limit)
        items = [m.entity for m in pool]
        return tool_result(
            "success" if items else "no_data",
            {"items": [_brief(e) for e in items[:limit]], "total": len(items)},
        )

    def twin_show(self, entity: str) -> dict[str, Any]:
        """Show one entity: its attributes, provenance, what it needs and what needs it."""
        e = self._entity(entity)
        g = self.g
        return tool_result(
            "success",
            {
                "entity": {
                    **_brief(e),
                    "attrs": e.attrs,
                    "source": e.source,
                    "last_seen": e.last_seen.isoformat(),
                    "version": e.version,
                },
                "needs": [{"type": t.value, **_brief(g.get(d))} for t, d in g.out_edges(e.id)][:25],
                "needed_by": [{"type": t.value, **_brief(g.get(s))} for t, s in g.in_edges(e.id)][
                    :25
                ],
            },
        )

    def twin_deps(self, entity: str) -> dict[str, Any]:
        """What an entity needs, transitively (its dependency chain)."""
        e = self._entity(entity)
        deps = self.g.dependencies(e.id)
        return tool_result(
            "success" if deps else "no_data",
            {
                "entity": _brief(e),
                "total": len(deps),
                "items": [{**_brief(i.entity), "path": list(i.path)} for i in deps[:50]],
            },
        )

    def twin_blast_radius(self, entity: str) -> dict[str, Any]:
        """What needs an entity, transitively: what breaks if it goes down, by kind and
        criticality, each item with the path that explains it."""
        e = self._entity(entity)
        br = self.g.blast_radius(e.id)
        crit = {"critical": 0, "high": 1, "medium": 2, "low": 3}
        items = sorted(
            br.items,
            key=lambda i: (crit.get(str(i.entity.attrs.get("criticality")), 9), len(i.path)),
        )
        return tool_result(
            "success" if items else "no_data",
            {
                "entity": _brief(e),
                "total": len(items),
                "by_kind": br.by_kind,
                "by_criticality": br.by_criticality,
                "items": [{**_brief(i.entity), "path": list(i.path)} for i in items[:40]],
            },
        )

    def twin_path(self, source: str, target: str) -> dict[str, Any]:
        """How two entities are connected (shortest path, any direction)."""
        a, b = self._entity(source), self._entity(target)
        p = self.g.path(a.id, b.id)
        if p is None:
            return tool_result("no_data", {"source": _brief(a), "target": _brief(b)})
        return tool_result(
            "success",
            {"source": _brief(a), "target": _brief(b), "path": [_brief(self.g.get(x)) for x in p]},
        )

    def twin_stale(self, scope: str | None = None, hours: int = 24) -> dict[str, Any]:
        """Facts not observed within ``hours`` (optionally for one client)."""
        cutoff = utcnow() - timedelta(hours=hours)
        items = [
            e
            for e in self.g.entities()
            if e.active and e.last_seen < cutoff and (not scope or e.attrs.get("client") == scope)
        ]
        return tool_result(
            "success" if items else "no_data",
            {
                "total": len(items),
                "hours": hours,
                "items": [{**_brief(e), "last_seen": e.last_seen.isoformat()} for e in items[:40]],
            },
        )

    # ------------------------------------------------------------------ journal reads
    def _change(self, change_id: str) -> Change:
        return self.ops.journal.get(parse_ref(change_id))

    @staticmethod
    def _change_data(c: Change) -> dict[str, Any]:
        return {
            "change_id": c.ref,
            "state": c.state,
            "action": c.action,
            "targets": (c.plan or {}).get("target_names", c.targets),
            "decision": (c.decision or {}).get("outcome"),
            "rules": list((c.decision or {}).get("matched", [])),
            "reasons": list(((c.decision or {}).get("reasons") or {}).values())
            + ([c.result["message"]] if c.result and c.result.get("message") else []),
            "requested_by": c.requester,
            "updated_at": c.updated_at.isoformat(),
        }

    def change_status(self, change_id: str) -> dict[str, Any]:
        """The state of a change (``CR-42``)."""
        return tool_result("success", self._change_data(self._change(change_id)))

    def change_why(self, change_id: str) -> dict[str, Any]:
        """Why a change was denied, or what it is waiting for."""
        return tool_result("success", self._change_data(self._change(change_id)))

    def pending_approvals(self) -> dict[str, Any]:
        """Changes waiting for consent."""
        items = [self._change_data(c) for c in self.ops.pending()]
        return tool_result("success" if items else "no_data", {"items": items, "total": len(items)})

    def activity(self, period: str = "today") -> dict[str, Any]:
        """What opshand did in a period (``today``, ``yesterday``, ``week``)."""
        days = {"today": 1, "yesterday": 2, "week": 7, "this week": 7}.get(period, 1)
        since = utcnow() - timedelta(days=days)
        changes = self.ops.journal.list(since=since, limit=200)
        by_state: dict[str, int] = {}
        for c in changes:
            by_state[c.state] = by_state.get(c.state, 0) + 1
        return tool_result(
            "success" if changes else "no_data",
            {
                "period": period,
                "total": len(changes),
                "by_state": by_state,
                "items": [self._change_data(c) for c in changes[:20]],
            },
        )

    # ------------------------------------------------------------------ the one write
    def propose_change(
        self,
        action: str,
        targets: list[str],
        params: dict[str, Any] | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Propose a change: it is rehearsed on a fork of the twin and policy decides (auto,
        consent or deny). Nothing runs from this call; every target must be named in the
        person's request."""
        foreign = []
        resolved = []
        for t in targets:
            e = self._entity(t)
            if self.ctx.source == "person" and not named_in_request(e, self.ctx):
                foreign.append(e.name)
            resolved.append(e.id)
        if foreign:
            with self.ops.engine.begin() as conn:
                self.ops.audit(
                    conn,
                    kind="agent.proposal_refused",
                    actor=self.ctx.requester,
                    change_id=None,
                    plan_hash=None,
                    body={
                        "action": action,
                        "foreign_targets": foreign,
                        "reason": "target not named in the request",
                    },
                )
            return tool_result(
                "denied",
                None,
                f"Refused: {', '.join(foreign)} was not named in your request, "
                "so I will not act on it.",
            )
        res = self.ops.propose(
            ChangeRequest(
                action=action,
                targets=resolved,
                params=params or {},
                reason=reason or self.ctx.request_text[:300],
                requester=self.ctx.requester,
                source="person",
                channel=self.ctx.channel,
                thread_ts=self.ctx.thread_ts,
            )
        )
        if res.change is not None:
            self.ctx.proposals.append(res.change)
        if res.status == "error":
            return tool_result(
                "error", {"change_id": res.change.ref if res.change else None}, res.message
            )
        plan = res.plan
        dec = res.decision
        data = {
            "change_id": res.change.ref if res.change else None,
            "decision": res.status,
            "reasons": list(dec.reasons.values()) if dec else [],
            "rules": list(dec.matched) if dec else [],
            "quorum": dec.quorum if dec else 0,
            "approvers": dec.approvers if dec else None,
            "targets": plan.target_names if plan else [],
            "blast_radius": plan.collateral_summary() if plan else {},
            "invariants": [i["id"] for i in (plan.invariants if plan else []) if not i["passed"]],
        }
        status = {"auto": "success", "consent": "approval_required", "deny": "denied"}[res.status]
        return tool_result(status, data)

    # ------------------------------------------------------------------ dispatch
    def table(self) -> dict[str, Callable[..., dict[str, Any]]]:
        """Tool name -> bound method."""
        names = [
            "twin_search",
            "twin_show",
            "twin_deps",
            "twin_blast_radius",
            "twin_path",
            "twin_stale",
            "change_status",
            "change_why",
            "pending_approvals",
            "activity",
            "propose_change",
        ]
        return {n: getattr(self, n) for n in names}

    def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one tool call; every failure becomes a structured error for the model."""
        fn = self.table().get(name)
        if fn is None:
            out = tool_result("error", None, f"unknown tool '{name}'")
        else:
            try:
                out = fn(**args)
            except UnknownEntity as exc:
                out = tool_result(
                    "error", {"mention": exc.mention, "did_you_mean": exc.suggestions}, str(exc)
                )
            except (KeyError, ValueError, TypeError) as exc:
                out = tool_result("error", None, str(exc).strip("'\""))
        self.ctx.calls.append({"name": name, "args": args, "status": out["status"]})
        return out
