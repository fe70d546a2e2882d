from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from tests.estate import small_estate
from twin.ingest import IngestBatch, TwinEvent
from twin.model import EdgeType, Entity, NodeKind, Relation, utcnow
from twin.store import TwinStore

HOST = "host:contoso-ny-db-01"


def _seeded(engine: Engine, **kw: object) -> TwinStore:
    s = TwinStore(engine, **kw)  # type: ignore[arg-type]
    s.create()
    ents, rels = small_estate()
    s.apply(IngestBatch(source="test", entities=ents, relations=rels))
    return s


def _view(source: str, **attrs: object) -> Entity:
    return Entity(
        id=HOST,
        kind=NodeKind.HOST,
        name="contoso-ny-db-01",
        source=source,
        source_ref=f"{source}-ref",
        attrs=attrs,
    )


# ---------------------------------------------------------------- source priority
def test_higher_priority_source_wins_and_both_views_stay_visible(engine: Engine) -> None:
    s = _seeded(engine, source_priority=("test", "cmdb", "rmm"))
    s.apply(IngestBatch(source="cmdb", entities=[_view("cmdb", os="Windows 2016", owner="ops")]))
    s.apply(IngestBatch(source="rmm", entities=[_view("rmm", os="Windows 2019")]))
    e = s.load().get(HOST)
    assert e.attrs["os"] == "Windows 2019"  # rmm outranks cmdb
    assert e.attrs["owner"] == "ops"  # what only cmdb knows still shows
    assert e.attrs["role"] == "db"  # and what only the first source knew
    assert e.source == "rmm" and e.source_ref == "rmm-ref"
    views = {v.source: v.attrs for v in s.observations(HOST)}
    assert views["cmdb"]["os"] == "Windows 2016" and views["rmm"]["os"] == "Windows 2019"
    assert [v.source for v in s.observations(HOST)] == ["rmm", "cmdb", "test"]


def test_priority_order_is_configurable(engine: Engine) -> None:
    s = _seeded(engine, source_priority=("test", "rmm", "cmdb"))
    s.apply(IngestBatch(source="rmm", entities=[_view("rmm", os="Windows 2019")]))
    s.apply(IngestBatch(source="cmdb", entities=[_view("cmdb", os="Windows 2016")]))
    assert s.load().get(HOST).attrs["os"] == "Windows 2016"


def test_lower_priority_change_under_a_winner_changes_no_fact(engine: Engine) -> None:
    s = _seeded(engine, source_priority=("test", "cmdb", "rmm"))
    s.apply(IngestBatch(source="rmm", entities=[_view("rmm", os="Windows 2019")]))
    version = s.load().get(HOST).version
    res = s.apply(IngestBatch(source="cmdb", entities=[_view("cmdb", os="Windows 2012")]))
    # the cmdb view is kept, but no effective fact moves: only the freshness is confirmed
    assert res.changed == 0 and res.seen == 1
    e = s.load().get(HOST)
    assert e.version == version and e.attrs["os"] == "Windows 2019"
    assert {v.source: v.attrs.get("os") for v in s.observations(HOST)}["cmdb"] == "Windows 2012"


# ---------------------------------------------------------------- streaming events
def test_event_upsert_applies_and_out_of_order_event_is_ignored(engine: Engine) -> None:
    s = _seeded(engine)
    now = utcnow()
    new = _view("test", role="db", pending_reboot=True).model_copy(update={"last_seen": now})
    res = s.apply_event(TwinEvent(op="upsert", source="test", entity=new))
    assert res.changed == 1
    older = new.model_copy(
        update={
            "attrs": {"role": "db", "pending_reboot": False},
            "last_seen": now - timedelta(minutes=5),
        }
    )
    res = s.apply_event(TwinEvent(op="upsert", source="test", entity=older))
    assert res.changed == 0
    assert s.load().get(HOST).attrs["pending_reboot"] is True


def test_event_remove_tombstones_when_no_source_is_left(engine: Engine) -> None:
    s = _seeded(engine)
    res = s.apply_event(TwinEvent(op="remove", source="test", entity_id=HOST))
    assert res.tombstoned == 1
    g = s.load()
    assert g.get(HOST).active is False
    assert HOST in g  # tombstoned, not deleted: the history and the edges stay


def test_event_remove_with_another_source_left_keeps_the_entity(engine: Engine) -> None:
    s = _seeded(engine, source_priority=("test", "rmm"))
    s.apply(IngestBatch(source="rmm", entities=[_view("rmm", os="Windows 2019")]))
    res = s.apply_event(TwinEvent(op="remove", source="rmm", entity_id=HOST))
    assert res.tombstoned == 0 and res.changed == 1
    e = s.load().get(HOST)
    assert e.active and e.source == "test" and "os" not in e.attrs


def test_event_remove_of_unknown_observation_is_rejected(engine: Engine) -> None:
    s = _seeded(engine)
    res = s.apply_event(TwinEvent(op="remove", source="rmm", entity_id=HOST))
    assert res.changed == 0
    assert res.rejections[0].field == "entity_id" and "rmm" in res.rejections[0].reason


def test_event_relate_and_unrelate(engine: Engine) -> None:
    s = _seeded(engine)
    g = s.load()
    rel = {"src": "service:contoso-dev-app", "type": "depends_on", "dst": "service:contoso-dns"}
    assert s.apply_event(TwinEvent(op="relate", source="test", relation=rel)).changed == 1
    assert s.apply_event(TwinEvent(op="unrelate", source="test", relation=rel)).changed == 1
    s.catch_up(g)
    assert (EdgeType.DEPENDS_ON, "service:contoso-dns") not in g.out_edges(
        "service:contoso-dev-app"
    )
    # relate then unrelate left the reader where it began, by serial
    assert "service:contoso-dev-app" not in {
        i.entity.id for i in g.blast_radius("service:contoso-dns").items
    }


# ---------------------------------------------------------------- full sync
def test_full_sync_unrelates_relations_the_source_no_longer_reports(engine: Engine) -> None:
    s = _seeded(engine)
    ents, rels = small_estate()
    dropped = next(
        r
        for r in rels
        if r.src == "service:contoso-portal"
        and r.type == EdgeType.DEPENDS_ON
        and r.dst == "service:contoso-dns"
    )
    g = s.load()
    res = s.apply(
        IngestBatch(
            source="test",
            entities=ents,
            relations=[r for r in rels if r != dropped],
            full_sync=True,
        )
    )
    assert res.changed == 1 and res.tombstoned == 0
    s.catch_up(g)
    assert (EdgeType.DEPENDS_ON, "service:contoso-dns") not in g.out_edges("service:contoso-portal")
    assert s.load().edge_count == g.edge_count


def test_full_sync_keeps_relations_of_entities_it_did_not_report(engine: Engine) -> None:
    s = _seeded(engine)
    ents, rels = small_estate()
    keep = [e for e in ents if e.id != "service:contoso-portal"]
    res = s.apply(
        IngestBatch(
            source="test",
            entities=keep,
            relations=[r for r in rels if r.src != "service:contoso-portal"],
            full_sync=True,
        )
    )
    # the portal is within its grace period: neither it nor its edges go yet
    assert res.changed == 0
    assert s.load().out_edges("service:contoso-portal")


# ---------------------------------------------------------------- bad records
def test_bad_record_classes_each_name_record_field_and_why(engine: Engine) -> None:
    s = _seeded(engine)
    bad_entities = [
        {"id": "x:1", "kind": "spaceship", "name": "x"},
        {"id": "host:noname", "kind": "host"},
        {"kind": "host", "name": "no-id"},
        {"id": "host:bad-flag", "kind": "host", "name": "bad", "attrs": {"pending_reboot": "yes"}},
        {"id": "cluster:bad-q", "kind": "cluster", "name": "q", "attrs": {"replicas_min": True}},
        {"id": "host:bad-crit", "kind": "host", "name": "c", "attrs": {"criticality": "huge"}},
        {"id": "service:contoso-dns", "kind": "host", "name": "contoso-dns"},
    ]
    bad_relations = [
        {"src": "host:contoso-ny-db-01", "type": "runs_on", "dst": "service:contoso-dns"},
        {"src": "service:contoso-dns", "type": "depends_on", "dst": "service:ghost"},
        {"src": "service:ghost", "type": "depends_on", "dst": "service:contoso-dns"},
        {"src": "service:contoso-dns", "type": "teleports_to", "dst": "service:contoso-dns"},
        {"src": "service:contoso-dns", "dst": "service:contoso-erp-db"},
    ]
    good = Entity(id="host:new-01", kind=NodeKind.HOST, name="new-01", source="test")
    res = s.apply(
        IngestBatch(source="test", entities=[*bad_entities, good], relations=bad_relations)
    )
    got = {(r.record.split(" ")[0], r.field): r.reason for r in res.rejections}
    assert got[("x:1", "kind")] == "unknown kind 'spaceship'"
    assert got[("host:noname", "name")] == "missing"
    assert got[("entity", "id")] == "missing"
    assert "must be bool" in got[("host:bad-flag", "attrs.pending_reboot")]
    assert "must be int" in got[("cluster:bad-q", "attrs.replicas_min")]
    assert "unknown criticality 'huge'" in got[("host:bad-crit", "attrs.criticality")]
    assert "knows it as a service" in got[("service:contoso-dns", "kind")]
    rel_reasons = [(r.field, r.reason) for r in res.rejections if r.record.startswith("relation")]
    assert ("type", "edge 'runs_on' not allowed from host to service") in rel_reasons
    assert ("dst", "dangling reference to 'service:ghost'") in rel_reasons
    assert ("src", "dangling reference to 'service:ghost'") in rel_reasons
    assert ("type", "unknown edge type 'teleports_to'") in rel_reasons
    assert ("type", "missing") in rel_reasons
    assert len(res.rejections) == len(bad_entities) + len(bad_relations)
    # the one good record still landed
    g = s.load()
    assert "host:new-01" in g and g.get("service:contoso-dns").kind == NodeKind.SERVICE


def test_rejections_name_the_record_in_their_text(engine: Engine) -> None:
    s = _seeded(engine)
    res = s.apply(
        IngestBatch(
            source="test",
            relations=[
                Relation(src="service:contoso-dns", type=EdgeType.DEPENDS_ON, dst="service:nowhere")
            ],
        )
    )
    assert str(res.rejections[0]) == (
        "service:contoso-dns -depends_on-> service:nowhere: field 'dst': "
        "dangling reference to 'service:nowhere'"
    )
