"""The ingest hot path (``twin._rawsql.RawSQL``) writes what SQLAlchemy would have written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine, select

from tests.estate import small_estate
from twin._entities import make_entity
from twin._rawsql import ENTITY_COLS, LOG_COLS, OBS_COLS, RawSQL
from twin._schema import change_log, entity_table, observation_table
from twin.ingest import IngestBatch
from twin.model import Entity, NodeKind
from twin.store import TwinStore


def _entity(**over: object) -> Entity:
    base: dict[str, object] = {
        "id": 'host:odd "name" \\ é',
        "kind": NodeKind.HOST,
        "name": "névé \u2603 ws",
        "attrs": {"client": "contoso", "n": 1.5, "flag": True, "nested": {"a": [1, None]}},
        "source": "rmm",
        "source_ref": "R-1",
        "first_seen": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "last_seen": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "version": 3,
        "active": False,
    }
    base.update(over)
    return Entity.model_validate(base)


def test_entity_json_reads_back_as_the_same_entity(engine: Engine) -> None:
    e = _entity()
    with engine.connect() as conn:
        text = RawSQL(conn).entity_json(e)
    assert Entity.model_validate_json(text) == e
    assert Entity.model_validate_json(text) == Entity.model_validate_json(e.model_dump_json())


def test_datetimes_match_the_dialect_bind_processor(engine: Engine) -> None:
    col = entity_table.c.first_seen
    with engine.connect() as conn:
        raw = RawSQL(conn)
        proc = col.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        for dt in (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
            datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
            datetime(2026, 1, 2, 3, 4, 5, 7),  # naive: taken as UTC
        ):
            assert raw.dt(dt) == (proc(dt) if proc else dt)


def test_a_non_utc_time_is_stored_as_the_same_instant(engine: Engine) -> None:
    """SQLite keeps UTC wall time (SQLAlchemy would drop the offset: the wrong instant)."""
    utc = datetime(2026, 1, 2, 1, 4, 5, 7, tzinfo=UTC)
    plus2 = utc.astimezone(timezone(timedelta(hours=2)))
    with engine.connect() as conn:
        raw = RawSQL(conn)
        if raw.sqlite:
            assert raw.dt(plus2) == raw.dt(utc) == "2026-01-02 01:04:05.000007"
        else:
            assert raw.dt(plus2) == plus2


def test_rows_written_raw_read_back_through_sqlalchemy(engine: Engine) -> None:
    """Raw rows (upserted twice) look to SQLAlchemy exactly like the entities they came from."""
    s = TwinStore(engine)
    s.create()
    e = _entity(active=True, version=1)
    with engine.begin() as conn:
        raw = RawSQL(conn)
        for _ in range(2):
            raw.insert("twin_entity", ENTITY_COLS, [raw.entity_row(e)], upsert_on=("id",))
            raw.insert(
                "twin_observation",
                OBS_COLS,
                [raw.obs_row(e)],
                upsert_on=("entity_id", "source"),
            )
        changed = make_entity(**{**e.__dict__, "attrs": {"x": "y"}, "version": 2})
        raw.execute_many(raw.ENTITY_UPDATE, [raw.entity_update(changed)])
    with engine.connect() as conn:
        row = conn.execute(select(entity_table)).one()
        assert row.attrs == {"x": "y"} and row.version == 2 and row.name == e.name
        assert row.last_seen.replace(tzinfo=UTC) == e.last_seen
        got = RawSQL(conn).entities([e.id])[e.id]
        assert got == changed
        views = RawSQL(conn).views([e.id, "host:absent"])
    assert list(views) == [e.id]
    assert views[e.id]["rmm"].attrs == e.attrs
    assert views[e.id]["rmm"].first_seen == e.first_seen


def test_two_sources_stay_visible_after_the_raw_path(engine: Engine) -> None:
    """A second source's change-set keeps the first source's view beside its own."""
    s = TwinStore(engine)
    s.create()
    ents, rels = small_estate()
    s.apply(IngestBatch(source="cmdb", entities=ents, relations=rels))
    host = next(e for e in ents if e.id == "host:contoso-ny-db-01")
    mine = host.model_copy(update={"attrs": {**host.attrs, "owner": "rmm-team"}})
    res = s.apply(IngestBatch(source="rmm", entities=[mine]))
    assert res.changed == 1
    views = {v.source: v for v in s.observations(host.id)}
    assert set(views) == {"rmm", "cmdb"}
    assert "owner" not in views["cmdb"].attrs and views["rmm"].attrs["owner"] == "rmm-team"
    merged = s.load().get(host.id)
    assert merged.source == "rmm" and merged.attrs["owner"] == "rmm-team"
    assert merged.version == 2
    again = s.apply(IngestBatch(source="rmm", entities=[mine]))
    assert again.changed == 0 and again.serial == res.serial


def test_column_lists_follow_the_schema() -> None:
    assert tuple(c.name for c in entity_table.c) == ENTITY_COLS
    assert tuple(c.name for c in observation_table.c) == OBS_COLS
    assert set(LOG_COLS) == {c.name for c in change_log.c} - {"id"}
