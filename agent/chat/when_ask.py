"""Asking when: a change requested with no time on a target whose maintenance window is closed.

"reboot web-01" at 10:00 on a Tuesday, for a client whose window is Saturday night, is ambiguous:
the person may want it now (outside the window, so it needs consent) or in the window. Rather
than guess, ``propose_change`` records nothing and returns a ``question`` result that the model
relays: "Now (outside the maintenance window — needs consent) or in the next window (Sat 22:00
EST, in 2 days)?", the time in the requester's zone. The person's answer in the same thread
("now", "in the next window", "tonight") proposes again with that time; the question is kept on
the turn's memory (:data:`~agent.chat.offline.when.WHEN_ASK_KEY`) so the offline model answers it
and nothing else.

It asks only when the change-window check would flag the change (its rehearsal says it takes
something down and the window is closed) and the window's next opening is known. A target with
no window on record is proposed as before and policy decides: an unknown window cannot be
offered as a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from agent.chat.offline.when import WHEN_ASK_KEY, WhenError, answers_when, parse_when
from agent.humantime import when_text
from agent.schedule import window_start
from twin.graph import TwinGraph, UnknownEntity
from twin.plan import rehearse

__all__ = ["QUESTION", "answered", "ask_when", "pending_question", "question_memo"]

QUESTION = "question"
"""The tool status of a question the model must relay (nothing was recorded)."""


def _flagged(graph: TwinGraph, action: str, targets: list[str], params: Mapping[str, Any],
             now: datetime) -> bool:  # fmt: skip
    """Whether the change-window check flags this change now (a rehearsal on a fork)."""
    try:
        plan = rehearse(graph, action, targets, dict(params), now=now)
    except Exception:
        return False
    return any(
        i.get("id") == "change_window" and not i.get("passed", True) for i in plan.invariants
    )


def ask_when(
    graph: TwinGraph,
    *,
    action: str,
    targets: list[str],
    params: Mapping[str, Any],
    request_text: str,
    now: datetime,
    tz: str = "UTC",
) -> dict[str, Any] | None:
    """The ``question`` result to return instead of proposing, or ``None`` to propose.

    Call it only for a person's proposal that carries no ``not_before`` and no ``window``.
    ``request_text`` is the person's message: any time phrase in it ("now", "tonight") means
    they said when, so nothing is asked.
    """
    try:
        if parse_when(request_text, now=now, tz=tz).phrase:
            return None
        start = window_start(graph, targets, now)
    except (WhenError, ValueError):
        return None  # no window on record (or an unreadable zone): policy decides
    if start <= now or not _flagged(graph, action, targets, params, now):
        return None
    try:
        at = when_text(start, now=now, tz=tz)
    except (KeyError, ValueError):
        at = when_text(start, now=now)
    names = ", ".join(graph.get(t).name for t in targets)
    text = (
        f"When should I {action} {names}? Now (outside the maintenance window — needs consent) "
        f"or in the next window ({at})?"
    )
    data = {
        "question": text,
        "action": action,
        "targets": list(targets),
        "next_window": start.isoformat(),
        "recorded": False,
    }
    return {"status": QUESTION, "data": data, "error": None}


def question_memo(calls: Sequence[Mapping[str, Any]], proposed: int) -> dict[str, Any]:
    """What a turn keeps on its memory row when it ended on a "now or in the window?" question:
    the call to repeat once answered. Empty when the turn proposed anything or asked nothing."""
    if proposed:
        return {}
    asked = [c for c in calls if c.get("name") == "propose_change" and c.get("status") == QUESTION]
    if not asked:
        return {}
    args = dict(asked[-1].get("args") or {})
    keep = {k: args[k] for k in ("action", "targets", "params", "reason") if k in args}
    return {WHEN_ASK_KEY: keep}


def pending_question(past: Sequence[BaseMessage]) -> dict[str, Any] | None:
    """The call the thread's last answer left waiting on "now or in the next window?"; ``None``
    when the last answer asked something else (an older question is never answered)."""
    last = next((m for m in reversed(past) if isinstance(m, AIMessage)), None)
    asked = last.additional_kwargs.get(WHEN_ASK_KEY) if last is not None else None
    return dict(asked) if isinstance(asked, dict) and asked.get("action") else None


def answered(
    asked: Mapping[str, Any] | None,
    request_text: str,
    action: str,
    targets: Sequence[str],
    graph: TwinGraph,
) -> bool:
    """Whether ``request_text`` only answers the pending question (``asked``) and this proposal
    is that question's change: same action, no target it did not hold. Such an answer ("now")
    authorises that change and nothing else."""
    if not asked or asked.get("action") != action or answers_when(request_text) is None:
        return False
    held = {str(t) for t in asked.get("targets") or []}
    try:
        ids = {graph.resolve(t).id for t in targets}
    except UnknownEntity:
        return False
    return bool(ids) and ids <= held
