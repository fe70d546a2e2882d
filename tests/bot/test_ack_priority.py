"""Acknowledgements first (bot.ingress.priority): other threads wait, boundedly, for acks."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from bot.ingress.priority import SWITCHING, AckFirst


def timed(fn: object) -> float:
    start = time.monotonic()
    fn()  # type: ignore[operator]
    return time.monotonic() - start


@pytest.fixture(autouse=True)
def _switch_interval_restored() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    assert SWITCHING.holders == 0
    assert sys.getswitchinterval() == before


def test_nothing_waits_while_no_ack_is_in_flight() -> None:
    gate = AckFirst(max_hold=5)
    assert gate.yield_to_acks() is False
    with gate.acking():
        pass
    assert gate.inflight == 0
    assert timed(gate.yield_to_acks) < 0.5
    assert gate.waits == 0


def test_other_work_waits_until_the_last_ack_in_flight_is_answered() -> None:
    gate = AckFirst(max_hold=5)
    gate.begin()
    gate.begin()
    threading.Timer(0.1, gate.end).start()
    threading.Timer(0.3, gate.end).start()
    took = timed(gate.yield_to_acks)
    assert 0.25 <= took < 4, took
    assert gate.waits == 1
    assert gate.inflight == 0


def test_the_wait_is_bounded_when_acks_keep_coming() -> None:
    gate = AckFirst(max_hold=0.05)
    gate.begin()  # never answered
    took = timed(gate.yield_to_acks)
    assert 0.04 <= took < 2, took
    gate.end()


def test_threads_on_the_ack_path_never_wait() -> None:
    gate = AckFirst(max_hold=5)
    gate.begin()
    took: list[float] = []

    def writer() -> None:
        gate.mark_ack_path()
        took.append(timed(gate.yield_to_acks))

    t = threading.Thread(target=writer)
    t.start()
    t.join(10)
    gate.end()
    assert took and took[0] < 0.5


def test_connection_checkouts_yield_to_acks_once_installed(engine: Engine) -> None:
    gate = AckFirst(max_hold=5)
    gate.install(engine)
    gate.install(engine)  # once per engine
    gate.begin()
    threading.Timer(0.3, gate.end).start()

    def query() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    took = timed(query)
    assert 0.25 <= took < 4, took
    assert gate.waits == 1
    assert timed(query) < 0.5  # idle again: no wait
    assert gate.waits == 1


def test_switching_is_fast_only_while_acks_are_in_flight() -> None:
    before = sys.getswitchinterval()
    gate = AckFirst(switch_interval=before / 10)
    gate.begin()
    gate.begin()
    assert sys.getswitchinterval() == pytest.approx(before / 10)
    gate.end()
    assert sys.getswitchinterval() == pytest.approx(before / 10)  # one still in flight
    gate.end()
    assert sys.getswitchinterval() == before
    gate.end()  # an unmatched end changes nothing
    assert sys.getswitchinterval() == before
    assert gate.inflight == 0


def test_overlapping_gates_restore_the_interval_found_by_the_first() -> None:
    before = sys.getswitchinterval()
    first, second = AckFirst(switch_interval=before / 10), AckFirst(switch_interval=before / 5)
    first.begin()
    second.begin()
    first.end()  # the second gate still has an ack in flight
    assert sys.getswitchinterval() == pytest.approx(before / 10)
    second.end()
    assert sys.getswitchinterval() == before


def test_a_gate_without_a_switch_interval_leaves_it_alone() -> None:
    before = sys.getswitchinterval()
    gate = AckFirst(switch_interval=None)
    with gate.acking():
        assert sys.getswitchinterval() == before
