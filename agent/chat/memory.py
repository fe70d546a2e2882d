"""Thread memory: each Slack thread's turns (the person's words and opshand's answers) kept in the
``agent_memory`` table, which lives on the one ``twin.db.metadata`` and so works the same on SQLite
and PostgreSQL, in the same engine and transactions as everything else. A LangGraph checkpointer
would need its own connection type and its own migrations outside that metadata, and the agent
loop is not a LangGraph graph, so the table is the simpler honest fit.

A signal's turn is kept as data (:func:`wrap_data`), never as something a person asked for.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from sqlalchemy import Column, DateTime, Integer, String, Table, Text, select

from agent.audit import Redactor
from agent.chat.guard import Offer
from agent.chat.offline import DATA_TAG, HUMAN_TAG
from agent.chat.thread import ThreadSubject, thread_change_refs
from agent.service import Operations
from twin.db import metadata
from twin.model import utcnow

__all__ = [
    "MEMORY_TURNS",
    "SIGNAL_ROLE",
    "ThreadMemory",
    "memory_table",
    "message_text",
    "wrap_data",
]

MEMORY_TURNS = 6
"""How many earlier turns of a thread the model sees."""
SIGNAL_ROLE = "signal"
"""Memory role of a turn a signal started: shown to the model as data, never trusted."""

memory_table = Table(
    "agent_memory",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thread", String(128), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("meta", Text, nullable=False, default="{}"),
    Column("at", DateTime(timezone=True), nullable=False),
)


def wrap_data(payload: str) -> str:
    """Delimit a tool result as data; ``</`` is JSON-escaped so the data cannot close the tag."""
    safe = payload.replace("</", "<\\/")
    return f"<{DATA_TAG}>{safe}</{DATA_TAG}>"


def message_text(content: Any) -> str:
    """Message content as plain text (some providers return a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p if isinstance(p, str) else str(p.get("text", "")) for p in content if p is not None
        )
    return str(content)


class ThreadMemory:
    """Reading and writing a thread's turns, for :class:`~agent.chat.loop.Agent` (a mixin: the
    host supplies ``ops`` and ``redactor``)."""

    ops: Operations
    redactor: Redactor

    def remembers(self, thread: str) -> bool:
        """Whether any turn of ``thread`` (``channel:thread_ts``) is kept: opshand spoke there."""
        with self.ops.engine.connect() as conn:
            row = conn.execute(
                select(memory_table.c.id).where(memory_table.c.thread == thread).limit(1)
            ).first()
        return row is not None

    def history(self, thread: str) -> list[BaseMessage]:
        """The thread's earlier turns, oldest first (the person's words and the answers)."""
        if not thread:
            return []
        with self.ops.engine.connect() as conn:
            rows = conn.execute(
                select(memory_table)
                .where(memory_table.c.thread == thread)
                .order_by(memory_table.c.id.desc())
                .limit(2 * MEMORY_TURNS)
            ).all()
        out: list[BaseMessage] = []
        for r in reversed(rows):
            meta = json.loads(r.meta or "{}")
            if r.role == "human":
                out.append(HumanMessage(content=f"<{HUMAN_TAG}>{r.content}</{HUMAN_TAG}>"))
            elif r.role == SIGNAL_ROLE:
                # A signal's turn is kept as data: a later person in the thread sees what the
                # alert said, but its words never count as something a person asked for.
                out.append(HumanMessage(content=wrap_data(r.content)))
            else:
                out.append(AIMessage(content=r.content, additional_kwargs=meta))
        return out

    def _earlier_requests(self, past: list[BaseMessage]) -> tuple[str, ...]:
        """The person's own earlier words in the thread, newest first (trusted for targets)."""
        prefix, suffix = f"<{HUMAN_TAG}>", f"</{HUMAN_TAG}>"
        said = [
            message_text(m.content).removeprefix(prefix).removesuffix(suffix)
            for m in past
            if isinstance(m, HumanMessage) and message_text(m.content).startswith(prefix)
        ]
        return tuple(reversed(said))

    @staticmethod
    def _offer(past: list[BaseMessage], requester: str) -> Offer | None:
        """The bot's last proposal in the thread, when ``requester`` asked for it (kept on the
        answer that made it; a signal's proposals are never carried over by a typed yes)."""
        for m in reversed(past):
            if isinstance(m, AIMessage) and "opshand_offer" in m.additional_kwargs:
                offer = Offer.from_json(m.additional_kwargs["opshand_offer"])
                return offer if offer is not None and offer.requester == requester else None
        return None

    def subject(self, past: list[BaseMessage], channel: str, thread_ts: str) -> ThreadSubject:
        """What the thread is about: earlier turns' subjects (newest last in ``past``), then the
        changes the journal records for the thread put first."""
        subject = ThreadSubject()
        for m in past:
            if isinstance(m, AIMessage) and "opshand_subject" in m.additional_kwargs:
                turn = ThreadSubject.from_json(m.additional_kwargs["opshand_subject"])
                subject.add(changes=turn.changes, entities=turn.entities)
        recorded = thread_change_refs(self.ops.engine, channel, thread_ts)
        newest = [c for c in recorded if c not in subject.changes]
        subject.add(changes=[*newest, *subject.changes][: len(newest)])
        return subject

    def _remember(
        self, thread: str, human: str, answer: str, meta: dict[str, Any], *, role: str = "human"
    ) -> None:
        if not thread:
            return
        now = utcnow()
        with self.ops.engine.begin() as conn:
            conn.execute(
                memory_table.insert(),
                [
                    {
                        "thread": thread,
                        "role": role,
                        "content": self.redactor.redact_text(human),
                        "meta": "{}",
                        "at": now,
                    },
                    {
                        "thread": thread,
                        "role": "ai",
                        "content": self.redactor.redact_text(answer),
                        "meta": json.dumps(meta),
                        "at": now,
                    },
                ],
            )
