"""What a Slack thread is about: its changes and entities, for follow-ups that say "it".

A thread's subject is built from opshand's own records, never from what a tool returned or what
a model wrote: the changes the journal holds for the thread (proposed there, or started there by a
signal), the changes and entities earlier turns' tool calls named, newest first. Follow-ups such as
"why was it denied?", "status?", "who approved it?" or "roll it back" refer to the newest change;
"and its backups?" or "what about web-02?" to the newest entity.

Undoing a change is a new proposal built from the change's own rehearsed plan (its rollback
steps): it goes through policy like any change. It is offered only when the person asks for it
plainly and the change belongs to their thread (or they name it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from agent.chat.intent import clean
from agent.execution import Change, change_ref, journal_table

__all__ = [
    "MAX_SUBJECT",
    "ThreadSubject",
    "asks_undo",
    "rollback_steps",
    "subject_of_calls",
    "thread_change_refs",
    "vote_summary",
]

MAX_SUBJECT = 8
"""Changes and entities kept in a thread's subject (each list, newest first)."""

_UNDO = re.compile(
    r"^(?:(?:ok|okay|right|so|then|hey|please|pls|kindly|just)[\s,]+)*"
    r"(?:(?:could|can|would|will)\s+(?:you|we)\s+(?:please\s+|just\s+)?|"
    r"i(?:'d|\s+would)?\s+(?:like|want|need)\s+(?:you\s+)?to\s+|let'?s\s+|go\s+ahead\s+and\s+)?"
    r"(?:undo|revert|reverse|roll\s*back|rollback|back\s+out|"
    r"(?:roll|back)\s+(?:it|that|this|them|those|the\s+change|cr-?\s?\d+)\s+(?:back|out))\b"
    r"(?P<rest>.*)$",
    re.I,
)
_NEGATED = re.compile(r"\b(?:don'?t|do\s+not|never|no\s+need|shouldn'?t|not)\b", re.I)
_CHANGE_REF = re.compile(r"\bCR-?\s?(\d{1,9})\b", re.I)


@dataclass
class ThreadSubject:
    """The changes (``CR-n``) and entity ids a thread is about, newest first."""

    changes: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changes or self.entities)

    def add(self, *, changes: Iterable[str] = (), entities: Iterable[str] = ()) -> None:
        """Put ``changes`` and ``entities`` first (the newest), without repeats."""
        self.changes = _newest_first(changes, self.changes)
        self.entities = _newest_first(entities, self.entities)

    def to_json(self) -> dict[str, list[str]]:
        """JSON-ready form (stored on a turn's memory row)."""
        return {"changes": list(self.changes), "entities": list(self.entities)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> ThreadSubject:
        """Read :meth:`to_json`'s form; anything malformed is left out."""
        raw = raw or {}
        return cls(
            changes=[str(c) for c in raw.get("changes") or [] if isinstance(c, str)][:MAX_SUBJECT],
            entities=[str(e) for e in raw.get("entities") or [] if isinstance(e, str)][
                :MAX_SUBJECT
            ],
        )

    def as_data(self) -> str:
        """The subject as a JSON line (given to a model as data, never as instructions)."""
        return json.dumps({"thread_subject": self.to_json()}, sort_keys=True)


def _newest_first(new: Iterable[str], old: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in [*new, *old]:
        if item and item not in out:
            out.append(item)
    return out[:MAX_SUBJECT]


def subject_of_calls(
    calls: Sequence[Mapping[str, Any]], proposals: Sequence[Change]
) -> ThreadSubject:
    """What one turn was about: the changes it proposed or asked about and the entities its
    successful tool calls named (later calls count as newer)."""
    subject = ThreadSubject()
    for call in calls:
        if call.get("status") not in ("success", "approval_required", "denied", "no_data"):
            continue
        args = call.get("args") or {}
        if call.get("name") in ("change_status", "change_why", "propose_rollback"):
            ref = _CHANGE_REF.search(str(args.get("change_id", "")))
            if ref:
                subject.add(changes=[change_ref(int(ref.group(1)))])
        ents = [args.get("entity"), args.get("source"), args.get("target")]
        ents += list(args.get("targets") or []) if isinstance(args.get("targets"), list) else []
        subject.add(entities=[str(e) for e in reversed(ents) if isinstance(e, str) and e])
    subject.add(changes=[c.ref for c in reversed(proposals)])
    if proposals and not subject.entities:
        subject.add(entities=list(proposals[-1].targets))
    return subject


def thread_change_refs(engine: Engine, channel: str, thread_ts: str) -> list[str]:
    """The changes the journal records for this thread (proposed in it), newest first."""
    if not channel or not thread_ts:
        return []
    t = journal_table
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.id)
            .where(t.c.channel == channel, t.c.thread_ts == thread_ts)
            .order_by(t.c.id.desc())
            .limit(MAX_SUBJECT)
        ).all()
    return [change_ref(int(r.id)) for r in rows]


def asks_undo(text: str) -> bool:
    """Whether the person's own message plainly asks to undo something ("undo that", "roll it
    back", "could you revert CR-3?"); a question ("should we undo it?"), a negation or quoted text
    asks for nothing."""
    cleaned = clean(text)
    words = cleaned.text.strip().rstrip("?!. ")
    if not words or _NEGATED.search(words):
        return False
    return _UNDO.match(words) is not None


def rollback_steps(change: Change) -> tuple[list[tuple[str, list[str], dict[str, Any]]], list[str]]:
    """The proposals that undo ``change`` (action, targets, params), from its rehearsed plan's
    rollback steps; steps with equal action and params share one proposal. Also the notes of the
    steps that cannot be undone ("a reboot cannot be undone")."""
    groups: dict[str, tuple[str, list[str], dict[str, Any]]] = {}
    notes: list[str] = []
    for step in (change.plan or {}).get("rollback") or []:
        action = step.get("action")
        if not action:
            note = str(step.get("note") or "it has no undo")
            if note not in notes:
                notes.append(note)
            continue
        params = dict(step.get("params") or {})
        key = json.dumps([action, params], sort_keys=True, default=str)
        group = groups.setdefault(key, (str(action), [], params))
        if step.get("target") and step["target"] not in group[1]:
            group[1].append(str(step["target"]))
    return list(groups.values()), notes


def vote_summary(votes: Iterable[Any], decided_by: str | None) -> list[dict[str, Any]]:
    """Votes as plain data: who, approve or reject, their reason, when."""
    out = []
    for v in votes:
        out.append(
            {
                "by": v.voter.user_id,
                "vote": v.vote,
                "reason": v.reason or "",
                "at": v.at.isoformat(),
            }
        )
    if decided_by and not out:
        out.append({"by": decided_by.rsplit(":", 1)[-1], "vote": "decided", "reason": "", "at": ""})
    return out
