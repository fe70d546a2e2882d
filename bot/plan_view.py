"""The whole plan of a change as a modal ("View plan" on a consent card): blast radius, waves,
invariants checked, rollback. The card keeps to a summary; approvers who want every detail
open this. Every value is estate data: escaped (:func:`bot.mrkdwn.esc`).
"""

from __future__ import annotations

from typing import Any

from agent.execution import Change
from bot.blocks import CRIT_ORDER, Block, ctx, cut, md, state_words
from bot.mrkdwn import esc

__all__ = ["VIEW_PLAN", "critical_collateral", "plan_view"]

VIEW_PLAN = "consent_view_plan"
"""The action id of the card's "View plan" button."""
MAX_VIEW_BLOCKS = 100
_LINES = 40
"""Lines a list shows before "… and N more"."""


def critical_collateral(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Entities of criticality ``critical`` the change hits without targeting them."""
    targets = set(plan.get("targets") or [])
    return [
        a
        for a in plan.get("collateral") or []
        if a.get("criticality") == "critical" and a.get("id") not in targets
    ]


def _name(entity_id: str) -> str:
    return entity_id.split(":", 1)[-1]


def _listed(title: str, lines: list[str]) -> Block:
    shown = lines[:_LINES]
    if len(lines) > _LINES:
        shown.append(f"… and {len(lines) - _LINES} more")
    return md(f"*{title}*\n" + ("\n".join(shown) if shown else "_none_"))


def _blast(plan: dict[str, Any]) -> list[Block]:
    coll = sorted(
        plan.get("collateral") or [], key=lambda a: CRIT_ORDER.get(str(a.get("criticality")), 9)
    )
    crit = {a.get("id") for a in critical_collateral(plan)}
    lines = [
        f"{':warning: ' if a.get('id') in crit else '• '}{esc(a.get('name', '?'))} "
        f"({esc(a.get('kind', '?'))}, {esc(a.get('criticality', '?'))})"
        f" — {esc(a.get('effect', ''))}"
        for a in coll
    ]
    intended = [f"• {esc(_name(str(t)))}" for t in plan.get("intended") or []]
    return [
        _listed(f"Intended ({len(intended)})", intended),
        _listed(f"Collateral ({len(coll)}, {len(crit)} critical)", lines),
    ]


def _waves(plan: dict[str, Any]) -> Block:
    waves: list[list[str]] = plan.get("waves") or []
    info = {int(w.get("index", i)): w for i, w in enumerate(plan.get("wave_plan") or [])}
    lines = []
    for i, wave in enumerate(waves):
        extra = info.get(i, {})
        canary = " (canary)" if extra.get("canary") else ""
        window = f" · window {esc(extra['window'])}" if extra.get("window") else ""
        names = ", ".join(esc(_name(t)) for t in wave[:10])
        more = f" and {len(wave) - 10} more" if len(wave) > 10 else ""
        lines.append(f"*Wave {i + 1}*{canary}: {len(wave)} target(s) — {names}{more}{window}")
    halt = int(float(plan.get("halt_threshold", 0)) * 100)
    head = f"Waves ({len(waves)}; halts above {halt}% failures per wave)"
    return _listed(head, lines)


def _invariants(plan: dict[str, Any]) -> list[Block]:
    lines = []
    for inv in plan.get("invariants") or []:
        said = "; ".join(str(v.get("message", "")) for v in inv.get("violations", [])[:3])
        if inv.get("passed"):
            what = str(inv.get("description") or inv.get("id", "?")).replace("_", " ")
            lines.append(f":white_check_mark: {esc(what.rstrip('.'))}")
        else:
            why = said or str(inv.get("error") or "the check could not run")
            lines.append(f":warning: {esc(why)}")
    ids = ", ".join(f"`{esc(i.get('id', '?'))}`" for i in plan.get("invariants") or [])
    out = [_listed("Invariants checked", lines)]
    if ids:
        out.append(ctx(f"Invariants {ids}"))
    return out


def _rollback(plan: dict[str, Any]) -> Block:
    lines = []
    for r in plan.get("rollback") or []:
        target = esc(_name(str(r.get("target", "?"))))
        if r.get("action"):
            note = f" — {esc(r['note'])}" if r.get("note") else ""
            lines.append(f"• {target}: `{esc(r['action'])}`{note}")
        else:
            lines.append(f"• {target}: no automatic undo — {esc(r.get('note') or 'none')}")
    return _listed("Rollback", lines)


def plan_view(change: Change) -> dict[str, Any]:
    """A ``views.open`` modal with the whole plan of ``change``."""
    plan = change.plan or {}
    names = ", ".join(esc(n) for n in (plan.get("target_names") or [])[:20])
    blocks: list[Block] = [
        md(
            f"*{esc(plan.get('action', change.action))}* on {len(plan.get('targets') or [])} "
            f"target(s): {names}\n{change.ref} is {state_words(change.state)}."
        ),
        *_blast(plan),
        _waves(plan),
        *_invariants(plan),
        _rollback(plan),
        ctx(f"{change.ref} · plan `{(change.plan_hash or '')[:12]}`"),
    ]
    return {
        "type": "modal",
        "callback_id": "plan_view",
        "title": {"type": "plain_text", "text": cut(f"{change.ref} plan", 24)},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks[:MAX_VIEW_BLOCKS],
    }
