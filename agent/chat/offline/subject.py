"""Follow-ups about the thread's subject: "why was it denied?", "status?", "who approved it?",
"undo that", "and its backups?", "what about web-02?", "is it healthy?".

The subject (:attr:`ConversationContext.changes` and :attr:`ConversationContext.entities`) comes
from opshand's own records of the thread, newest first. "It" means the newest change when the
question is about a change (why, status, who decided, undo) and the newest entity otherwise.
"""

from __future__ import annotations

import re

from agent.chat.offline.slots import Env, Reading, change_id
from agent.chat.offline.types import Intent, ToolCall
from agent.chat.thread import asks_undo

__all__ = ["SUBJECT_RULES", "entity_name", "sibling", "undo_rule", "with_subject"]

_I = re.I
_IT = r"(?:it|that|this|the\s+change|the\s+request|this\s+one|that\s+one)"
_WHY = re.compile(
    rf"^(?:and\s+|so\s+|but\s+|ok\s+)?(?:why(?:\s+not)?|how\s+come|reason|reasons|"
    rf"what\s+(?:was|were|is|are)\s+the\s+reasons?|what\s+(?:blocked|stopped|held\s+up)\s+{_IT})"
    rf"(?:\s+(?:was|is|were|did|has|does|got)\s+{_IT}(?:\s+\w+){{0,3}})?$",
    _I,
)
_STATUS = re.compile(
    rf"^(?:and\s+|so\s+|ok\s+)?(?:(?:what(?:'s|\s+is)\s+(?:the\s+|its\s+)?)?status(?:\s+update)?|"
    rf"(?:any\s+)?(?:news|update|progress)|where\s+(?:is\s+it|are\s+we)(?:\s+at)?|"
    rf"how(?:'s|\s+is)\s+it\s+going|is\s+it\s+(?:done|finished|complete|through|running|"
    rf"approved|waiting)(?:\s+yet)?|did\s+it\s+(?:run|work|finish|go\s+through|succeed|fail)|"
    rf"has\s+it\s+(?:run|finished|been\s+approved)(?:\s+yet)?|what\s+happened(?:\s+to\s+{_IT})?|"
    rf"and\s+now)(?:\s+(?:of|on|for)\s+{_IT})?$",
    _I,
)
_WHO = re.compile(
    rf"^(?:and\s+|so\s+)?who\s+(?:(?:has\s+|have\s+|did\s+)?(?:approve[ds]?|reject(?:ed|s)?|"
    rf"den(?:y|ied|ies)|decline[ds]?|veto(?:ed|es)?|okayed|ok'?d|vote[ds]?(?:\s+on)?|"
    rf"decide[ds]?(?:\s+on)?|sign(?:ed|s)?\s+off(?:\s+on)?)|"
    rf"(?:ask(?:ed|s)?\s+for|request(?:ed|s)?|propose[ds]?|start(?:ed|s)?)|"
    rf"(?:must|should|can|needs\s+to)\s+approve)"
    rf"(?:\s+{_IT})?$",
    _I,
)
_ITS = re.compile(
    r"^(?:and\s+|what\s+about\s+|how\s+about\s+|show\s+(?:me\s+)?)?(?:its|their|the)\s+"
    r"(?P<what>backups?|dependencies|deps|blast\s+radius|impact|details)$",
    _I,
)
_PRONOUN = re.compile(
    r"\b(?:it|its|that\s+one|this\s+one|that\s+(?:host|server|box|service)|"
    r"this\s+(?:host|server|box|service))\b",
    _I,
)
_ABOUT = re.compile(
    r"^(?:and\s+|so\s+)?(?:what|how)\s+about\s+(?P<e>.+?)(?:\s+then)?$|^(?:and\s+)(?P<e2>[\w.:-]+)$",
    _I,
)
_SUFFIX = re.compile(r"^(?P<stem>.*?)-?(?P<n>\d{1,4})$")


def entity_name(entity: str) -> str:
    """A subject entity's name as a person would write it (``host:web-01`` -> ``web-01``)."""
    return entity.split(":", 1)[1] if ":" in entity else entity


def sibling(phrase: str, env: Env) -> str | None:
    """The subject entity's sibling that ``phrase`` names by its number ("web-02", "-02", "02"
    after ``contoso-ny-web-prod-01``), when the phrase is not itself a known name."""
    context = env.context
    words = phrase.strip().strip("`'\"").lower()
    match = _SUFFIX.match(words)
    if context is None or not context.entities or match is None:
        return None
    if env.resolver.resolve(words, None).match in ("id", "name"):
        return None
    stem = [w for w in re.split(r"[-_.\s]+", match.group("stem")) if w]
    for entity in context.entities:
        name = entity_name(entity)
        own = _SUFFIX.match(name)
        if own is None or not all(w in name.lower() for w in stem):
            continue
        digits = match.group("n").zfill(len(own.group("n")))
        candidate = name[: own.start("n")] + digits
        found = env.resolver.resolve(candidate, None)
        if found.match in ("id", "name") and found.entity_id:
            return found.entity_id
    return None


def _change_of(clause: str, env: Env) -> str | None:
    context = env.context
    return change_id(clause) or (context.changes[0] if context and context.changes else None)


def undo_rule(clause: str, env: Env) -> Reading | None:
    """ "undo that" / "roll it back" / "revert CR-3": propose the change's rollback."""
    if not asks_undo(clause):
        return None
    words = re.sub(r"\b(?:please|pls|now|then|for\s+me)\b", " ", clause, flags=_I)
    rest = re.sub(
        r"^.*?\b(?:undo|revert|reverse|rollback|roll|back)\b", "", words, count=1, flags=_I
    )
    named = change_id(clause)
    if not named and not re.fullmatch(
        rf"\s*(?:{_IT}|them|those|everything|the\s+last\s+(?:one|change))?\s*(?:back|out)?"
        r"(?:\s+(?:back|out))?[\s?!.]*",
        rest,
        _I,
    ):
        return None  # "roll back KB5034441 on web-01" is a patch removal, read elsewhere
    cid = _change_of(clause, env)
    if cid is None:
        return Reading(
            intent=Intent.CLARIFY,
            label=clause,
            clarification="Which change should I undo? Name it, for example “undo CR-42”.",
        )
    return Reading(
        intent=Intent.ROLLBACK,
        label=clause,
        calls=[ToolCall(name="propose_rollback", args={"change_id": cid})],
    )


def _subject_change(clause: str, env: Env) -> Reading | None:
    context = env.context
    if context is None or change_id(clause):
        return None
    text = clause.strip().rstrip("?!. ")
    if _WHY.match(text):
        cid = _change_of(text, env)
        if cid is None:
            return None
        return Reading(
            intent=Intent.CHANGE_WHY,
            label=clause,
            calls=[ToolCall(name="change_why", args={"change_id": cid})],
        )
    if _WHO.match(text) or _STATUS.match(text):
        cid = _change_of(text, env)
        if cid is not None:
            return Reading(
                intent=Intent.CHANGE_STATUS,
                label=clause,
                calls=[ToolCall(name="change_status", args={"change_id": cid})],
            )
        if context.entities and _STATUS.match(text):
            return _entity_call(Intent.SHOW, "twin_show", context.entities[0], clause)
    return None


def _entity_call(intent: Intent, tool: str, entity: str, clause: str) -> Reading:
    return Reading(
        intent=intent, label=clause, calls=[ToolCall(name=tool, args={"entity": entity})]
    )


def _its(clause: str, env: Env) -> Reading | None:
    context = env.context
    match = _ITS.match(clause.strip().rstrip("?!. "))
    if context is None or not context.entities or match is None:
        return None
    entity = context.entities[0]
    what = match.group("what").lower()
    if what.startswith("backup"):
        name = entity_name(entity).lower()
        backups = [i for i, n in env.resolver.names("backup") if n.lower().startswith(f"{name} ")]
        if backups:
            calls = [ToolCall(name="twin_show", args={"entity": b}) for b in backups[:3]]
            return Reading(intent=Intent.SHOW, label=clause, calls=calls)
        return Reading(
            intent=Intent.SEARCH,
            label=clause,
            calls=[
                ToolCall(name="twin_search", args={"query": entity_name(entity), "kind": "backup"})
            ],
        )
    if what in ("dependencies", "deps"):
        return _entity_call(Intent.DEPS, "twin_deps", entity, clause)
    if what == "details":
        return _entity_call(Intent.SHOW, "twin_show", entity, clause)
    return _entity_call(Intent.BLAST_RADIUS, "twin_blast_radius", entity, clause)


def _about_sibling(clause: str, env: Env) -> Reading | None:
    """ "what about web-02?" after a question about web-01: the same question about its sibling;
    after a question about a change, a look at the entity."""
    context = env.context
    match = _ABOUT.match(clause.strip().rstrip("?!. "))
    if context is None or match is None:
        return None
    phrase = match.group("e") or match.group("e2") or ""
    if change_id(phrase):
        return None
    twin = sibling(phrase, env)
    last = context.last_tool_calls[0] if context.last_tool_calls else None
    if twin is None:
        if last is not None and last.name in ("change_status", "change_why", "propose_rollback"):
            found = env.resolver.resolve(phrase, None)
            if found.entity_id and found.match in ("id", "name"):
                return _entity_call(Intent.SHOW, "twin_show", found.entity_id, clause)
        return None
    if last is not None and last.name in ("twin_show", "twin_deps", "twin_blast_radius"):
        intent = {"twin_deps": Intent.DEPS, "twin_blast_radius": Intent.BLAST_RADIUS}
        return _entity_call(intent.get(last.name, Intent.SHOW), last.name, twin, clause)
    if last is not None and last.name == "propose_change":
        return None  # a new proposal is the follow-up grammar's, with its own checks
    return _entity_call(Intent.SHOW, "twin_show", twin, clause)


def with_subject(clause: str, env: Env) -> str | None:
    """``clause`` with "it" / "that host" replaced by the thread's newest entity, when it has
    one and the clause says such a pronoun ("is it healthy?", "who owns it?")."""
    context = env.context
    if context is None or not context.entities or not _PRONOUN.search(clause):
        return None
    name = entity_name(context.entities[0])
    return _PRONOUN.sub(lambda m: name + ("'s" if m.group().lower() == "its" else ""), clause)


SUBJECT_RULES = (undo_rule, _subject_change, _its, _about_sibling)
"""Rules read before the others when the thread has a subject (undo also without one)."""
