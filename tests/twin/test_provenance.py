"""Relation claims: sources, first/last seen, confidence; ageing (G3); conflicts (G2); coverage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from twin.coverage import find_conflicts, refresh_coverage
from twin.ingest import IngestBatch, TwinEvent
from twin.model import EdgeType, Entity, NodeKind, Relation
from twin.provenance import claims_for
from twin.store import TwinStore

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _svc(name: str, **attrs: object) -> Entity:
    return Entity(id=f"service:{name}", kind=NodeKind.SERVICE, name=name, attrs=dict(attrs))


def _host(name: str, **attrs: object) -> Entity:
    return Entity(id=f"host:{name}", kind=NodeKind.HOST, name=name, attrs=dict(attrs))


def _dep(a: str, b: str, **attrs: object) -> Relation:
    return Relation(src=f"service:{a}", type=EdgeType.DEPENDS_ON, dst=f"service:{b}", attrs=attrs)


def _store(engine: Engine) -> TwinStore:
    s = TwinStore(engine)
    s.create()
    return s


def _batch(source: str, ents: list[Entity], rels: list[Relation], at: datetime, full=False):
    return IngestBatch(
        source=source, entities=list(ents), relations=list(rels), observed_at=at, full_sync=full
    )


def test_claims_keep_every_source_with_first_and_last_seen(engine: Engine) -> None:
    s = _store(engine)
    ents = [_svc("portal"), _svc("erp-db")]
    s.apply(_batch("cmdb", ents, [_dep("portal", "erp-db")], T0))
    s.apply(_batch("telemetry", ents, [_dep("portal", "erp-db", rate=2.5)], T0 + timedelta(1)))
    s.apply(_batch("telemetry", ents, [_dep("portal", "erp-db", rate=2.5)], T0 + timedelta(2)))
    with engine.connect() as conn:
        claims = claims_for(conn)
    assert [c.source for c in claims] == ["cmdb", "telemetry"]
    cmdb, tele = claims
    assert cmdb.kind == "inventory" and cmdb.confidence == 0.9
    assert tele.kind == "learned" and 0.6 < tele.confidence < 1
    assert tele.first_seen == T0 + timedelta(1) and tele.last_seen == T0 + timedelta(2)
    assert tele.attrs == {"rate": 2.5}
    assert s.load().out_edges("service:portal") == [(EdgeType.DEPENDS_ON, "service:erp-db")]


def test_g3_learned_relation_unseen_for_its_ttl_ages_out_and_is_reported(engine: Engine) -> None:
    s = _store(engine)
    ents = [_svc("portal"), _svc("erp-db"), _svc("cache")]
    s.apply(_batch("telemetry", ents, [_dep("portal", "erp-db"), _dep("portal", "cache")], T0))
    # cache is seen again a week later; erp-db is not
    s.apply(_batch("telemetry", ents, [_dep("portal", "cache")], T0 + timedelta(days=6)))
    assert s.age_learned(now=T0 + timedelta(days=6), ttl=timedelta(days=7)) == []
    aged = s.age_learned(now=T0 + timedelta(days=8), ttl=timedelta(days=7))
    assert [(c.src, c.dst, c.source) for c in aged] == [
        ("service:portal", "service:erp-db", "telemetry")
    ]
    g = s.load()
    assert g.out_edges("service:portal") == [(EdgeType.DEPENDS_ON, "service:cache")]
    # the removal is in the change log, so other processes see it too
    assert any(r.op == "unrelate" for r in s.changes_since(0))


def test_g3_declared_and_inventory_relations_do_not_age(engine: Engine) -> None:
    s = _store(engine)
    ents = [_svc("portal"), _svc("erp-db")]
    s.apply(_batch("catalog", ents, [_dep("portal", "erp-db")], T0))
    s.apply(_batch("telemetry", ents, [_dep("portal", "erp-db")], T0))
    aged = s.age_learned(now=T0 + timedelta(days=365), ttl=timedelta(days=7))
    assert [c.source for c in aged] == ["telemetry"]  # the learned claim went ...
    # ... the edge stays: the catalog still declares it
    assert s.load().out_edges("service:portal") == [(EdgeType.DEPENDS_ON, "service:erp-db")]


def test_g2_disagreeing_sources_both_kept_and_shown_cautious_reading_used(
    engine: Engine,
) -> None:
    s = _store(engine)
    # the CMDB lists portal (env dev) without the dependency; telemetry sees the calls
    s.apply(_batch("cmdb", [_svc("portal", env="dev"), _svc("erp-db", env="prod")], [], T0))
    s.apply(_batch("telemetry", [_svc("portal"), _svc("erp-db")], [_dep("portal", "erp-db")], T0))
    s.apply(_batch("netbox", [_svc("portal", env="prod")], [], T0))
    # a full CMDB sync that still lacks the relation does not remove telemetry's claim
    s.apply(_batch("cmdb", [_svc("portal", env="dev"), _svc("erp-db", env="prod")], [], T0, True))
    refresh_coverage(s, now=T0)
    g = s.load()
    assert g.out_edges("service:portal") == [(EdgeType.DEPENDS_ON, "service:erp-db")]
    assert g.blast_radius("service:erp-db").visited == {"service:erp-db", "service:portal"}
    assert g.get("service:portal").attrs["env"] == "prod"  # the cautious env decides
    found = {(c.what, c.detail): c for c in find_conflicts(engine)}
    rel = found[("relation", "service:portal -depends_on-> service:erp-db")]
    assert rel.values == {"telemetry": "has it", "cmdb": "does not have it"}
    env = found[("attribute", "env")]
    assert env.values == {"cmdb": "dev", "netbox": "prod"} and env.used == "prod"
    # both views stay readable
    assert {v.source for v in s.observations("service:portal")} >= {"cmdb", "netbox"}


def test_unrelate_event_withdraws_only_its_sources_claim(engine: Engine) -> None:
    s = _store(engine)
    ents = [_svc("portal"), _svc("erp-db")]
    s.apply(_batch("cmdb", ents, [_dep("portal", "erp-db")], T0))
    s.apply(_batch("catalog", ents, [_dep("portal", "erp-db")], T0))
    s.apply_event(TwinEvent(op="unrelate", source="cmdb", relation=_dep("portal", "erp-db")))
    assert s.load().out_edges("service:portal") == [(EdgeType.DEPENDS_ON, "service:erp-db")]
    s.apply_event(TwinEvent(op="unrelate", source="catalog", relation=_dep("portal", "erp-db")))
    assert s.load().out_edges("service:portal") == []


def test_coverage_levels_from_the_sources_that_confirmed(engine: Engine) -> None:
    s = _store(engine)
    rels = [
        Relation(src="service:a", type=EdgeType.RUNS_ON, dst="host:h1"),
        Relation(src="service:b", type=EdgeType.RUNS_ON, dst="host:h1"),
    ]
    s.apply(_batch("cmdb", [_svc("a"), _host("h1")], rels[:1], T0))  # full: cmdb states runs_on
    s.apply(_batch("telemetry", [_svc("b")], [], T0))  # learned only: partial
    s.apply(_batch("netbox", [_host("h2")], [], T0))  # hardware, not what runs on it: partial
    s.apply(_batch("rmm", [_host("h3", role="server"), _host("pc1", role="endpoint")], [], T0))
    # a CMDB record not updated for a year confirms nothing recent
    s.apply(_batch("cmdb", [_host("h4", verified_at="2025-11-01T00:00:00+00:00")], [], T0))
    levels = refresh_coverage(s, now=T0 + timedelta(hours=1))
    assert levels["service:a"] == "full" and levels["host:h1"] == "full"
    assert levels["service:b"] == "partial" and levels["host:h2"] == "partial"
    assert levels["host:h3"] == "none" and levels["host:h4"] == "none"
    assert levels["host:pc1"] == "full"  # a workstation: the RMM's device class says so
    g = s.load()
    assert g.get("host:h3").attrs["coverage"] == "none"
    assert g.get("host:h1").attrs["coverage_sources"] == ["cmdb"]
    # recomputing without change writes nothing
    serial = s.meta()[1]
    refresh_coverage(s, now=T0 + timedelta(hours=1))
    assert s.meta()[1] == serial


def test_coverage_view_keeps_no_entity_alive(engine: Engine) -> None:
    s = TwinStore(engine, grace=timedelta(0))
    s.create()
    s.apply(_batch("cmdb", [_host("old-01")], [], T0))
    refresh_coverage(s, now=T0)
    assert s.load().get("host:old-01").attrs["coverage"] == "full"
    # the CMDB no longer lists it: only the derived coverage view is left, so it goes
    s.apply(_batch("cmdb", [], [], T0 + timedelta(days=30), full=True))
    assert not s.load().get("host:old-01").active
