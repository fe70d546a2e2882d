"""``/opshand``: ask, plan, status, pending, freeze, unfreeze, breakglass, digest, help.

The command is acknowledged at once (Slack shows an error after 3 seconds); anything slow (the
agent, the digest) runs after the ack and answers through ``respond``. Admin-only subcommands
are checked by the operations facade, which answers with a polite sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from agent.execution import IllegalTransition
from agent.humantime import span, when_text
from agent.service import identity_of
from bot.blocks import answer_blocks, ctx, decision_blocks, limit_blocks, md, state_words
from bot.digest import digest_day, digest_for
from bot.listeners._shared import SlackOut, team_of
from bot.listeners.breakglass import break_glass
from bot.listeners.consent import waiting_line
from bot.listeners.conversations import facts_of
from bot.mrkdwn import esc, mention

__all__ = ["HELP", "register_commands"]

log = logging.getLogger(__name__)

HELP = """*opshand* — ask about the estate, propose changes, see what is waiting.
• `/opshand ask <question>` — e.g. `ask what depends on db-prod-01?`
• `/opshand plan <change>` — rehearse a change and ask policy, e.g. `plan reboot web-04`
• `/opshand status CR-42` — where a change stands
• `/opshand pending` — changes waiting for consent, and scheduled ones
• `/opshand cancel CR-42 [reason]` — cancel a scheduled change (its requester or an approver)
• `/opshand freeze <reason>` / `/opshand unfreeze` — stop or resume all changes (admins)
• `/opshand breakglass <reason> -- <action> <target> …` — act during a freeze (breakglass \
permission; announced and audited), e.g. `breakglass portal down -- service.restart web-app`
• `/opshand digest [today|yesterday|YYYY-MM-DD]` — the digest (today so far by default), only to you
• `/opshand help` — this text"""


def register_commands(app: App, out: SlackOut) -> None:
    """Register ``/opshand``."""
    ops = out.oh.ops
    default_team = out.oh.settings.slack.team_id

    def ask(text: str, requester: str, respond: Callable[..., Any], *, plan: bool) -> None:
        reply = out.oh.agent.ask(text, requester=requester, tz=out.tz_of(requester))
        blocks = answer_blocks(reply.text, facts_of(out, reply, requester))
        for change in reply.proposals:
            fresh = ops.journal.get(change.id)
            if fresh.state == "awaiting_consent":  # one line and the card's link, not a copy
                blocks.append(md(waiting_line(out, fresh)))
            else:
                # in_channel: many read it, so the display zone (named in every time shown)
                blocks.extend(decision_blocks(fresh, tz=out.display_tz))
        if plan and not reply.proposals:
            blocks.append(ctx("No change was proposed; say what to change and on which target."))
        respond(
            text=esc(reply.text[:3000]), blocks=limit_blocks(blocks), response_type="in_channel"
        )

    def status(arg: str, respond: Callable[..., Any], tz: str) -> None:
        try:
            change = ops.status(arg)
        except (KeyError, ValueError) as exc:
            respond(text=esc(str(exc).strip("'\"")), response_type="ephemeral")
            return
        respond(
            text=f"{change.ref}: {state_words(change.state)}",
            blocks=decision_blocks(change, tz=tz),
            response_type="ephemeral",
        )

    def pending(respond: Callable[..., Any], tz: str) -> None:
        waiting = ops.pending()
        later = ops.scheduled()
        if later:
            now = ops.now()
            lines = [
                f"• *{c.ref}* {esc(c.action)} on "
                f"{', '.join(esc(t.split(':', 1)[-1]) for t in c.targets[:3])}"
                f" — runs {when_text(c.not_before, now=now, tz=tz) if c.not_before else 'when due'}"
                for c in later[:20]
            ]
            respond(
                text=f"{len(later)} scheduled",
                blocks=[md("*Scheduled*\n" + "\n".join(lines))],
                response_type="ephemeral",
            )
        if not waiting:
            respond(text="Nothing is waiting for consent.", response_type="ephemeral")
            return
        now = ops.now()
        lines = [
            f"• *{c.ref}* {esc(c.action)} on "
            f"{', '.join(esc(t.split(':', 1)[-1]) for t in c.targets[:3])}"
            f" — waiting {span(now - c.updated_at)}"
            for c in waiting[:20]
        ]
        respond(
            text=f"{len(waiting)} waiting for consent",
            blocks=[md("\n".join(lines))],
            response_type="ephemeral",
        )

    def cancel(arg: str, requester: str, respond: Callable[..., Any]) -> None:
        ref, _, reason = arg.partition(" ")
        try:
            change = ops.cancel(ref, requester, reason)
        except (KeyError, ValueError, PermissionError, IllegalTransition) as exc:
            respond(text=esc(str(exc).strip("'\"")), response_type="ephemeral")
            return
        respond(
            text=f"{change.ref} cancelled; it will not run.",
            response_type="in_channel",
        )

    def digest(arg: str, respond: Callable[..., Any]) -> None:
        day = digest_day(out.oh, arg)
        if day is None:
            respond(
                text=f"'{esc(arg)}' is not a day; use today, yesterday or YYYY-MM-DD.",
                response_type="ephemeral",
            )
            return
        text, blocks = digest_for(out.oh, day)
        respond(text=text, blocks=blocks, response_type="ephemeral")

    @app.command("/opshand")
    def on_command(ack: Ack, body: dict[str, Any], respond: Callable[..., Any]) -> None:
        sub, _, arg = str(body.get("text", "")).strip().partition(" ")
        sub, arg = sub.lower(), arg.strip()
        requester = identity_of(team_of(body, default_team), str(body["user_id"]))
        if sub in ("", "help") or sub not in (
            "ask",
            "plan",
            "status",
            "pending",
            "freeze",
            "unfreeze",
            "breakglass",
            "digest",
            "cancel",
        ):
            unknown = f"I don't know `{esc(sub)}`.\n" if sub not in ("", "help") else ""
            ack(text=unknown + HELP)
            return
        if sub in ("ask", "plan", "status", "breakglass", "cancel") and not arg:
            ack(text=f"`/opshand {sub}` needs something after it.\n" + HELP)
            return
        if sub in ("freeze", "unfreeze"):
            message = ops.set_freeze(sub == "freeze", actor=requester, reason=arg)
            refused = message.startswith("Only")
            said = esc(message) if refused else f"{mention(str(body['user_id']))}: {esc(message)}"
            ack(response_type="ephemeral" if refused else "in_channel", **out.clean({"text": said}))
            return
        if sub in ("ask", "plan", "digest", "breakglass"):
            ack(text="On it…")
        else:
            ack()

        # After the ack: the slow part (agent turn, database reads) answers via response_url,
        # redacted like every other post.
        def say(**kw: Any) -> None:
            respond(**out.clean(kw))

        if sub in ("ask", "plan"):
            ask(arg, requester, say, plan=sub == "plan")
        elif sub == "status":
            status(arg, say, out.tz_of(str(body["user_id"])))
        elif sub == "pending":
            pending(say, out.tz_of(str(body["user_id"])))
        elif sub == "breakglass":
            break_glass(out, body, arg, say)
        elif sub == "cancel":
            cancel(arg, requester, say)
        else:
            digest(arg, say)
