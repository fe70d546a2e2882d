"""The Bolt app: thin listeners over the agent and the operations facade.

Listeners acknowledge at once (Bolt acks events before running the listener when
``process_before_response`` is off) and do slow work afterwards. Cross-cutting concerns —
event de-duplication shared through the database, identity from the signed payload — are
middleware, not copied ``if``s. Consent cards and thread summaries are posted by a subscriber to
the operations facade's change events, so every path (agent, slash command, signal) gets them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond, Say
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Column, DateTime, Integer, String, Table, select
from sqlalchemy.exc import IntegrityError

from agent.journal import Change
from agent.service import ChangeEvent, identity_of
from bot.blocks import answer_blocks, consent_card, decision_blocks, thread_summary
from bot.bootstrap import Opshand
from twin.db import metadata
from twin.model import utcnow

__all__ = ["build_app"]

log = logging.getLogger(__name__)

seen_events = Table(
    "slack_event",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

cards_table = Table(
    "slack_card",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("change_id", Integer, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
)

MENTION_PREFIX = "<@"


def _strip_mention(text: str) -> str:
    out = text
    while out.lstrip().startswith(MENTION_PREFIX) and ">" in out:
        out = out.split(">", 1)[1]
    return out.strip()


def build_app(oh: Opshand, *, client: WebClient | None = None) -> App:
    """The Bolt app wired to ``oh``; call ``oh.ops.subscribers`` hooks are installed here."""
    s = oh.settings
    client = client or WebClient(
        token=s.slack.bot_token.get_secret_value(), base_url=s.slack.api_url or WebClient.BASE_URL
    )
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    app = App(
        client=client,
        signing_secret=s.slack.signing_secret.get_secret_value(),
        process_before_response=False,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    ops = oh.ops
    channel_ids: dict[str, str] = {}

    def channel_id(name: str) -> str:
        if name.startswith(("C", "G", "D")) and name.isupper():
            return name
        if name not in channel_ids:
            chans: list[dict[str, Any]] = client.conversations_list(limit=1000).get("channels", [])
            for c in chans:
                channel_ids[c["name"]] = c["id"]
        return channel_ids.get(name, name)

    def post(channel: str, text: str, blocks: list[dict[str, Any]], thread_ts: str = "") -> str:
        resp = client.chat_postMessage(
            channel=channel,
            text=text[:3000],
            blocks=blocks,
            thread_ts=thread_ts or None,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(resp["ts"])

    # ------------------------------------------------------------------ middleware
    @app.middleware
    def dedupe_events(body: dict[str, Any], next: Callable[[], BoltResponse]) -> Any:
        """Each Slack event is processed once across retries and replicas (C3, C4)."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            try:
                with oh.engine.begin() as conn:
                    conn.execute(seen_events.insert().values(event_id=event_id, at=utcnow()))
            except IntegrityError:
                log.info("duplicate Slack event %s ignored", event_id)
                return BoltResponse(status=200, body="")
        return next()

    # ------------------------------------------------------------------ conversations
    def converse(text: str, team: str, user: str, channel: str, thread_ts: str, say: Say) -> None:
        requester = identity_of(team, user)
        reply = oh.agent.ask(text, requester=requester, channel=channel, thread_ts=thread_ts)
        say(
            text=reply.text,
            blocks=answer_blocks(reply.text),
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        for change in reply.proposals:
            fresh = ops.journal.get(change.id)
            say(
                text=f"{fresh.ref}: {fresh.state}",
                blocks=decision_blocks(fresh),
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], context: BoltContext, say: Say) -> None:
        thread_ts = event.get("thread_ts") or event["ts"]
        converse(
            _strip_mention(event.get("text", "")),
            context.team_id or s.slack.team_id,
            event["user"],
            event["channel"],
            thread_ts,
            say,
        )

    @app.event("message")
    def on_message(event: dict[str, Any], context: BoltContext, say: Say) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        text = event.get("text", "")
        if event.get("channel_type") == "im":
            converse(
                _strip_mention(text),
                context.team_id or s.slack.team_id,
                event["user"],
                event["channel"],
                event.get("thread_ts") or event["ts"],
                say,
            )

    # ------------------------------------------------------------------ consent
    def vote(body: dict[str, Any], approve: bool, respond: Respond, reason: str | None) -> None:
        action = body["actions"][0]
        change_id, _, plan_hash = str(action["value"]).partition("|")
        team = (body.get("team") or {}).get("id") or s.slack.team_id
        user = body["user"]["id"]
        payload_id = f"{user}:{action.get('action_ts', '')}:{change_id}"
        out = ops.vote(
            int(change_id),
            identity_of(team, user),
            approve,
            plan_hash=plan_hash,
            payload_id=payload_id,
            reason=reason,
        )
        if not out.accepted:
            respond(text=out.message, response_type="ephemeral", replace_original=False)

    @app.action("consent_approve")
    def on_approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        vote(body, True, respond, None)

    @app.action("consent_reject")
    def on_reject(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        action = body["actions"][0]
        client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "reject_reason",
                "private_metadata": f"{action['value']}|{body['channel']['id']}",
                "title": {"type": "plain_text", "text": "Reject change"},
                "submit": {"type": "plain_text", "text": "Reject"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "reason",
                        "label": {"type": "plain_text", "text": "Why?"},
                        "element": {
                            "type": "plain_text_input",
                            "action_id": "text",
                            "multiline": True,
                        },
                    }
                ],
            },
        )

    @app.view("reject_reason")
    def on_reject_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        change_id, plan_hash, _channel = str(view["private_metadata"]).split("|")
        reason = view["state"]["values"]["reason"]["text"]["value"] or ""
        team = (body.get("team") or {}).get("id") or s.slack.team_id
        user = body["user"]["id"]
        out = ops.vote(
            int(change_id),
            identity_of(team, user),
            False,
            plan_hash=plan_hash,
            payload_id=f"{user}:{view['id']}:{change_id}",
            reason=reason,
        )
        if not out.accepted:
            client.chat_postEphemeral(channel=_channel, user=user, text=out.message)

    # ------------------------------------------------------------------ cards & summaries
    def cards(change_id: int) -> list[tuple[str, str]]:
        with oh.engine.connect() as conn:
            return [
                (r.channel, r.ts)
                for r in conn.execute(
                    select(cards_table).where(
                        cards_table.c.change_id == change_id, cards_table.c.kind == "consent"
                    )
                )
            ]

    def card_blocks(change: Change, note: str = "") -> list[dict[str, Any]]:
        reqs = ops.consent.for_change(str(change.id))
        if not reqs:
            return []
        req = reqs[-1]
        votes = [
            (v.voter.user_id, v.vote, v.reason or "")
            for v in ops.consent.votes(req.id)
            if v.plan_hash == req.plan_hash
        ]
        return consent_card(
            change,
            votes=votes,
            quorum=req.quorum,
            approvers=req.approvers,
            expires_at=req.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            state=req.state,
            outcome_note=note,
        )

    def on_change(ev: ChangeEvent) -> None:
        change = ev.change
        if ev.kind == "decided" and ev.detail.get("outcome") == "consent":
            blocks = card_blocks(change)
            targets = [channel_id(s.slack.approvals_channel)]
            if change.channel:
                targets.append(change.channel)
            with oh.engine.begin() as conn:
                for ch in targets:
                    ts = post(
                        ch,
                        f"Consent needed for {change.ref}",
                        blocks,
                        change.thread_ts if ch == change.channel else "",
                    )
                    conn.execute(
                        cards_table.insert().values(
                            change_id=change.id, kind="consent", channel=ch, ts=ts
                        )
                    )
        elif ev.kind in ("vote", "finished"):
            note = ""
            if change.state in ("queued", "executing"):
                note = "Approved; running now."
            elif change.final:
                note = f"{change.ref} {change.state.replace('_', ' ')}."
            blocks = card_blocks(change, note)
            for ch, ts in cards(change.id) if blocks else []:
                client.chat_update(
                    channel=ch, ts=ts, text=f"{change.ref}: {change.state}", blocks=blocks
                )
            if ev.kind == "vote" and change.state == "rejected" and change.channel:
                post(
                    change.channel,
                    f"{change.ref} was rejected.",
                    decision_blocks(change),
                    change.thread_ts,
                )
        if ev.kind == "finished" and change.channel:
            head = oh.audit.head()
            ref = f"#{head.seq} {head.hash[:12]}" if head else "-"
            post(
                change.channel,
                f"{change.ref} {change.state}",
                thread_summary(change, ref),
                change.thread_ts,
            )

    ops.subscribers.append(on_change)
    return app
