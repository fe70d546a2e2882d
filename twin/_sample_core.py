"""The accumulator the sample-estate generator writes into, and the plan it follows.

The builder owns the seeded RNG, the reference clock and the growing entity/relation lists. It
checks every relation against the whitelist as it is added, so a generator bug fails loudly at
the line that made it rather than in whoever loads the estate.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from twin.model import ALLOWED_EDGES, EdgeType, Entity, NodeKind, Relation

# The whitelist flattened once: ``link`` runs hundreds of thousands of times on big estates.
_ALLOWED: frozenset[tuple[NodeKind, EdgeType, NodeKind]] = frozenset(
    (src, edge, dst)
    for src, edges in ALLOWED_EDGES.items()
    for edge, dsts in edges.items()
    for dst in dsts
)

_COVERED = frozenset({NodeKind.HOST, NodeKind.HYPERVISOR, NodeKind.SERVICE, NodeKind.CLUSTER})

# The integration category that reports each kind in real life (docs/SAMPLE_ESTATE.md).
SOURCE_BY_KIND: dict[NodeKind, str] = {
    NodeKind.CLIENT: "psa",
    NodeKind.SITE: "psa",
    NodeKind.SEGMENT: "firewall",
    NodeKind.HOST: "rmm",
    NodeKind.HYPERVISOR: "rmm",
    NodeKind.CLUSTER: "cmdb",
    NodeKind.SERVICE: "cmdb",
    NodeKind.SAAS: "cmdb",
    NodeKind.IDENTITY: "identity",
    NodeKind.GROUP: "identity",
    NodeKind.CREDENTIAL: "identity",
    NodeKind.FIREWALL: "firewall",
    NodeKind.FIREWALL_RULE: "firewall",
    NodeKind.BACKUP: "backup",
    NodeKind.PATCH: "rmm",
    NodeKind.TICKET: "psa",
    NodeKind.INCIDENT: "psa",
    NodeKind.SIEM_RULE: "siem",
}


@dataclass(frozen=True, kw_only=True)
class SitePlan:
    """One site of a client: where it is and how many endpoints it has."""

    slug: str
    index: int
    city: str
    tz: str
    endpoints: int
    hq: bool


@dataclass(frozen=True, kw_only=True)
class ClientPlan:
    """One client organisation and the size of everything it gets."""

    slug: str
    display_name: str
    index: int
    endpoints: int
    sites: tuple[SitePlan, ...]
    idp_flavor: str
    """``ad`` (on-premises only), ``entra`` (hybrid with Entra ID) or ``okta``."""
    firewall_vendor: str

    @property
    def hq(self) -> SitePlan:
        """The head-office site (always the first), where the server estate lives."""
        return self.sites[0]


class HostMeta(NamedTuple):
    """What later stages need to know about a host without scanning the entity list."""

    site: str
    env: str
    criticality: str


@dataclass
class ClientParts:
    """Ids the later generation stages need from the earlier ones, for one client."""

    plan: ClientPlan
    hosts_by_role: dict[str, list[str]] = field(default_factory=dict)
    """Server host ids keyed by a stage-local role name (``dc``, ``db``, ``app-stg`` ...)."""
    endpoints: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)
    host_meta: dict[str, HostMeta] = field(default_factory=dict)
    """Host id -> where it is and how much it matters, for servers and endpoints."""
    hypervisors: list[str] = field(default_factory=list)
    firewalls: list[str] = field(default_factory=list)
    segments: dict[str, str] = field(default_factory=dict)
    """``"<site>/<purpose>"`` -> segment id."""
    segment_cidrs: dict[str, str] = field(default_factory=dict)
    """``"<site>/<purpose>"`` -> the segment's CIDR."""
    services: dict[str, str] = field(default_factory=dict)
    """Service short name (``dns``, ``erp-db``) -> service id."""
    backups: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)


def _seconds(value: float) -> timedelta:
    # Whole seconds: timestamps read like the ones real tools report, not 12:03:07.284917.
    return timedelta(seconds=round(value))


class Builder:
    """Collects entities and relations with a seeded RNG and a fixed ``now``."""

    def __init__(self, *, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.entities: list[Entity] = []
        self.relations: list[Relation] = []
        self._kinds: dict[str, NodeKind] = {}
        self._device_seq = 100_000

    def add(
        self,
        kind: NodeKind,
        slug: str,
        name: str,
        attrs: dict[str, Any],
        *,
        source_ref: str = "",
        first_seen_days: float = 400.0,
        last_seen_minutes: float = 5.0,
    ) -> str:
        """Add one entity ``<kind>:<slug>`` seen from ``first_seen_days`` ago until recently.

        Returns:
            The new entity's id.

        Raises:
            ValueError: the id already exists (two generation stages picked the same slug).
        """
        eid = f"{kind.value}:{slug}"
        if eid in self._kinds:
            raise ValueError(f"sample estate generated a duplicate id {eid!r}")
        self._kinds[eid] = kind
        if kind in _COVERED:
            # the generator is the ground truth: every dependent of every entity is known
            attrs = {**attrs, "coverage": "full", "coverage_sources": ["sample"]}
        self.entities.append(
            Entity(
                id=eid,
                kind=kind,
                name=name,
                attrs=attrs,
                source=SOURCE_BY_KIND[kind],
                source_ref=source_ref or slug,
                first_seen=self.now - _seconds(first_seen_days * 86400),
                last_seen=self.now - _seconds(last_seen_minutes * 60),
            )
        )
        return eid

    def link(self, src: str, edge: EdgeType, dst: str) -> None:
        """Add ``src --edge--> dst``; both ends must exist and the whitelist must allow it."""
        sk, dk = self._kinds.get(src), self._kinds.get(dst)
        if sk is None or dk is None:
            raise ValueError(f"sample relation {src} -{edge.value}-> {dst} has a missing end")
        if (sk, edge, dk) not in _ALLOWED:
            raise ValueError(f"sample relation {sk.value} -{edge.value}-> {dk.value} not allowed")
        self.relations.append(Relation(src=src, type=edge, dst=dst, source=SOURCE_BY_KIND[sk]))

    def ago(self, *, days: float = 0.0, hours: float = 0.0, minutes: float = 0.0) -> str:
        """ISO-8601 timestamp the given time before ``now``."""
        return (self.now - _seconds(days * 86400 + hours * 3600 + minutes * 60)).isoformat()

    def ahead(self, *, days: float) -> str:
        """ISO-8601 timestamp ``days`` after ``now``."""
        return (self.now + _seconds(days * 86400)).isoformat()

    def guid(self) -> str:
        """A GUID drawn from the seeded RNG (IdP object ids, backup job ids)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def device_id(self) -> str:
        """The next RMM device id (numeric, as RMM tools number devices)."""
        self._device_seq += 1
        return str(self._device_seq)

    def weighted(self, table: tuple[tuple[str, str, float], ...]) -> tuple[str, str]:
        """Pick ``(name, family)`` from a ``(name, family, weight)`` table."""
        r = self.rng.random()
        acc = 0.0
        for name, family, weight in table:
            acc += weight
            if r < acc:
                return name, family
        return table[-1][0], table[-1][1]

    def ring(self) -> str:
        """A patch ring: about 5% canary, 20% early, the rest broad."""
        r = self.rng.random()
        return "canary" if r < 0.05 else "early" if r < 0.25 else "broad"
