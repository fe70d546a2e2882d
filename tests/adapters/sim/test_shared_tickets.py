"""PSA tickets shared by estates (replicas) on one SQLite call store: ids, numbers and state."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from adapters.errors import AdapterError, NotFound
from adapters.sim import ManualClock, MemoryCallStore, SimEstate, SimTimings
from adapters.sim.sqlite_store import SqliteCallStore
from tests.adapters.sim.conftest import START, small_estate


def _sim(path: Path) -> SimEstate:
    ents, rels = small_estate()
    return SimEstate.from_twin(
        ents,
        rels,
        clock=ManualClock(START),
        timings=SimTimings(scale=0),
        store=SqliteCallStore(path),
    )


def test_shared_store_replicas_open_tickets_with_distinct_ids_and_numbers(tmp_path: Path) -> None:
    a, b = _sim(tmp_path / "calls.db"), _sim(tmp_path / "calls.db")
    t1 = a.psa.create_ticket("[INC-1] disk", "d", priority="high", idempotency_key="INC-1:open")
    t2 = b.psa.create_ticket("[INC-2] cpu", "d", priority="low", idempotency_key="INC-2:open")
    t3 = a.psa.create_ticket("[INC-3] ram", "d", priority="low", idempotency_key="INC-3:open")
    assert len({t1.ticket_id, t2.ticket_id, t3.ticket_id}) == 3
    # The estate's own ticket is TCK-1001: new ones follow it, one sequence for all replicas.
    assert [t1.number, t2.number, t3.number] == ["TCK-1002", "TCK-1003", "TCK-1004"]


def test_shared_store_ticket_opened_by_one_replica_is_commented_and_closed_by_another(
    tmp_path: Path,
) -> None:
    a, b = _sim(tmp_path / "calls.db"), _sim(tmp_path / "calls.db")
    inc1 = a.psa.create_ticket("[INC-1] disk", "d", priority="high", idempotency_key="INC-1:o")
    inc2 = b.psa.create_ticket("[INC-2] cpu", "d", priority="low", idempotency_key="INC-2:o")
    b.psa.comment(inc1.ticket_id, "repeat on replica b", idempotency_key="INC-1:c:2:0")
    b.psa.close(inc1.ticket_id, "resolved at source", idempotency_key="INC-1:close:0")
    a.psa.comment(inc2.ticket_id, "note from replica a", idempotency_key="INC-2:c:2:0")

    for sim in (a, b):
        seen1 = sim.psa.get_ticket(inc1.ticket_id)
        assert seen1.status == "closed"
        assert seen1.comments == ("repeat on replica b", "Resolution: resolved at source")
        # INC-2's comment landed on INC-2's ticket, not on INC-1's.
        assert sim.psa.get_ticket(inc2.ticket_id).comments == ("note from replica a",)
        assert {t.ticket_id for t in sim.psa.list_tickets()} >= {inc1.ticket_id, inc2.ticket_id}
    # The closed state travels too: the other replica cannot re-open it either.
    with pytest.raises(AdapterError, match="closed"):
        a.psa.update_status(inc1.ticket_id, "open", idempotency_key="INC-1:reopen:1")


def test_shared_store_change_to_an_estate_ticket_is_seen_by_every_replica(tmp_path: Path) -> None:
    a, b = _sim(tmp_path / "calls.db"), _sim(tmp_path / "calls.db")
    a.psa.escalate("tk-1001", "needs tier 2", idempotency_key="e1")
    b.psa.comment("tk-1001", "on it", idempotency_key="c1")
    for sim in (a, b):
        t = sim.psa.get_ticket("tk-1001")
        assert t.escalated and t.comments == ("Escalated: needs tier 2", "on it")


def test_shared_store_unknown_ticket_is_still_not_found(tmp_path: Path) -> None:
    a, b = _sim(tmp_path / "calls.db"), _sim(tmp_path / "calls.db")
    a.psa.create_ticket("x", "y", priority="low", idempotency_key="k")
    with pytest.raises(NotFound):
        b.psa.comment("tk-99999", "hi", idempotency_key="c")


def _open_tickets(path: str, worker: int) -> list[str]:
    sim = _sim(Path(path))
    return [
        sim.psa.create_ticket(
            f"w{worker} t{i}", "d", priority="low", idempotency_key=f"w{worker}:{i}"
        ).ticket_id
        for i in range(15)
    ]


def test_shared_store_ticket_ids_are_unique_across_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "calls.db")
    SqliteCallStore(db).close()  # create the tables before the race
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        ids = [i for part in pool.starmap(_open_tickets, [(db, w) for w in range(3)]) for i in part]
    assert len(ids) == len(set(ids)) == 45
    tickets = _sim(Path(db)).psa.list_tickets()
    numbers = [t.number for t in tickets if t.ticket_id in set(ids)]
    assert len(numbers) == len(set(numbers)) == 45


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_call_store_next_number_counts_per_name_and_skips_taken_values(
    store_kind: str, tmp_path: Path
) -> None:
    store = MemoryCallStore() if store_kind == "memory" else SqliteCallStore(tmp_path / "s.db")
    assert [store.next_number("tk"), store.next_number("tk")] == [1, 2]
    assert store.next_number("TCK", after=1005) == 1006
    assert store.next_number("TCK", after=1000) == 1007  # never goes back
    assert store.next_number("tk", after=10) == 11


def test_job_ids_are_unique_across_sims_sharing_a_store(tmp_path: Path) -> None:
    """A replica reading back a job another replica started must not find its own job."""
    a, b = _sim(tmp_path / "calls.db"), _sim(tmp_path / "calls.db")
    host = sorted(a._core.devices)[0]
    ja = a.rmm.reboot(host, idempotency_key="k-a")
    jb = b.rmm.reboot(host, idempotency_key="k-b")
    jc = a.rmm.reboot(host, idempotency_key="k-c")
    assert len({ja.job_id, jb.job_id, jc.job_id}) == 3
    # a single sim (no sharing) numbers as before, from 1
    solo = SimEstate.from_twin(
        *small_estate(), clock=ManualClock(START), timings=SimTimings(scale=0)
    )
    assert solo.rmm.reboot(host, idempotency_key="k").job_id == "job-00001"
