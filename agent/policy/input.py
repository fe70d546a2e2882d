"""The one input every policy rule sees, as a documented pydantic model.

A rule's CEL condition reads this model under the variable ``input``, for example
``input.action == "host.reboot" && input.targets.exists(t, t.env == "prod")``. Every rule gets the
same shape for every action, so an operator learns one vocabulary. Every field has a default, so
tests and policy cases can give only the fields they care about (``PolicyInput.from_partial``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from twin.coverage import COVERED_KINDS, coverage_of
from twin.model import Criticality, Entity, NodeKind

__all__ = [
    "WEEKDAYS",
    "BlastRadiusSummary",
    "HistorySummary",
    "IncidentContext",
    "InvariantSummary",
    "PolicyInput",
    "PolicyTarget",
    "Requester",
    "TimeContext",
    "target_of",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyTarget(_Frozen):
    """One entity the change acts on, with the attributes rules usually test."""

    id: str = ""
    """``str``: the twin id, e.g. ``host:contoso-db-prod-01``."""
    kind: str = ""
    """``str``: the twin node kind (``host``, ``service``, ``identity`` ...)."""
    name: str = ""
    """``str``: the human name."""
    client: str = ""
    """``str``: the client (tenant) the entity belongs to."""
    site: str = ""
    """``str``: the site the entity is located at."""
    env: str = "unknown"
    """``str``: environment, e.g. ``prod``, ``staging``, ``dev``; ``unknown`` when no source
    states it (unknown is not safe: the example policies ask a person)."""
    criticality: str = ""
    """``str``: ``low`` | ``medium`` | ``high`` | ``critical`` (empty when unknown)."""
    role: str = ""
    """``str``: the entity's role, e.g. ``web``, ``db``, ``admin``, ``break_glass``."""
    coverage: Literal["full", "partial", "none", "n/a"] = "none"
    """``str``: which topology sources recently confirmed what depends on the target: ``full``,
    ``partial`` (some, not all, of what it needs), ``none`` (its blast radius is unknown), or
    ``n/a`` for kinds topology does not describe (identities, rules, tickets)."""


def target_of(e: Entity) -> dict[str, Any]:
    """The policy view of one twin entity (``input.targets[]``).

    Unknown is not safe: an environment no source states reads ``unknown``, never "not prod",
    and coverage comes from :func:`twin.coverage.coverage_of`.
    """
    a = e.attrs
    role = "break_glass" if a.get("break_glass") else ("admin" if a.get("admin") else "")
    return {
        "id": e.id,
        "kind": e.kind.value,
        "name": e.name,
        "client": str(a.get("client", "")),
        "site": str(a.get("site", "")),
        "env": str(a.get("env") or "unknown") if e.kind in COVERED_KINDS else "n/a",
        "criticality": str(a.get("criticality", "")),
        "role": role or str(a.get("role", "")),
        "coverage": coverage_of(e),
    }


class Requester(_Frozen):
    """Who asked for the change (for a signal, the runbook's service identity)."""

    id: str = ""
    """``str``: ``<team_id>:<user_id>`` from the signed Slack payload, never a display name."""
    roles: list[str] = Field(default_factory=list)
    """``list[str]``: the requester's roles from the role map (``approvers``, ``admins`` ...)."""


def _all_keys(value: Mapping[str, int], keys: tuple[str, ...]) -> dict[str, int]:
    # Every known key is present (zero when absent) so a rule can write
    # ``input.blast_radius.by_kind.service > 0`` without guarding with ``has()``.
    filled = dict.fromkeys(keys, 0)
    filled.update(value)
    return filled


class BlastRadiusSummary(_Frozen):
    """How much of the estate the rehearsal says the change touches."""

    intended: int = Field(default=0, ge=0)
    """``int``: entities the change acts on directly."""
    collateral: int = Field(default=0, ge=0)
    """``int``: other entities that transitively need a target (outage would spread to them)."""
    by_kind: dict[str, int] = Field(default_factory=dict, validate_default=True)
    """``dict[str, int]``: collateral per node kind; every known kind is present (0 if none)."""
    by_criticality: dict[str, int] = Field(default_factory=dict, validate_default=True)
    """``dict[str, int]``: collateral per criticality; every level is present (0 if none)."""
    critical_collateral: int = Field(default=0, ge=0)
    """``int``: collateral entities whose criticality is ``critical``."""
    unknown: int = Field(default=0, ge=0)
    """``int``: targets and collateral whose coverage is ``none``: what depends on them is
    unknown, so ``collateral`` may be too low."""
    partial: int = Field(default=0, ge=0)
    """``int``: targets and collateral only partly covered by topology sources."""

    @field_validator("by_kind", mode="after")
    @classmethod
    def _fill_kinds(cls, value: dict[str, int]) -> dict[str, int]:
        return _all_keys(value, tuple(k.value for k in NodeKind))

    @field_validator("by_criticality", mode="after")
    @classmethod
    def _fill_criticality(cls, value: dict[str, int]) -> dict[str, int]:
        return _all_keys(value, tuple(c.value for c in Criticality))


class InvariantSummary(_Frozen):
    """Counts of failed invariant checks from the rehearsal, by severity."""

    deny: int = Field(default=0, ge=0)
    """``int``: failed checks of severity ``deny``."""
    needs_consent: int = Field(default=0, ge=0)
    """``int``: failed checks of severity ``needs_consent``."""
    warn: int = Field(default=0, ge=0)
    """``int``: failed checks of severity ``warn``."""
    failed: list[str] = Field(default_factory=list)
    """``list[str]``: ids of every failed check (e.g. ``replicas_kept``)."""


class HistorySummary(_Frozen):
    """How this action kind went before on similar targets."""

    succeeded: int = Field(default=0, ge=0)
    """``int``: earlier executions that succeeded."""
    failed: int = Field(default=0, ge=0)
    """``int``: earlier executions that failed or were rolled back."""


class TimeContext(_Frozen):
    """When the decision is taken, as the change calendar sees it."""

    in_maintenance_window: bool = False
    """``bool``: whether now is inside a maintenance window for the targets."""
    freeze: bool = False
    """``bool``: whether a change freeze (global switch or calendar) is in force."""
    hour: int = Field(default=12, ge=0, le=23)
    """``int``: hour of day 0-23 in the operator's time zone."""
    weekday: Weekday = "wed"
    """``str``: ``mon`` .. ``sun``."""


class IncidentContext(_Frozen):
    """The open incident (if any) on the change's targets, with its AIOps labels.

    Filled from the incident records of the targets and the ``aiops`` attribute the signal loop
    writes on the entity; every field has a default so rules type-check without ``has()``.
    """

    open: bool = False
    """``bool``: whether a target has an open (or flapping) incident."""
    aiops_cluster: str = ""
    """``str``: the AIOps cluster label of that incident (``aiops_cluster``), or empty."""
    suspected_cause: str = ""
    """``str``: the AIOps ``suspected_cause`` label, or empty."""
    severity: str = ""
    """``str``: the incident's severity as the signal gave it (``critical``, ``warning`` ...)."""
    repeats: int = Field(default=0, ge=0)
    """``int``: how often the incident's signal fired again after it opened (repeats + flaps)."""


class PolicyInput(_Frozen):
    """Everything a policy rule may test, the same shape for every action.

    ``target_count`` defaults to ``len(targets)``; it may be larger when the target list given to
    policy is a sample of a bigger selection ("patch all servers").
    """

    action: str = ""
    """``str``: the action kind, e.g. ``host.reboot``, ``patch.apply``, ``identity.disable``."""
    targets: list[PolicyTarget] = Field(default_factory=list)
    """``list[target]``: the entities acted on (see ``PolicyTarget``)."""
    target_count: int = Field(default=0, ge=0)
    """``int``: how many targets the change has in total."""
    params: dict[str, Any] = Field(default_factory=dict)
    """``dict``: the action's parameters as proposed (free-form per action kind)."""
    tainted: list[str] = Field(default_factory=list)
    """``list[str]``: parameters whose values came from data (a ticket, an alert, a tool result)
    rather than the person's own words, e.g. ``["text"]``; empty when all came from the person."""
    requester: Requester = Field(default_factory=Requester)
    """``requester``: who asked (see ``Requester``)."""
    channel: str = ""
    """``str``: the Slack channel id the request came from (empty for signals)."""
    source: Literal["person", "signal"] = "person"
    """``str``: ``person`` (asked in Slack) or ``signal`` (alert, SIEM, ticket runbook)."""
    blast_radius: BlastRadiusSummary = Field(default_factory=BlastRadiusSummary)
    """``blast_radius``: intended vs collateral (see ``BlastRadiusSummary``)."""
    invariants: InvariantSummary = Field(default_factory=InvariantSummary)
    """``invariants``: failed checks by severity (see ``InvariantSummary``)."""
    history: HistorySummary = Field(default_factory=HistorySummary)
    """``history``: earlier outcomes of this action kind (see ``HistorySummary``)."""
    time: TimeContext = Field(default_factory=TimeContext)
    """``time``: maintenance window, freeze, hour, weekday (see ``TimeContext``)."""
    recent_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """``float``: share of recent executions (any action) that failed, 0..1."""
    break_glass: bool = False
    """``bool``: whether the requester invoked break-glass (own permission and reason)."""
    incident: IncidentContext = Field(default_factory=IncidentContext)
    """``incident``: the open incident on the targets, AIOps labels included (see
    ``IncidentContext``)."""

    @model_validator(mode="before")
    @classmethod
    def _default_target_count(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "target_count" not in data:
            targets = data.get("targets")
            if isinstance(targets, list):
                return {**data, "target_count": len(targets)}
        return data

    @model_validator(mode="after")
    def _count_covers_targets(self) -> PolicyInput:
        if self.target_count < len(self.targets):
            raise ValueError(
                f"target_count ({self.target_count}) is smaller than the number of targets "
                f"listed ({len(self.targets)})"
            )
        return self

    @classmethod
    def defaults(cls) -> PolicyInput:
        """The input with every field at its default (no targets, nothing failed)."""
        return cls()

    @classmethod
    def from_partial(cls, data: Mapping[str, Any]) -> PolicyInput:
        """Build an input from a partial dict; absent fields (at any depth) take defaults.

        Raises:
            pydantic.ValidationError: a field is unknown or has the wrong type.
        """
        return cls.model_validate(dict(data))

    @classmethod
    def probe(cls) -> PolicyInput:
        """A fully populated input used to type-check rule conditions at load time.

        Lists hold one element so conditions inside ``exists``/``all`` macros are evaluated.
        """
        return cls(
            action="probe.action",
            targets=[
                PolicyTarget(
                    id="host:probe",
                    kind="host",
                    name="probe",
                    client="probe",
                    site="probe",
                    env="dev",
                    criticality="low",
                    role="probe",
                    coverage="full",
                )
            ],
            params={},
            tainted=["probe"],
            requester=Requester(id="T0:U0", roles=["probe"]),
            channel="C0",
            invariants=InvariantSummary(failed=["probe"]),
            incident=IncidentContext(
                open=True,
                aiops_cluster="probe",
                suspected_cause="probe",
                severity="warning",
                repeats=1,
            ),
        )

    def to_cel(self) -> dict[str, Any]:
        """The plain-data form handed to CEL (JSON types only)."""
        return self.model_dump(mode="json")
