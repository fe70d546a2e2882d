"""Block Kit rendering: answers, plans, consent cards and incident-thread summaries.

Every message has a plain-text fallback (``text``) and stays inside Slack's limits (50 blocks a
message, 3000 characters a section, 10 fields a section, 150 characters of plain_text in a
header or a button); longer content is cut with a note saying so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.chat.offline import when_text
from agent.execution import Change
from agent.schedule import window_flagged
from bot.mrkdwn import esc, mention, person
from bot.slack_tables import CRIT_ORDER, breakdown_fields, entity_table
from twin.coverage import unknown_lines
from twin.model import utcnow

__all__ = [
    "MAX_BLOCKS",
    "Block",
    "CardState",
    "answer_blocks",
    "consent_card",
    "ctx",
    "cut",
    "decision_blocks",
    "drift_lines",
    "header",
    "limit_blocks",
    "md",
    "thread_summary",
    "when_line",
    "window_button",
]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELDS = 10
Block = dict[str, Any]


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with a note when it was cut."""
    if len(text) <= limit:
        return text
    note = "… (cut to fit Slack)"
    return text[: limit - len(note)] + note


def md(text: str) -> Block:
    """A mrkdwn section, cut to the section limit."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION)}}


def ctx(text: str) -> Block:
    """A context line."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, 2000)}]}


def header(text: str) -> Block:
    """A header (plain text, 150 characters at most)."""
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, 150)}}


def limit_blocks(blocks: list[Block]) -> list[Block]:
    """Keep at most :data:`MAX_BLOCKS`, replacing the overflow with a note."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept = blocks[: MAX_BLOCKS - 1]
    kept.append(ctx(f"_{len(blocks) - len(kept)} more blocks not shown (Slack's limit)._"))
    return kept


# ---------------------------------------------------------------------- answers
def answer_blocks(text: str, facts: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[Block]:
    """An agent answer: the sentence first, then the facts its read tools found.

    ``facts`` are (tool name, tool ``data``) pairs from read-only tools; blast radius is grouped
    by kind and criticality (two columns), entity lists become tables of name, kind and
    criticality with a "showing 20 of 262" line (:mod:`bot.slack_tables`). The answer is a
    model's text: escaped, so its Slack formatting (bold, code) shows but no mention or link it
    wrote is live.
    """
    blocks = [md(esc(text) if text else "_(no answer)_")]
    for name, data in facts:
        if not isinstance(data, dict):
            continue
        items = data.get("items")
        if name == "twin_blast_radius" and isinstance(items, list):
            who = (data.get("entity") or {}).get("name", "it")
            total = data.get("total", len(items))
            blocks.append(ctx(f"Blast radius of *{esc(who)}*: {esc(total)} entities"))
            blocks.append(
                breakdown_fields(data.get("by_kind") or {}, data.get("by_criticality") or {})
            )
            blocks += entity_table(items, title="Most critical first", total=total)
        elif isinstance(items, list) and items and isinstance(items[0], dict):
            title = {"twin_search": "Matches", "twin_deps": "Depends on"}.get(name, name)
            closest = bool(data.get("closest"))
            blocks += entity_table(items, title=title, total=data.get("total"), closest=closest)
    return limit_blocks(blocks)


# ---------------------------------------------------------------------- plans
def _plan_lines(plan: dict[str, Any]) -> list[Block]:
    coll = plan.get("collateral", [])
    by_kind = Counter(str(a["kind"]) for a in coll)
    kinds = ", ".join(f"{n} {esc(k)}" for k, n in by_kind.most_common())
    crit = [a for a in coll if a.get("criticality") == "critical"]
    names = ", ".join(esc(n) for n in plan.get("target_names", [])[:10])
    more = len(plan.get("targets", [])) - 10
    targets = names + (f" and {more} more" if more > 0 else "")
    blocks = [
        md(
            f"*{esc(plan.get('action', '?'))}* on {len(plan.get('targets', []))} target(s): "
            f"{targets}\n"
            f"*Blast radius:* {len(plan.get('intended', []))} intended, {len(coll)} collateral"
            + (f" ({kinds})" if kinds else "")
            + (f", *{len(crit)} critical*" if crit else "")
        )
    ]
    unknown = unknown_lines(plan.get("uncovered") or [], plan.get("unknown_env") or [])
    if unknown:
        # unknown is not safe: say so before the collateral, which may be too short
        blocks.append(md("\n".join(f":warning: *{esc(line)}*" for line in unknown)))
    if coll:
        ordered = sorted(coll, key=lambda a: CRIT_ORDER.get(str(a.get("criticality")), 9))
        lines = [
            f"• {esc(a['name'])} ({esc(a['kind'])}, {esc(a['criticality'])}) — {esc(a['effect'])}"
            for a in ordered[:8]
        ]
        if len(coll) > 8:
            lines.append(f"… and {len(coll) - 8} more")
        blocks.append(md("*Collateral*\n" + "\n".join(lines)))
    tainted = [str(k) for k in plan.get("tainted") or []]
    if tainted:
        params = plan.get("params", {})
        shown = [f"• `{_plain(k)}`: {_plain(cut(str(_param(params, k)), 200))}" for k in tainted]
        head = "*From data, not from the request* (check before approving)"
        blocks.append(md(head + "\n" + "\n".join(shown[:8])))
    inv = [i for i in plan.get("invariants", []) if not i.get("passed")]
    if inv:
        lines = []
        for i in inv:
            ev = "; ".join(str(v["message"]) for v in i.get("violations", [])[:3]) or (
                i.get("error") or ""
            )
            lines.append(f"• *{esc(i['id'])}* ({esc(i.get('severity', '?'))}): {esc(ev)}")
        blocks.append(md("*Invariants that need attention*\n" + "\n".join(lines)))
    else:
        checked = ", ".join(esc(i["id"]) for i in plan.get("invariants", [])) or "none apply"
        blocks.append(ctx(f"Invariants checked, all pass: {checked}"))
    if len(plan.get("waves", [])) > 1:
        blocks.append(
            ctx(
                f"{len(plan['waves'])} waves, canary first; halts above "
                f"{int(plan.get('halt_threshold', 0) * 100)}% failures per wave"
            )
        )
    return blocks


def _param(params: Any, path: str) -> Any:
    """The value at a dotted parameter path ("params.url")."""
    for part in path.split("."):
        params = params.get(part, "") if isinstance(params, dict) else ""
    return params


def _plain(text: str) -> str:
    # Data shown as text, never as markup: no mention, link or formatting can come from it.
    return esc(text).replace("`", "'")


def _deciding(dec: dict[str, Any]) -> list[str]:
    reasons: dict[str, str] = dec.get("reasons") or {}
    return [r for r in dec.get("deciding") or [] if r in reasons] or list(reasons)


def _reasons(dec: dict[str, Any]) -> str:
    """Policy's reasons as bullet lines, in words: rule ids go to :func:`_rule_ids`."""
    reasons: dict[str, str] = dec.get("reasons") or {}
    lines = [str(reasons[k]).strip().rstrip(".;,").strip() for k in _deciding(dec)]
    return "\n".join(f"• {esc(line)}." for line in lines if line)


def _rule_ids(dec: dict[str, Any]) -> str:
    """The deciding rules' ids, for a details (context) line."""
    ids = _deciding(dec)
    return (
        f" · rule{'s' if len(ids) > 1 else ''} " + ", ".join(f"`{esc(i)}`" for i in ids)
        if ids
        else ""
    )


def decision_blocks(change: Change, *, tz: str = "UTC", now: datetime | None = None) -> list[Block]:
    """What happened to a proposal: plan summary and decision, for the requester's thread.

    A change with a ``not_before`` says when it runs, in the reader's zone ``tz``."""
    plan = change.plan or {}
    dec = change.decision or {}
    blocks: list[Block] = []
    if plan:
        blocks.extend(_plan_lines(plan))
    outcome = dec.get("outcome")
    reasons = _reasons(dec)
    if change.state == "denied":
        message = (change.result or {}).get("message")
        msg = esc(message) if message else reasons
        blocks.insert(0, md(f":no_entry: *{change.ref} refused.*\n{msg}"))
    elif outcome == "consent":
        blocks.insert(
            0,
            md(
                f":raised_hand: *{change.ref} needs consent* "
                f"({esc(dec.get('quorum'))} of {esc(dec.get('approvers'))}).\n{reasons}"
            ),
        )
    elif outcome == "auto" and change.state == "scheduled" and change.not_before:
        at = when_text(change.not_before, now=now or utcnow(), tz=tz)
        blocks.insert(0, md(f":alarm_clock: *{change.ref} runs {esc(at)}* — {reasons}"))
    elif outcome == "auto":
        blocks.insert(0, md(f":white_check_mark: *{change.ref} runs now*\n{reasons}"))
    else:
        blocks.insert(0, md(f"*{change.ref}* is {change.state.replace('_', ' ')}."))
    if change.not_before is not None and change.state in ("awaiting_consent", "scheduled"):
        at = when_text(change.not_before, now=now or utcnow(), tz=tz)
        blocks.append(ctx(f"Not before {esc(at)}; `/opshand cancel {change.ref}` stops it."))
    blocks.append(
        ctx(
            f"{change.ref} · plan `{(change.plan_hash or '')[:12]}` · "
            f"policy `{(change.policy_hash or '')[:12]}`{_rule_ids(dec)}"
        )
    )
    return limit_blocks(blocks)


# ---------------------------------------------------------------------- consent cards
@dataclass(frozen=True, kw_only=True)
class CardState:
    """Where a consent request stands, for rendering its card."""

    state: str
    """``open``, ``approved``, ``rejected``, ``expired`` or ``stale``."""
    votes: Sequence[tuple[str, str, str]]
    """(user id, ``approve``/``reject``, reason) of votes on the current plan hash."""
    quorum: int
    approvers: str
    expires_at: str
    decided_by: str = ""
    """``team:user`` (or ``system:...``) who closed the request."""
    next_step: str = ""
    """What happens next (or happened), once decided."""


_FINAL_ICON = {
    "approved": ":white_check_mark:",
    "rejected": ":no_entry_sign:",
    "expired": ":hourglass:",
    "stale": ":warning:",
}


def consent_card(
    change: Change, card: CardState, *, tz: str = "UTC", now: datetime | None = None
) -> list[Block]:
    """The approver's card: what, why, blast radius, quorum, expiry; buttons only while open.
    A change asked for a later time says when (in zone ``tz``, named)."""
    plan = change.plan or {}
    dec = change.decision or {}
    blocks: list[Block] = [header(f"Consent needed: {change.ref} {plan.get('action', '')}")]
    blocks.append(
        md(
            f"*Requested by* {person(change.requester)} — "
            f"_{esc(cut(change.reason or 'no reason given', 500))}_"
        )
    )
    blocks.extend(_plan_lines(plan))
    blocks.append(md(f"*Why consent:*\n{_reasons(dec) or 'policy default (no rule allowed it)'}"))
    blocks.extend(drift_lines(dec))
    blocks.extend(when_line(change, tz, now))
    if _rule_ids(dec):
        blocks.append(ctx(f"Policy{_rule_ids(dec)}"))
    approvals = [v for v in card.votes if v[1] == "approve"]
    tally = (
        ", ".join(
            f"{mention(u)} {'approved' if v == 'approve' else 'rejected'}"
            + (f" ({esc(r)})" if r else "")
            for u, v, r in card.votes
        )
        or "no votes yet"
    )
    blocks.append(
        ctx(
            f"Quorum {len(approvals)}/{card.quorum} of {esc(card.approvers)} · {tally} · "
            f"expires {card.expires_at}"
        )
    )
    value = f"{change.id}|{change.plan_hash}"
    if card.state == "open":
        blocks.append(
            {
                "type": "actions",
                "block_id": f"consent:{change.id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "consent_approve",
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "value": value,
                    },
                    *window_button(change),
                    {
                        "type": "button",
                        "action_id": "consent_reject",
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Reject"},
                        "value": value,
                    },
                ],
            }
        )
    else:
        who = f" by {person(card.decided_by)}" if card.decided_by else ""
        icon = _FINAL_ICON.get(card.state, "")
        blocks.append(md(f"{icon} *{card.state.capitalize()}{who}.* {esc(card.next_step)}".strip()))
    return limit_blocks(blocks)


def when_line(change: Change, tz: str, now: datetime | None) -> list[Block]:
    """When a change with a ``not_before`` runs once approved, in zone ``tz``."""
    if change.not_before is None:
        return []
    at = when_text(change.not_before, now=now or utcnow(), tz=tz)
    return [md(f":alarm_clock: *Runs not before {esc(at)}* once approved")]


def window_button(change: Change) -> list[Block]:
    """ "Approve for the next window" beside Approve, on a card the change-window check flagged
    (the change is approved and held until its targets' window next opens)."""
    if not window_flagged(change.plan):
        return []
    return [
        {
            "type": "button",
            "action_id": "consent_approve_window",
            "text": {"type": "plain_text", "text": "Approve for the next window"},
            "value": f"{change.id}|{change.plan_hash}",
        }
    ]


def drift_lines(dec: dict[str, Any]) -> list[Block]:
    """What changed between approval and a scheduled change's start, when it drifted."""
    drift = [str(d) for d in dec.get("drift") or []]
    if not drift:
        return []
    lines = "\n".join(f"• {esc(cut(d, 250))}" for d in drift[:10])
    more = f"\n… and {len(drift) - 10} more" if len(drift) > 10 else ""
    return [md(f"*Changed since it was approved:*\n{lines}{more}")]


# ---------------------------------------------------------------------- after execution
_STATE_ICON = {
    "reconciled": ":white_check_mark:",
    "verified": ":white_check_mark:",
    "rolled_back": ":leftwards_arrow_with_hook:",
    "escalated": ":rotating_light:",
}


def thread_summary(change: Change, audit_ref: str) -> list[Block]:
    """After execution: result per wave and target, reconciliation, audit reference."""
    result = change.result or {}
    targets: dict[str, dict[str, Any]] = result.get("targets", {})
    icon = _STATE_ICON.get(change.state, ":information_source:")
    blocks = [
        md(
            f"{icon} *{change.ref} {change.state.replace('_', ' ')}* — "
            f"{esc((change.plan or {}).get('action', change.action))}"
        )
    ]
    waves: list[list[str]] = (change.plan or {}).get("waves") or [list(targets)]
    lines: list[str] = []
    for n, wave in enumerate(waves, 1):
        states = Counter(str((targets.get(t) or {}).get("state", "not run")) for t in wave)
        summary = ", ".join(f"{esc(k)} {v}" for k, v in states.most_common())
        lines.append(f"*Wave {n}* ({len(wave)}): {summary}")
        for t in wave[:5]:
            v = targets.get(t)
            if v and v.get("detail"):
                name, state, detail = t.split(":", 1)[-1], v["state"], v["detail"]
                lines.append(f"  • {esc(name)}: {esc(state)} — {esc(detail)}")
    if targets:
        blocks.append(md("*Execution*\n" + "\n".join(lines[:40])))
    obs = result.get("observations", [])
    if obs:
        ok = sum(1 for o in obs if o["ok"])
        bad = [
            f"• {esc(o['target'].split(':', 1)[-1])} {esc(o['check'])}: {esc(o['detail'])}"
            for o in obs
            if not o["ok"]
        ][:8]
        blocks.append(
            md(
                f"*Reconciled:* {ok}/{len(obs)} observations match the plan"
                + ("\n" + "\n".join(bad) if bad else "")
            )
        )
    if result.get("message"):
        blocks.append(md(esc(result["message"])))
    blocks.append(ctx(f"audit {audit_ref} · plan `{(change.plan_hash or '')[:12]}`"))
    return limit_blocks(blocks)
