from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from tests.estate import small_estate
from twin.ingest import IngestBatch
from twin.model import utcnow
from twin.store import TwinStore, change_log


def _store(engine: Engine) -> TwinStore:
    s = TwinStore(engine)
    s.create()
    return s


def test_store_round_trip_equals_input(engine: Engine) -> None:
    s = _store(engine)
    ents, rels = small_estate()
    res = s.apply(IngestBatch(source="test", entities=ents, relations=rels))
    assert res.rejections == [] and res.serial == 1
    g = s.load()
    assert len(g) == len(ents)
    assert sorted((r.src, r.type, r.dst) for r in g.relations()) == sorted(
        (r.src, r.type, r.dst) for r in rels
    )
    assert g.get("host:contoso-ny-db-01").attrs == next(
        e.attrs for e in ents if e.id == "host:contoso-ny-db-01"
    )


def test_ingest_is_idempotent_and_keeps_serial(engine: Engine) -> None:
    s = _store(engine)
    ents, rels = small_estate()
    batch = IngestBatch(source="test", entities=ents, relations=rels)
    first = s.apply(batch)
    again = s.apply(batch)
    assert again.changed == 0
    assert again.serial == first.serial == s.meta()[1]


def test_change_raises_version_serial_and_logs_before_after(engine: Engine) -> None:
    s = _store(engine)
    ents, rels = small_estate()
    s.apply(IngestBatch(source="test", entities=ents, relations=rels))
    res = s.set_attrs(
        "host:contoso-ny-db-01", {"pending_reboot": True}, actor="tester", reason="unit test"
    )
    assert res.serial == 2 and res.changed == 1
    g = s.load()
    assert g.get("host:contoso-ny-db-01").version == 2
    with engine.connect() as conn:
        row = conn.execute(select(change_log).where(change_log.c.serial == 2)).one()
    assert row.actor == "tester" and row.reason == "unit test"
    assert '"pending_reboot":true' in row.after.replace(" ", "")
    assert "pending_reboot" not in (row.before or "")


def test_bad_records_are_rejected_by_name_and_the_rest_lands(engine: Engine) -> None:
    s = _store(engine)
    ents, rels = small_estate()
    bad_entities = [
        {"id": "x:1", "kind": "spaceship", "name": "x"},
        {"id": "host:noname", "kind": "host"},
    ]
    bad_relations = [
        {"src": "host:contoso-ny-db-01", "type": "runs_on", "dst": "service:contoso-dns"},
        {"src": "service:contoso-dns", "type": "depends_on", "dst": "service:ghost"},
    ]
    res = s.apply(
        IngestBatch(
            source="test", entities=[*ents, *bad_entities], relations=[*rels, *bad_relations]
        )
    )
    reasons = {(r.record.split(" ")[0], r.field): r.reason for r in res.rejections}
    assert reasons[("x:1", "kind")] == "unknown kind 'spaceship'"
    assert reasons[("host:noname", "name")] == "missing"
    assert any("not allowed from host to service" in r.reason for r in res.rejections)
    assert any(r.field == "dst" and "service:ghost" in r.reason for r in res.rejections)
    assert len(s.load()) == len(ents)


def test_full_sync_tombstones_after_grace(engine: Engine) -> None:
    s = TwinStore(engine, grace=timedelta(hours=1))
    s.create()
    ents, rels = small_estate()
    old = utcnow() - timedelta(hours=2)
    s.apply(
        IngestBatch(
            source="test",
            entities=[e.model_copy(update={"last_seen": old}) for e in ents],
            relations=rels,
        )
    )
    keep = [e for e in ents if e.id != "host:contoso-ny-dev-01"]
    res = s.apply(IngestBatch(source="test", entities=keep, full_sync=True))
    assert res.tombstoned == 1
    assert s.load().get("host:contoso-ny-dev-01").active is False


def test_second_process_catches_up_by_serial(engine: Engine) -> None:
    writer, reader = _store(engine), TwinStore(engine)
    ents, rels = small_estate()
    writer.apply(IngestBatch(source="test", entities=ents, relations=rels))
    g = reader.load()
    writer.set_attrs("host:contoso-ny-web-02", {"pending_reboot": True}, actor="t", reason="r")
    assert g.get("host:contoso-ny-web-02").attrs.get("pending_reboot") is None
    applied = reader.catch_up(g)
    assert applied == 1
    assert g.get("host:contoso-ny-web-02").attrs["pending_reboot"] is True
    assert g.serial == writer.meta()[1]
