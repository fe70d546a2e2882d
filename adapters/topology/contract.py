"""The one contract every topology source implements, and the records it returns.

A topology source (a CMDB, a hypervisor manager, a trace service graph, NetBox, a declared
catalog file) answers one question: which things exist and how they depend on each other. It
returns a :class:`TopologyReport` of vendor records (each with whatever identifiers the vendor
keeps: hostname, FQDN, IPs, serial, its own id) and links between those records, in the vendor's
ids. Turning records into twin entities is matching's job (:mod:`adapters.topology.match`), not
the source's, so every source is read and tested the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from twin import EdgeType, NodeKind

__all__ = ["TopoLink", "TopoRecord", "TopologyReport", "TopologySource"]


class TopoRecord(BaseModel):
    """One thing a source knows, with the identifiers matching needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str
    """The vendor's own id (``sys_id``, ``vm-42``, ``qemu/100``, a catalog entity ref)."""
    kind: NodeKind
    name: str
    hostname: str = ""
    fqdn: str = ""
    ips: tuple[str, ...] = ()
    serial: str = ""
    env: str = ""
    """The environment the source states (``prod``, ``staging``, ``dev``), or empty."""
    verified_at: datetime | None = None
    """When the source last confirmed the record itself (a CMDB's ``sys_updated_on``); a record
    not confirmed for long does not count towards coverage."""
    attrs: dict[str, Any] = Field(default_factory=dict)
    """Other facts worth keeping (``client``, ``site``, ``power_state`` ...)."""


class TopoLink(BaseModel):
    """``src`` needs ``dst`` in the way ``type`` says, in the source's own ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    src: str
    type: EdgeType
    dst: str
    attrs: dict[str, Any] = Field(default_factory=dict)
    """E.g. ``rate`` (requests per second, telemetry) or ``rel_type`` (the CMDB's name)."""


class TopologyReport(BaseModel):
    """Everything one source reported in one read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    """``cmdb``, ``vcenter``, ``proxmox``, ``telemetry``, ``netbox`` or ``catalog``."""
    records: list[TopoRecord]
    links: list[TopoLink]
    observed_at: datetime
    complete: bool = True
    """Whether the read covered everything the source holds (a full sync)."""


@runtime_checkable
class TopologySource(Protocol):
    """A source of topology: one read, everything it knows."""

    source: str

    def read_topology(self) -> TopologyReport:
        """Read every record and link.

        Raises:
            adapters.errors.AdapterError: the source failed (mapped at the edge).
        """
        ...
