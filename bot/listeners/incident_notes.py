"""The signal loop's notes in the incident's Slack thread: the alert, the incident, the runbook.

The change a runbook proposes has its own incident thread (:mod:`bot.listeners.incidents`:
the plan and decision at the root, then votes and the result). These notes put the start of
the story in that thread: what alerted, from which source and how severe, which incident and
ticket it opened, which runbook proposed the change, and how the incident ended. A note that
comes before the change exists (``opened``) waits for the first note that has one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from agent.signals import IncidentNote
from bot.listeners._shared import SlackOut
from bot.listeners.consent import cards_for
from bot.mrkdwn import esc

__all__ = ["incident_notes"]

_HELD_MAX = 100
"""Incidents whose notes wait for their change's thread, at most."""


def _opened(note: IncidentNote) -> str:
    inc = note.incident
    ticket = f", ticket {esc(inc.ticket_number)}" if inc.ticket_number else ""
    return (
        f":rotating_light: *{esc(inc.title)}* — {esc(inc.severity)} alert from "
        f"{esc(inc.source)}: {esc(inc.ref)} opened{ticket}."
    )


def incident_notes(out: SlackOut) -> Callable[[IncidentNote], None]:
    """A ``SignalLoop.notify`` that posts each note in its change's incident thread."""
    held: dict[int, list[str]] = {}
    lock = threading.Lock()

    def notify(note: IncidentNote) -> None:
        inc = note.incident
        line = _opened(note) if note.kind == "opened" else esc(note.text)
        threads = cards_for(out, inc.change_id, "incident") if inc.change_id else []
        with lock:
            lines = [*held.pop(inc.id, []), line]
            if not threads:
                held[inc.id] = lines[-5:]  # until the change's thread exists
                while len(held) > _HELD_MAX:  # incidents whose change never gets a thread
                    held.pop(next(iter(held)))
                return
        for channel, root in threads:
            out.post(channel, "\n".join(lines), None, root)

    return notify
