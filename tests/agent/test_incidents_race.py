"""Replicas recording the same alert at the same moment open one incident (and one ticket)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Engine, column, func, select, table

import twin.db
from adapters.signals import Signal, parse_generic
from adapters.sim import SimEstate, SimTimings, SystemClock
from agent.incidents import Disposition, IncidentBook, incident_table
from tests.conftest import _drop_schema, _pg_engine
from tests.estate import small_estate
from twin.db import make_engine, migrate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
REPLICAS = 6


def _sig(status: str = "firing") -> Signal:
    return parse_generic(
        {"id": "a1", "title": "disk full", "status": status, "severity": "warning", "labels": {}}
    )


def _race(engine: Engine, sim: SimEstate, at: datetime, status: str = "firing") -> list[str]:
    """Every replica (its own book, its own connection) records the signal at once."""
    barrier = threading.Barrier(REPLICAS)

    def replica(_: int) -> Disposition:
        book = IncidentBook(engine, psa=sim.psa, now=lambda: at)
        barrier.wait()
        return book.record(_sig(status), dedupe_key="k", window=WINDOW)[1]

    with ThreadPoolExecutor(REPLICAS) as pool:
        return sorted(pool.map(replica, range(REPLICAS)))


def _sim() -> SimEstate:
    ents, rels = small_estate()
    return SimEstate.from_twin(ents, rels, clock=SystemClock(), timings=SimTimings(scale=0))


def _open_count(engine: Engine) -> int:
    with engine.connect() as conn:
        q = select(func.count()).where(incident_table.c.status != "resolved")
        return int(conn.execute(q).scalar_one())


def test_incident_first_alert_at_every_replica_opens_one_incident(engine: Engine) -> None:
    sim = _sim()
    disps = _race(engine, sim, T0)
    assert disps == ["new"] + ["repeat"] * (REPLICAS - 1)
    (inc,) = IncidentBook(engine).all()
    assert inc.occurrences == REPLICAS and inc.status == "open"
    # one runbook run, so one ticket
    assert sim.effects("psa", "create_ticket") == 1 and inc.ticket_id


def test_incident_alert_after_the_window_at_every_replica_opens_one_new_incident(
    engine: Engine,
) -> None:
    sim = _sim()
    IncidentBook(engine, now=lambda: T0).record(_sig(), dedupe_key="k", window=WINDOW)
    # The old incident is still open but stale: exactly one replica supersedes it.
    disps = _race(engine, sim, T0 + WINDOW * 3)
    assert disps == ["new"] + ["repeat"] * (REPLICAS - 1)
    newest = IncidentBook(engine).all()[0]
    assert newest.occurrences == REPLICAS and len(IncidentBook(engine).all()) == 2


def test_incident_flap_at_every_replica_reopens_once(engine: Engine) -> None:
    sim = _sim()
    book = IncidentBook(engine, now=lambda: T0)
    book.record(_sig(), dedupe_key="k", window=WINDOW)
    book.record(_sig("resolved"), dedupe_key="k", window=WINDOW)
    disps = _race(engine, sim, T0 + timedelta(minutes=1))
    assert disps == ["flap"] + ["repeat"] * (REPLICAS - 1)
    assert _open_count(engine) == 1


def test_incident_open_key_follows_resolve_and_reopen(engine: Engine) -> None:
    now = [T0]
    book = IncidentBook(engine, now=lambda: now[0])

    def slots() -> list[str | None]:
        with engine.connect() as conn:
            q = select(incident_table.c.open_key).order_by(incident_table.c.id)
            return list(conn.execute(q).scalars())

    book.record(_sig(), dedupe_key="k", window=WINDOW)
    assert slots() == ["k"]
    book.record(_sig("resolved"), dedupe_key="k", window=WINDOW)
    assert slots() == [None]
    now[0] += timedelta(minutes=1)
    book.record(_sig(), dedupe_key="k", window=WINDOW)  # flap
    assert slots() == ["k"]
    now[0] += WINDOW * 3
    book.record(_sig(), dedupe_key="k", window=WINDOW)  # stale: superseded
    assert slots() == [None, "k"]


def test_incident_second_open_slot_for_a_key_is_refused_by_the_database(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    IncidentBook(engine, now=lambda: T0).record(_sig(), dedupe_key="k", window=WINDOW)
    row = {
        "dedupe_key": "k",
        "open_key": "k",
        "fingerprint": "f",
        "source": "generic",
        "title": "t",
        "severity": "warning",
        "status": "open",
        "labels": {},
        "first_seen": T0,
        "last_seen": T0,
    }
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(incident_table.insert().values(**row))
    with engine.begin() as conn:  # closed incidents do not hold the slot
        conn.execute(incident_table.insert().values(**{**row, "open_key": None}))


def _open_key_revision() -> Script:
    """The revision adding ``open_key``, found by file name so renumbering does not break it."""
    scripts = ScriptDirectory(str(Path(twin.db.__file__).parent / "migrations"))
    (rev,) = [r for r in scripts.walk_revisions() if r.path.endswith("_incident_open_key.py")]
    return rev


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables, to migrate step by step."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"r_{uuid.uuid4().hex[:10]}"
    engine = _pg_engine(schema)
    yield engine
    engine.dispose()
    _drop_schema(schema)


def test_incident_open_key_migration_survives_duplicate_open_incidents(
    bare_engine: Engine,
) -> None:
    ours = _open_key_revision()
    assert isinstance(ours.down_revision, str)
    migrate(bare_engine, revision=ours.down_revision)
    old = table(  # the table as the revision before ours has it: no open_key yet
        "agent_incident",
        *(column(c.name) for c in incident_table.columns if c.name != "open_key"),
    )
    base = {
        "fingerprint": "f", "source": "generic", "title": "t", "severity": "warning",
        "outcome": "", "thread_channel": "", "thread_ts": "", "occurrences": 1, "flaps": 0,
        "cluster": "", "suspected_cause": "", "labels": "{}", "first_seen": T0, "last_seen": T0,
    }  # fmt: skip
    rows = [
        ("raced", "open"),  # the race this revision closes: two open incidents for one alert
        ("raced", "open"),
        ("stale", "open"),  # an open incident superseded after the window by a newer one...
        ("stale", "resolved"),  # ...which has since resolved
        ("done", "resolved"),
        ("flapping", "flapping"),
    ]
    with bare_engine.begin() as conn:
        for key, status in rows:
            conn.execute(old.insert().values(dedupe_key=key, status=status, **base))
    assert migrate(bare_engine, revision=ours.revision) == ours.revision
    with bare_engine.connect() as conn:
        q = select(incident_table.c.open_key).order_by(incident_table.c.id)
        slots = list(conn.execute(q).scalars())
    # Only the newest incident of a key can hold its slot, and only if it is not resolved.
    assert slots == [None, "raced", None, None, None, "flapping"]
    # The grouping carries on from the newest incident: the raced duplicate gets a repeat.
    _, disp = IncidentBook(bare_engine, now=lambda: T0).record(
        _sig(), dedupe_key="raced", window=WINDOW
    )
    assert disp == "repeat"
