"""The simulated estate: the real state of a fake estate, behind the same contracts as vendors.

Use it for the demo and for tests::

    clock = ManualClock()
    sim = SimEstate.from_twin(entities, relations, clock=clock, timings=SimTimings())
    job = sim.rmm.reboot("100042", idempotency_key="k1")   # an RMM device id
    clock.advance(300)
    assert sim.rmm.job_status(job.job_id).state == "succeeded"
    assert sim.effects("rmm", "reboot", "100042") == 1
"""

from __future__ import annotations

from adapters.sim.calls import CallLog, CallRecord, CallStore, MemoryCallStore
from adapters.sim.clock import Clock, ManualClock, SimTimings, SystemClock
from adapters.sim.estate import ServiceHealth, SimEstate
from adapters.sim.faults import FaultKind, FaultRule, FaultSet
from adapters.sim.sqlite_store import SqliteCallStore

__all__ = [
    "CallLog",
    "CallRecord",
    "CallStore",
    "Clock",
    "FaultKind",
    "FaultRule",
    "FaultSet",
    "ManualClock",
    "MemoryCallStore",
    "ServiceHealth",
    "SimEstate",
    "SimTimings",
    "SqliteCallStore",
    "SystemClock",
]
