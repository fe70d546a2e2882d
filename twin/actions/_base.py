"""The building blocks every action kind is declared with.

An :class:`ActionSpec` is data: typed parameters, the entity kinds it targets, its effect on the
twin (deltas), the invariants it must keep, the adapter capability that carries it out, whether
that call may be retried, the observed state that proves it worked and how to undo it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from twin.fork import Delta
from twin.graph import TwinGraph
from twin.model import Entity, NodeKind, utcnow

__all__ = [
    "CATALOG",
    "ActionContext",
    "ActionSpec",
    "Expectation",
    "InvalidParams",
    "Params",
    "Rollback",
    "get_action",
    "parse_duration",
    "register",
]

# Invariants every change that touches the estate keeps, on top of what its kind declares.
BASE_INVARIANTS: tuple[str, ...] = ("freshness",)
# Invariants of changes that take something down for a while.
DISRUPTIVE_INVARIANTS: tuple[str, ...] = (
    "replicas",
    "quorum",
    "critical_path",
    "mgmt_path",
    "change_window",
)


class InvalidParams(ValueError):
    """Parameters that do not fit the action's model; the message names the field."""


class Params(BaseModel):
    """Base of every action's parameter model: frozen, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NoParams(Params):
    """No parameters."""


_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|mins|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s*$")
_UNIT = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def parse_duration(text: str) -> int:
    """Minutes in a duration such as ``30m``, ``2h``, ``1d``; ``ValueError`` names the text."""
    m = _DURATION.match(text.lower())
    if m is None or int(m.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a duration like 30m, 2h or 1d")
    return int(m.group(1)) * _UNIT[m.group(2)[0]]


@dataclass(frozen=True)
class ActionContext:
    """What an action's effect, expectation and rollback functions may look at."""

    graph: TwinGraph
    now: datetime = field(default_factory=utcnow)

    def at(self, minutes: int) -> str:
        """ISO-8601 time ``minutes`` after ``now`` (for expiries)."""
        return (self.now + timedelta(minutes=minutes)).isoformat()


@dataclass(frozen=True, slots=True)
class Expectation:
    """What reconciliation should observe on ``target`` after the change."""

    target: str
    check: str
    """A check :func:`agent.execution.capabilities.observe` knows (``rebooted``, ``user_disabled``
    ...)."""
    params: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"target": self.target, "check": self.check, "params": dict(self.params)}


@dataclass(frozen=True, slots=True)
class Rollback:
    """How to undo the change, as another catalog action (or ``None`` with a note)."""

    action: str | None
    params: tuple[tuple[str, Any], ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"action": self.action, "params": dict(self.params), "note": self.note}


EffectFn = Callable[[ActionContext, Entity, Any], list[Delta]]
ExpectFn = Callable[[ActionContext, Entity, Any], list[Expectation]]
RollbackFn = Callable[[ActionContext, Entity, Any], Rollback]
ValidateFn = Callable[[Any], None]


@dataclass(frozen=True)
class ActionSpec:
    """One kind of change, declared as data."""

    kind: str
    summary: str
    params: type[Params]
    target_kinds: frozenset[NodeKind]
    capability: str
    """The name :func:`agent.execution.capabilities.invoke` maps to adapter contract calls."""
    idempotent: bool
    """Whether the capability may be retried blindly after an ambiguous outcome."""
    effects: EffectFn
    expect: ExpectFn
    rollback: RollbackFn
    invariants: tuple[str, ...] = DISRUPTIVE_INVARIANTS
    changes_estate: bool = True
    validate: ValidateFn | None = None
    """Extra checks on parsed parameters that need more than the model (raise ValueError)."""

    @property
    def all_invariants(self) -> tuple[str, ...]:
        """The declared invariants plus the base ones every estate change keeps."""
        extra = BASE_INVARIANTS if self.changes_estate else ()
        return tuple(dict.fromkeys((*self.invariants, *extra)))

    def parse_params(self, raw: Mapping[str, Any]) -> Params:
        """Validate raw parameters into the action's model (``InvalidParams`` names the field)."""
        try:
            parsed = self.params.model_validate(dict(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "params"
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise InvalidParams(f"{self.kind}: parameter '{loc}': {msg}") from exc
        if self.validate is not None:
            try:
                self.validate(parsed)
            except ValueError as exc:
                raise InvalidParams(f"{self.kind}: {exc}") from exc
        return parsed


CATALOG: dict[str, ActionSpec] = {}


def register(spec: ActionSpec) -> ActionSpec:
    """Add ``spec`` to the catalog (a kind is declared once)."""
    if spec.kind in CATALOG:
        raise ValueError(f"action '{spec.kind}' is declared twice")
    CATALOG[spec.kind] = spec
    return spec


def get_action(kind: str) -> ActionSpec:
    """The spec for ``kind``; ``KeyError`` names the known kinds."""
    try:
        return CATALOG[kind]
    except KeyError:
        close = difflib.get_close_matches(kind, CATALOG, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        known = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown action '{kind}'; {hint}known: {known}") from None


def attr_time(value: Any) -> datetime | None:
    """An ISO-8601 attribute as an aware datetime (``None`` when absent or unreadable)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
