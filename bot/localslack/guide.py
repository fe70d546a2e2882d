"""The page's guide for a first-time visitor: an intro panel and a numbered "try this" list.

A step is data, not markup, so the demo command, the terminal chat and the browser test walk
the same list. Clicking a step on the page switches to the step's person and channel, and puts
the step's message in the message box (it is not sent: the visitor presses Enter).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TryStep", "as_steps", "check_steps"]


class TryStep(BaseModel):
    """One step of the "try this" list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1)
    """What the step is about, e.g. ``Ask a blast-radius question``."""
    say: str | None = None
    """Text to put in the message box (``@opshand …`` or ``/command …``); ``None`` for a step
    that is done by clicking, such as approving a card."""
    user: str | None = None
    """Handle of the person to act as for this step (e.g. ``ben``); ``None`` keeps the current."""
    channel: str | None = None
    """Channel name to show (e.g. ``ops-approvals``); ``None`` keeps the current."""
    open_thread: str | None = None
    """Open the newest thread whose first message contains this text (e.g. ``reboot``)."""
    run: str | None = None
    """A step action the page runs on the server when the step is clicked (e.g. ``fire-alert``:
    one of ``LocalSlack(step_actions=...)``); its answer is shown to the visitor."""
    hint: str = ""
    """One sentence on what to do or what to look for."""


def as_steps(items: Iterable[str | TryStep]) -> list[TryStep]:
    """Turn plain strings into steps that say them; keep ``TryStep`` values as they are.

    Raises:
        TypeError: if an item is neither a string nor a ``TryStep``.
    """
    steps: list[TryStep] = []
    for item in items:
        if isinstance(item, TryStep):
            steps.append(item)
        elif isinstance(item, str):
            steps.append(TryStep(title=item, say=item))
        else:
            raise TypeError(f"a try-this item must be a str or TryStep, not {type(item).__name__}")
    return steps


def check_steps(
    steps: Sequence[TryStep],
    users: Iterable[str],
    channels: Iterable[str],
    actions: Iterable[str] = (),
) -> None:
    """Fail early when a step names a person, channel or step action the workspace lacks.

    Raises:
        ValueError: naming the step and the unknown handle, channel or action.
    """
    handles, names, runs = set(users), set(channels), set(actions)
    for n, step in enumerate(steps, 1):
        if step.user is not None and step.user not in handles:
            raise ValueError(f"try-this step {n} acts as unknown user {step.user!r}")
        if step.channel is not None and step.channel not in names:
            raise ValueError(f"try-this step {n} shows unknown channel {step.channel!r}")
        if step.run is not None and step.run not in runs:
            raise ValueError(f"try-this step {n} runs unknown step action {step.run!r}")
