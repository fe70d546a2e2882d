"""Incident threads: a change tied to an incident is told, step by step, in one thread.

A change is tied to an incident when a signal's runbook proposed it (``source == "signal"``) or
when one of its targets is a ticket or an incident. Its thread lives in the channel configured
for the client or service of its targets, or in a new ``#inc-cr-<n>`` channel when creating
channels is allowed. The root message holds the plan and the decision; replies follow for votes,
expiry and the result (per wave, reconciliation, audit reference).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError

from agent.execution import Change
from agent.service import ChangeEvent, Operations
from bot.blocks import decision_blocks, state_words, thread_summary
from bot.listeners._shared import SlackOut
from bot.listeners.consent import card_state, cards_for, remember_card, waiting_line
from bot.mrkdwn import esc, mention

__all__ = [
    "IncidentRouting",
    "incident_channel",
    "is_incident",
    "register_incidents",
    "register_results",
]

log = logging.getLogger(__name__)

INCIDENT_KINDS = frozenset({"ticket", "incident"})


@dataclass(frozen=True, kw_only=True)
class IncidentRouting:
    """Where incident threads go."""

    channels: Mapping[str, str] = field(default_factory=dict)
    """Client name or service/entity id -> channel name or id."""
    create: bool = False
    """Create ``#inc-cr-<n>`` when no channel is configured (needs ``channels:manage``)."""
    fallback: str = ""
    """Channel used when nothing matches and creating is off; empty means no thread."""


def is_incident(ops: Operations, change: Change) -> bool:
    """Whether ``change`` belongs to an incident (signal-driven or about a ticket)."""
    if change.source == "signal":
        return True
    g = ops.graph
    return any(t in g and g.get(t).kind.value in INCIDENT_KINDS for t in change.targets)


def incident_channel(ops: Operations, change: Change, routing: IncidentRouting) -> str:
    """The configured channel for the change's targets (by id, then client), or ``""``."""
    g = ops.graph
    for t in change.targets:
        if t in routing.channels:
            return routing.channels[t]
        if t in g:
            client = str(g.get(t).attrs.get("client", ""))
            if client in routing.channels:
                return routing.channels[client]
    return ""


def register_incidents(out: SlackOut, routing: IncidentRouting) -> None:
    """Subscribe to change events and keep each incident's thread current."""
    ops = out.oh.ops

    def open_thread(change: Change) -> tuple[str, str] | None:
        channel = incident_channel(ops, change, routing)
        if not channel and routing.create:
            name = f"inc-{change.ref.lower()}"
            try:
                resp = out.client.conversations_create(name=name)
                channel = str(resp["channel"]["id"])
                out.remember_channel(name, channel)
            except SlackApiError as exc:
                log.warning("could not create #%s: %s", name, exc.response.get("error"))
        channel = channel or routing.fallback
        if not channel:
            log.info("%s is tied to an incident but no channel is configured", change.ref)
            return None
        ts = out.post(
            channel,
            f"{change.ref}: {esc(change.action)} ({state_words(change.state)})",
            decision_blocks(change, tz=out.display_tz),
        )
        remember_card(out, change.id, "incident", out.channel_id(channel), ts)
        return out.channel_id(channel), ts

    lock = threading.Lock()

    def on_change(ev: ChangeEvent) -> None:
        change = ev.change
        if ev.kind in ("proposed", "started"):
            return
        # The worker may finish an auto-approved change before the proposing thread announces
        # the decision, so whichever event comes first opens the thread, under a lock.
        with lock:
            threads = cards_for(out, change.id, "incident")
            fresh = not threads
            if fresh:
                if not is_incident(ops, change):
                    return
                opened = open_thread(change)
                if opened is None:
                    return
                threads = [opened]
        for channel, root in threads:
            if ev.kind == "decided":
                if change.state == "awaiting_consent":
                    out.post(channel, waiting_line(out, change), None, root)
            elif ev.kind in ("vote", "expired", "stale"):
                card = card_state(out, change)
                if card is None:
                    continue
                tally = ", ".join(
                    f"{mention(u)} {'approved' if v == 'approve' else 'rejected'}"
                    for u, v, _ in card.votes
                )
                said = "still open" if card.state == "open" else card.state
                text = f"Consent for {change.ref}: {said}; votes: {tally or 'none'}."
                if card.state != "open":
                    text += f" {esc(card.next_step)}"
                out.post(channel, text, None, root)
            elif ev.kind == "finished":
                summary = thread_summary(change, audit_ref(out))
                out.post(channel, f"{change.ref} {state_words(change.state)}", summary, root)

    ops.subscribers.append(on_change)


def audit_ref(out: SlackOut) -> str:
    """``#<seq> <hash prefix>`` of the audit head: where to look the change up."""
    head = out.oh.audit.head()
    return f"#{head.seq} {head.hash[:12]}" if head else "-"


def register_results(out: SlackOut) -> None:
    """Post each finished change's result in the thread it was requested in."""

    def on_change(ev: ChangeEvent) -> None:
        change = ev.change
        if ev.kind == "finished" and change.channel:
            out.post(
                change.channel,
                f"{change.ref} {state_words(change.state)}",
                thread_summary(change, audit_ref(out)),
                change.thread_ts,
            )

    out.oh.ops.subscribers.append(on_change)
