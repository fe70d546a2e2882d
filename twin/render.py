"""Rendering a plan for people (Slack, the CLI) and for machines (versioned JSON).

The text form is short and ordered for a busy approver: what and how many first (counts by
kind), then the details that explain them, then the invariant results.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from twin.plan import Plan, PlanDiff

__all__ = ["RENDER_FORMAT_VERSION", "render_diff", "render_json", "render_text"]

RENDER_FORMAT_VERSION = 1
_MARK = {"deny": "DENY", "needs_consent": "CONSENT", "warn": "warn"}


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counter.most_common()) or "none"


def render_text(plan: Plan, *, max_items: int = 10) -> str:
    """A short human summary: counts first, then details, then invariant results."""
    kinds = Counter(t.split(":", 1)[0] for t in plan.targets)
    effects = Counter(a.effect for a in plan.collateral)
    lines = [
        f"{plan.action} on {len(plan.targets)} target(s) ({_counts(kinds)})"
        f"  plan {plan.short_hash}",
        f"Blast radius: {len(plan.collateral)} collateral "
        f"({_counts(Counter(a.kind for a in plan.collateral))}); "
        f"{effects.get('down', 0)} down, {effects.get('degraded', 0)} degraded",
    ]
    inv = plan.invariant_summary()
    lines.append(
        f"Invariants: {len(plan.invariants) - len(inv['failed'])} passed, "
        f"{inv['deny']} deny, {inv['needs_consent']} need consent, {inv['warn']} warn"
    )
    if len(plan.waves) > 1:
        lines.append(
            f"Waves: {len(plan.waves)} (canary {len(plan.waves[0])}, largest "
            f"{max(len(w) for w in plan.waves)}), halt above {plan.halt_threshold:.0%} failures"
        )
    lines.append("")
    names = plan.target_names
    shown = ", ".join(names[:max_items]) + (
        f" and {len(names) - max_items} more" if len(names) > max_items else ""
    )
    lines.append(f"Targets: {shown}")
    if plan.params:
        lines.append(
            "Parameters: "
            + ", ".join(
                f"{k}={v}" for k, v in sorted(plan.params.items()) if v not in (None, [], {})
            )
        )
    crit = sorted(plan.collateral, key=lambda a: (a.criticality != "critical", a.effect, a.name))
    for a in crit[:max_items]:
        lines.append(
            f"  {a.effect:8} {a.kind} {a.name} [{a.criticality}] via {' -> '.join(a.path[1:4])}"
        )
    if len(crit) > max_items:
        lines.append(f"  ... and {len(crit) - max_items} more")
    lines.append("")
    for i in sorted(plan.invariants, key=lambda i: (i["passed"], i["id"])):
        if i["passed"]:
            lines.append(f"  pass     {i['id']}")
            continue
        lines.append(
            f"  {_MARK.get(str(i['severity']), '?'):8} {i['id']}"
            + (f": check error {i['error']}" if i["error"] else "")
        )
        for v in i["violations"][:3]:
            lines.append(f"           - {v['message']}")
        if len(i["violations"]) > 3:
            lines.append(f"           - ... {len(i['violations']) - 3} more")
    rb = [r for r in plan.rollback if r.get("action")]
    lines.append("")
    lines.append(
        f"Rollback: {rb[0]['action']} ({len(rb)} target(s))"
        if rb
        else f"Rollback: none ({plan.rollback[0]['note'] if plan.rollback else ''})"
    )
    lines.append(f"Expires {plan.expires_at.isoformat()}")
    return "\n".join(lines)


def render_json(plan: Plan) -> dict[str, Any]:
    """The plan as JSON for tools, with ``format_version`` and the summaries policy reads."""
    return {
        "format_version": RENDER_FORMAT_VERSION,
        "plan_format_version": plan.format_version,
        "hash": plan.hash,
        "summary": {
            "action": plan.action,
            "targets": len(plan.targets),
            "targets_by_kind": dict(Counter(t.split(":", 1)[0] for t in plan.targets)),
            "blast_radius": plan.collateral_summary(),
            "invariants": plan.invariant_summary(),
            "waves": [len(w) for w in plan.waves],
        },
        "plan": plan.model_dump(mode="json"),
    }


def render_diff(diff: PlanDiff) -> str:
    """What changed between two rehearsals, one line per difference."""
    head = (
        "The plan is unchanged."
        if diff.unchanged
        else f"The plan changed ({diff.old_hash[:12]} -> {diff.new_hash[:12]}):"
    )
    return "\n".join([head, *(f"  - {line}" for line in diff.lines())])
