"""The simulated estate: the real state of a fake estate, behind the same contracts as vendors.

Use it for the demo and for tests::

    sim = SimEstate.from_twin(entities, relations, clock=ManualClock(), timings=SimTimings())
    job = sim.rmm.reboot("dev-0001", idempotency_key="k1")
    sim.clock.advance(300)
    assert sim.rmm.job_status(job.job_id).state == "succeeded"
"""

from __future__ import annotations

from adapters.sim.calls import CallLog, CallRecord
from adapters.sim.clock import Clock, ManualClock, SimTimings, SystemClock
from adapters.sim.estate import ServiceHealth, SimEstate
from adapters.sim.faults import FaultKind, FaultRule, FaultSet

__all__ = [
    "CallLog",
    "CallRecord",
    "Clock",
    "FaultKind",
    "FaultRule",
    "FaultSet",
    "ManualClock",
    "ServiceHealth",
    "SimEstate",
    "SimTimings",
    "SystemClock",
]
