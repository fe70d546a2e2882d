"""The NetBox topology client against a fake NetBox REST API.

Shapes follow NetBox's REST API documentation
(https://netboxlabs.com/docs/netbox/en/stable/integrations/rest-api/: token auth
``Authorization: Token <key>``; paginated lists ``{"count", "next", "previous", "results"}``
with ``limit``/``offset`` and ``next`` as a full URL; brief nested objects ``{id, url, display,
name, slug}``; endpoints ``/api/tenancy/tenants/``, ``/api/dcim/sites/``, ``/api/dcim/devices/``
(``role``, ``serial``, ``primary_ip4``, ``cluster``), ``/api/virtualization/clusters/``,
``/api/virtualization/virtual-machines/`` (``cluster``, ``device``), ``/api/ipam/ip-addresses/``
(``address`` in CIDR form, ``assigned_object_type``, ``assigned_object``)). Values are ours.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.errors import AuthError, InvalidResponse
from adapters.topology.netbox import NetBoxTopology
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fakes_base import FakeVendor
from twin.model import EdgeType, NodeKind

BASE = "https://netbox.contoso.example"


def _brief(i: int, name: str, **more: Any) -> dict[str, Any]:
    return {"id": i, "url": f"{BASE}/api/x/{i}/", "display": name, "name": name, **more}


class FakeNetBox(FakeVendor):
    def register(self) -> None:
        contoso = _brief(3, "Contoso Ltd", slug="contoso")
        ny = _brief(7, "contoso-ny", slug="contoso-ny")
        self.tables: dict[str, list[dict[str, Any]]] = {
            "tenancy/tenants": [_brief(3, "Contoso Ltd", slug="contoso")],
            "dcim/sites": [_brief(7, "contoso-ny", slug="contoso-ny", tenant=contoso)],
            "virtualization/clusters": [_brief(5, "contoso-ny-hv")],
            "dcim/devices": [
                {
                    **_brief(11, "contoso-ny-hv-01"),
                    "role": _brief(1, "Hypervisor", slug="hypervisor"),
                    "serial": "CZ2130XYZ",
                    "primary_ip4": {"id": 90, "address": "10.0.37.10/24", "family": 4},
                    "cluster": _brief(5, "contoso-ny-hv"),
                    "site": ny,
                    "tenant": contoso,
                },
                {
                    **_brief(12, "contoso-ny-sw-01"),
                    "role": _brief(2, "Access switch", slug="access-switch"),
                    "serial": "FDO1234",
                    "primary_ip4": None,
                    "cluster": None,
                    "site": ny,
                    "tenant": None,
                },
            ],
            "virtualization/virtual-machines": [
                {
                    **_brief(21, "contoso-ny-db-01"),
                    "cluster": _brief(5, "contoso-ny-hv"),
                    "device": _brief(11, "contoso-ny-hv-01"),
                    "primary_ip4": None,
                    "site": ny,
                    "tenant": contoso,
                },
                {
                    **_brief(22, "contoso-ny-web-01"),
                    "cluster": _brief(5, "contoso-ny-hv"),
                    "device": None,  # in the cluster, not pinned to a device
                    "primary_ip4": {"id": 91, "address": "10.0.32.21/24", "family": 4},
                    "site": ny,
                    "tenant": contoso,
                },
            ],
            "ipam/ip-addresses": [
                {
                    "id": 92,
                    "address": "10.0.32.40/24",
                    "assigned_object_type": "virtualization.vminterface",
                    "assigned_object": {
                        "id": 1,
                        "name": "eth0",
                        "virtual_machine": _brief(21, "contoso-ny-db-01"),
                    },
                },
                {
                    "id": 93,
                    "address": "10.9.9.9/32",
                    "assigned_object_type": None,
                    "assigned_object": None,
                },
            ],
        }
        for table in self.tables:
            self.route("GET", rf"/api/{table}/", self.page(table))

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == "Token nb-token-0123"

    def error(self, status: int, message: str) -> httpx.Response:
        return httpx.Response(status, json={"detail": message})

    def page(self, table: str) -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            rows = self.tables[table]
            limit = int(request.url.params.get("limit", "50"))
            offset = int(request.url.params.get("offset", "0"))
            nxt = (
                f"{BASE}/api/{table}/?limit={limit}&offset={offset + limit}"
                if offset + limit < len(rows)
                else None
            )
            prev = f"{BASE}/api/{table}/?limit={limit}" if offset else None
            return httpx.Response(
                200,
                json={
                    "count": len(rows),
                    "next": nxt,
                    "previous": prev,
                    "results": rows[offset : offset + limit],
                },
            )

        return handler


def _client(fake: FakeNetBox, token: str = "nb-token-0123") -> NetBoxTopology:
    return NetBoxTopology(
        BASE,
        http_client=fake.client(),
        token=SecretStr(token),
        page_size=1,
        hooks=fake.time.hooks(),
    )


def test_netbox_reads_hardware_placement_and_addresses_over_pages() -> None:
    fake = FakeNetBox(FakeTime())
    report = _client(fake).read_topology()
    recs = {r.ref: r for r in report.records}
    assert recs["tenant-3"].kind == NodeKind.CLIENT and recs["tenant-3"].name == "contoso"
    assert recs["site-7"].kind == NodeKind.SITE
    hv = recs["device-11"]
    assert hv.kind == NodeKind.HYPERVISOR and hv.serial == "CZ2130XYZ"
    assert hv.ips == ("10.0.37.10",) and hv.attrs == {"site": "contoso-ny", "client": "contoso"}
    assert recs["device-12"].kind == NodeKind.HOST  # a switch is not a hypervisor
    assert recs["vm-21"].ips == ("10.0.32.40",)  # from its interface's address
    assert recs["vm-22"].ips == ("10.0.32.21",)
    assert {(x.src, x.type, x.dst) for x in report.links} == {
        ("device-11", EdgeType.MEMBER_OF, "cluster-5"),
        ("vm-21", EdgeType.HOSTED_ON, "device-11"),
    }
    assert not [r for r in report.records if r.kind == NodeKind.SERVICE]  # no services
    # one row a page: every list followed its "next" link to the end
    vm_pages = [r for r in fake.api_requests() if "virtual-machines" in r.url.path]
    assert len(vm_pages) == 2


def test_netbox_errors_map() -> None:
    with pytest.raises(AuthError):
        _client(FakeNetBox(FakeTime()), token="wrong").read_topology()
    fake = FakeNetBox(FakeTime())
    fake.tables["dcim/devices"][0]["primary_ip4"] = "10.0.37.10"  # not an object
    with pytest.raises(InvalidResponse, match="list_devices"):
        _client(fake).read_topology()
