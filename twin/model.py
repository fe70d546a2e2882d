"""The estate's entity/relation model: node kinds, edge types and the rules that bind them.

Edges point from the thing that *needs* to the thing that is *needed* (a service ``runs_on`` a
host). The blast radius of X is everything that transitively needs X over impact-carrying edges.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALLOWED_EDGES",
    "IMPACT_EDGES",
    "Criticality",
    "EdgeType",
    "Entity",
    "NodeKind",
    "Relation",
    "edge_allowed",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now in UTC (the only clock the twin uses)."""
    return datetime.now(UTC)


class NodeKind(StrEnum):
    """Kinds of entity in the twin."""

    SITE = "site"
    SEGMENT = "segment"
    CLIENT = "client"
    HOST = "host"
    HYPERVISOR = "hypervisor"
    CLUSTER = "cluster"
    SERVICE = "service"
    SAAS = "saas"
    IDENTITY = "identity"
    GROUP = "group"
    CREDENTIAL = "credential"
    FIREWALL = "firewall"
    FIREWALL_RULE = "firewall_rule"
    BACKUP = "backup"
    PATCH = "patch"
    TICKET = "ticket"
    INCIDENT = "incident"
    SIEM_RULE = "siem_rule"


class EdgeType(StrEnum):
    """Relation types, always pointing from the thing that needs to the thing needed."""

    RUNS_ON = "runs_on"  # service -> host
    HOSTED_ON = "hosted_on"  # host -> hypervisor
    DEPENDS_ON = "depends_on"  # service -> service | saas
    USES_CREDENTIAL = "uses_credential"  # service -> credential
    MEMBER_OF = "member_of"  # host -> cluster ; identity -> group
    ATTACHED_TO = "attached_to"  # host -> segment
    LOCATED_AT = "located_at"  # segment/host/firewall -> site
    BELONGS_TO = "belongs_to"  # site -> client
    ALLOWS_TRAFFIC = "allows_traffic"  # firewall_rule -> service (the rule is needed by traffic)
    RULE_OF = "rule_of"  # firewall_rule -> firewall
    PROTECTS = "protects"  # backup -> host (backup needs the host to exist)
    PENDING_ON = "pending_on"  # patch -> host
    AUTHENTICATES_WITH = "authenticates_with"  # service -> identity (service account / IdP)
    OWNS = "owns"  # identity -> credential
    CONCERNS = "concerns"  # ticket/incident -> any
    PROTECTED_BY = "protected_by"  # segment -> firewall
    MONITORS = "monitors"  # siem_rule -> any


# Edge types over which an outage of the target propagates to the source. ``member_of`` is
# not one: a cluster's health is judged by the quorum invariant over its live members.
IMPACT_EDGES: frozenset[EdgeType] = frozenset(
    {
        EdgeType.RUNS_ON,
        EdgeType.HOSTED_ON,
        EdgeType.DEPENDS_ON,
        EdgeType.USES_CREDENTIAL,
        EdgeType.ATTACHED_TO,
        EdgeType.AUTHENTICATES_WITH,
        EdgeType.PROTECTED_BY,
    }
)

_K = NodeKind
_E = EdgeType

# Per source kind: which edge types it may have, and to which target kinds.
ALLOWED_EDGES: dict[NodeKind, dict[EdgeType, frozenset[NodeKind]]] = {
    _K.SERVICE: {
        _E.RUNS_ON: frozenset({_K.HOST, _K.CLUSTER}),
        _E.DEPENDS_ON: frozenset({_K.SERVICE, _K.SAAS}),
        _E.USES_CREDENTIAL: frozenset({_K.CREDENTIAL}),
        _E.AUTHENTICATES_WITH: frozenset({_K.IDENTITY, _K.SERVICE}),
    },
    _K.SAAS: {_E.USES_CREDENTIAL: frozenset({_K.CREDENTIAL})},
    _K.HOST: {
        _E.HOSTED_ON: frozenset({_K.HYPERVISOR}),
        _E.MEMBER_OF: frozenset({_K.CLUSTER}),
        _E.ATTACHED_TO: frozenset({_K.SEGMENT}),
        _E.LOCATED_AT: frozenset({_K.SITE}),
    },
    _K.HYPERVISOR: {
        _E.ATTACHED_TO: frozenset({_K.SEGMENT}),
        _E.LOCATED_AT: frozenset({_K.SITE}),
        _E.MEMBER_OF: frozenset({_K.CLUSTER}),
    },
    _K.CLUSTER: {_E.LOCATED_AT: frozenset({_K.SITE})},
    _K.SEGMENT: {
        _E.LOCATED_AT: frozenset({_K.SITE}),
        _E.PROTECTED_BY: frozenset({_K.FIREWALL}),
    },
    _K.SITE: {_E.BELONGS_TO: frozenset({_K.CLIENT})},
    _K.CLIENT: {},
    _K.FIREWALL: {_E.LOCATED_AT: frozenset({_K.SITE})},
    _K.FIREWALL_RULE: {
        _E.RULE_OF: frozenset({_K.FIREWALL}),
        _E.ALLOWS_TRAFFIC: frozenset({_K.SERVICE, _K.SEGMENT, _K.HOST}),
    },
    _K.IDENTITY: {
        _E.MEMBER_OF: frozenset({_K.GROUP}),
        _E.OWNS: frozenset({_K.CREDENTIAL}),
    },
    _K.GROUP: {},
    _K.CREDENTIAL: {},
    _K.BACKUP: {_E.PROTECTS: frozenset({_K.HOST, _K.SERVICE})},
    _K.PATCH: {_E.PENDING_ON: frozenset({_K.HOST})},
    _K.TICKET: {_E.CONCERNS: frozenset(NodeKind)},
    _K.INCIDENT: {_E.CONCERNS: frozenset(NodeKind)},
    _K.SIEM_RULE: {_E.MONITORS: frozenset(NodeKind)},
}


def edge_allowed(src_kind: NodeKind, edge: EdgeType, dst_kind: NodeKind) -> bool:
    """Whether the whitelist allows ``src_kind --edge--> dst_kind``."""
    return dst_kind in ALLOWED_EDGES.get(src_kind, {}).get(edge, frozenset())


class Criticality(StrEnum):
    """How much the business cares when the entity is down."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Entity(BaseModel):
    """One node of the twin, with its provenance.

    ``attrs`` holds kind-specific facts (``env``, ``client``, ``site``, ``criticality``,
    ``role``, ``replicas_min`` ...); values are JSON-serialisable.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """Stable identifier, unique across the estate (e.g. ``host:contoso-db-prod-01``)."""
    kind: NodeKind
    name: str
    attrs: dict[str, Any] = Field(default_factory=dict)
    source: str = "sample"
    """Which integration reported this entity (``rmm``, ``identity`` ...)."""
    source_ref: str = ""
    """The entity's id in the source system."""
    first_seen: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    version: int = 1
    """Rises by one every time a committed change-set alters the entity."""
    active: bool = True
    """False once tombstoned (no longer reported by its source)."""


class Relation(BaseModel):
    """One directed edge: ``src`` needs ``dst`` in the way ``type`` says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    src: str
    type: EdgeType
    dst: str
    attrs: dict[str, Any] = Field(default_factory=dict)
    source: str = "sample"

    @property
    def impact(self) -> bool:
        """Whether an outage of ``dst`` propagates to ``src`` over this edge."""
        return self.type in IMPACT_EDGES
