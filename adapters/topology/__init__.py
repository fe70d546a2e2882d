"""Where the twin's topology comes from: the estate's own sources.

One contract (:mod:`adapters.topology.contract`) for every source: ServiceNow CMDB, VMware
vCenter, Proxmox VE, the trace service graph through Prometheus, NetBox and a declared catalog
file. Records are matched to twin entities with a report (:mod:`adapters.topology.match`), one
sync applies them, ages learned relations and recomputes coverage
(:mod:`adapters.topology.sync`), and the sims derive each source from the sample's ground truth
with realistic gaps (:mod:`adapters.topology.sim`).
"""

from __future__ import annotations

from adapters.topology.catalog import CatalogError, CatalogFile
from adapters.topology.config import (
    TOPOLOGY_VENDORS,
    BuiltTopologySource,
    TopologyConfig,
    TopologySourceConfig,
    build_topology_sources,
    check_topology_source,
)
from adapters.topology.contract import TopoLink, TopologyReport, TopologySource, TopoRecord
from adapters.topology.match import MatchReport, TwinIndex, match_report
from adapters.topology.netbox import NetBoxTopology
from adapters.topology.prometheus import PrometheusServiceGraph
from adapters.topology.proxmox import ProxmoxTopology
from adapters.topology.servicenow_cmdb import ServiceNowCmdb
from adapters.topology.sim import SimTopology, sim_topology_sources, without_topology
from adapters.topology.sync import TopologySync, sync_topology
from adapters.topology.vcenter import VcenterTopology

__all__ = [
    "TOPOLOGY_VENDORS",
    "BuiltTopologySource",
    "CatalogError",
    "CatalogFile",
    "MatchReport",
    "NetBoxTopology",
    "PrometheusServiceGraph",
    "ProxmoxTopology",
    "ServiceNowCmdb",
    "SimTopology",
    "TopoLink",
    "TopoRecord",
    "TopologyConfig",
    "TopologyReport",
    "TopologySource",
    "TopologySourceConfig",
    "TopologySync",
    "TwinIndex",
    "VcenterTopology",
    "build_topology_sources",
    "check_topology_source",
    "match_report",
    "sim_topology_sources",
    "sync_topology",
    "without_topology",
]
