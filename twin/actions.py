"""The action catalog: what each kind of change is, declared as data.

Each action kind declares its typed parameters, the entity kinds it targets, its effect on the
twin (deltas), the invariants it must keep, the adapter capability that executes it (a name the
agent's executor maps to an adapter call), whether that call may be retried, how to verify it
afterwards (expected observed state) and how to roll it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twin.fork import Deactivate, Delta, SetAttr
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind

__all__ = [
    "CATALOG",
    "ActionSpec",
    "Expectation",
    "InvalidParams",
    "Rollback",
    "get_action",
]


class InvalidParams(ValueError):
    """Parameters that do not fit the action's model; the message names the field."""


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NoParams(_Params):
    """No parameters."""


class PatchParams(_Params):
    """``patch.apply`` parameters."""

    patch_ids: list[str] = Field(default_factory=list)
    """Patches to install; empty means every pending patch on the host."""
    reboot: bool = True
    window: Literal["now", "tonight", "maintenance"] = "now"


class RestartParams(_Params):
    """``service.restart`` parameters."""

    host: str | None = None
    """Restart only the instance on this host."""


class CommentParams(_Params):
    """``ticket.comment`` parameters."""

    text: str = Field(min_length=1, max_length=4000)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What reconciliation should observe on ``target`` after the change."""

    target: str
    check: str
    """One of ``rebooted``, ``patches_installed``, ``service_running``, ``user_disabled``,
    ``ticket_commented``."""
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


EffectFn = Callable[[TwinGraph, Entity, Any], list[Delta]]
ExpectFn = Callable[[TwinGraph, Entity, Any], list[Expectation]]
RollbackFn = Callable[[Entity, Any], Rollback]


@dataclass(frozen=True)
class ActionSpec:
    """One kind of change."""

    kind: str
    summary: str
    params: type[_Params]
    target_kinds: frozenset[NodeKind]
    capability: str
    idempotent: bool
    effects: EffectFn
    expect: ExpectFn
    rollback: RollbackFn
    invariants: tuple[str, ...] = ("replicas", "quorum")
    changes_estate: bool = True

    def parse_params(self, raw: dict[str, Any]) -> _Params:
        """Validate raw parameters into the action's model."""
        try:
            return self.params.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "params"
            raise InvalidParams(f"{self.kind}: parameter '{loc}': {err['msg']}") from exc


def _patches_of(g: TwinGraph, host: Entity, p: PatchParams) -> list[Entity]:
    pending = [g.get(s) for t, s in g.in_edges(host.id) if t is EdgeType.PENDING_ON]
    if p.patch_ids:
        return [x for x in pending if x.attrs.get("patch_id") in set(p.patch_ids)]
    return pending


def _patch_effects(g: TwinGraph, host: Entity, p: Any) -> list[Delta]:
    deltas: list[Delta] = [SetAttr(x.id, "status", "installed") for x in _patches_of(g, host, p)]
    if p.reboot:
        deltas.append(Deactivate(host.id))
    return deltas


def _patch_expect(g: TwinGraph, host: Entity, p: Any) -> list[Expectation]:
    ids = tuple(sorted(str(x.attrs.get("patch_id")) for x in _patches_of(g, host, p)))
    out = [Expectation(host.id, "patches_installed", (("patch_ids", ids),))]
    if p.reboot:
        out.append(Expectation(host.id, "rebooted"))
    return out


def _services_on(g: TwinGraph, host: Entity) -> list[Entity]:
    return [g.get(s) for t, s in g.in_edges(host.id) if t is EdgeType.RUNS_ON]


def _restart_effects(g: TwinGraph, svc: Entity, p: Any) -> list[Delta]:
    # A service with several instances restarts one instance at a time (rolling): it stays up.
    # A single instance, or one named host, is down while it restarts.
    hosts = [d for t, d in g.out_edges(svc.id) if t is EdgeType.RUNS_ON]
    if p.host:
        return [SetAttr(svc.id, "restarting_on", p.host)]
    if len(hosts) > 1:
        return [SetAttr(svc.id, "restarting", "rolling")]
    return [Deactivate(svc.id)]


CATALOG: dict[str, ActionSpec] = {}


def _register(spec: ActionSpec) -> None:
    CATALOG[spec.kind] = spec


_register(
    ActionSpec(
        kind="host.reboot",
        summary="Reboot a host (its services are down until it is back)",
        params=NoParams,
        target_kinds=frozenset({NodeKind.HOST}),
        capability="rmm.reboot",
        idempotent=False,
        effects=lambda g, h, p: [Deactivate(h.id)],
        expect=lambda g, h, p: (
            [Expectation(h.id, "rebooted")]
            + [Expectation(s.id, "service_running", (("host", h.id),)) for s in _services_on(g, h)]
        ),
        rollback=lambda h, p: Rollback(
            None, note="a reboot cannot be undone; nothing to roll back"
        ),
    )
)
_register(
    ActionSpec(
        kind="patch.apply",
        summary="Install pending patches on a host (with or without reboot)",
        params=PatchParams,
        target_kinds=frozenset({NodeKind.HOST}),
        capability="rmm.apply_patches",
        idempotent=False,
        effects=_patch_effects,
        expect=_patch_expect,
        rollback=lambda h, p: Rollback(
            "script.run",
            (("script_id", "uninstall-patches"), ("patch_ids", tuple(p.patch_ids))),
            note="uninstall the patches with the allowlisted script",
        ),
    )
)
_register(
    ActionSpec(
        kind="service.restart",
        summary="Restart a service (on one host or all its instances)",
        params=RestartParams,
        target_kinds=frozenset({NodeKind.SERVICE}),
        capability="rmm.restart_service",
        idempotent=True,
        effects=_restart_effects,
        expect=lambda g, s, p: [Expectation(s.id, "service_running")],
        rollback=lambda s, p: Rollback(None, note="a restart needs no rollback"),
        invariants=("replicas",),
    )
)
_register(
    ActionSpec(
        kind="identity.disable",
        summary="Disable a user or service account in the identity provider",
        params=NoParams,
        target_kinds=frozenset({NodeKind.IDENTITY}),
        capability="identity.disable_user",
        idempotent=True,
        effects=lambda g, u, p: [SetAttr(u.id, "status", "disabled"), Deactivate(u.id)],
        expect=lambda g, u, p: [Expectation(u.id, "user_disabled")],
        rollback=lambda u, p: Rollback("identity.enable", note="enable the account again"),
        invariants=(),
    )
)
_register(
    ActionSpec(
        kind="ticket.comment",
        summary="Add a comment to a PSA ticket",
        params=CommentParams,
        target_kinds=frozenset({NodeKind.TICKET}),
        capability="psa.comment",
        idempotent=True,
        effects=lambda g, t, p: [],
        expect=lambda g, t, p: [Expectation(t.id, "ticket_commented")],
        rollback=lambda t, p: Rollback(None, note="comments are kept"),
        invariants=(),
    )
)


def get_action(kind: str) -> ActionSpec:
    """The spec for ``kind``; ``KeyError`` names the known kinds."""
    try:
        return CATALOG[kind]
    except KeyError:
        raise KeyError(f"unknown action '{kind}'; known: {', '.join(sorted(CATALOG))}") from None
