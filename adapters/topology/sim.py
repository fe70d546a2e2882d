"""Simulated topology sources, generated from the sample's ground truth with realistic gaps.

The generator (:mod:`twin.sample`) stays the ground truth the tests and the benchmark compare
against; these sims are what a real installation would see of it:

- **CMDB**: about 70% complete. Discovery finds a server together with what runs on it (the
  way service mapping records ``Runs on::Runs``), so a missing server takes its ``runs_on``
  rows with it; production is better kept than staging and dev. About 10% of the records it
  has are stale: not updated for over a year, and some of them still name a host the service
  has since left.
- **Virtualisation**: complete for hypervisors, VMs and clusters (vCenter for VMware sites; the
  other hypervisors are served by the Proxmox sim as nodes, VMs as ``qemu`` guests).
- **Telemetry**: only services with traffic (production and staging, a few dev ones) and
  only the call paths seen in the query window (about 95%); each edge with its request rate.
- **NetBox**: sites, tenants, devices (hypervisors with serials), VMs with their device and
  cluster, primary IPs; no services.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.topology.contract import TopoLink, TopologyReport, TopoRecord
from twin import EdgeType, Entity, NodeKind, Relation, utcnow

__all__ = ["SimTopology", "sim_topology_sources", "without_topology"]

_E = EdgeType
_K = NodeKind


@dataclass
class SimTopology:
    """One simulated source: a fixed report, stamped with the clock at each read."""

    source: str
    records: list[TopoRecord]
    links: list[TopoLink]
    clock: Callable[[], datetime] = utcnow

    def read_topology(self) -> TopologyReport:
        """The source's report (see :class:`adapters.topology.contract.TopologySource`)."""
        return TopologyReport(
            source=self.source,
            records=list(self.records),
            links=list(self.links),
            observed_at=self.clock(),
        )


def _rec(e: Entity, prefix: str, **over: object) -> TopoRecord:
    a = e.attrs
    ip = a.get("ip")
    data: dict[str, object] = {
        "ref": f"{prefix}-{e.id.split(':', 1)[1]}",
        "kind": e.kind,
        "name": e.name,
        "hostname": str(a.get("hostname", "")),
        "ips": (str(ip),) if ip else (),
        "attrs": {k: a[k] for k in ("client", "site") if k in a},
    }
    data.update(over)
    return TopoRecord.model_validate(data)


def _cmdb(
    ents: dict[str, Entity], out_edges: dict[str, list[Relation]], rng: random.Random, now: datetime
) -> SimTopology:
    servers = [e for e in ents.values() if e.kind == _K.HOST and e.attrs.get("role") != "endpoint"]
    kept_hosts = {
        e.id for e in servers if rng.random() < (0.85 if e.attrs.get("env") == "prod" else 0.45)
    }
    runs_on: dict[str, list[str]] = defaultdict(list)
    for sid, rels in out_edges.items():
        for r in rels:
            if r.type == _E.RUNS_ON:
                runs_on[sid].append(r.dst)
    services = [e for e in ents.values() if e.kind in (_K.SERVICE, _K.SAAS)]
    kept_svcs = {
        e.id
        for e in services
        if any(h in kept_hosts for h in runs_on.get(e.id, []))
        or (not runs_on.get(e.id) and rng.random() < 0.7)
    }
    others = [e.id for e in ents.values() if e.kind in (_K.HYPERVISOR, _K.CLUSTER)]
    kept = kept_hosts | kept_svcs | {i for i in others if rng.random() < 0.7}
    stale = {i for i in sorted(kept) if rng.random() < 0.10}
    used_for = {"prod": "Production", "staging": "Staging", "dev": "Development"}
    records = []
    for eid in sorted(kept):
        e = ents[eid]
        fresh = eid not in stale
        records.append(
            _rec(
                e,
                "ci",
                env=str(e.attrs.get("env", "")) if rng.random() < 0.9 else "",
                verified_at=now - timedelta(days=rng.uniform(0, 20) if fresh else 400),
                attrs={"used_for": used_for.get(str(e.attrs.get("env")), "")},
            )
        )
    hosts_of_client: dict[str, list[str]] = defaultdict(list)
    for h in sorted(kept_hosts):
        hosts_of_client[str(ents[h].attrs.get("client", ""))].append(h)
    links = []
    for src in sorted(kept):
        for r in out_edges.get(src, []):
            if r.dst not in kept or r.type not in (
                _E.RUNS_ON,
                _E.DEPENDS_ON,
                _E.HOSTED_ON,
                _E.MEMBER_OF,
                _E.AUTHENTICATES_WITH,
            ):
                continue
            if r.type == _E.RUNS_ON and r.dst not in kept_hosts:
                continue
            dst = r.dst
            if r.type == _E.RUNS_ON and dst in stale and rng.random() < 0.3:
                # a stale record: the service moved, the CMDB still names the old host
                pool = [
                    h for h in hosts_of_client[str(ents[src].attrs.get("client", ""))] if h != dst
                ]
                dst = rng.choice(pool) if pool else dst
            links.append(
                TopoLink(
                    src=f"ci-{src.split(':', 1)[1]}", type=r.type, dst=f"ci-{dst.split(':', 1)[1]}"
                )
            )
    return SimTopology("cmdb", records, links)


def _virtual(ents: dict[str, Entity], out_edges: dict[str, list[Relation]]) -> list[SimTopology]:
    hv_platform = {
        e.id: str(e.attrs.get("platform", "")) for e in ents.values() if e.kind == _K.HYPERVISOR
    }
    out = []
    for source, prefix, mine in (
        ("vcenter", "vm", lambda p: p.startswith("VMware")),
        ("proxmox", "qemu", lambda p: not p.startswith("VMware")),
    ):
        hvs = {h for h, p in hv_platform.items() if mine(p)}
        records: dict[str, TopoRecord] = {h: _rec(ents[h], "host") for h in sorted(hvs)}
        links = []
        for eid in sorted(ents):
            for r in out_edges.get(eid, []):
                if r.type == _E.HOSTED_ON and r.dst in hvs:
                    records.setdefault(eid, _rec(ents[eid], prefix))
                    links.append(
                        TopoLink(src=records[eid].ref, type=_E.HOSTED_ON, dst=records[r.dst].ref)
                    )
                elif r.type == _E.MEMBER_OF and eid in hvs:
                    records.setdefault(r.dst, _rec(ents[r.dst], "domain-c"))
                    links.append(
                        TopoLink(src=records[eid].ref, type=_E.MEMBER_OF, dst=records[r.dst].ref)
                    )
        out.append(SimTopology(source, list(records.values()), links))
    return out


def _telemetry(
    ents: dict[str, Entity], out_edges: dict[str, list[Relation]], rng: random.Random
) -> SimTopology:
    # traffic: production and staging (test traffic) always, a dev service now and then
    live = {
        e.id
        for e in sorted(ents.values(), key=lambda e: e.id)
        if e.kind == _K.SERVICE and (e.attrs.get("env") != "dev" or rng.random() < 0.3)
    }
    records: dict[str, TopoRecord] = {}
    links = []
    for src in sorted(live):
        for r in out_edges.get(src, []):
            if r.dst in live and r.type in (_E.DEPENDS_ON, _E.AUTHENTICATES_WITH):
                if rng.random() >= 0.95:
                    continue  # no call on this path in the query window
                for eid in (src, r.dst):
                    records.setdefault(
                        eid, TopoRecord(ref=ents[eid].name, kind=_K.SERVICE, name=ents[eid].name)
                    )
                links.append(
                    TopoLink(
                        src=ents[src].name,
                        type=_E.DEPENDS_ON,
                        dst=ents[r.dst].name,
                        attrs={"rate": round(rng.uniform(0.05, 40.0), 3)},
                    )
                )
    return SimTopology("telemetry", list(records.values()), links)


def _netbox(
    ents: dict[str, Entity], out_edges: dict[str, list[Relation]], rng: random.Random
) -> SimTopology:
    records: dict[str, TopoRecord] = {}
    links = []
    for e in ents.values():
        if e.kind == _K.HYPERVISOR:
            records[e.id] = _rec(e, "dcim.device", serial=f"SN{rng.getrandbits(40):010X}")
        elif e.kind in (_K.SITE, _K.CLIENT):
            records[e.id] = _rec(e, f"dcim.{e.kind.value}")
    for eid in sorted(ents):
        for r in out_edges.get(eid, []):
            if r.type == _E.HOSTED_ON and r.dst in records:
                records.setdefault(eid, _rec(ents[eid], "virtualization.vm"))
                links.append(
                    TopoLink(src=records[eid].ref, type=_E.HOSTED_ON, dst=records[r.dst].ref)
                )
            elif r.type == _E.MEMBER_OF and eid in records and ents[r.dst].kind == _K.CLUSTER:
                records.setdefault(r.dst, _rec(ents[r.dst], "virtualization.cluster"))
                links.append(
                    TopoLink(src=records[eid].ref, type=_E.MEMBER_OF, dst=records[r.dst].ref)
                )
    return SimTopology("netbox", list(records.values()), links)


def sim_topology_sources(
    entities: Sequence[Entity],
    relations: Sequence[Relation],
    *,
    seed: int = 7,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> list[SimTopology]:
    """The simulated sources of a ground-truth estate, hardware first.

    Args:
        entities: the ground truth's entities (the sample generator's output).
        relations: its relations.
        seed: the gaps are drawn from this seed (same seed, same gaps).
        now: the time record ages are measured from (default: now).
        clock: what each read stamps as its observation time (default: wall clock).
    """
    now = now or utcnow()
    rng = random.Random(seed)
    ents = {e.id: e for e in entities}
    out_edges: dict[str, list[Relation]] = defaultdict(list)
    for r in relations:
        out_edges[r.src].append(r)
    sources = [
        *_virtual(ents, out_edges),
        _netbox(ents, out_edges, rng),
        _cmdb(ents, out_edges, rng, now),
        _telemetry(ents, out_edges, rng),
    ]
    for s in sources:
        s.clock = clock or utcnow
    return sources


_TOPOLOGY_KINDS = frozenset({_K.SERVICE, _K.SAAS, _K.CLUSTER})
_TOPOLOGY_EDGES = frozenset(
    {_E.RUNS_ON, _E.DEPENDS_ON, _E.HOSTED_ON, _E.AUTHENTICATES_WITH, _E.MEMBER_OF}
)
_KNOWN_ONLY_TO_TOPOLOGY = ("env", "coverage", "coverage_sources")


def without_topology(
    entities: Sequence[Entity], relations: Sequence[Relation]
) -> tuple[list[Entity], list[Relation]]:
    """The ground truth as the non-topology integrations see it.

    Services, SaaS and clusters, the relations topology sources state (``runs_on``,
    ``depends_on``, ``hosted_on``, ``authenticates_with``, cluster membership) and the facts only
    they hold (``env``, coverage) are left out; what stays is what an RMM, an IdP, a firewall, a
    backup tool and a PSA report. Relations that lose an end go with it.
    """
    kinds = {e.id: e.kind for e in entities}
    kept: list[Entity] = []
    for e in entities:
        if e.kind in _TOPOLOGY_KINDS:
            continue
        if any(k in e.attrs for k in _KNOWN_ONLY_TO_TOPOLOGY):
            attrs = {k: v for k, v in e.attrs.items() if k not in _KNOWN_ONLY_TO_TOPOLOGY}
            e = e.model_copy(update={"attrs": attrs})  # noqa: PLW2901
        kept.append(e)
    rels = [
        r
        for r in relations
        if kinds.get(r.src) not in _TOPOLOGY_KINDS
        and kinds.get(r.dst) not in _TOPOLOGY_KINDS
        and not (r.type in _TOPOLOGY_EDGES and r.type != _E.MEMBER_OF)
        and not (r.type == _E.MEMBER_OF and kinds.get(r.dst) == _K.CLUSTER)
    ]
    return kept, rels
