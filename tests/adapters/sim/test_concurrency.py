"""Thread-safety: many workers, exact counts, each key applied once (D2 at the sim level)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from adapters.sim import SimEstate
from tests.adapters.sim.conftest import DB1, WEB1, WEB2, WS1


def test_concurrency_exact_call_and_effect_counts(instant: SimEstate) -> None:
    devices = [WEB1, WEB2, DB1, WS1]

    def work(i: int) -> str:
        # 50 distinct keys, each sent 8 times from different threads.
        key = i % 50
        return instant.rmm.reboot(devices[key % 4], idempotency_key=f"k{key}").job_id

    with ThreadPoolExecutor(max_workers=16) as pool:
        jobs = list(pool.map(work, range(400)))
    assert len(set(jobs)) == 50
    assert len(instant.calls.filter(method="reboot")) == 400
    assert len(instant.calls.filter(method="reboot", outcome="ok")) == 50
    assert len(instant.calls.filter(method="reboot", outcome="replayed")) == 350
    assert instant.effects("rmm", "reboot") == 50
    per_device = {d: instant.effects("rmm", "reboot", d) for d in devices}
    assert sum(per_device.values()) == 50
    seqs = [c.seq for c in instant.calls]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))


def test_concurrency_mixed_readers_and_writers(instant: SimEstate) -> None:
    def work(i: int) -> None:
        if i % 3 == 0:
            instant.identity.revoke_sessions("u-alice", idempotency_key=f"r{i}")
        elif i % 3 == 1:
            instant.rmm.list_devices()
        else:
            instant.drift.login("u-alice")

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(work, range(300)))
    assert instant.effects("identity", "revoke_sessions", "u-alice") == 100
    assert instant.effects("drift", "login", "u-alice") == 100
    assert len(instant.calls.filter(method="list_devices")) == 100
