"""Turning structured tool results into short, plain answers.

Results are read defensively: every key may be missing, lists may hold ids or dicts, and a
renderer that meets a shape it does not know falls back to a plain summary instead of failing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from agent.chat.offline.ages import ago, at_time
from agent.chat.offline.compose_changes import (
    bullets,
    reason_lines,
    render_rollback,
    render_status,
    render_why,
    state_words,
)
from agent.chat.offline.compose_facts import render_aspect, render_scheduled
from agent.chat.offline.messages import describe_unresolved
from agent.chat.offline.types import Intent, ToolOutcome, Unresolved

__all__ = ["compose_answer", "label"]

_LIST_LIMIT = 5
_CRIT_ORDER = ("critical", "high", "medium", "low")
_PLURALS = {
    "entity": "entities",
    "identity": "identities",
    "policy": "policies",
    "siem_rule": "SIEM rules",
    "firewall_rule": "firewall rules",
    "saas": "SaaS apps",
}


def label(value: Any) -> str:
    """A display name for an entity given as a dict, an id (``host:web-01``) or a name."""
    if isinstance(value, Mapping):
        return str(value.get("name") or value.get("id") or "?")
    text = str(value)
    return text.split(":", 1)[1] if ":" in text and " " not in text else text


def _plural(kind: str, count: int) -> str:
    if count == 1:
        return kind.replace("_", " ")
    return _PLURALS.get(kind, kind.replace("_", " ") + "s")


def _names(items: Sequence[Any], limit: int = _LIST_LIMIT, *, total: int | None = None) -> str:
    """Up to ``limit`` names, then "and N more" counted from ``total`` (all there are) when the
    items are only the first page of them."""
    names = [label(i) for i in items[:limit]]
    more = max(len(items), total or 0) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _items(data: Mapping[str, Any], *keys: str) -> list[Any]:
    for key in keys:
        value = data.get(key)
        if isinstance(value, list):
            return value
    return []


def _subject(outcome: ToolOutcome) -> str:
    entity = outcome.data.get("entity")
    if entity:
        return label(entity)
    for key in ("entity", "change_id", "source"):
        if key in outcome.args:
            return label(outcome.args[key])
    return "it"


# --------------------------------------------------------------------------- renderers
def _blast(o: ToolOutcome) -> str:
    name, data = _subject(o), o.data
    items = [i for i in _items(data, "items") if isinstance(i, Mapping)]
    total = int(data.get("total", len(items)))
    if total == 0:
        return f"Nothing depends on {name}: taking it down affects nothing else the twin knows of."
    noun = "thing depends" if total == 1 else "things depend"
    by_kind: Mapping[str, Any] = data.get("by_kind") or Counter(str(i.get("kind")) for i in items)
    complete = bool(items) and len(items) >= total and not data.get("truncated")
    parts = []
    # What people use (services, SaaS) before what it runs on; then the biggest groups first.
    for kind, count in sorted(
        by_kind.items(), key=lambda kv: (kv[0] not in ("service", "saas"), -int(kv[1]))
    ):
        part = f"{count} {_plural(kind, int(count))}"
        if complete:
            crit = sum(
                1 for i in items if i.get("kind") == kind and i.get("criticality") == "critical"
            )
            part += f" ({crit} critical)" if crit else ""
        parts.append(part)
    text = f"{total} {noun} on {name}: {', '.join(parts)}."
    by_crit: Mapping[str, Any] = data.get("by_criticality") or {}
    if not complete and by_crit:
        ranked = [f"{by_crit[c]} {c}" for c in _CRIT_ORDER if by_crit.get(c)]
        text += f" By criticality: {', '.join(ranked)}." if ranked else ""
    critical = [i for i in items if i.get("criticality") == "critical"]
    if critical:
        all_critical = int(by_crit.get("critical", 0) or 0)
        text += f" Critical: {_names(critical, total=all_critical)}."
    if data.get("truncated"):
        text += " (The list is cut short; the counts cover everything.)"
    return text


def _show(o: ToolOutcome) -> str:
    entity = o.data.get("entity")
    if not isinstance(entity, Mapping):
        return f"I have no details on {_subject(o)}."
    aspect = render_aspect(o, label(entity))
    if aspect is not None:
        return aspect
    facts = [
        f"{key} {entity[key]}"
        for key in ("env", "role", "client", "site", "criticality", "os", "state", "status")
        if entity.get(key) not in (None, "")
    ]
    attrs = entity.get("attrs")
    if isinstance(attrs, Mapping):
        facts += [
            f"{k} {attrs[k]}"
            for k in ("env", "role", "client", "criticality", "os")
            if attrs.get(k) not in (None, "") and not any(f.startswith(k) for f in facts)
        ]
    kind = str(entity.get("kind", "entity")).replace("_", " ")
    text = f"{label(entity)} is a {kind}" + (f" ({', '.join(facts)})" if facts else "") + "."
    needs, needed_by = _items(o.data, "needs"), _items(o.data, "needed_by")
    if needs:
        text += f" It needs {_names(needs)}."
    if needed_by:
        text += f" Needed by {len(needed_by)}: {_names(needed_by)}."
    if entity.get("last_seen"):
        text += f" Last seen {ago(entity['last_seen'])}."
    return text


def _deps(o: ToolOutcome) -> str:
    items = _items(o.data, "items", "needs", "dependencies")
    name = _subject(o)
    if not items:
        return f"{name} needs nothing else that the twin knows of."
    total = int(o.data.get("total", len(items)))
    return f"{name} needs {total} thing{'s' if total != 1 else ''}: {_names(items, total=total)}."


def _search(o: ToolOutcome) -> str:
    items = _items(o.data, "items", "results")
    total = int(o.data.get("total", len(items)))
    kind = str(o.args.get("kind") or "entity")
    what = _plural(kind, total)
    scope = f" of {o.args['client']}" if o.args.get("client") else ""
    scope += f" in {o.args['env']}" if o.args.get("env") else ""
    if o.args.get("missing_patch"):
        verb = "is" if total == 1 else "are"
        condition = f"{verb} missing {o.args['missing_patch']}"
    elif o.args.get("pending_reboot"):
        condition = f"{'is' if total == 1 else 'are'} pending a reboot"
    else:
        condition = "match" if total != 1 else "matches"
    if total == 0:
        return f"No {_plural(kind, 2)}{scope} {condition.replace('is ', 'are ', 1)}."
    if o.data.get("closest"):
        return f"The {total} closest {_plural(kind, total)}{scope} by name: {_names(items)}."
    shown = f": {_names(items, total=total)}" if items else ""
    return f"{total} {what}{scope} {condition}{shown}."


def _path(o: ToolOutcome) -> str:
    hops = _items(o.data, "path", "items")
    source, target = label(o.args.get("source", "?")), label(o.args.get("target", "?"))
    if not hops:
        return f"There is no path between {source} and {target} in the twin."
    return (
        f"Path from {source} to {target} ({len(hops) - 1} hops): "
        + " → ".join(label(h) for h in hops)
        + "."
    )


def _stale(o: ToolOutcome) -> str:
    items = _items(o.data, "items")
    total = int(o.data.get("total", len(items)))
    hours = o.args.get("hours", 24)
    scope = f" for {label(o.args['scope'])}" if o.args.get("scope") else ""
    if total == 0:
        return f"Nothing{scope} is older than {hours} h: every fact is fresh."
    shown = []
    for item in items[:_LIST_LIMIT]:
        extra = []
        if isinstance(item, Mapping) and item.get("last_seen"):
            extra.append(f"seen {ago(item['last_seen'])}")
        if isinstance(item, Mapping) and item.get("source"):
            extra.append(f"via {item['source']}")
        shown.append(label(item) + (f" ({', '.join(extra)})" if extra else ""))
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return (
        f"{total} fact{'s' if total != 1 else ''}{scope} older than {hours} h: "
        + ", ".join(shown)
        + more
        + "."
    )


def _change_line(data: Mapping[str, Any]) -> str:
    cid = data.get("change_id", "The change")
    action = data.get("action")
    targets = data.get("targets") or []
    what = f" ({action}{' on ' + _names(targets) if targets else ''})" if action else ""
    return f"{cid}{what}"


def _approvals(o: ToolOutcome) -> str:
    items = [i for i in _items(o.data, "items", "changes") if isinstance(i, Mapping)]
    if not items:
        return "Nothing is waiting for approval."
    lines = []
    for item in items[:_LIST_LIMIT]:
        votes = item.get("votes")
        quorum = item.get("quorum")
        count = len(votes) if isinstance(votes, list) else votes
        tally = f", {count or 0} of {quorum} votes" if quorum else ""
        lines.append(f"{_change_line(item)}{tally}")
    more = f" and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else ""
    n = len(items)
    return (
        f"{n} change{'s' if n != 1 else ''} wait{'s' if n == 1 else ''} for approval: "
        + "; ".join(lines)
        + more
        + "."
    )


def _activity(o: ToolOutcome) -> str:
    period = str(o.args.get("period", "today")).replace("_", " ")
    counts = o.data.get("counts")
    items = [i for i in _items(o.data, "items", "changes") if isinstance(i, Mapping)]
    if not items and not counts:
        return f"I did nothing {period}."
    text = f"{period[0].upper()}{period[1:]}:"
    if isinstance(counts, Mapping) and counts:
        text += " " + ", ".join(f"{v} {state_words(k)}" for k, v in counts.items()) + "."
    if items:
        shown = [
            f"{_change_line(i)} {state_words(i.get('state')) if i.get('state') else ''}".strip()
            for i in items[:_LIST_LIMIT]
        ]
        text += " " + "; ".join(shown) + ("…" if len(items) > _LIST_LIMIT else ".")
    return text


def _proposal(o: ToolOutcome) -> str:
    """What was proposed and what policy decided, in one short sentence. The reasons are said
    once, by the decision line that follows the answer (Slack: the waiting line with a link to
    the card, or the decision message; the CLI: the status lines after the answer). A request
    refused before it became a change has no such line, so its answer gives the reasons."""
    data = o.data
    cid = data.get("change_id")
    summary = data.get("summary") or f"{o.args.get('action', 'change')} on " + _names(
        list(o.args.get("targets", []))
    )
    decision = data.get("decision")
    if not cid:
        lines = reason_lines(data)
        why = f":\n{bullets(lines)}" if lines else "."
        return f"I could not propose {summary}{why}"
    head = f"I proposed {cid} ({summary})"
    if o.status == "denied" or decision == "deny":
        return f"{head}; policy refused it."
    if o.status == "approval_required" or decision == "consent":
        quorum = data.get("quorum") or 1
        who = data.get("approvers")
        need = f"{quorum} approval{'s' if quorum != 1 else ''}" + (f" from {who}" if who else "")
        return f"{head}; it needs {need} before it runs."
    return f"{head}; policy allows it and it is queued to run."


_RENDERERS: dict[str, Callable[[ToolOutcome], str]] = {
    "twin_blast_radius": _blast,
    "twin_show": _show,
    "twin_deps": _deps,
    "twin_search": _search,
    "twin_path": _path,
    "twin_stale": _stale,
    "change_status": render_status,
    "change_why": render_why,
    "propose_rollback": render_rollback,
    "pending_approvals": _approvals,
    "activity": _activity,
    "scheduled_changes": render_scheduled,
    "propose_change": _proposal,
}


def _one(outcome: ToolOutcome) -> str:
    if outcome.status == "question":  # "now or in the next window?": nothing was recorded
        return str(outcome.data.get("question") or outcome.error or "When should it run?")
    if outcome.status == "error":
        return f"That did not work: {outcome.error or 'the tool failed without saying why'}."
    if outcome.status == "no_data" and outcome.tool == "propose_rollback":
        return outcome.error or "There is nothing to undo."
    if outcome.status == "no_data" and outcome.tool in ("pending_approvals", "scheduled_changes"):
        return _RENDERERS[outcome.tool](outcome)
    if outcome.status == "no_data":
        what = _subject(outcome) if outcome.tool != "twin_search" else "that search"
        return f"I found nothing for {what}." + (f" {outcome.error}" if outcome.error else "")
    renderer = _RENDERERS.get(outcome.tool)
    if renderer is None:
        return f"{outcome.tool} returned {outcome.status}."
    try:
        return renderer(outcome)
    except (TypeError, ValueError, KeyError, AttributeError):
        # A result of a shape the renderer did not expect: say what is known, never crash.
        return f"{outcome.tool} finished with status {outcome.status}."


def compose_answer(
    tool_results: Sequence[ToolOutcome],
    intent: Intent | str,
    *,
    unresolved: Sequence[Unresolved] = (),
    notes: Sequence[str] = (),
    now: datetime | None = None,
) -> str:
    """Plain sentences for the results of one turn.

    Args:
        tool_results: What each tool call returned, in call order.
        intent: What the person asked for (used when there is nothing else to say).
        unresolved: Mentions that resolved to nothing; each gets a "did you mean" sentence.
        notes: Spelling corrections the parser made, said first so the person can object.
        now: The turn's clock: times read as ages from it ("5 min ago"); without it, as dates.
    """
    parts = list(notes)
    parts += [describe_unresolved(u) for u in unresolved]
    with at_time(now):
        parts += [_one(o) for o in tool_results]
    if not parts:
        return f"I have nothing to report for that {str(intent).replace('_', ' ')} request."
    return " ".join(parts)
