"""The Proxmox VE topology client against a fake of its HTTP API.

Shapes follow the Proxmox VE API viewer (https://pve.proxmox.com/pve-docs/api-viewer/:
``GET /api2/json/cluster/status`` -> ``{"data": [{"type": "cluster", "name", "nodes",
"quorate"}, {"type": "node", "name", "ip", "online", "nodeid"}]}``; ``GET
/api2/json/cluster/resources?type=vm`` -> ``{"data": [{"id": "qemu/100", "type": "qemu" |
"lxc", "vmid", "name", "node", "status", "template"}]}``) and its API-token header
``Authorization: PVEAPIToken=USER@REALM!TOKENID=UUID``
(https://pve.proxmox.com/wiki/Proxmox_VE_API#API_Tokens). Values are ours.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.errors import AuthError, InvalidResponse
from adapters.topology.proxmox import ProxmoxTopology
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fakes_base import FakeVendor
from twin.model import EdgeType, NodeKind

TOKEN = "PVEAPIToken=opshand@pve!topology=5f0c1a2b-0000-4000-8000-000000000001"


class FakeProxmox(FakeVendor):
    def register(self) -> None:
        self.status: list[dict[str, Any]] = [
            {
                "type": "cluster",
                "id": "cluster",
                "name": "fabrikam-pve",
                "nodes": 2,
                "quorate": 1,
                "version": 4,
            },
            {
                "type": "node",
                "id": "node/pve1",
                "name": "pve1",
                "ip": "10.1.37.10",
                "online": 1,
                "nodeid": 1,
                "local": 1,
                "level": "",
            },
            {
                "type": "node",
                "id": "node/pve2",
                "name": "pve2",
                "ip": "10.1.37.11",
                "online": 0,
                "nodeid": 2,
                "local": 0,
                "level": "",
            },
        ]
        self.guests: list[dict[str, Any]] = [
            {
                "id": "qemu/100",
                "type": "qemu",
                "vmid": 100,
                "name": "fabrikam-db-01",
                "node": "pve1",
                "status": "running",
                "template": 0,
            },
            {
                "id": "lxc/101",
                "type": "lxc",
                "vmid": 101,
                "name": "fabrikam-dns-01",
                "node": "pve2",
                "status": "stopped",
                "template": 0,
            },
            {
                "id": "qemu/9000",
                "type": "qemu",
                "vmid": 9000,
                "name": "debian-12-template",
                "node": "pve1",
                "status": "stopped",
                "template": 1,
            },
        ]
        self.route(
            "GET",
            r"/api2/json/cluster/status",
            lambda r: httpx.Response(200, json={"data": self.status}),
        )
        self.route("GET", r"/api2/json/cluster/resources", self.resources)

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == TOKEN

    def error(self, status: int, message: str) -> httpx.Response:
        return httpx.Response(status, json={"data": None, "message": message})

    def resources(self, request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("type") == "vm"
        return httpx.Response(200, json={"data": self.guests})


def _client(fake: FakeProxmox, secret: str = "5f0c1a2b-0000-4000-8000-000000000001"):
    return ProxmoxTopology(
        "https://pve1.fabrikam.example:8006",
        http_client=fake.client(),
        token_id="opshand@pve!topology",
        secret=SecretStr(secret),
        hooks=fake.time.hooks(),
    )


def test_proxmox_reads_guests_nodes_and_cluster() -> None:
    report = _client(FakeProxmox(FakeTime())).read_topology()
    recs = {r.ref: r for r in report.records}
    assert recs["cluster/fabrikam-pve"].kind == NodeKind.CLUSTER
    assert recs["node/pve1"].kind == NodeKind.HYPERVISOR and recs["node/pve1"].ips == (
        "10.1.37.10",
    )
    assert recs["lxc/101"].kind == NodeKind.HOST and recs["lxc/101"].attrs["guest_type"] == "lxc"
    assert "qemu/9000" not in recs  # templates run nothing
    assert {(x.src, x.type, x.dst) for x in report.links} == {
        ("node/pve1", EdgeType.MEMBER_OF, "cluster/fabrikam-pve"),
        ("node/pve2", EdgeType.MEMBER_OF, "cluster/fabrikam-pve"),
        ("qemu/100", EdgeType.HOSTED_ON, "node/pve1"),
        ("lxc/101", EdgeType.HOSTED_ON, "node/pve2"),
    }


def test_proxmox_errors_map() -> None:
    with pytest.raises(AuthError):
        _client(FakeProxmox(FakeTime()), secret="wrong").read_topology()
    fake = FakeProxmox(FakeTime())
    fake.guests[0]["node"] = "pve9"
    with pytest.raises(InvalidResponse, match="unknown node"):
        _client(fake).read_topology()
    with pytest.raises(ValueError, match="user@realm!name"):
        ProxmoxTopology(
            "https://x", http_client=httpx.Client(), token_id="opshand", secret=SecretStr("s")
        )
