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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.approval import RoleMap
from agent.chat.intent import fold, read_intent
from agent.chat.named import NamedSet, named_set
from agent.chat.tool_args import MAX_TARGETS
from twin.actions import CATALOG
from twin.graph import TwinGraph, UnknownEntity
from twin.model import Entity

__all__ = [
    "MAX_TARGETS",
    "Offer",
    "Refusal",
    "action_refusal",
    "action_requested",
    "may_request",
    "named_in_request",
    "normalise",
    "offer_refusal",
    "param_mentions",
    "tainted_params",
    "target_refusal",
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


@dataclass(frozen=True)
class Offer:
    """The bot's last proposal in a thread, as the person saw it on its card.

    A bare "yes, go ahead" may carry over exactly this: its action, its targets and the values
    in its parameters, and nothing else.
    """

    action: str
    targets: tuple[str, ...]
    """Entity ids."""
    params: Mapping[str, Any] = field(default_factory=dict)
    requester: str = ""
    """Who asked for it: only their own yes carries it over."""

    def to_json(self) -> dict[str, Any]:
        """The form kept in the thread's memory."""
        return {
            "action": self.action,
            "targets": list(self.targets),
            "params": dict(self.params),
            "requester": self.requester,
        }

    @classmethod
    def from_json(cls, raw: Any) -> Offer | None:
        """Read it back (``None`` for anything malformed: unknown is never an offer)."""
        if not isinstance(raw, Mapping):
            return None
        action, targets, params = raw.get("action"), raw.get("targets"), raw.get("params", {})
        requester = raw.get("requester")
        if not isinstance(action, str) or not isinstance(targets, list):
            return None
        if not all(isinstance(t, str) for t in targets) or not isinstance(params, Mapping):
            return None
        if not isinstance(requester, str) or not requester:
            return None
        return cls(action, tuple(targets), dict(params), requester)


def action_refusal(action: str, texts: Iterable[str], offer: Offer | None) -> str | None:
    """Why the person's words do not authorise ``action`` (``None`` when they do).

    A bare yes authorises only the action of the bot's last proposal in the thread (``offer``).
    """
    texts = list(texts)
    if texts and read_intent(texts[0]).assent:
        if offer is None:
            return (
                "Refused: you said yes, but I have proposed nothing in this thread it could mean."
            )
        if action != offer.action:
            return (
                f"Refused: a yes carries over only my last proposal here ('{offer.action}'), "
                f"not '{action}'. Ask for it in words if you want it."
            )
        return None
    if not action_requested(action, texts):
        return f"Refused: you did not ask for '{action}', so I will not propose it."
    return None


def offer_refusal(offer: Offer, targets: Iterable[str], params: Mapping[str, Any]) -> str | None:
    """Why a proposal made on a bare yes is not the one the person saw (``None`` when it is)."""
    extra = [t for t in targets if t not in offer.targets]
    seen = {fold(m) for m in param_mentions(offer.params)}
    extra += [m for m in param_mentions(params) if fold(m) not in seen]
    if not extra:
        return None
    return (
        f"Refused: a yes carries over only what my last proposal here held; "
        f"{', '.join(extra[:10])} {'was' if len(extra) == 1 else 'were'} not in it."
    )


@dataclass(frozen=True)
class Refusal:
    """Why a proposal's targets or parameters are refused, for the model and the audit."""

    reason: str
    extra: dict[str, Any] = field(default_factory=dict)


def target_refusal(
    action: str,
    resolved: Sequence[Entity],
    params: Mapping[str, Any],
    graph: TwinGraph,
    *,
    named: NamedSet | None,
    offer: Offer | None = None,
    signal_entities: Collection[str] | None = None,
) -> Refusal | None:
    """Whether each target and each entity or address in ``params`` is allowed.

    Args:
        action: The action kind (its spec says which kinds it targets and if it expands groups).
        resolved: The proposal's targets.
        params: Its parameters.
        graph: The twin.
        named: What the person named (a person's turn).
        offer: The bot's last proposal, when the person only said yes: all that is allowed.
        signal_entities: A signal turn's own entities, fixed by code: all it may touch.
    """
    if offer is not None:
        why = offer_refusal(offer, [e.id for e in resolved], params)
        return Refusal(why) if why is not None else None
    spec = CATALOG.get(action)
    kinds = spec.target_kinds if spec is not None else None
    expands = spec.expands_groups if spec is not None else False

    def allowed(e: Entity, of_kinds: Any) -> bool:
        if signal_entities is not None:
            # A signal's targets are its own fields, resolved by the runbook, never the model's.
            return e.id in signal_entities
        assert named is not None
        return named.covers(e, graph, kinds=of_kinds, expands_groups=expands)

    def mention_ok(mention: str) -> bool:
        # A signal turn's text is the alert's, so only the signal's own entities count there.
        if named is not None and named.says(mention):
            return True
        try:
            return allowed(graph.resolve(mention), None)
        except UnknownEntity:
            return False

    foreign = [e for e in resolved if not allowed(e, kinds)]
    for e in foreign:
        unclear = named.ambiguous(e, kinds) if named is not None else None
        if unclear is not None:
            # The person's name fits several entities: ask back, never let the model pick.
            return Refusal(
                f"Refused: {named.question(unclear) if named else ''} "
                "Ask the person which one they mean; do not choose.",
                {"ambiguous": [i for i, _ in unclear.candidates][:20]},
            )
    names = [e.name for e in foreign] + [m for m in param_mentions(params) if not mention_ok(m)]
    if not names:
        return None
    return Refusal(
        f"Refused: {', '.join(names[:10])} {'was' if len(names) == 1 else 'were'} not named "
        "in your request, so I will not act on it.",
        {"foreign_targets": names[:20]},
    )


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


# Values that point somewhere or reach people: links, mentions, e-mail addresses, domains.
_RICH = re.compile(r"https?://|www\.|<[!@#]|\w@[\w-]+\.\w|\b[\w-]+\.(?:com|net|org|io|co|ru|cn)\b")
_SPACES = re.compile(r"\s+")


def tainted_params(
    params: Mapping[str, Any], texts: Iterable[str], seen: Iterable[str]
) -> list[str]:
    """The parameters whose values came from data rather than the person's words.

    A string value the person did not write (their messages, quotes included) is tainted when it
    is free text (a comment body), points somewhere or reaches people (a link, a mention, an
    address), or appears in what tools returned this turn (``seen``). Targets and addresses are
    not judged here: the named set already requires the person to have named them.
    """
    said = _SPACES.sub(" ", fold(" \n ".join(texts)))
    data = [_SPACES.sub(" ", fold(x)) for x in seen]
    out: set[str] = set()

    def walk(path: str, value: Any) -> None:
        key = path.rsplit(".", 1)[-1]
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{path}.{k}" if path else str(k), v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(path, v)
        elif isinstance(value, str) and key not in _TARGET_KEYS:
            v = _SPACES.sub(" ", fold(value)).strip()
            if not v or v in said:
                return
            from_data = len(v) >= 6 and any(v in d for d in data)
            if key in _FREE_TEXT_KEYS or _RICH.search(v) or from_data:
                out.add(path)

    walk("", dict(params))
    return sorted(out)


def may_request(roles: RoleMap, requester: str) -> bool:
    """Whether ``requester`` (``team:user``) may request changes.

    The ``requesters`` role limits who may; an absent or empty role means every member of our
    own workspace (settings ``requesters: ["*"]`` becomes an empty role in bootstrap), never a
    person from another workspace (Slack Connect, B11) unless listed. Admins always may.
    """
    team, _, user = requester.partition(":")
    if not team or not user:
        return False
    granted = roles.roles_for(team, user)
    if granted & {"requesters", "admins"}:
        return True
    if roles.team_id is not None and team != roles.team_id:
        return False  # an outsider: only an explicit listing lets them ask
    spec = (roles.data or {}).get("requesters")
    if isinstance(spec, Mapping):
        return not spec.get("users") and not spec.get("usergroups")
    return not spec
