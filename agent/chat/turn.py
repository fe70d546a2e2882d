"""What is trusted in one turn of the conversation: who asked, where, their own words, what they
named, and what the tools returned (data, never trusted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.chat.guard import Offer
from agent.chat.intent import read_intent
from agent.chat.named import NamedSet, named_set
from agent.execution import Change
from twin.graph import TwinGraph

__all__ = ["TurnContext"]


@dataclass
class TurnContext:
    """What is trusted in this turn: who asked, where, and their own words.

    ``earlier_requests`` are the person's own earlier messages in the same thread, so a follow-up
    ("and web-04 too?") may act on what they asked before. Nothing a tool returned is ever here.

    A signal turn (``source == "signal"``) has no person: none of its text is trusted. What it may
    touch is fixed by code from the signal's structured fields: ``signal_entities`` (the entity the
    signal resolves to) and ``signal_actions`` (the actions settings allow; empty allows none).
    """

    requester: str
    request_text: str
    channel: str = ""
    thread_ts: str = ""
    source: str = "person"
    signal_entities: tuple[str, ...] = ()
    signal_actions: tuple[str, ...] = ()
    earlier_requests: tuple[str, ...] = ()
    tz: str = "UTC"
    """The requester's time zone (a "when?" question names times in it)."""
    ask_when: bool = False
    """Ask "now or in the next window?" for a timeless change on a closed window."""
    when_asked: dict[str, Any] | None = None
    """The call the thread's last answer asked "when?" about: all a bare "now" may authorise."""
    request_id: str = ""
    """What started the turn (``slack:<event id>``); with it each proposal gets a request key,
    so a replayed event finds the changes it already proposed instead of proposing again."""
    calls: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[Change] = field(default_factory=list)
    proposed: int = 0
    """Proposals that reached the core in this turn (their index is part of the request key)."""

    seen: list[str] = field(default_factory=list)
    """What read tools returned this turn (data): a parameter value found here is tainted."""
    offer: Offer | None = None
    """The bot's last proposal in this thread: all a bare "yes, go ahead" may authorise."""
    _named: tuple[int, NamedSet] | None = field(default=None, repr=False)

    @property
    def assent(self) -> bool:
        """Whether the person only said yes (see :attr:`offer`)."""
        return self.source == "person" and read_intent(self.request_text).assent

    @property
    def trusted_texts(self) -> tuple[str, ...]:
        """The current request first, then earlier requests in the thread."""
        return (self.request_text, *self.earlier_requests)

    def named(self, graph: TwinGraph) -> NamedSet:
        """What the person named, computed once per turn (and per twin version)."""
        if self._named is None or self._named[0] != graph.serial:
            self._named = (graph.serial, named_set(self.trusted_texts, graph))
        return self._named[1]
