"""Runbooks: operator-written YAML that turns a matching signal into one proposed change.

A runbook says which signals it handles (source, labels, severity, the kind of entity the signal
points at), which catalog action to propose, on which target and with which parameters (templates
filled from the signal's fields), how long repeats are grouped and what key identifies a repeat.

Signals are untrusted. A runbook fixes the action; the signal only fills named slots, every filled
value must be a plain token (no spaces, no control or non-ASCII characters) and a target slot must
resolve *exactly* to one twin entity of the action's target kinds. Text in an alert can therefore
never add an action or a target (RELIABILITY A2/A3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.signals import Signal
from agent.policy import PolicyError
from agent.policy.yamlpos import Located, compose_located
from twin.actions import CATALOG, InvalidParams, get_action
from twin.graph import TwinGraph
from twin.model import Entity, NodeKind

__all__ = [
    "Runbook",
    "RunbookError",
    "RunbookMatch",
    "RunbookSet",
    "TemplateError",
    "load_runbooks",
    "load_runbooks_text",
    "resolve_entity",
]

_SLOT = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_\-]+)?)\}")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/\-]{0,199}")
_SIGNAL_FIELDS = frozenset({"entity", "source", "severity", "external_id", "fingerprint", "title"})
_SEVERITIES = frozenset({"critical", "high", "warning", "info", "unknown"})
# A bare name means the thing people name first: a host before its backup or patch records.
_KIND_ORDER = sorted(
    NodeKind,
    key=lambda k: k not in (NodeKind.HOST, NodeKind.SERVICE, NodeKind.IDENTITY, NodeKind.CLUSTER),
)
_DURATION = re.compile(r"^(\d+)\s*(s|m|h)$")


class RunbookError(ValueError):
    """A runbook file that cannot be used; reads ``<file>:<line>:<col>: runbook '<id>': <what>``."""

    def __init__(self, source: str, cause: str, *, line: int, col: int, runbook: str | None = None):
        self.source, self.line, self.col, self.runbook, self.cause = (
            source,
            line,
            col,
            runbook,
            cause,
        )
        where = f"runbook '{runbook}': " if runbook else ""
        super().__init__(f"{source}:{line}:{col}: {where}{cause}")


class TemplateError(ValueError):
    """A signal that cannot fill a runbook's template safely (the message names the slot)."""


@dataclass(frozen=True)
class Runbook:
    """One validated runbook."""

    id: str
    description: str
    sources: frozenset[str]
    """Signal sources it handles; empty means any."""
    labels: dict[str, frozenset[str]]
    """Label name -> accepted values (``*`` accepts any present value)."""
    severities: frozenset[str]
    entity_kinds: frozenset[str]
    action: str
    target: str
    """Template naming the one target, e.g. ``{entity}`` or ``{labels.service}``."""
    params: dict[str, Any]
    group_window: timedelta
    dedupe_key: str
    line: int = 0

    def matches(self, signal: Signal, entity: Entity | None) -> bool:
        """Whether ``signal`` (pointing at ``entity``) is one this runbook handles."""
        if self.sources and signal.source not in self.sources:
            return False
        if self.severities and signal.severity not in self.severities:
            return False
        for name, accepted in self.labels.items():
            value = signal.labels.get(name)
            if value is None or ("*" not in accepted and value not in accepted):
                return False
        if self.entity_kinds:
            return entity is not None and entity.kind.value in self.entity_kinds
        return True


@dataclass(frozen=True)
class RunbookMatch:
    """What a runbook makes of one signal: the exact action, target and parameters."""

    runbook: Runbook
    action: str
    target: str
    """A twin entity id (resolved exactly)."""
    params: dict[str, Any]
    dedupe_key: str


# --------------------------------------------------------------------------- templates
def _slot_value(slot: str, signal: Signal, entity: Entity | None) -> str:
    if slot == "entity":
        if entity is None:
            raise TemplateError("the signal names no entity known to the twin (slot {entity})")
        return entity.id
    if slot.startswith("labels."):
        name = slot.split(".", 1)[1]
        if name not in signal.labels:
            raise TemplateError(f"the signal has no label '{name}' (slot {{{slot}}})")
        return signal.labels[name]
    return str(getattr(signal, slot))


def _fill(template: str, signal: Signal, entity: Entity | None, *, strict: bool) -> str:
    def one(m: re.Match[str]) -> str:
        value = _slot_value(m.group(1), signal, entity)
        # Only plain tokens may flow from a signal into a change: this refuses spaces, quotes,
        # zero-width and look-alike (non-ASCII) characters, and anything long enough to smuggle.
        if strict and not _SAFE_VALUE.fullmatch(value):
            raise TemplateError(f"slot {{{m.group(1)}}} holds a value that is not a plain token")
        return value

    return _SLOT.sub(one, template)


def _fill_params(value: Any, signal: Signal, entity: Entity | None) -> Any:
    if isinstance(value, str):
        return _fill(value, signal, entity, strict=bool(_SLOT.search(value)))
    if isinstance(value, list):
        return [_fill_params(v, signal, entity) for v in value]
    if isinstance(value, dict):
        return {k: _fill_params(v, signal, entity) for k, v in value.items()}
    return value


def resolve_entity(
    graph: TwinGraph, hint: str, kinds: set[NodeKind] | None = None
) -> Entity | None:
    """The entity a signal's hint names *exactly* (id, name or hostname; ``:port`` dropped).

    Unlike :meth:`TwinGraph.resolve` there is no fuzzy or suffix matching: a look-alike name must
    not land on a real entity.
    """
    h = hint.strip()
    if not h or not _SAFE_VALUE.fullmatch(h):
        return None
    candidates = [h]
    if ":" in h and h.rsplit(":", 1)[1].isdigit():
        candidates.append(h.rsplit(":", 1)[0])
    for c in candidates:
        order = [k for k in _KIND_ORDER if kinds is None or k in kinds]
        for eid in (c, *(f"{k.value}:{c}" for k in order)):
            if eid in graph.g:
                e = graph.get(eid)
                if kinds is None or e.kind in kinds:
                    return e
    return None


# --------------------------------------------------------------------------- the set
class RunbookSet:
    """Validated runbooks in file order; the first that matches a signal handles it."""

    def __init__(self, runbooks: list[Runbook], *, source: str = "<string>") -> None:
        self.runbooks = runbooks
        self.source = source

    def __len__(self) -> int:
        return len(self.runbooks)

    def find(self, signal: Signal, graph: TwinGraph) -> tuple[Runbook, Entity | None] | None:
        """The first runbook matching ``signal``, with the entity the signal points at."""
        entity = resolve_entity(graph, signal.entity_hint)
        for rb in self.runbooks:
            if rb.matches(signal, entity):
                return rb, entity
        return None

    def instantiate(
        self, rb: Runbook, signal: Signal, entity: Entity | None, graph: TwinGraph
    ) -> RunbookMatch:
        """Fill ``rb``'s templates from ``signal``.

        Raises:
            TemplateError: a slot is missing, not a plain token, or the target does not resolve
                exactly to one entity of the action's target kinds.
        """
        spec = get_action(rb.action)
        raw_target = _fill(rb.target, signal, entity, strict=True)
        target = resolve_entity(graph, raw_target, set(spec.target_kinds))
        if target is None:
            raise TemplateError(
                f"target '{raw_target[:80]}' is not a {'/'.join(sorted(spec.target_kinds))} "
                "in the twin"
            )
        params = _fill_params(rb.params, signal, entity)
        try:
            spec.parse_params(params)
        except InvalidParams as exc:
            raise TemplateError(str(exc)) from exc
        # In the dedupe key, {entity} is the resolved target: one problem per thing acted on.
        key = _fill(rb.dedupe_key, signal, target, strict=False)
        return RunbookMatch(rb, rb.action, target.id, params, key)


# --------------------------------------------------------------------------- loading
_TOP = {"version", "runbooks"}
_RB_KEYS = {"id", "description", "match", "action", "group_window", "dedupe_key"}
_MATCH_KEYS = {"source", "labels", "severity", "entity_kind"}
_ACTION_KEYS = {"kind", "target", "params"}


def _err(src: str, node: Located, cause: str, rb: str | None = None) -> RunbookError:
    return RunbookError(src, cause, line=node.line, col=node.col, runbook=rb)


def _keys(
    node: Located, allowed: set[str], src: str, what: str, rb: str | None
) -> dict[str, Located]:
    if not isinstance(node.value, dict):
        raise _err(src, node, f"{what} must be a mapping", rb)
    for k, v in node.value.items():
        if k not in allowed:
            raise RunbookError(
                src,
                f"unknown field '{what}.{k}' (known: {', '.join(sorted(allowed))})",
                line=v.key_line,
                col=v.key_col,
                runbook=rb,
            )
    return dict(node.value)


def _strset(node: Located | None, src: str, what: str, rb: str) -> frozenset[str]:
    if node is None:
        return frozenset()
    items = node.value if isinstance(node.value, list) else [node]
    out = set()
    for it in items:
        if not isinstance(it.value, str | int) or isinstance(it.value, bool) or it.value == "":
            raise _err(src, it, f"'{what}' must be a string or a list of strings", rb)
        out.add(str(it.value))
    return frozenset(out)


def _duration(node: Located | None, src: str, rb: str) -> timedelta:
    if node is None:
        return timedelta(minutes=10)
    m = _DURATION.match(str(node.value))
    if not m:
        raise _err(src, node, "'group_window' must look like 30s, 10m or 2h", rb)
    n = int(m.group(1))
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600}[m.group(2)])


def _check_slots(text: str, node: Located, src: str, rb: str, field: str) -> None:
    for slot in _SLOT.findall(text):
        if slot not in _SIGNAL_FIELDS and not slot.startswith("labels."):
            raise _err(
                src,
                node,
                f"'{field}' uses unknown slot {{{slot}}} (known: "
                f"{', '.join(sorted(_SIGNAL_FIELDS))}, labels.<name>)",
                rb,
            )


def _runbook(node: Located, src: str, seen: set[str]) -> Runbook:
    raw_id = node.value.get("id") if isinstance(node.value, dict) else None
    guess = raw_id.value if raw_id is not None and isinstance(raw_id.value, str) else None
    f = _keys(node, _RB_KEYS, src, "runbook", guess)
    if "id" not in f or not isinstance(f["id"].value, str) or not f["id"].value:
        raise _err(src, node, "every runbook needs an 'id'")
    rid = f["id"].value
    if rid in seen:
        raise _err(src, f["id"], f"duplicate runbook id '{rid}'", rid)
    seen.add(rid)
    for need in ("match", "action"):
        if need not in f:
            raise _err(src, node, f"missing field '{need}'", rid)
    m = _keys(f["match"], _MATCH_KEYS, src, "match", rid)
    a = _keys(f["action"], _ACTION_KEYS, src, "action", rid)
    labels: dict[str, frozenset[str]] = {}
    if "labels" in m:
        for k, v in _keys(
            m["labels"], set(_located_keys(m["labels"])), src, "match.labels", rid
        ).items():
            labels[k] = _strset(v, src, f"match.labels.{k}", rid)
    sev = _strset(m.get("severity"), src, "match.severity", rid)
    if bad := sev - _SEVERITIES:
        raise _err(
            src,
            m["severity"],
            f"unknown severity {sorted(bad)[0]!r} (known: {', '.join(sorted(_SEVERITIES))})",
            rid,
        )
    kinds = _strset(m.get("entity_kind"), src, "match.entity_kind", rid)
    if bad := kinds - {k.value for k in NodeKind}:
        raise _err(src, m["entity_kind"], f"unknown entity kind {sorted(bad)[0]!r}", rid)
    kind_node = a.get("kind")
    if kind_node is None or kind_node.value not in CATALOG:
        raise _err(
            src,
            kind_node or f["action"],
            f"'action.kind' must be one of: {', '.join(sorted(CATALOG))}",
            rid,
        )
    target_node = a.get("target") or Located(
        "{entity}", f["action"].line, f["action"].col, f["action"].line, f["action"].col
    )
    if not isinstance(target_node.value, str):
        raise _err(src, target_node, "'action.target' must be a string template", rid)
    _check_slots(target_node.value, target_node, src, rid, "action.target")
    params_node = a.get("params")
    params = params_node.plain() if params_node is not None else {}
    if not isinstance(params, dict):
        raise _err(src, params_node or node, "'action.params' must be a mapping", rid)
    for k, v in params_node.value.items() if params_node else []:
        for s in _strings(v.plain()):
            _check_slots(s, v, src, rid, f"action.params.{k}")
    _probe_params(get_action(str(kind_node.value)), params, params_node or f["action"], src, rid)
    dk = f.get("dedupe_key")
    dedupe = str(dk.value) if dk is not None else "{fingerprint}"
    if dk is not None:
        _check_slots(dedupe, dk, src, rid, "dedupe_key")
    desc = f.get("description")
    return Runbook(
        id=rid,
        description=str(desc.value) if desc is not None else "",
        sources=_strset(m.get("source"), src, "match.source", rid),
        labels=labels,
        severities=sev,
        entity_kinds=kinds,
        action=str(kind_node.value),
        target=target_node.value,
        params=params,
        group_window=_duration(f.get("group_window"), src, rid),
        dedupe_key=dedupe,
        line=node.line,
    )


def _probe_params(spec: Any, params: dict[str, Any], node: Located, src: str, rid: str) -> None:
    """Check fixed parameters now; templated ones can only be checked per signal."""
    templated = {k for k, v in params.items() if any(_SLOT.search(s) for s in _strings(v))}
    try:
        spec.params.model_validate({k: v for k, v in params.items() if k not in templated})
    except ValidationError as exc:
        for e in exc.errors():
            if e["type"] == "missing" and e["loc"] and e["loc"][0] in templated:
                continue
            loc = ".".join(str(x) for x in e["loc"])
            raise _err(
                src, node, f"'action.params.{loc}' does not fit {spec.kind}: {e['msg']}", rid
            ) from exc


def _located_keys(node: Located) -> list[str]:
    return list(node.value) if isinstance(node.value, dict) else []


def _strings(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [s for x in v for s in _strings(x)]
    if isinstance(v, dict):
        return [s for x in v.values() for s in _strings(x)]
    return []


def load_runbooks_text(text: str, *, source: str = "<string>") -> RunbookSet:
    """Parse and validate runbooks from YAML text.

    Raises:
        RunbookError: naming the file, line, column, runbook id and field that is wrong.
    """
    try:
        root = compose_located(text, source)
    except PolicyError as exc:
        raise RunbookError(source, exc.cause, line=exc.line, col=exc.col) from exc
    top = _keys(root, _TOP, source, "file", None)
    if "version" in top and top["version"].value != 1:
        raise _err(source, top["version"], "only 'version: 1' is understood")
    rbs = top.get("runbooks")
    if rbs is None or not isinstance(rbs.value, list):
        raise _err(source, rbs or root, "'runbooks' must be a list")
    seen: set[str] = set()
    return RunbookSet([_runbook(n, source, seen) for n in rbs.value], source=source)


def load_runbooks(path: str | Path) -> RunbookSet:
    """Load and validate a runbook file."""
    p = Path(path)
    return load_runbooks_text(p.read_text(encoding="utf-8"), source=str(p))
