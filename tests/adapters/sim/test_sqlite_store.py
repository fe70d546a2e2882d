"""Calls, effects and idempotency shared through SQLite by several estates and processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from adapters.contracts import FirewallRule
from adapters.errors import IdempotencyConflict
from adapters.sim import ManualClock, SimEstate, SimTimings
from adapters.sim.sqlite_store import SqliteCallStore
from tests.adapters.sim.conftest import START, WEB1, WEB2, small_estate


def _sim(path: Path) -> SimEstate:
    ents, rels = small_estate()
    return SimEstate.from_twin(
        ents,
        rels,
        clock=ManualClock(START),
        timings=SimTimings(scale=0),
        store=SqliteCallStore(path),
    )


def test_sqlite_store_shares_keys_and_effects_between_estates(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    a, b = _sim(db), _sim(db)
    first = a.rmm.reboot(WEB1, idempotency_key="k1")
    again = b.rmm.reboot(WEB1, idempotency_key="k1")  # e.g. the restarted worker
    assert again == first
    assert a.effects("rmm", "reboot", WEB1) == b.effects("rmm", "reboot", WEB1) == 1
    with pytest.raises(IdempotencyConflict):
        b.rmm.reboot(WEB2, idempotency_key="k1")
    assert [c.outcome for c in a.calls] == ["ok", "replayed", "IdempotencyConflict"]
    assert [c.seq for c in b.calls] == [1, 2, 3]


def test_sqlite_store_round_trips_every_result_type(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    a, b = _sim(db), _sim(db)
    calls = [
        lambda s: s.identity.disable_user("u-bob", idempotency_key="i"),
        lambda s: s.identity.rotate_secret("u-svc-web", overlap_minutes=5, idempotency_key="r"),
        lambda s: s.psa.comment("tk-1001", "x", idempotency_key="p"),
        lambda s: s.firewall.add_rule(
            FirewallRule(rule_id="9", action="block", source="a", destination="b"),
            idempotency_key="f",
        ),
        lambda s: s.firewall.remove_rule("9", idempotency_key="g"),
    ]
    for call in calls:
        original = call(b)
        replayed = call(a)  # answered from the shared record, rebuilt as the same type
        assert replayed == original and type(replayed) is type(original)
    assert len(a.calls.filter(outcome="replayed")) == 5
    assert a.effects("identity", "disable_user") == 1


def _worker(path: str, worker: int) -> int:
    sim = _sim(Path(path))
    done = 0
    for i in range(30):
        # Every worker sends the same 30 keys, starting at a different point.
        key = (i + worker * 7) % 30
        sim.identity.revoke_sessions("u-alice", idempotency_key=f"k{key}")
        done += 1
    return done


def test_sqlite_store_exactly_once_across_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "sim.db")
    SqliteCallStore(db).close()  # create the tables before the race
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        assert pool.starmap(_worker, [(db, w) for w in range(4)]) == [30] * 4
    sim = _sim(Path(db))
    assert sim.effects("identity", "revoke_sessions", "u-alice") == 30
    assert len(sim.calls) == 120
    assert len(sim.calls.filter(outcome="replayed")) == 90
