"""NetBox, the source of truth for hardware and addressing, as a topology source.

Read over its REST API with a token (``Authorization: Token <token>``): tenants
(``/api/tenancy/tenants/``), sites (``/api/dcim/sites/``), devices (``/api/dcim/devices/``),
clusters and virtual machines (``/api/virtualization/...``) and IP addresses
(``/api/ipam/ip-addresses/``). Every list is paged: ``{"count", "next", "previous",
"results"}``, following ``next`` (kept on NetBox's own origin). A VM pinned to a device is
``hosted_on`` it; a hypervisor device in a cluster is ``member_of`` it. NetBox knows hardware
and addresses, not what runs on them: it never confirms a host's services (coverage stays
partial on its word alone).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.topology.contract import TopoLink, TopologyReport, TopoRecord
from adapters.vendors._auth import HeaderToken
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str
from twin import EdgeType, NodeKind, utcnow

__all__ = ["HYPERVISOR_ROLES", "NetBoxTopology"]

HYPERVISOR_ROLES = frozenset({"hypervisor", "virtualization-host", "esxi-host", "pve-node"})
"""Device role slugs that make a device a hypervisor (others are hosts)."""


def _nested(obj: dict[str, Any], key: str, field: str = "id") -> str:
    """A nested object's field (``site.slug``, ``cluster.id``), or "" when absent."""
    inner = obj.get(key)
    if inner is None:
        return ""
    return opt_str(as_dict(inner, key), field)


def _address(obj: dict[str, Any], key: str) -> str:
    ip = obj.get(key)
    return opt_str(as_dict(ip, key), "address").split("/", 1)[0] if ip else ""


class NetBoxTopology:
    """:class:`adapters.topology.contract.TopologySource` over NetBox.

    Args:
        base_url: NetBox, e.g. ``https://netbox.corp.example``.
        http_client: Injected sync client.
        token: An API token with read access.
        page_size: ``limit`` per page.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        clock: The observation time of a read.
    """

    source = "netbox"
    integration = "netbox"

    def __init__(
        self,
        base_url: str,
        *,
        http_client: httpx.Client,
        token: SecretStr,
        page_size: int = 1000,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=HeaderToken(token, scheme="Token"),
            hooks=hooks,
        )
        self.page_size = page_size
        self.clock = clock

    def __repr__(self) -> str:
        return f"NetBoxTopology(base_url={str(self.http.base_url)!r})"

    def _all(self, path: str, call: str) -> list[dict[str, Any]]:
        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return as_list(as_dict(page.body, "body")["results"], "results")

        def following(page: HttpResponse, _seen: int) -> str | None:
            nxt = page.body.get("next") if isinstance(page.body, dict) else None
            return nxt if isinstance(nxt, str) and nxt else None

        rows = self.http.paginate(
            path,
            call=call,
            items=items,
            next_request=following,
            params={"limit": self.page_size, "offset": 0},
        )
        with parsing(self.integration, call):
            return [as_dict(r, "result") for r in rows]

    def read_topology(self) -> TopologyReport:
        """Tenants, sites, devices, clusters and VMs, with their IPs and placements."""
        at = self.clock()
        records: list[TopoRecord] = []
        links: list[TopoLink] = []
        ips: dict[str, list[str]] = {}
        call = "list_ip_addresses"
        for ip in self._all("/api/ipam/ip-addresses/", call):
            with parsing(self.integration, call):
                obj = ip.get("assigned_object")
                if not obj:
                    continue
                o = as_dict(obj, "assigned_object")
                owner = (
                    f"device-{_nested(o, 'device')}"
                    if o.get("device")
                    else f"vm-{_nested(o, 'virtual_machine')}"
                )
                ips.setdefault(owner, []).append(req_str(ip, "address").split("/", 1)[0])
        for t in self._all("/api/tenancy/tenants/", "list_tenants"):
            with parsing(self.integration, "list_tenants"):
                records.append(
                    TopoRecord(
                        ref=f"tenant-{req_str(t, 'id')}",
                        kind=NodeKind.CLIENT,
                        name=req_str(t, "slug"),
                        attrs={"display_name": req_str(t, "name")},
                    )
                )
        for s in self._all("/api/dcim/sites/", "list_sites"):
            with parsing(self.integration, "list_sites"):
                records.append(
                    TopoRecord(
                        ref=f"site-{req_str(s, 'id')}", kind=NodeKind.SITE, name=req_str(s, "slug")
                    )
                )
        for c in self._all("/api/virtualization/clusters/", "list_clusters"):
            with parsing(self.integration, "list_clusters"):
                records.append(
                    TopoRecord(
                        ref=f"cluster-{req_str(c, 'id')}",
                        kind=NodeKind.CLUSTER,
                        name=req_str(c, "name"),
                    )
                )
        for d in self._all("/api/dcim/devices/", "list_devices"):
            with parsing(self.integration, "list_devices"):
                ref = f"device-{req_str(d, 'id')}"
                role = _nested(d, "role", "slug") or _nested(d, "device_role", "slug")
                kind = NodeKind.HYPERVISOR if role in HYPERVISOR_ROLES else NodeKind.HOST
                name = req_str(d, "name")
                primary = _address(d, "primary_ip4") or _address(d, "primary_ip6")
                records.append(
                    TopoRecord(
                        ref=ref,
                        kind=kind,
                        name=name,
                        hostname=name.split(".", 1)[0],
                        serial=opt_str(d, "serial"),
                        ips=tuple(i for i in dict.fromkeys([primary, *ips.get(ref, [])]) if i),
                        attrs=_place(d),
                    )
                )
                cluster = _nested(d, "cluster")
                if cluster and kind == NodeKind.HYPERVISOR:
                    links.append(
                        TopoLink(src=ref, type=EdgeType.MEMBER_OF, dst=f"cluster-{cluster}")
                    )
        for vm in self._all("/api/virtualization/virtual-machines/", "list_vms"):
            with parsing(self.integration, "list_vms"):
                ref = f"vm-{req_str(vm, 'id')}"
                name = req_str(vm, "name")
                primary = _address(vm, "primary_ip4") or _address(vm, "primary_ip6")
                records.append(
                    TopoRecord(
                        ref=ref,
                        kind=NodeKind.HOST,
                        name=name,
                        hostname=name.split(".", 1)[0],
                        ips=tuple(i for i in dict.fromkeys([primary, *ips.get(ref, [])]) if i),
                        attrs=_place(vm),
                    )
                )
                device = _nested(vm, "device")
                if device:
                    links.append(TopoLink(src=ref, type=EdgeType.HOSTED_ON, dst=f"device-{device}"))
        return TopologyReport(source=self.source, records=records, links=links, observed_at=at)


def _place(obj: dict[str, Any]) -> dict[str, Any]:
    out = {}
    site, tenant = _nested(obj, "site", "slug"), _nested(obj, "tenant", "slug")
    if site:
        out["site"] = site
    if tenant:
        out["client"] = tenant
    return out
