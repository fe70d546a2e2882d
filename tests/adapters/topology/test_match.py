"""Matching vendor records to twin entities: identifiers in order, ambiguity never guessed."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.topology import TopoLink, TopologyReport, TopoRecord, TwinIndex, match_report
from twin.model import EdgeType, Entity, NodeKind

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _host(name: str, **attrs: object) -> Entity:
    return Entity(id=f"host:{name}", kind=NodeKind.HOST, name=name, attrs=dict(attrs))


INDEX = TwinIndex(
    [
        _host("web-01", hostname="web-01", ip="10.0.0.1"),
        _host("web-02", hostname="WEB-02", ip="10.0.0.2", serial="SN-2"),
        _host("db-01", hostname="db-01", ip="10.0.0.9", fqdn="db-01.corp.example"),
        _host("db-02", hostname="db-02", ip="10.0.0.9"),  # the same IP twice (NAT, a reuse)
        Entity(id="hypervisor:hv-01", kind=NodeKind.HYPERVISOR, name="hv-01", attrs={}),
        Entity(id="service:erp", kind=NodeKind.SERVICE, name="erp", attrs={"ref_cmdb": "ci-9"}),
    ]
)


def _report(*records: TopoRecord, links: list[TopoLink] | None = None) -> TopologyReport:
    return TopologyReport(source="cmdb", records=list(records), links=links or [], observed_at=T0)


def _rec(ref: str, name: str, kind: NodeKind = NodeKind.HOST, **kw: object) -> TopoRecord:
    return TopoRecord.model_validate({"ref": ref, "kind": kind, "name": name, **kw})


def test_match_uses_the_strongest_identifier_first() -> None:
    mr = match_report(
        _report(
            _rec("ci-1", "PRODWEB2", serial="sn-2", ips=("10.0.0.1",)),  # serial beats the IP
            _rec("ci-2", "x", fqdn="db-01.corp.example", ips=("10.0.0.9",)),
            _rec("ci-3", "web-01.corp.example", hostname="web-01.corp.example"),
            _rec("ci-9", "enterprise resource planning", NodeKind.SERVICE),  # seen before
            _rec("ci-4", "hv-01"),  # a host record for the twin's hypervisor
        ),
        INDEX,
    )
    assert mr.matched == [
        ("PRODWEB2", "host:web-02", "serial"),
        ("x", "host:db-01", "fqdn"),
        ("web-01.corp.example", "host:web-01", "hostname"),
        ("enterprise resource planning", "service:erp", "ref"),
        ("hv-01", "hypervisor:hv-01", "name"),
    ]
    assert mr.batch is not None
    web02 = next(e for e in mr.batch.entities if isinstance(e, Entity) and e.id == "host:web-02")
    assert web02.attrs["ref_cmdb"] == "ci-1" and web02.name == "web-02"


def test_ambiguous_records_are_listed_not_guessed() -> None:
    mr = match_report(
        _report(
            _rec("ci-5", "mystery", ips=("10.0.0.9",)),
            _rec("ci-6", "app-07", ips=("10.1.1.1",)),
            _rec("ci-7", "web-01"),
            _rec("ci-8", "web-01 (duplicate CI)", hostname="web-01"),
            links=[
                TopoLink(src="ci-6", type=EdgeType.ATTACHED_TO, dst="ci-5"),
                TopoLink(src="ci-6", type=EdgeType.HOSTED_ON, dst="ci-7"),
            ],
        ),
        INDEX,
    )
    assert mr.ambiguous == [
        ("mystery", ["host:db-01", "host:db-02"]),
        ("web-01 (duplicate CI)", ["host:web-01"]),
    ]
    assert mr.new == [("app-07", "host:app-07")]
    assert mr.dropped_links == 1  # its other end was ambiguous
    assert mr.counts()["matched"] == 1
    assert "host:web-02" in mr.unmatched and "service:erp" not in mr.unmatched
    assert mr.batch is not None and mr.batch.full_sync
    assert {e.id for e in mr.batch.entities if isinstance(e, Entity)} == {
        "host:app-07",
        "host:web-01",
    }
