"""Conversations: mentions, direct messages and follow-ups in threads the bot is part of.

Each goes to the agent with the thread as its memory key (``channel:thread_ts``). The answer is
posted in the thread as Block Kit; facts from the turn's read-only tool calls are laid out as
tables, re-read from the twin (the tools are deterministic and read-only, so re-running them
gives the facts the model saw without trusting the model to repeat them).

Each message posted in answer carries the event's id as Slack message metadata. When the durable
inbox replays an event (its first holder died before marking it done), the replay check in
:mod:`bot.listeners.middleware` reads the thread first and an answer already there is not posted
again; first deliveries skip that read.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltContext

from agent.chat import AgentReply, ToolBox, TurnContext
from agent.service import identity_of
from bot.blocks import answer_blocks, decision_blocks, state_words
from bot.listeners._shared import SlackOut, team_of
from bot.mrkdwn import esc, mention

__all__ = [
    "FACT_TOOLS",
    "converse",
    "facts_of",
    "register_conversations",
    "strip_mention",
]

log = logging.getLogger(__name__)

FACT_TOOLS = frozenset({"twin_search", "twin_deps", "twin_blast_radius"})
"""Read-only tools whose results are shown as tables under the answer."""
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def strip_mention(text: str) -> str:
    """The message without bot mentions."""
    return _MENTION.sub("", text).strip()


def facts_of(out: SlackOut, reply: AgentReply, requester: str) -> list[tuple[str, Any]]:
    """Re-run the turn's successful read-only tool calls and return their data."""
    facts: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for call in reply.tool_calls:
        name = str(call.get("name"))
        key = f"{name}:{sorted(call.get('args', {}).items())}"
        if name not in FACT_TOOLS or call.get("status") != "success" or key in seen:
            continue
        seen.add(key)
        box = ToolBox(
            out.oh.ops, TurnContext(requester=requester, request_text=""), redactor=out.oh.redactor
        )
        res = box.call(name, dict(call.get("args") or {}))
        if res.get("status") == "success":
            facts.append((name, res.get("data")))
    return facts[:3]


def _in_thread(out: SlackOut, channel: str, thread_ts: str) -> bool:
    """Whether the bot has spoken in this thread (the agent remembers it)."""
    return out.oh.agent.remembers(f"{channel}:{thread_ts}")


def converse(
    out: SlackOut, text: str, requester: str, channel: str, thread_ts: str, event_id: str = ""
) -> None:
    """One agent turn, answered in the thread; each post carries ``event_id`` as metadata."""
    if not text:
        out.post(
            channel,
            "Ask me about the estate, or `/opshand help`.",
            None,
            thread_ts,
            answering=event_id,
        )
        return
    # The event id keys the turn's proposals: a replay after a crash finds them, not twins.
    reply = out.oh.agent.ask(
        text,
        requester=requester,
        channel=channel,
        thread_ts=thread_ts,
        request_id=f"slack:{event_id}" if event_id else "",
        tz=out.tz_of(requester),
    )
    blocks = answer_blocks(reply.text, facts_of(out, reply, requester))
    out.post(channel, esc(reply.text), blocks, thread_ts, answering=event_id)
    for change in reply.proposals:
        fresh = out.oh.ops.journal.get(change.id)
        if fresh.state == "awaiting_consent":
            continue  # the consent listener said so in one line, with a link to the card
        out.post(
            channel,
            f"{fresh.ref}: {state_words(fresh.state)}",
            decision_blocks(fresh, tz=out.tz_of(requester)),  # the requester's thread
            thread_ts,
            answering=event_id,
        )


def register_conversations(app: App, out: SlackOut) -> None:
    """``app_mention`` and ``message`` (DMs and thread follow-ups)."""
    default_team = out.oh.settings.slack.team_id

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        thread_ts = event.get("thread_ts") or event["ts"]
        converse(
            out,
            strip_mention(event.get("text", "")),
            identity_of(team_of(body, context.team_id or default_team), event["user"]),
            event["channel"],
            thread_ts,
            str(body.get("event_id") or ""),
        )

    @app.event("message")
    def on_message(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        if event.get("bot_id") or event.get("subtype") or not event.get("user"):
            return  # the bot's own posts, edits, joins: nothing to answer
        text = event.get("text", "")
        requester = identity_of(team_of(body, context.team_id or default_team), event["user"])
        event_id = str(body.get("event_id") or "")
        if event.get("channel_type") == "im":
            thread = event.get("thread_ts") or event["ts"]
            converse(out, strip_mention(text), requester, event["channel"], thread, event_id)
            return
        thread_ts = event.get("thread_ts")
        if not thread_ts or (context.bot_user_id and mention(context.bot_user_id) in text):
            return  # top-level chatter is not for us; mentions arrive as app_mention
        if _in_thread(out, event["channel"], thread_ts):
            converse(out, strip_mention(text), requester, event["channel"], thread_ts, event_id)
