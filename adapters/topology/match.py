"""Matching vendor records to twin entities, with a report a person can check.

A record is matched on the strongest identifier it shares with exactly one twin entity, in this
order: the source's own id seen before (``ref_<source>``), serial number, FQDN, hostname, IP
address, name. A record that fits several entities on its strongest shared identifier is
*ambiguous*: it is left out and listed, never guessed. A record that fits none is *new* and
becomes an entity. Twin entities of the kinds a source reports that no record matched are
*unmatched*: that source says nothing about them (``opshand twin sync --explain``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from adapters.topology.contract import TopologyReport, TopoRecord
from twin import Entity, IngestBatch, NodeKind, Relation

__all__ = ["MATCH_KEYS", "MatchReport", "TwinIndex", "match_report"]

MATCH_KEYS = ("ref", "serial", "fqdn", "hostname", "ip", "name")
"""Identifiers in the order they are trusted."""

_MACHINES = frozenset({NodeKind.HOST, NodeKind.HYPERVISOR})
_INDEXED = frozenset(
    {
        NodeKind.HOST,
        NodeKind.HYPERVISOR,
        NodeKind.SERVICE,
        NodeKind.CLUSTER,
        NodeKind.SAAS,
        NodeKind.SITE,
        NodeKind.CLIENT,
    }
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unnamed"


def _short(name: str) -> str:
    return name.lower().split(".", 1)[0]


def _kinds(kind: NodeKind) -> frozenset[NodeKind]:
    # a vCenter "host" is the twin's hypervisor; an RMM may know a hypervisor as a host
    return _MACHINES if kind in _MACHINES else frozenset({kind})


class TwinIndex:
    """The twin's entities indexed by every identifier matching uses (built once per sync)."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self.by: dict[str, dict[str, list[Entity]]] = {k: defaultdict(list) for k in MATCH_KEYS}
        self.kind_of: dict[str, NodeKind] = {}
        self.by_kind: dict[NodeKind, list[str]] = defaultdict(list)
        self.add(entities)

    def add(self, entities: Iterable[Entity]) -> None:
        """Index more entities (what a source just matched or added, with its vendor id)."""
        for e in entities:
            if e.kind not in _INDEXED or not e.active:
                continue
            if e.id not in self.kind_of:
                self.kind_of[e.id] = e.kind
                self.by_kind[e.kind].append(e.id)
            a = e.attrs
            for key, value in a.items():
                if key.startswith("ref_") and isinstance(value, str):
                    self.by["ref"][f"{key[4:]}|{value}"].append(e)
            if a.get("serial"):
                self.by["serial"][str(a["serial"]).lower()].append(e)
            if a.get("fqdn"):
                self.by["fqdn"][str(a["fqdn"]).lower()].append(e)
            host = a.get("hostname")
            if host:
                self.by["hostname"][_short(str(host))].append(e)
            ips = list(a.get("ips") or []) + ([a["ip"]] if a.get("ip") else [])
            for ip in dict.fromkeys(str(i).split("/", 1)[0] for i in ips):
                self.by["ip"][ip].append(e)
            self.by["name"][e.name.lower()].append(e)

    def candidates(self, source: str, rec: TopoRecord) -> tuple[str, list[Entity]]:
        """(the identifier that decided, the entities it fits); ``("", [])`` for none."""
        wanted = _kinds(rec.kind)
        values: list[tuple[str, list[str]]] = [
            ("ref", [f"{source}|{rec.ref}"]),
            ("serial", [rec.serial.lower()] if rec.serial else []),
            ("fqdn", [rec.fqdn.lower()] if rec.fqdn else []),
            ("hostname", [_short(h) for h in (rec.hostname, rec.fqdn) if h]),
            ("ip", [ip.split("/", 1)[0] for ip in rec.ips]),
            ("name", [rec.name.lower()]),
        ]
        for key, vals in values:
            found: dict[str, Entity] = {}
            for v in vals:
                for e in self.by[key].get(v, ()):
                    if e.kind in wanted:
                        found[e.id] = e
            if found:
                return key, sorted(found.values(), key=lambda e: e.id)
        return "", []


@dataclass
class MatchReport:
    """What matching made of one source's records."""

    source: str
    matched: list[tuple[str, str, str]] = field(default_factory=list)
    """(record name, twin id, the identifier that matched)."""
    new: list[tuple[str, str]] = field(default_factory=list)
    """(record name, the twin id it becomes)."""
    ambiguous: list[tuple[str, list[str]]] = field(default_factory=list)
    """(record name, the twin ids it fits): left out, never guessed."""
    unmatched: list[str] = field(default_factory=list)
    """Twin ids of the kinds this source reports that no record matched."""
    dropped_links: int = 0
    """Links whose ends were ambiguous: left out with them."""
    batch: IngestBatch | None = None

    def counts(self) -> dict[str, int]:
        """How many of each, for tables and JSON."""
        return {
            "matched": len(self.matched),
            "new": len(self.new),
            "ambiguous": len(self.ambiguous),
            "unmatched": len(self.unmatched),
            "dropped_links": self.dropped_links,
        }


def _attrs(source: str, rec: TopoRecord) -> dict[str, Any]:
    out: dict[str, Any] = {f"ref_{source}": rec.ref}
    for key in ("hostname", "fqdn", "serial", "env"):
        value = getattr(rec, key)
        if value:
            out[key] = value
    if rec.ips:
        out["ips"] = list(rec.ips)
    if rec.verified_at is not None:
        out["verified_at"] = rec.verified_at.isoformat()
    for key, value in rec.attrs.items():
        out.setdefault(key, value)
    return out


def match_report(report: TopologyReport, index: TwinIndex, *, actor: str = "sync") -> MatchReport:
    """Match ``report``'s records to the twin and build the ingest batch of what matched.

    The batch is a full sync of the source when the report is complete: relations the source
    stated before and no longer states are withdrawn (other sources' claims stay).
    """
    src = report.source
    out = MatchReport(source=src)
    ids: dict[str, str] = {}
    taken: dict[str, str] = {}
    entities: list[Entity] = []
    for rec in report.records:
        how, found = index.candidates(src, rec)
        if len(found) > 1:
            out.ambiguous.append((rec.name, [e.id for e in found]))
            continue
        if found:
            e = found[0]
            if e.id in taken:  # two records of one source fit one entity: a duplicate CI
                out.ambiguous.append((rec.name, [e.id]))
                continue
            eid, kind, name = e.id, e.kind, e.name
            out.matched.append((rec.name, eid, how))
        else:
            eid, kind, name = f"{rec.kind.value}:{_slug(rec.name)}", rec.kind, rec.name
            if eid in taken:
                out.ambiguous.append((rec.name, [eid]))
                continue
            out.new.append((rec.name, eid))
        taken[eid] = rec.ref
        ids[rec.ref] = eid
        entities.append(
            Entity(
                id=eid,
                kind=kind,
                name=name,
                attrs=_attrs(src, rec),
                source=src,
                source_ref=rec.ref,
                first_seen=report.observed_at,
                last_seen=report.observed_at,
            )
        )
    relations = []
    for link in report.links:
        a, b = ids.get(link.src), ids.get(link.dst)
        if a is None or b is None:
            out.dropped_links += 1
            continue
        relations.append(Relation(src=a, type=link.type, dst=b, attrs=link.attrs, source=src))
    reported = {r.kind for r in report.records}
    seen = set(taken)
    out.unmatched = sorted(
        eid for k in reported for eid in index.by_kind.get(k, ()) if eid not in seen
    )
    out.batch = IngestBatch(
        source=src,
        entities=list(entities),
        relations=list(relations),
        observed_at=report.observed_at,
        full_sync=report.complete,
        actor=actor,
        reason=f"{src} topology",
    )
    return out
