"""Recovery of changes a stopped process left between recording and deciding.

``Operations.propose`` records a change, rehearses it and lets policy decide in a few
milliseconds. A process killed inside that window leaves the change ``proposed`` or
``rehearsed`` for ever: nothing will decide it, and it would sit in every status list. After
:data:`UNDECIDED_AFTER` it is closed as ``denied`` with a message saying why; nothing ran, and
the person (or the replayed Slack event, which finds it by its request key) can ask again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from agent.execution.change import Change, IllegalTransition
from agent.execution.journal import Journal

__all__ = ["INTERRUPTED", "UNDECIDED_AFTER", "close_undecided"]

UNDECIDED_AFTER = timedelta(minutes=10)
"""Far longer than any proposal takes (the largest wave plan rehearses in about 2 s)."""
INTERRUPTED = "interrupted before policy decided (the process stopped); nothing ran. Ask again."


def close_undecided(
    journal: Journal, now: datetime, *, after: timedelta = UNDECIDED_AFTER, batch: int = 200
) -> list[Change]:
    """Close changes left undecided for longer than ``after``; returns the ones closed.

    Several replicas may run this at once: the compare-and-set move lets one of them close each
    change, and the others skip it.
    """
    closed: list[Change] = []
    cutoff = now - after
    for change in journal.list(states=("proposed", "rehearsed"), limit=batch):
        if change.updated_at >= cutoff:
            continue
        try:
            closed.append(
                journal.move(
                    change.id,
                    "denied",
                    actor="system:recovery",
                    expect=[change.state],
                    body={"reason": INTERRUPTED},
                    result={"message": INTERRUPTED},
                )
            )
        except IllegalTransition:
            continue  # decided or closed meanwhile, by its own process or another replica
    return closed
