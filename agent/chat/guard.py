"""The trust guard of ``propose_change``: only the person's own words can name an action or target.

Tool results (twin attributes, tickets, alerts, script output) are untrusted data and reach the
model, so the model may repeat what an injection asked for. The guard decides from the trusted text
alone (the person's message and their earlier messages in the thread):

- whether the action was *asked for*: :func:`agent.chat.intent.read_intent` finds an imperative or
  polite request for that kind of action; a question, conditional, negation or quoted text
  authorises nothing. A follow-up ("and web-04 too?") carries the thread's last request over.
- whether each target was *named*: :func:`agent.chat.named.named_set` resolves the person's
  mentions to exactly one entity each; a name that fits several is asked back, never picked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.approval import RoleMap
from agent.chat.intent import fold, read_intent
from agent.chat.named import named_set
from agent.chat.tool_args import MAX_TARGETS
from twin.actions import CATALOG
from twin.graph import TwinGraph
from twin.model import Entity

__all__ = [
    "MAX_TARGETS",
    "action_requested",
    "may_request",
    "named_in_request",
    "normalise",
    "param_mentions",
]


def normalise(text: str) -> str:
    """Fold compatibility forms (NFKC), strip invisible characters, casefold, fold look-alikes."""
    return fold(text)


def action_requested(action: str, texts: Iterable[str]) -> bool:
    """Whether the person's words ask for this kind of action.

    ``texts`` is the current message first, then earlier ones in the thread. The current message
    must ask for the action, or be a follow-up that only adds a subject ("and web-04 too?") to
    the latest earlier message that asked for something.
    """
    texts = list(texts)
    if not texts:
        return False
    reading = read_intent(texts[0])
    if reading.authorises(action):
        return True
    if not reading.follow_up:
        return False
    for earlier in texts[1:]:
        before = read_intent(earlier)
        if before.verbs:
            return before.authorises(action)
    return False


def named_in_request(e: Entity, texts: Iterable[str], graph: TwinGraph, action: str = "") -> bool:
    """Whether the trusted ``texts`` name ``e`` (or a group ``action`` may expand includes it)."""
    spec = CATALOG.get(action)
    kinds = spec.target_kinds if spec is not None else None
    expands = spec.expands_groups if spec is not None else False
    return named_set(texts, graph).covers(e, graph, kinds=kinds, expands_groups=expands)


_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?\b")
_TARGET_KEYS = {"host", "hosts", "user", "users", "target", "targets", "entity", "account"}
_TARGET_KEYS |= {"service", "services"}
_FREE_TEXT_KEYS = {"text", "reason", "note", "comment", "body"}


def param_mentions(params: Mapping[str, Any]) -> list[str]:
    """Parameter values that name things (a host, a user, an address): targets in disguise."""
    out: list[str] = []

    def walk(key: str, value: Any) -> None:
        if key in _FREE_TEXT_KEYS:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(str(k), v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(key, v)
        elif isinstance(value, str):
            if key in _TARGET_KEYS and value.strip():
                out.append(value.strip())
            out.extend(_IP.findall(value) if key not in _TARGET_KEYS else [])

    walk("", dict(params))
    return out


def may_request(roles: RoleMap, requester: str) -> bool:
    """Whether ``requester`` (``team:user``) may request changes.

    The ``requesters`` role limits who may; an absent or empty role means every workspace member
    (settings ``requesters: ["*"]`` becomes an empty role in bootstrap). Admins always may.
    """
    team, _, user = requester.partition(":")
    if not team or not user:
        return False
    granted = roles.roles_for(team, user)
    if granted & {"requesters", "admins"}:
        return True
    spec = (roles.data or {}).get("requesters")
    if isinstance(spec, Mapping):
        return not spec.get("users") and not spec.get("usergroups")
    return not spec
