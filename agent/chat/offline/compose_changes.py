"""Sentences about one change: where it stands, why, who decided, and its undo.

People's decisions come first and apart from policy's reasons: "why was CR-3 rejected?" answers
with the approver's own words, then (separately) why policy had asked them. Reasons are bullet
lines, one each, never glued into one sentence; rule ids are left to the card's details.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.chat.offline.ages import ago
from agent.chat.offline.types import ToolOutcome

__all__ = [
    "bullets",
    "reason_lines",
    "render_rollback",
    "render_status",
    "render_why",
    "state_words",
]


def reason_lines(data: Mapping[str, Any]) -> list[str]:
    """Policy's reasons (and the run's message), each once, without trailing punctuation."""
    out: list[str] = []
    for raw in data.get("reasons") or []:
        for part in str(raw).splitlines():  # a message of bullet lines gives each line once
            text = part.strip().removeprefix("•").strip().rstrip(".;,").strip()
            if text and text not in out:
                out.append(text)
    return out


def bullets(lines: Sequence[str]) -> str:
    """One ``• line`` per item, each ending with a full stop."""
    return "\n".join(f"• {line}." for line in lines)


_STATES = {
    "awaiting_consent": "waiting for consent",
    "auto_approved": "approved by policy",
    "queued": "queued to run",
    "executing": "running",
    "reconciled": "done and verified",
    "rolled_back": "rolled back",
}


def state_words(state: Any) -> str:
    """A journal state as people say it (``awaiting_consent`` -> "waiting for consent")."""
    raw = str(state or "unknown")
    return _STATES.get(raw, raw.replace("_", " "))


def _line(data: Mapping[str, Any]) -> str:
    cid = data.get("change_id", "The change")
    action = data.get("action")
    targets = [_plain(str(t)) for t in data.get("targets") or []]
    if not action:
        return str(cid)
    shown = ", ".join(targets[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")
    return f"{cid} ({action}{' on ' + shown if shown else ''})"


def _plain(name: str) -> str:
    """``host:web-01`` -> ``web-01`` (names as people write them)."""
    kind, sep, rest = name.partition(":")
    return rest if sep and kind.isalpha() and kind.islower() else name


def _when(raw: Any) -> str:
    return f" ({ago(raw)})" if raw else ""


def _votes(data: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return [v for v in data.get("votes") or [] if isinstance(v, Mapping) and v.get("vote") == kind]


def _decided(data: Mapping[str, Any]) -> str:
    """Who approved or rejected, and when; empty when nobody has voted."""
    parts = []
    for kind, verb in (("reject", "Rejected"), ("approve", "Approved")):
        votes = _votes(data, kind)
        if votes:
            who = ", ".join(f"{v.get('by')}{_when(v.get('at'))}" for v in votes)
            parts.append(f"{verb} by {who}.")
    quorum = data.get("quorum")
    if data.get("consent_state") == "open" and quorum:
        got = len(_votes(data, "approve"))
        parts.append(f"{got} of {quorum} approval{'s' if quorum != 1 else ''} so far.")
    return " ".join(parts)


def render_status(o: ToolOutcome) -> str:
    """``change_status``: the state, who decided, and the reasons as bullets."""
    data = o.data
    text = f"{_line(data)} is {state_words(data.get('state'))}."
    decided = _decided(data)
    if decided:
        text += f" {decided}"
    elif data.get("votes") == [] and data.get("consent_state") not in (None, "open"):
        text += " Nobody voted on it."
    reasons = reason_lines(data)
    return text + (f"\n{bullets(reasons)}" if reasons else "")


def render_why(o: ToolOutcome) -> str:
    """``change_why``: the people's reason first, then policy's reasons, apart."""
    data = o.data
    state = state_words(data.get("state")) if data.get("state") else ""
    rejected = _votes(data, "reject")
    reasons = reason_lines(data)
    if rejected:
        said = [
            f"{v.get('by')}{_when(v.get('at'))}: “{v.get('reason')}”"
            if v.get("reason")
            else f"{v.get('by')}{_when(v.get('at'))}, without giving a reason"
            for v in rejected
        ]
        text = f"{_line(data)} was rejected by {'; '.join(said)}."
        if reasons:
            text += f"\nPolicy had asked for consent because:\n{bullets(reasons)}"
        return text
    head = f"{_line(data)} is {state}" if state else _line(data)
    if data.get("decision") == "deny" or data.get("state") == "denied":
        lead = f"{_line(data)} was denied by policy"
    elif data.get("state") == "awaiting_consent":
        lead = f"{_line(data)} is waiting for consent because"
    else:
        lead = head
    if not reasons:
        return f"{lead}. No reason was recorded."
    decided = _decided(data)
    return f"{lead}:\n{bullets(reasons)}" + (f"\n{decided}" if decided else "")


def render_rollback(o: ToolOutcome) -> str:
    """``propose_rollback``: the undo proposals, named once. What policy decided about each is
    said by its own decision line after the answer, not restated here."""
    data = o.data
    undoes = data.get("undoes", "the change")
    made = [_line(p) for p in data.get("proposals") or [] if isinstance(p, Mapping)]
    notes = [str(n).strip().rstrip(".") for n in data.get("notes") or []]
    tail = ("\nNot undone:\n" + bullets(notes)) if notes else ""
    if not made:
        return f"Nothing was proposed to undo {undoes}.{tail}"
    return f"To undo {undoes} I proposed {_and(made)}.{tail}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
