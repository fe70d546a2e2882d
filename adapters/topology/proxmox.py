"""Proxmox VE as a topology source, over its HTTP API (``/api2/json``).

Auth is an API token (``Authorization: PVEAPIToken=<user>@<realm>!<token id>=<secret>``).
``GET /cluster/status`` names the cluster (when the nodes form one) and its nodes with their
addresses; ``GET /cluster/resources?type=vm`` lists every guest, QEMU VMs and LXC containers
alike, with the node it runs on. Guest ``hosted_on`` node ``member_of`` cluster. Every answer
is wrapped in ``{"data": ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, ResilienceOptions, ResilientHttp
from adapters.topology.contract import TopoLink, TopologyReport, TopoRecord
from adapters.vendors._auth import HeaderToken
from adapters.vendors._parse import Malformed, as_dict, as_list, opt_str, parsing, req_str
from twin import EdgeType, NodeKind, utcnow

__all__ = ["ProxmoxTopology"]


class ProxmoxTopology:
    """:class:`adapters.topology.contract.TopologySource` over Proxmox VE.

    Args:
        base_url: Any node of the cluster, e.g. ``https://pve1.corp.example:8006``.
        http_client: Injected sync client.
        token_id: ``<user>@<realm>!<token name>``.
        secret: The token's secret.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        clock: The observation time of a read.
    """

    source = "proxmox"
    integration = "proxmox"

    def __init__(
        self,
        base_url: str,
        *,
        http_client: httpx.Client,
        token_id: str,
        secret: SecretStr,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if "@" not in token_id or "!" not in token_id:
            raise ValueError(f"token_id must look like user@realm!name, got {token_id!r}")
        full = SecretStr(f"PVEAPIToken={token_id}={secret.get_secret_value()}")
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=HeaderToken(full, scheme=""),
            hooks=hooks,
        )
        self.clock = clock

    def __repr__(self) -> str:
        return f"ProxmoxTopology(base_url={str(self.http.base_url)!r})"

    def _data(self, path: str, call: str, params: dict[str, str] | None = None) -> list[Any]:
        page = self.http.get(path, call=call, params=params)
        with parsing(self.integration, call):
            return [as_dict(x, "item") for x in as_list(as_dict(page.body, "body")["data"], "data")]

    def read_topology(self) -> TopologyReport:
        """The cluster, its nodes and every guest."""
        at = self.clock()
        records: list[TopoRecord] = []
        links: list[TopoLink] = []
        cluster = ""
        nodes: set[str] = set()
        status = self._data("/api2/json/cluster/status", "cluster_status")
        with parsing(self.integration, "cluster_status"):
            for item in status:
                kind = req_str(item, "type")
                if kind == "cluster":
                    cluster = req_str(item, "name")
                    records.append(
                        TopoRecord(ref=f"cluster/{cluster}", kind=NodeKind.CLUSTER, name=cluster)
                    )
                elif kind == "node":
                    name = req_str(item, "name")
                    nodes.add(name)
                    ip = opt_str(item, "ip")
                    records.append(
                        TopoRecord(
                            ref=f"node/{name}",
                            kind=NodeKind.HYPERVISOR,
                            name=name,
                            hostname=name,
                            ips=(ip,) if ip else (),
                            attrs={"online": bool(item.get("online", 0))},
                        )
                    )
            if cluster:
                links += [
                    TopoLink(src=f"node/{n}", type=EdgeType.MEMBER_OF, dst=f"cluster/{cluster}")
                    for n in sorted(nodes)
                ]
        guests = self._data("/api2/json/cluster/resources", "cluster_resources", {"type": "vm"})
        with parsing(self.integration, "cluster_resources"):
            for g in guests:
                gtype = req_str(g, "type")
                if gtype not in ("qemu", "lxc"):
                    continue
                if g.get("template"):
                    continue  # a template runs nothing
                node = req_str(g, "node")
                if node not in nodes:
                    raise Malformed(f"guest {req_str(g, 'id')} is on unknown node {node!r}")
                name = opt_str(g, "name") or f"{gtype}-{req_str(g, 'vmid')}"
                records.append(
                    TopoRecord(
                        ref=req_str(g, "id"),
                        kind=NodeKind.HOST,
                        name=name,
                        hostname=name,
                        attrs={"guest_type": gtype, "status": opt_str(g, "status")},
                    )
                )
                links.append(
                    TopoLink(src=req_str(g, "id"), type=EdgeType.HOSTED_ON, dst=f"node/{node}")
                )
        return TopologyReport(source=self.source, records=records, links=links, observed_at=at)
