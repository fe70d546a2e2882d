"""The simulated estate: one object holding the real state and the six sim adapters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from adapters.errors import NotFound
from adapters.sim._core import SimCore
from adapters.sim.backup import SimBackup
from adapters.sim.build import load_estate
from adapters.sim.calls import CallLog, CallStore
from adapters.sim.clock import Clock, SimTimings, SystemClock
from adapters.sim.drift import Drift
from adapters.sim.faults import FaultSet
from adapters.sim.firewall import SimFirewall
from adapters.sim.identity import SimIdentity
from adapters.sim.psa import SimPsa
from adapters.sim.rmm import SimRmm
from adapters.sim.siem import SimSiem
from twin import Entity, Relation

__all__ = ["ServiceHealth", "SimEstate"]


class ServiceHealth(BaseModel):
    """How a service is doing across the devices it runs on (sim-only observation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service_id: str
    name: str
    status: Literal["running", "degraded", "down", "unplaced"]
    """``running``: every instance runs; ``degraded``: some do; ``down``: none does;
    ``unplaced``: the service has no instance on any simulated device."""
    instances: dict[str, str]
    """Device id -> ``running`` | ``stopped`` | ``failed``."""
    reasons: tuple[str, ...] = ()
    """Why instances are not running, one sentence each."""


class SimEstate:
    """A simulated estate that behaves like a real one, faults included.

    Build it with :meth:`from_twin`. The adapters (``rmm``, ``psa``, ``siem``, ``identity``,
    ``backup``, ``firewall``) implement the Protocols of :mod:`adapters.contracts`; ``faults``
    injects failures, ``drift`` changes the estate behind opshand's back, ``calls`` and
    :meth:`effects` show what reached the estate.
    """

    def __init__(self, core: SimCore) -> None:
        self._core = core
        self.rmm = SimRmm(core)
        self.psa = SimPsa(core)
        self.siem = SimSiem(core)
        self.identity = SimIdentity(core)
        self.backup = SimBackup(core)
        self.firewall = SimFirewall(core)
        self.firewalls = {name: SimFirewall(core, name) for name in core.firewalls}
        """One adapter per firewall device, by name, with rule ids local to that device."""
        self.drift = Drift(core)

    @classmethod
    def from_twin(
        cls,
        entities: Iterable[Entity],
        relations: Iterable[Relation],
        *,
        clock: Clock | None = None,
        seed: int = 0,
        timings: SimTimings | None = None,
        store: CallStore | None = None,
    ) -> SimEstate:
        """Build the estate's real state from twin records (usually the sample estate).

        Args:
            entities: twin entities; inactive ones are ignored.
            relations: twin relations; those with an unknown end are ignored.
            clock: where time comes from (default: the system clock).
            seed: seeds every random choice (sessions, initial alerts, fault probabilities).
            timings: durations of jobs (default: realistic, unscaled).
            store: where calls, effects and idempotency records live (default: in memory;
                :class:`~adapters.sim.sqlite_store.SqliteCallStore` shares them between
                processes).

        Raises:
            ValueError: an entity's attributes cannot be understood (the message names it).
        """
        core = SimCore(
            clock=clock if clock is not None else SystemClock(),
            timings=timings if timings is not None else SimTimings(),
            seed=seed,
            store=store,
        )
        load_estate(core, entities, relations)
        core.share_ids()
        return cls(core)

    def identity_for(self, client: str) -> SimIdentity:
        """The identity provider of one client tenant (users and groups of that client only)."""
        return SimIdentity(self._core, client)

    @property
    def clock(self) -> Clock:
        """The estate's clock."""
        return self._core.clock

    @property
    def faults(self) -> FaultSet:
        """Active fault rules; ``sim.faults.add(FaultRule(...))``."""
        return self._core.faults

    @property
    def calls(self) -> CallLog:
        """Every call made to the adapters, with its outcome."""
        return self._core.calls

    def effects(self, category: str, method: str, target: str | None = None) -> int:
        """How many times ``category.method`` changed the estate (replays do not count)."""
        return self._core.calls.effects(category, method, target)

    def service_health(self, service: str) -> ServiceHealth:
        """Health of a service, by twin id (``service:contoso-erp-db``) or name.

        Raises:
            NotFound: no such service in the estate.
        """
        core = self._core
        with core.lock:
            now = core.settle()
            svc = core.find_service(service)
            if svc is None:
                raise NotFound(f"no service {service!r} in the sim estate", integration="sim")
            instances: dict[str, str] = {}
            reasons: list[str] = []
            for dev_id in svc.devices:
                status, reason = core.instance_status(core.devices[dev_id], svc.service_id, now)
                instances[dev_id] = status
                if reason:
                    reasons.append(reason)
        up = sum(1 for s in instances.values() if s == "running")
        overall: Literal["running", "degraded", "down", "unplaced"]
        if not instances:
            overall = "unplaced"
        elif up == len(instances):
            overall = "running"
        else:
            overall = "degraded" if up else "down"
        return ServiceHealth(
            service_id=svc.service_id,
            name=svc.name,
            status=overall,
            instances=instances,
            reasons=tuple(reasons),
        )

    def data_as_of(self, object_name: str) -> datetime | None:
        """Time a protected object's data was last restored to (``None``: live data)."""
        with self._core.lock:
            self._core.settle()
            if object_name not in self._core.data_as_of:
                raise NotFound(f"no protected object {object_name!r}", integration="sim")
            return self._core.data_as_of[object_name]

    def events(self) -> list[dict[str, object]]:
        """The estate's event stream (what :meth:`SimSiem.search` searches), oldest first."""
        with self._core.lock:
            self._core.settle()
            return [dict(e) for e in self._core.events]
