"""Grammar for service-desk and security changes: tickets, SIEM rules, firewall blocks, identities.

Each rule reads one clause into one ``propose_change`` call (see
:mod:`agent.chat.offline.proposal`).
"""

from __future__ import annotations

import re

from agent.chat.offline.proposal import ACTION_KINDS, Rule, propose, strip_trailers
from agent.chat.offline.slots import (
    Env,
    Reading,
    SlotError,
    clean_mention,
    duration,
    ip_source,
    resolve_targets,
)
from agent.chat.offline.types import Intent

__all__ = ["DESK_RULES", "comment_rule"]

_I = re.I


def _simple(action: str, pattern: str, *, allow_tier: bool = False) -> Rule:
    """A rule for an action whose only slot is the target phrase ``t``."""
    compiled = re.compile(pattern, _I)

    def rule(clause: str, env: Env) -> Reading | None:
        """Read ``clause`` if it starts with the action's verb."""
        match = compiled.match(clause)
        if match is None:
            return None
        phrase = strip_trailers(match.group("t"))
        targets = resolve_targets(env, phrase, ACTION_KINDS[action], allow_tier=allow_tier)
        return propose(env, action, targets, {}, clause)

    rule.__name__ = f"rule_{action}"
    return rule


def comment_rule(text: str, env: Env, quoted: list[str]) -> Reading | None:
    """``comment on TCK-1042: text`` -- read on the whole message, the text being payload."""
    match = re.match(
        r"^(?:add\s+(?:a\s+|an\s+internal\s+)?(?:comment|note|update)|comment|note|"
        r"post\s+(?:a\s+)?(?:comment|note))\s+(?:on|to)\s+(?:the\s+)?(?:ticket\s+|case\s+)?"
        r"(?P<t>[\w#-]+(?:\s+\d+)?)\s*(?::|saying|that\s+says|with\s+the\s+text|with|-)?\s*"
        r"(?P<text>.*)$",
        text,
        _I | re.S,
    )
    if match is None:
        return None
    body = match.group("text").strip()
    token = re.fullmatch(r"§q(\d+)§", body)
    if token:
        body = quoted[int(token.group(1))]
    body = re.sub(r"§q(\d+)§", lambda m: f"“{quoted[int(m.group(1))]}”", body).strip()
    targets = resolve_targets(env, _ticket_phrase(match.group("t")), ACTION_KINDS["ticket.comment"])
    reading = propose(env, "ticket.comment", targets, {"text": body}, text)
    if not body and reading.calls:
        reading.calls = []
        reading.clarification = "What should the comment say?"
    return reading


def _ticket_phrase(phrase: str) -> str:
    # "ticket 1042" / "#1042" name the ticket by its number.
    return re.sub(r"^(?:ticket|case|incident)?\s*#\s*", "", phrase.strip(), flags=_I)


def _ticket(action: str, verbs: str) -> Rule:
    compiled = re.compile(
        rf"^(?:{verbs})\s+(?:out\s+)?(?:the\s+)?(?:ticket|case|incident)?\s*(?P<t>.+?)"
        r"(?:\s+(?:to\s+.+|as\s+(?:resolved|done|closed|fixed|complete)))?$",
        _I,
    )

    def rule(clause: str, env: Env) -> Reading | None:
        """Read ``clause`` if it asks for this ticket action."""
        match = compiled.match(clause)
        if match is None:
            return None
        phrase = _ticket_phrase(strip_trailers(match.group("t")))
        targets = resolve_targets(env, phrase, ACTION_KINDS[action])
        return propose(env, action, targets, {}, clause)

    return rule


def _throttle(clause: str, env: Env) -> Reading | None:
    match = re.match(
        r"^(?:throttle|mute|silence|snooze|suppress|quiet(?:en)?|rate-?limit|tune\s+down)\s+"
        r"(?:the\s+)?(?:noisy\s+)?(?:siem\s+)?(?:rule\s+|alert\s+|detection\s+)?(?P<t>.+)$",
        clause,
        _I,
    )
    if match is None:
        return None
    try:
        expires = duration(clause) or "2h"
    except SlotError as exc:
        return Reading(intent=Intent.PROPOSE_CHANGE, clarification=f"{exc}.", label=clause)
    targets = resolve_targets(
        env, strip_trailers(match.group("t")), ACTION_KINDS["siem.rule.throttle"]
    )
    return propose(env, "siem.rule.throttle", targets, {"expires_in": expires}, clause)


def _block_ip(clause: str, env: Env) -> Reading | None:
    if not re.match(
        r"^(?:block|ban|deny|blacklist|blocklist|drop|add\s+(?:a\s+)?(?:firewall\s+)?"
        r"(?:block|deny)\s+rule)\b",
        clause,
        _I,
    ):
        return None
    try:
        source = ip_source(clause)
        expires = duration(clause) or "24h"
    except SlotError as exc:
        return Reading(
            intent=Intent.PROPOSE_CHANGE,
            clarification=f"{exc}.",
            label=clause,
            action="firewall.rule.add",
        )
    if source is None:
        return None
    where = re.search(
        r"\b(?:on|at|in|via|using|through)\s+(?:the\s+)?(?P<fw>.+?)(?:\s+for\s+.+)?$",
        clause.split(source, 1)[-1] if source in clause else clause,
        _I,
    )
    firewalls = [name for _, name in env.resolver.names("firewall")]
    if where is None:
        listed = ", ".join(firewalls[:6]) or "none known"
        return Reading(
            intent=Intent.PROPOSE_CHANGE,
            action="firewall.rule.add",
            label=clause,
            clarification=f"On which firewall should I block {source}? Firewalls: {listed}.",
        )
    phrase = strip_trailers(where.group("fw"))
    phrase = re.sub(r"\s+firewall$", "", phrase, flags=_I) if phrase.lower() != "firewall" else ""
    targets = resolve_targets(env, phrase or "firewall", ACTION_KINDS["firewall.rule.add"])
    params = {"action": "block", "source": source, "expires_in": expires}
    return propose(env, "firewall.rule.add", targets, params, clause)


def _revoke(clause: str, env: Env) -> Reading | None:
    verbs = r"(?:revoke|kill|end|terminate|invalidate|reset|clear|drop|expire)"
    things = r"(?:active\s+)?(?:sessions?|tokens?|logins?|sign-?ins?|refresh\s+tokens?)"
    match = (
        re.match(
            rf"^{verbs}\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?{things}\s+(?:of|for|from)\s+"
            r"(?:user\s+)?(?P<t>.+)$",
            clause,
            _I,
        )
        or re.match(
            rf"^{verbs}\s+(?:all\s+)?(?:of\s+)?(?:user\s+)?(?P<t>.+?)(?:'s|s')?\s+"
            rf"(?:all\s+)?{things}$",
            clause,
            _I,
        )
        or re.match(
            r"^(?:sign|log|kick)\s+(?:user\s+)?(?P<t>.+?)\s+out(?:\s+(?:everywhere|of\s+"
            r"everything|(?:of|from)\s+(?:all|every)\s+(?:sessions?|devices?)))?$",
            clause,
            _I,
        )
        or re.match(
            r"^(?:sign|log|kick)\s+out\s+(?:user\s+)?(?P<t>.+?)(?:\s+(?:everywhere|of\s+"
            r"everything|(?:of|from)\s+(?:all|every)\s+(?:sessions?|devices?)))?$",
            clause,
            _I,
        )
        or re.match(
            r"^force\s+(?:user\s+)?(?P<t>.+?)\s+to\s+(?:log|sign)\s+(?:out|in\s+again).*$",
            clause,
            _I,
        )
    )
    if match is None:
        return None
    targets = resolve_targets(
        env, clean_mention(match.group("t")), ACTION_KINDS["identity.revoke_sessions"]
    )
    return propose(env, "identity.revoke_sessions", targets, {}, clause)


_disable = _simple(
    "identity.disable",
    r"^(?:disable|deactivate|suspend|lock(?:\s+out)?|(?:block|ban)(?=\s+(?:the\s+)?(?:user|account)))"
    r"\s+(?:the\s+)?(?:user\s+account\s+|user\s+|account\s+(?:of\s+)?|identity\s+)?(?P<t>.+?)"
    r"(?:'s)?(?:\s+(?:account|user|login|out))?$",
)


DESK_RULES: tuple[Rule, ...] = (
    _ticket("ticket.escalate", r"escalate|bump|raise\s+(?:the\s+)?priority\s+(?:of|on)"),
    _ticket("ticket.close", r"close|resolve|close\s+out"),
    _throttle,
    _disable,
    _block_ip,
    _revoke,
)
"""Service-desk and security change rules, in the order they are tried."""
