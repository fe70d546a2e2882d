"""Turning what the integrations report into twin facts (entities and relations).

Each ``*_inventory`` function reads one contract and returns an :class:`InventoryBatch` whose
ids and attributes follow ``docs/SAMPLE_ESTATE.md``, so a sync from the sim estate rebuilds the
very entity ids the sample generator produced. ``source`` is the category and ``source_ref`` the
vendor's own id. Only what the contract exposes is reported; attributes no integration knows
(``env``, ``criticality`` ...) stay with whichever source reported them.

Ids come from one of two places. An object the twin already knows is matched on the vendor id
its entity stores (``device_id``, ``user_id``, ``group_id``, ``rule_id``, ``job_id``): pass
``known=known_ids(twin_entities)``, the way a real sync matches records it has seen before. A new
object gets an id derived from the record (``host:<hostname>``, ``identity:<client>-<username>``,
``firewall_rule:<firewall>-r<NNN>`` ...), following the sample generator's conventions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from adapters.contracts import (
    BackupContract,
    FirewallContract,
    IdentityContract,
    PsaContract,
    RmmContract,
    SiemContract,
    SiemRule,
    Ticket,
)
from twin import EdgeType, Entity, IngestBatch, NodeKind, Relation, utcnow

__all__ = [
    "InventoryBatch",
    "KnownIds",
    "backup_inventory",
    "firewall_inventory",
    "identity_inventory",
    "known_ids",
    "psa_inventory",
    "rmm_inventory",
    "siem_inventory",
]


class InventoryBatch(BaseModel):
    """What one integration reported in one sync."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    """The integration category (``rmm``, ``identity`` ...)."""
    entities: list[Entity]
    relations: list[Relation]
    observed_at: datetime

    def to_ingest(self, *, full_sync: bool = True, actor: str = "sync") -> IngestBatch:
        """The batch in the form :func:`twin.ingest.validate_batch` takes."""
        return IngestBatch(
            source=self.source,
            entities=list(self.entities),
            relations=list(self.relations),
            observed_at=self.observed_at,
            full_sync=full_sync,
            actor=actor,
            reason=f"{self.source} inventory",
        )


KnownIds = Mapping[tuple[NodeKind, str], str]
"""(kind, vendor id) -> twin entity id."""

# Which attribute of a twin entity holds its vendor id, per kind.
_VENDOR_KEY: dict[NodeKind, str] = {
    NodeKind.HOST: "device_id",
    NodeKind.HYPERVISOR: "device_id",
    NodeKind.IDENTITY: "user_id",
    NodeKind.GROUP: "group_id",
    NodeKind.SIEM_RULE: "rule_id",
    NodeKind.BACKUP: "job_id",
    NodeKind.TICKET: "number",
}


def known_ids(entities: Iterable[Entity]) -> dict[tuple[NodeKind, str], str]:
    """Index twin entities by the vendor id they store, for matching inventory records."""
    index: dict[tuple[NodeKind, str], str] = {}
    for e in entities:
        key = _VENDOR_KEY.get(e.kind)
        if key is not None and e.attrs.get(key):
            index[(e.kind, str(e.attrs[key]))] = e.id
    return index


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unnamed"


def _id(known: KnownIds | None, kind: NodeKind, vendor_id: str, derived_slug: str) -> str:
    if known is not None:
        found = known.get((kind, vendor_id))
        if found is not None:
            return found
    return f"{kind.value}:{derived_slug}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Maker:
    """Builds entities of one batch: same source, same observation time."""

    def __init__(self, source: str, at: datetime) -> None:
        self.source = source
        self.at = at

    def __call__(
        self, kind: NodeKind, eid: str, name: str, attrs: dict[str, object], ref: str
    ) -> Entity:
        return Entity(
            id=eid,
            kind=kind,
            name=name,
            attrs=attrs,
            source=self.source,
            source_ref=ref,
            first_seen=self.at,
            last_seen=self.at,
        )


def rmm_inventory(
    rmm: RmmContract, *, known: KnownIds | None = None, observed_at: datetime | None = None
) -> InventoryBatch:
    """Hosts and hypervisors from ``list_devices``, pending patches from ``patch_status``.

    Host attrs carry the observation reconciliation needs: ``online``, ``last_boot`` and
    ``services`` (service name -> ``running`` | ``stopped`` | ``failed``).
    """
    at = observed_at or utcnow()
    make = _Maker("rmm", at)
    entities: list[Entity] = []
    relations: list[Relation] = []
    for dev in rmm.list_devices():
        hyper = dev.role == "hypervisor"
        kind = NodeKind.HYPERVISOR if hyper else NodeKind.HOST
        attrs: dict[str, object] = {
            "hostname": dev.hostname,
            "client": dev.client,
            "site": dev.site,
            "device_id": dev.device_id,
            "online": dev.online,
            "last_boot": _iso(dev.last_boot),
        }
        if not hyper:
            attrs |= {"os": dev.os, "role": dev.role, "services": dict(dev.services)}
        eid = _id(known, kind, dev.device_id, dev.hostname)
        host = make(kind, eid, dev.hostname, attrs, dev.device_id)
        entities.append(host)
        if hyper:
            continue
        for p in rmm.patch_status(dev.device_id):
            if p.status != "pending":
                continue
            patch = make(
                NodeKind.PATCH,
                f"{NodeKind.PATCH.value}:{p.patch_id}@{host.id}",
                f"{p.patch_id} on {dev.hostname}",
                {
                    "patch_id": p.patch_id,
                    "title": p.title,
                    "severity": p.severity,
                    "reboot_required": p.reboot_required,
                    "status": p.status,
                    "client": dev.client,
                    "site": dev.site,
                },
                f"{dev.device_id}/{p.patch_id}",
            )
            entities.append(patch)
            relations.append(
                Relation(src=patch.id, type=EdgeType.PENDING_ON, dst=host.id, source="rmm")
            )
    return InventoryBatch(source="rmm", entities=entities, relations=relations, observed_at=at)


def identity_inventory(
    identity: IdentityContract,
    *,
    client: str | None = None,
    known: KnownIds | None = None,
    observed_at: datetime | None = None,
) -> InventoryBatch:
    """Identities, groups and ``member_of`` edges of one IdP.

    Args:
        identity: the IdP; usually one client's tenant.
        client: that client's slug; new ids are then ``identity:<client>-<username>``.
        known: vendor id index of the twin (see :func:`known_ids`).
        observed_at: when the observation was made (default: now).

    Raises:
        ValueError: two accounts would get the same id (several tenants, no ``known``).
    """
    at = observed_at or utcnow()
    make = _Maker("identity", at)
    prefix = f"{client}-" if client else ""
    entities: list[Entity] = []
    group_ids: dict[str, str] = {}
    for g in identity.list_groups():
        slug = _slug(g.name)
        # Group names often carry the tenant already ("contoso-dept-finance"): no double prefix.
        eid = _id(
            known, NodeKind.GROUP, g.group_id, slug if slug.startswith(prefix) else prefix + slug
        )
        group_ids[g.group_id] = eid
        attrs: dict[str, object] = {"group_id": g.group_id}
        if client:
            attrs["client"] = client
        entities.append(make(NodeKind.GROUP, eid, g.name, attrs, g.group_id))
    relations: list[Relation] = []
    seen: set[str] = set()
    for u in identity.list_users():
        attrs = {
            "username": u.username,
            "display_name": u.display_name,
            "admin": u.admin,
            "break_glass": u.break_glass,
            "service_account": u.service_account,
            "status": u.status,
            "user_id": u.user_id,
            "sessions": u.sessions,
            "secret_version": u.secret_version,
        }
        if client:
            attrs["client"] = client
        eid = _id(known, NodeKind.IDENTITY, u.user_id, prefix + u.username)
        if eid in seen:
            raise ValueError(
                f"two accounts map to {eid!r}: usernames repeat across tenants, so inventory "
                "one tenant at a time (client=...) or pass known=known_ids(twin entities)"
            )
        seen.add(eid)
        entities.append(
            make(NodeKind.IDENTITY, eid, u.display_name or u.username, attrs, u.user_id)
        )
        relations.extend(
            Relation(src=eid, type=EdgeType.MEMBER_OF, dst=group_ids[gid], source="identity")
            for gid in u.groups
            if gid in group_ids
        )
    return InventoryBatch(source="identity", entities=entities, relations=relations, observed_at=at)


def firewall_inventory(
    firewall: FirewallContract,
    *,
    device: str | None = None,
    observed_at: datetime | None = None,
) -> InventoryBatch:
    """Firewall rules in force (expired rules are simply absent), and the firewalls holding them.

    Each firewall named by a rule is reported as a ``firewall:<name>`` entity (name only), so the
    rules' ``rule_of`` edges land even in an empty twin.

    Args:
        firewall: one device's API (then name it in ``device``) or a manager view whose rule
            ids read ``<firewall>/<rule id>``.
        device: the firewall's name, for a device API.
        observed_at: when the observation was made (default: now).
    """
    at = observed_at or utcnow()
    make = _Maker("firewall", at)
    entities: list[Entity] = []
    relations: list[Relation] = []
    devices: dict[str, None] = {}
    for r in firewall.list_rules():
        fw, local = (device, r.rule_id) if device else _split(r.rule_id)
        number = f"r{int(local):03d}" if local.isdigit() else local
        eid = f"{NodeKind.FIREWALL_RULE.value}:{fw}-{number}" if fw else f"firewall_rule:{local}"
        entities.append(
            make(
                NodeKind.FIREWALL_RULE,
                eid,
                r.description or local,
                {
                    "rule_id": local,
                    "action": r.action,
                    "source": r.source,
                    "destination": r.destination,
                    "port": r.port,
                    "protocol": r.protocol,
                    "expires_at": _iso(r.expires_at),
                },
                r.rule_id,
            )
        )
        if fw:
            devices.setdefault(fw)
            relations.append(
                Relation(src=eid, type=EdgeType.RULE_OF, dst=f"firewall:{fw}", source="firewall")
            )
    entities.extend(
        make(NodeKind.FIREWALL, f"{NodeKind.FIREWALL.value}:{fw}", fw, {}, fw) for fw in devices
    )
    return InventoryBatch(source="firewall", entities=entities, relations=relations, observed_at=at)


def _split(rule_id: str) -> tuple[str | None, str]:
    fw, sep, local = rule_id.partition("/")
    return (fw, local) if sep else (None, rule_id)


def backup_inventory(
    backup: BackupContract, *, known: KnownIds | None = None, observed_at: datetime | None = None
) -> InventoryBatch:
    """One backup entity per (job, protected object), with its newest and last tested points."""
    at = observed_at or utcnow()
    make = _Maker("backup", at)
    entities: list[Entity] = []
    for job in backup.list_jobs():
        for obj in job.protects:
            points = backup.restore_points(obj)
            last = max((p.created_at for p in points), default=None)
            tested = max((p.tested_at for p in points if p.tested_at), default=None)
            entities.append(
                make(
                    NodeKind.BACKUP,
                    _id(known, NodeKind.BACKUP, job.job_id, obj),
                    job.name,
                    {
                        "job_id": job.job_id,
                        "object_name": obj,
                        "last_success": _iso(last),
                        "tested_at": _iso(tested),
                        "last_result": job.last_result,
                        "last_run": _iso(job.last_run),
                    },
                    job.job_id,
                )
            )
    return InventoryBatch(source="backup", entities=entities, relations=[], observed_at=at)


def psa_inventory(
    psa: PsaContract,
    ticket_ids: Iterable[str],
    *,
    tickets: Iterable[Ticket] = (),
    observed_at: datetime | None = None,
) -> InventoryBatch:
    """The named tickets, fetched one by one, plus ``tickets`` already read from a listing.

    The PSA contract has no listing, so the caller names tickets or passes what a vendor's own
    listing (``list_tickets``) returned.
    """
    at = observed_at or utcnow()
    make = _Maker("psa", at)
    entities = []
    fetched = {t.ticket_id: t for t in tickets}
    for tid in ticket_ids:
        if tid not in fetched:
            fetched[tid] = psa.get_ticket(tid)
    for t in fetched.values():
        entities.append(
            make(
                NodeKind.TICKET,
                f"{NodeKind.TICKET.value}:{t.number}",
                f"{t.number} {t.title}",
                {
                    "number": t.number,
                    "title": t.title,
                    "status": t.status,
                    "priority": t.priority,
                    "client": t.client,
                    "escalated": t.escalated,
                },
                t.ticket_id,
            )
        )
    return InventoryBatch(source="psa", entities=entities, relations=[], observed_at=at)


def siem_inventory(
    siem: SiemContract,
    rule_ids: Iterable[str] = (),
    *,
    rules: Iterable[SiemRule] = (),
    known: KnownIds | None = None,
    observed_at: datetime | None = None,
) -> InventoryBatch:
    """SIEM rules named by ``rule_ids``, passed in ``rules`` or referenced by a current alert.

    The contract cannot list rules, so rules that never alerted are only seen when named (the
    caller names the rules its twin knows) or read from a vendor's own listing (``rules``).
    """
    at = observed_at or utcnow()
    make = _Maker("siem", at)
    fetched: dict[str, SiemRule | None] = {r.rule_id: r for r in rules}
    for rid in rule_ids:
        fetched.setdefault(rid, None)
    for alert in siem.list_alerts():
        if alert.rule_id:
            fetched.setdefault(alert.rule_id, None)
    entities = []
    for rid, listed in fetched.items():
        r = listed if listed is not None else siem.get_rule(rid)
        entities.append(
            make(
                NodeKind.SIEM_RULE,
                _id(known, NodeKind.SIEM_RULE, r.rule_id, r.rule_id),
                r.name,
                {
                    "rule_id": r.rule_id,
                    "name": r.name,
                    "enabled": r.enabled,
                    "throttled_until": _iso(r.throttled_until),
                },
                r.rule_id,
            )
        )
    return InventoryBatch(source="siem", entities=entities, relations=[], observed_at=at)
