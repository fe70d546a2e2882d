"""Block Kit rendering: answers, plans, decisions and incident-thread summaries (consent cards
are in :mod:`bot.cards`).

Every message has a plain-text fallback (``text``) and stays inside Slack's limits (50 blocks a
message, 3000 characters a section, 10 fields a section, 150 characters of plain_text in a
header or a button); longer content is cut with a note saying so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agent.execution import Change
from agent.humantime import when_text
from bot.mrkdwn import esc
from bot.slack_tables import CRIT_ORDER, breakdown_fields, entity_table
from twin import utcnow
from twin.coverage import unknown_lines

__all__ = [
    "CRIT_ORDER",
    "MAX_BLOCKS",
    "Block",
    "answer_blocks",
    "ctx",
    "cut",
    "decision_blocks",
    "header",
    "limit_blocks",
    "md",
    "plan_lines",
    "reason_bullets",
    "rule_ids",
    "state_words",
    "thread_summary",
]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELDS = 10
Block = dict[str, Any]


_STATE_WORDS = {
    "awaiting_consent": "waiting for consent",
    "auto_approved": "approved by policy",
    "executing": "running",
    "rolled_back": "rolled back",
    "stale": "no longer valid",
}
_SEVERITY_WORDS = {
    "deny": "blocks the change",
    "needs_consent": "needs an approver",
    "warn": "worth a look",
}


def state_words(state: str) -> str:
    """A change's journal state as people say it ("waiting for consent", "rolled back")."""
    return _STATE_WORDS.get(state, state.replace("_", " "))


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
def plan_lines(plan: dict[str, Any]) -> list[Block]:
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
            said = [str(v["message"]) for v in i.get("violations", [])[:3]]
            sev = str(i.get("severity", ""))
            how = _SEVERITY_WORDS.get(sev, sev.replace("_", " "))
            for ev in said or [str(i.get("error") or "the check could not run")]:
                lines.append(f"• {esc(ev.strip().rstrip('.;,'))} ({esc(how)})")
        blocks.append(md("*Checks that need attention*\n" + "\n".join(lines)))
        ids = ", ".join(f"`{esc(i['id'])}`" for i in inv)
        blocks.append(ctx(f"Invariants {ids}"))
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


def reason_bullets(dec: dict[str, Any]) -> str:
    """Policy's reasons as bullet lines, in words: rule ids go to :func:`_rule_ids`."""
    reasons: dict[str, str] = dec.get("reasons") or {}
    lines = [str(reasons[k]).strip().rstrip(".;,").strip() for k in _deciding(dec)]
    return "\n".join(f"• {esc(line)}." for line in lines if line)


def rule_ids(dec: dict[str, Any]) -> str:
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
        blocks.extend(plan_lines(plan))
    outcome = dec.get("outcome")
    reasons = reason_bullets(dec)
    if change.state == "denied":
        # the journal's message glues policy's reasons with "; ": show them as bullets instead
        message = (change.result or {}).get("message")
        msg = reasons or (esc(message) if message else "")
        blocks.insert(0, md(f":no_entry: *{change.ref} refused.*\n{msg}"))
    elif outcome == "consent":
        blocks.insert(
            0,
            md(
                f":raised_hand: *{change.ref} is waiting for consent* "
                f"({esc(dec.get('quorum'))} of {esc(dec.get('approvers'))}).\n{reasons}"
            ),
        )
    elif outcome == "auto" and change.state == "scheduled" and change.not_before:
        at = when_text(change.not_before, now=now or utcnow(), tz=tz)
        blocks.insert(0, md(f":alarm_clock: *{change.ref} runs {esc(at)}*\n{reasons}"))
    elif outcome == "auto":
        blocks.insert(0, md(f":white_check_mark: *{change.ref} runs now*\n{reasons}"))
    else:
        blocks.insert(0, md(f"*{change.ref}* is {state_words(change.state)}."))
    if change.not_before is not None and change.state in ("awaiting_consent", "scheduled"):
        at = when_text(change.not_before, now=now or utcnow(), tz=tz)
        blocks.append(ctx(f"Not before {esc(at)}; `/opshand cancel {change.ref}` stops it."))
    blocks.append(
        ctx(
            f"{change.ref} · plan `{(change.plan_hash or '')[:12]}` · "
            f"policy `{(change.policy_hash or '')[:12]}`{rule_ids(dec)}"
        )
    )
    return limit_blocks(blocks)


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
            f"{icon} *{change.ref} {state_words(change.state)}* — "
            f"{esc((change.plan or {}).get('action', change.action))}"
        )
    ]
    waves: list[list[str]] = (change.plan or {}).get("waves") or [list(targets)]
    lines: list[str] = []
    for n, wave in enumerate(waves, 1):
        states = Counter(str((targets.get(t) or {}).get("state", "not run")) for t in wave)
        summary = ", ".join(f"{esc(state_words(k))} {v}" for k, v in states.most_common())
        lines.append(f"*Wave {n}* ({len(wave)}): {summary}")
        for t in wave[:5]:
            v = targets.get(t)
            if v and v.get("detail"):
                name, state, detail = t.split(":", 1)[-1], v["state"], v["detail"]
                lines.append(f"  • {esc(name)}: {esc(state_words(str(state)))} — {esc(detail)}")
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
