"""Grammar for change requests: each rule reads one clause into one ``propose_change`` call.

A change is only ever *proposed*: rehearsal and policy decide what happens next. Every target must
resolve to exactly one entity of a kind the action accepts; otherwise the reading carries the
unresolved mentions and no call at all (never a partial target list).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agent.offline.messages import one_request_only
from agent.offline.slots import (
    HOST_KINDS,
    Env,
    Reading,
    SlotError,
    Targets,
    clean_mention,
    duration,
    ip_source,
    resolve_targets,
    restore_point,
    window,
)
from agent.offline.types import Intent, ToolCall

__all__ = ["ACTION_KINDS", "CHANGE_RULES", "MULTI_TARGET_ACTIONS", "comment_rule", "propose"]

Rule = Callable[[str, Env], Reading | None]
_I = re.I

ACTION_KINDS: dict[str, set[str]] = {
    "host.reboot": HOST_KINDS,
    "patch.apply": HOST_KINDS,
    "service.restart": {"service"},
    "credential.rotate": {"credential"},
    "identity.disable": {"identity"},
    "identity.revoke_sessions": {"identity"},
    "backup.restore": {"host", "service"},
    "firewall.rule.add": {"firewall"},
    "siem.rule.throttle": {"siem_rule"},
    "ticket.escalate": {"ticket", "incident"},
    "ticket.close": {"ticket", "incident"},
    "ticket.comment": {"ticket", "incident"},
    "script.run": HOST_KINDS,
}
"""The entity kinds each action may target."""

MULTI_TARGET_ACTIONS = {"host.reboot", "patch.apply", "script.run", "service.restart"}
_REASON_LIMIT = 300

# Words at the end of a target phrase that are about *how* or *when*, not *what*.
_TRAILERS = re.compile(
    r"(?:\s+(?:tonight|now|right\s+now|right\s+away|immediately|asap|this\s+evening|overnight|"
    r"after\s+hours|(?:in|during)\s+(?:the\s+)?(?:next\s+)?(?:maintenance|change)?\s*window|"
    r"(?:in|during)\s+maintenance|with(?:out)?\s+(?:an?\s+)?reboot(?:ing)?|(?:and\s+)?no\s+reboot|"
    r"(?:with|using)\s+KB\S+(?:\s*(?:,|and)\s*KB\S+)*|"
    r"for\s+(?:the\s+next\s+)?(?:\d+(?:\.\d+)?|an?|one|two|three|four|six|twelve)\s*"
    r"(?:m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)|"
    r"please|again|too|as\s+well))+$",
    _I,
)
_KB = re.compile(r"\bKB\s?-?(\d{6,8})\b", _I)


def _reason(env: Env) -> str:
    text = env.request if len(env.request) <= _REASON_LIMIT else env.request[:_REASON_LIMIT] + "…"
    return f"Requested in chat: {text}"


def _short(entity_id: str) -> str:
    return entity_id.split(":", 1)[-1]


def _strip_trailers(phrase: str) -> str:
    return _TRAILERS.sub("", phrase.strip(" ,.;:!?")).strip(" ,.;:!?")


def propose(
    env: Env,
    action: str,
    targets: Targets,
    params: dict[str, Any],
    label: str,
    *,
    reason: str | None = None,
) -> Reading:
    """The reading for ``action`` on resolved ``targets``; no call if any target failed.

    ``reason`` defaults to the request's own words (see :func:`_reason`).
    """
    reason = reason or _reason(env)
    reading = Reading(
        intent=Intent.PROPOSE_CHANGE,
        unresolved=list(targets.unresolved),
        notes=list(targets.notes),
        label=label,
        action=action,
    )
    if not targets.unresolved and len(targets.ids) > 1 and action not in MULTI_TARGET_ACTIONS:
        reading.clarification = (
            f"{action} acts on one target at a time, and this names {len(targets.ids)} "
            f"({', '.join(_short(t) for t in targets.ids)}). Which one first?"
        )
    elif not targets.unresolved and targets.ids:
        reading.calls = [
            ToolCall(
                name="propose_change",
                args={
                    "action": action,
                    "targets": list(targets.ids),
                    "params": params,
                    "reason": reason,
                },
            )
        ]
    elif not targets.unresolved:
        reading.clarification = "Which one do you mean? I could not tell what to act on."
    if targets.unresolved:
        partial = {
            "action": action,
            "targets": list(targets.ids),
            "params": params,
            "reason": reason,
        }
        reading.pending = ToolCall(name="propose_change", args=partial)
    return reading


def _simple(action: str, pattern: str, *, allow_tier: bool = False) -> Rule:
    """A rule for an action whose only slot is the target phrase ``t``."""
    compiled = re.compile(pattern, _I)

    def rule(clause: str, env: Env) -> Reading | None:
        match = compiled.match(clause)
        if match is None:
            return None
        phrase = _strip_trailers(match.group("t"))
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
        match = compiled.match(clause)
        if match is None:
            return None
        phrase = _ticket_phrase(_strip_trailers(match.group("t")))
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
        env, _strip_trailers(match.group("t")), ACTION_KINDS["siem.rule.throttle"]
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
    phrase = _strip_trailers(where.group("fw"))
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
            r"everything|of\s+all\s+sessions|from\s+all\s+devices))?$",
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


def _restore(clause: str, env: Env) -> Reading | None:
    match = re.match(
        r"^(?:restore|recover|roll\s*back)\s+(?:the\s+)?(?P<t>.+?)(?:\s+(?:from|to|using|with|off)\s+"
        r"(?P<p>.+))?$",
        clause,
        _I,
    )
    if match is None:
        return None
    try:
        point = restore_point(match.group("p") or "")
    except SlotError as exc:
        return Reading(
            intent=Intent.PROPOSE_CHANGE,
            clarification=f"{exc}.",
            label=clause,
            action="backup.restore",
        )
    phrase = re.sub(
        r"\s+(?:backup|from\s+backup)$", "", _strip_trailers(match.group("t")), flags=_I
    )
    targets = resolve_targets(env, phrase, ACTION_KINDS["backup.restore"])
    return propose(env, "backup.restore", targets, {"restore_point": point}, clause)


def _restart(clause: str, env: Env) -> Reading | None:
    match = re.match(r"^(?:restart|bounce|recycle|kick)\s+(?:the\s+)?(?P<t>.+)$", clause, _I)
    if match is None:
        return None
    phrase = _strip_trailers(match.group("t"))
    on_host = re.match(
        r"^(?P<s>.+?)\s+(?:service\s+)?(?:on|at)\s+(?:the\s+)?(?P<h>.+)$", phrase, _I
    )
    if on_host:
        service = resolve_targets(env, on_host.group("s"), ACTION_KINDS["service.restart"])
        host = resolve_targets(env, on_host.group("h"), HOST_KINDS)
        merged = Targets(
            ids=service.ids,
            unresolved=service.unresolved + host.unresolved,
            notes=service.notes + host.notes,
        )
        if len(host.ids) > 1:
            return Reading(
                intent=Intent.PROPOSE_CHANGE,
                action="service.restart",
                label=clause,
                clarification="Restart the service on which one host first?",
            )
        params = {"host": host.ids[0]} if host.ids else {}
        return propose(env, "service.restart", merged, params, clause)
    if re.search(r"\bservices?\b", phrase, _I):
        targets = resolve_targets(env, phrase, ACTION_KINDS["service.restart"])
        return propose(env, "service.restart", targets, {}, clause)
    as_service = resolve_targets(env, phrase, ACTION_KINDS["service.restart"])
    if as_service.ids and not as_service.unresolved:
        return propose(env, "service.restart", as_service, {}, clause)
    as_host = resolve_targets(env, phrase, HOST_KINDS, allow_tier=True)
    if as_host.ids and not as_host.unresolved:
        return propose(env, "host.reboot", as_host, _window_param(clause), clause)
    if as_service.ids and as_host.ids and not set(as_service.ids) & set(as_host.ids):
        # "restart web-02 and contoso-dns": a host reboot and a service restart are two requests.
        labels = [
            f"reboot {', '.join(map(_short, as_host.ids))}",
            f"restart {', '.join(map(_short, as_service.ids))}",
        ]
        return Reading(intent=Intent.CLARIFY, label=clause, clarification=one_request_only(labels))
    # Neither reading fits: ask about the mention with candidates from both kinds.
    either = resolve_targets(env, phrase, ACTION_KINDS["service.restart"] | HOST_KINDS)
    return propose(env, "service.restart", either, {}, clause)


def _window_param(clause: str) -> dict[str, Any]:
    stated = window(clause)
    return {"window": stated} if stated != "now" else {}


def _reboot(clause: str, env: Env) -> Reading | None:
    match = re.match(
        r"^(?:reboot|power[\s-]?cycle|cycle|restart)\s+(?:the\s+)?(?P<t>.+)$", clause, _I
    )
    if match is None:
        return None
    targets = resolve_targets(env, _strip_trailers(match.group("t")), HOST_KINDS, allow_tier=True)
    return propose(env, "host.reboot", targets, _window_param(clause), clause)


def _patch(clause: str, env: Env) -> Reading | None:
    match = re.match(
        r"^(?:patch|update)\s+(?:the\s+)?(?P<t>.+?)(?:\s+(?:with|using)\s+(?P<p>KB.+))?$",
        clause,
        _I,
    ) or re.match(
        r"^(?:install|apply|deploy|push|roll\s+out)\s+(?:the\s+)?(?P<p>.*?(?:KB\s?\d+|patch|update)"
        r".*?)\s+(?:on|to|onto)\s+(?:the\s+)?(?P<t>.+)$",
        clause,
        _I,
    )
    if match is None:
        return None
    params: dict[str, Any] = {}
    kbs = [f"KB{n}" for n in _KB.findall(clause)]
    if kbs:
        params["patch_ids"] = list(dict.fromkeys(kbs))
    no_reboot = re.search(
        r"\b(?:without|no|don't|do\s+not|skip(?:ping)?\s+the)\s+(?:an?\s+)?"
        r"reboot",
        clause,
        _I,
    )
    params["reboot"] = bool(re.search(r"\breboot", clause, _I)) and not no_reboot
    params["window"] = window(clause)
    targets = resolve_targets(env, _strip_trailers(match.group("t")), HOST_KINDS, allow_tier=True)
    return propose(env, "patch.apply", targets, params, clause)


def _script(clause: str, env: Env) -> Reading | None:
    match = re.match(
        r"^(?:run|execute|launch)\s+(?:the\s+)?script\s+(?P<s>[\w.-]+)\s+(?:on|against)\s+"
        r"(?:the\s+)?(?P<t>.+?)(?:\s+with\s+(?P<kv>(?:[\w.-]+\s*=\s*\S+\s*)+))?$",
        clause,
        _I,
    )
    if match is None:
        return None
    script_params = dict(re.findall(r"([\w.-]+)\s*=\s*(\S+)", match.group("kv") or ""))
    targets = resolve_targets(env, _strip_trailers(match.group("t")), HOST_KINDS, allow_tier=True)
    params = {"script_id": match.group("s"), "params": script_params}
    return propose(env, "script.run", targets, params, clause)


def _rotate(clause: str, env: Env) -> Reading | None:
    match = re.match(
        r"^(?:rotate|roll(?!\s*back)|renew|regenerate|re-?key|cycle\s+(?=.*\b(?:credential|password|secret|"
        r"key|token)s?\b))\s+(?:the\s+)?(?P<t>.+)$",
        clause,
        _I,
    )
    if match is None:
        return None
    targets = resolve_targets(
        env, _strip_trailers(match.group("t")), ACTION_KINDS["credential.rotate"]
    )
    return propose(env, "credential.rotate", targets, {}, clause)


_disable = _simple(
    "identity.disable",
    r"^(?:disable|deactivate|suspend|lock(?:\s+out)?|(?:block|ban)(?=\s+(?:the\s+)?(?:user|account)))"
    r"\s+(?:the\s+)?(?:user\s+account\s+|user\s+|account\s+(?:of\s+)?|identity\s+)?(?P<t>.+?)"
    r"(?:'s)?(?:\s+(?:account|user|login|out))?$",
)

_BARE_EXAMPLES = {
    "reboot": "reboot contoso-ny-web-02",
    "restart": "restart contoso-erp",
    "patch": "patch contoso-ny-web-02 tonight",
    "rotate": "rotate the contoso-sql credential",
    "disable": "disable user jdoe",
    "revoke": "revoke jdoe's sessions",
    "restore": "restore contoso-ny-db-prod-01 from last night's backup",
    "block": "block 203.0.113.7 on contoso-ny-fw for 24h",
    "throttle": "throttle SIEM rule impossible travel for 2 hours",
    "escalate": "escalate ticket TCK-1042",
    "close": "close ticket TCK-1042",
}


def _bare_verb(clause: str, env: Env) -> Reading | None:
    # A change verb with nothing to act on: ask for the target instead of "not understood".
    verb = clause.strip().lower()
    if verb not in _BARE_EXAMPLES:
        return None
    return Reading(
        intent=Intent.PROPOSE_CHANGE,
        label=clause,
        clarification=f"What should I {verb}? Name it, for example “{_BARE_EXAMPLES[verb]}”.",
    )


CHANGE_RULES: tuple[Rule, ...] = (
    _ticket("ticket.escalate", r"escalate|bump|raise\s+(?:the\s+)?priority\s+(?:of|on)"),
    _ticket("ticket.close", r"close|resolve|close\s+out"),
    _throttle,
    _disable,
    _block_ip,
    _revoke,
    _restore,
    _rotate,
    _script,
    _patch,
    _restart,
    _reboot,
    _bare_verb,
)
"""Change rules in the order they are tried (specific before general)."""
