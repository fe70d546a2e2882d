"""Block Kit rendering: answers, plans, consent cards and thread summaries.

Every message has a plain-text fallback (``text``) and stays inside Slack's limits (50 blocks a
message, 3000 characters a section, 10 fields a section, 150 characters of plain_text in a
header or a button); longer content is cut with a note saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.journal import Change

__all__ = [
    "MAX_BLOCKS",
    "answer_blocks",
    "consent_card",
    "decision_blocks",
    "limit_blocks",
    "thread_summary",
]

MAX_BLOCKS = 50
MAX_SECTION = 3000
Block = dict[str, Any]


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = "… (cut to fit Slack)"
    return text[: limit - len(note)] + note


def _md(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION)}}


def _ctx(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, 2000)}]}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, 150)}}


def limit_blocks(blocks: list[Block]) -> list[Block]:
    """Keep at most :data:`MAX_BLOCKS`, replacing the overflow with a note."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept = blocks[: MAX_BLOCKS - 1]
    kept.append(_ctx(f"_{len(blocks) - len(kept)} more blocks not shown (Slack's limit)._"))
    return kept


def answer_blocks(text: str, facts: list[tuple[str, str]] | None = None) -> list[Block]:
    """An agent answer: the sentence first, then facts as fields."""
    blocks = [_md(text)]
    if facts:
        for i in range(0, min(len(facts), 40), 10):
            blocks.append(
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", 2000)}
                        for k, v in facts[i : i + 10]
                    ],
                }
            )
    return limit_blocks(blocks)


def _plan_lines(plan: dict[str, Any]) -> list[Block]:
    coll = plan.get("collateral", [])
    by_kind: dict[str, int] = {}
    for a in coll:
        by_kind[a["kind"]] = by_kind.get(a["kind"], 0) + 1
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items(), key=lambda kv: -kv[1]))
    crit = [a for a in coll if a.get("criticality") == "critical"]
    names = ", ".join(plan.get("target_names", [])[:10])
    more = len(plan.get("targets", [])) - 10
    targets = names + (f" and {more} more" if more > 0 else "")
    blocks = [
        _md(
            f"*{plan['action']}* on {len(plan.get('targets', []))} target(s): {targets}\n"
            f"*Blast radius:* {len(plan.get('intended', []))} intended, {len(coll)} collateral"
            + (f" ({kinds})" if kinds else "")
            + (f", *{len(crit)} critical*" if crit else "")
        )
    ]
    if coll:
        lines = [
            f"• {a['name']} ({a['kind']}, {a['criticality']}) — {a['effect']}" for a in coll[:8]
        ]
        if len(coll) > 8:
            lines.append(f"… and {len(coll) - 8} more")
        blocks.append(_md("\n".join(lines)))
    inv = [i for i in plan.get("invariants", []) if not i["passed"]]
    if inv:
        lines = []
        for i in inv:
            ev = "; ".join(v["message"] for v in i["violations"][:3]) or (i.get("error") or "")
            lines.append(f"• *{i['id']}* ({i['severity']}): {ev}")
        blocks.append(_md("*Invariants that need attention*\n" + "\n".join(lines)))
    else:
        checked = ", ".join(i["id"] for i in plan.get("invariants", [])) or "none apply"
        blocks.append(_ctx(f"Invariants checked, all pass: {checked}"))
    if len(plan.get("waves", [])) > 1:
        blocks.append(
            _ctx(
                f"{len(plan['waves'])} waves, canary first; halts above "
                f"{int(plan.get('halt_threshold', 0) * 100)}% failures per wave"
            )
        )
    return blocks


def decision_blocks(change: Change) -> list[Block]:
    """What happened to a proposal: plan summary and decision, for the requester's thread."""
    plan = change.plan or {}
    dec = change.decision or {}
    blocks: list[Block] = []
    if plan:
        blocks.extend(_plan_lines(plan))
    outcome = dec.get("outcome")
    reasons = "; ".join(f"{k}: {v}" for k, v in (dec.get("reasons") or {}).items())
    if change.state == "denied":
        msg = (change.result or {}).get("message") or reasons
        blocks.insert(0, _md(f":no_entry: *{change.ref} refused.* {msg}"))
    elif outcome == "consent":
        blocks.insert(
            0,
            _md(
                f":raised_hand: *{change.ref} needs consent* "
                f"({dec.get('quorum')} of {dec.get('approvers')}). {reasons}"
            ),
        )
    elif outcome == "auto":
        blocks.insert(0, _md(f":white_check_mark: *{change.ref} runs now* — {reasons}"))
    blocks.append(
        _ctx(
            f"{change.ref} · plan `{(change.plan_hash or '')[:12]}` · "
            f"policy `{(change.policy_hash or '')[:12]}`"
        )
    )
    return limit_blocks(blocks)


def consent_card(
    change: Change,
    *,
    votes: Sequence[tuple[str, str, str]],
    quorum: int,
    approvers: str,
    expires_at: str,
    state: str,
    outcome_note: str = "",
) -> list[Block]:
    """The approver's card. ``votes`` are (user id, vote, reason). Buttons only while open."""
    plan = change.plan or {}
    dec = change.decision or {}
    blocks: list[Block] = [_header(f"Consent needed: {change.ref} {plan.get('action', '')}")]
    blocks.append(
        _md(
            f"*Requested by* <@{change.requester.split(':')[-1]}> — "
            f"_{_cut(change.reason or 'no reason given', 500)}_"
        )
    )
    blocks.extend(_plan_lines(plan))
    why = "; ".join(f"`{k}`: {v}" for k, v in (dec.get("reasons") or {}).items())
    blocks.append(_md(f"*Why consent:* {why or 'policy default'}"))
    approvals = [v for v in votes if v[1] == "approve"]
    tally = (
        ", ".join(f"<@{u}> {'approved' if v == 'approve' else 'rejected'}" for u, v, _ in votes)
        or "no votes yet"
    )
    blocks.append(
        _ctx(f"Quorum {len(approvals)}/{quorum} of {approvers} · {tally} · expires {expires_at}")
    )
    value = f"{change.id}|{change.plan_hash}"
    if state == "open":
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
        blocks.append(_md(f"*{state.capitalize()}.* {outcome_note}".strip()))
    return limit_blocks(blocks)


def thread_summary(change: Change, audit_ref: str) -> list[Block]:
    """After execution: per-target result, reconciliation, audit reference."""
    result = change.result or {}
    targets = result.get("targets", {})
    icon = {
        "reconciled": ":white_check_mark:",
        "rolled_back": ":leftwards_arrow_with_hook:",
        "escalated": ":rotating_light:",
    }.get(change.state, ":information_source:")
    blocks = [
        _md(
            f"{icon} *{change.ref} {change.state.replace('_', ' ')}* — "
            f"{(change.plan or {}).get('action', change.action)}"
        )
    ]
    lines = [
        f"• {t.split(':', 1)[-1]}: {v['state']} {('— ' + v['detail']) if v.get('detail') else ''}"
        for t, v in list(targets.items())[:15]
    ]
    if lines:
        blocks.append(_md("*Targets*\n" + "\n".join(lines)))
    obs = result.get("observations", [])
    if obs:
        ok = sum(1 for o in obs if o["ok"])
        bad = [
            f"• {o['target'].split(':', 1)[-1]} {o['check']}: {o['detail']}"
            for o in obs
            if not o["ok"]
        ][:8]
        blocks.append(
            _md(
                f"*Reconciled:* {ok}/{len(obs)} observations match the plan"
                + ("\n" + "\n".join(bad) if bad else "")
            )
        )
    if result.get("message"):
        blocks.append(_md(result["message"]))
    blocks.append(_ctx(f"audit {audit_ref} · plan `{(change.plan_hash or '')[:12]}`"))
    return limit_blocks(blocks)
