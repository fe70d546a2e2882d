"""Grammar for infrastructure changes, and the full ordered list of change rules.

Host reboots, patching, service restarts, scripts, restores and credential rotation live here;
service-desk and security changes live in :mod:`agent.chat.offline.desk`. Each rule reads one clause
into one ``propose_change`` call (see :mod:`agent.chat.offline.proposal`).
"""

from __future__ import annotations

import re
from typing import Any

from agent.chat.offline.desk import DESK_RULES, comment_rule
from agent.chat.offline.messages import SUPPORTED_CHANGES, one_request_only
from agent.chat.offline.proposal import ACTION_KINDS, Rule, propose, short_id, strip_trailers
from agent.chat.offline.slots import (
    HOST_KINDS,
    Env,
    Reading,
    SlotError,
    Targets,
    resolve_targets,
    restore_point,
    window,
)
from agent.chat.offline.types import Intent

__all__ = ["CHANGE_RULES"]

_I = re.I
_KB = re.compile(r"\bKB\s?-?(\d{6,8})\b", _I)


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
    phrase = re.sub(r"\s+(?:backup|from\s+backup)$", "", strip_trailers(match.group("t")), flags=_I)
    targets = resolve_targets(env, phrase, ACTION_KINDS["backup.restore"])
    return propose(env, "backup.restore", targets, {"restore_point": point}, clause)


def _restart(clause: str, env: Env) -> Reading | None:
    match = re.match(r"^(?:restart|bounce|recycle|kick)\s+(?:the\s+)?(?P<t>.+)$", clause, _I)
    if match is None:
        return None
    phrase = strip_trailers(match.group("t"))
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
            f"reboot {', '.join(map(short_id, as_host.ids))}",
            f"restart {', '.join(map(short_id, as_service.ids))}",
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
    targets = resolve_targets(env, strip_trailers(match.group("t")), HOST_KINDS, allow_tier=True)
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
    targets = resolve_targets(env, strip_trailers(match.group("t")), HOST_KINDS, allow_tier=True)
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
    targets = resolve_targets(env, strip_trailers(match.group("t")), HOST_KINDS, allow_tier=True)
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
        env, strip_trailers(match.group("t")), ACTION_KINDS["credential.rotate"]
    )
    return propose(env, "credential.rotate", targets, {}, clause)


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


_UNSUPPORTED = re.compile(
    r"^(?P<verb>delete|remove|wipe|erase|format|shut\s*down|power\s+off|uninstall|destroy|"
    r"terminate|kill|create|add|grant|give|enable|unlock|open|allow|reset|change|set|move|"
    r"migrate|deploy|run|execute|install|upgrade|downgrade|reimage|decommission)\b",
    _I,
)


def _unsupported(clause: str, env: Env) -> Reading | None:
    # A change we cannot make still counts as a request: never drop it silently beside another.
    match = _UNSUPPORTED.match(clause)
    if match is None:
        return None
    verb = re.sub(r"\s+", " ", match.group("verb").lower())
    return Reading(
        intent=Intent.UNKNOWN,
        label=clause,
        clarification=f"I cannot {verb} things. " + SUPPORTED_CHANGES,
    )


def _comment_clause(clause: str, env: Env) -> Reading | None:
    return comment_rule(clause, env, env.quoted)


CHANGE_RULES: tuple[Rule, ...] = (
    *DESK_RULES,
    _restore,
    _rotate,
    _script,
    _patch,
    _restart,
    _reboot,
    _bare_verb,
    _comment_clause,
    _unsupported,
)
"""Change rules in the order they are tried (specific before general)."""
