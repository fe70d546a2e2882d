"""The vCenter topology client against a fake vSphere Automation REST API.

Shapes follow VMware's vSphere Automation API reference (developer.broadcom.com,
"vSphere Automation API" for vCenter 7.0U2+/8.0: ``POST /api/session`` returning the session
id as a JSON string, header ``vmware-api-session-id``; ``GET /api/vcenter/cluster`` ->
``[{cluster, name, ha_enabled, drs_enabled}]``; ``GET /api/vcenter/host?clusters=`` ->
``[{host, name, connection_state, power_state}]``; ``GET /api/vcenter/vm?hosts=`` ->
``[{vm, name, power_state, cpu_count, memory_size_MiB}]``; ``GET
/api/vcenter/vm/{vm}/guest/identity`` -> ``{name, family, full_name, host_name, ip_address}``,
503 when VMware Tools is not running; errors ``{"error_type": ..., "messages": [...]}``), as
mirrored by the ansible vmware_rest modules' docs (e.g.
https://docs.ansible.com/ansible/11/collections/vmware/vmware_rest/vcenter_host_info_module.html).
Values are ours.
"""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from adapters.errors import AuthError
from adapters.topology.vcenter import VcenterTopology
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fakes_base import FakeVendor, basic
from twin.model import EdgeType, NodeKind


class FakeVcenter(FakeVendor):
    token_paths = ("/api/session",)

    def register(self) -> None:
        self.sessions: list[str] = []
        self.clusters = [
            {
                "cluster": "domain-c8",
                "name": "contoso-ny-hv",
                "ha_enabled": True,
                "drs_enabled": True,
            }
        ]
        self.hosts = {
            "host-10": ("contoso-ny-hv-01.contoso.local", "domain-c8"),
            "host-11": ("contoso-ny-hv-02.contoso.local", "domain-c8"),
            "host-99": ("lab-esx", ""),
        }
        self.vms = {
            "host-10": [
                {
                    "vm": "vm-42",
                    "name": "NY-DB-01",
                    "power_state": "POWERED_ON",
                    "cpu_count": 4,
                    "memory_size_MiB": 16384,
                }
            ],
            "host-11": [
                {
                    "vm": "vm-43",
                    "name": "contoso-ny-web-01",
                    "power_state": "POWERED_OFF",
                    "cpu_count": 2,
                    "memory_size_MiB": 4096,
                }
            ],
            "host-99": [],
        }
        self.identity = {
            "vm-42": {
                "name": "WINDOWS_9_SERVER_64",
                "family": "WINDOWS",
                "full_name": {"default_message": "Windows Server 2022"},
                "host_name": "contoso-ny-db-01.contoso.local",
                "ip_address": "10.0.32.40",
            }
        }
        self.route("POST", r"/api/session", self.session)
        self.route(
            "GET", r"/api/vcenter/cluster", lambda r: httpx.Response(200, json=self.clusters)
        )
        self.route("GET", r"/api/vcenter/host", self.host_list)
        self.route("GET", r"/api/vcenter/vm", self.vm_list)
        self.route("GET", r"/api/vcenter/vm/(?P<vm>[^/]+)/guest/identity", self.guest)

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("vmware-api-session-id") in self.sessions

    def error(self, status: int, message: str) -> httpx.Response:
        kind = {401: "UNAUTHENTICATED", 404: "NOT_FOUND", 503: "SERVICE_UNAVAILABLE"}
        return httpx.Response(
            status,
            json={
                "error_type": kind.get(status, "ERROR"),
                "messages": [{"id": "x", "default_message": message, "args": []}],
            },
        )

    def session(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != basic("svc-opshand@vsphere.local", "vc-pass"):
            return self.error(401, "bad credentials")
        sid = f"session-{len(self.sessions) + 1}"
        self.sessions.append(sid)
        return httpx.Response(201, json=sid)

    def host_list(self, request: httpx.Request) -> httpx.Response:
        want = request.url.params.get("clusters")
        rows = [
            {"host": h, "name": n, "connection_state": "CONNECTED", "power_state": "POWERED_ON"}
            for h, (n, c) in self.hosts.items()
            if want is None or c == want
        ]
        return httpx.Response(200, json=rows)

    def vm_list(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.vms.get(request.url.params.get("hosts", ""), []))

    def guest(self, request: httpx.Request, vm: str) -> httpx.Response:
        if vm not in self.identity:
            return self.error(503, "VMware Tools is not running")
        return httpx.Response(200, json=self.identity[vm])


def _client(fake: FakeVcenter, password: str = "vc-pass") -> VcenterTopology:
    return VcenterTopology(
        "https://vcenter.contoso.local",
        http_client=fake.client(),
        username="svc-opshand@vsphere.local",
        password=SecretStr(password),
        hooks=fake.time.hooks(),
    )


def test_vcenter_reads_vm_host_cluster() -> None:
    fake = FakeVcenter(FakeTime())
    report = _client(fake).read_topology()
    recs = {r.ref: r for r in report.records}
    assert recs["domain-c8"].kind == NodeKind.CLUSTER
    hv = recs["host-10"]
    assert hv.kind == NodeKind.HYPERVISOR and hv.hostname == "contoso-ny-hv-01"
    assert hv.fqdn == "contoso-ny-hv-01.contoso.local"
    vm = recs["vm-42"]
    assert vm.kind == NodeKind.HOST and vm.hostname == "contoso-ny-db-01"
    assert vm.ips == ("10.0.32.40",) and vm.attrs == {"power_state": "POWERED_ON"}
    assert recs["vm-43"].hostname == "" and recs["vm-43"].name == "contoso-ny-web-01"  # no Tools
    assert {(x.src, x.type, x.dst) for x in report.links} == {
        ("host-10", EdgeType.MEMBER_OF, "domain-c8"),
        ("host-11", EdgeType.MEMBER_OF, "domain-c8"),
        ("vm-42", EdgeType.HOSTED_ON, "host-10"),
        ("vm-43", EdgeType.HOSTED_ON, "host-11"),
    }
    assert "host-99" in recs  # a standalone host, in no cluster
    assert fake.sessions == ["session-1"]  # one session for the whole read


def test_vcenter_expired_session_is_made_again_and_bad_credentials_fail() -> None:
    fake = FakeVcenter(FakeTime())
    client = _client(fake)
    client.read_topology()
    fake.sessions.clear()  # the session expired on the server
    fake.sessions.append("unrelated")
    # A 401 on an expired session makes one new session and sends the read once more (the
    # HTTP layer's single refresh for a refreshable credential; no retry storm, E6).
    client.read_topology()
    assert fake.sessions[-1] == "session-2"
    with pytest.raises(AuthError):
        _client(FakeVcenter(FakeTime()), password="wrong").read_topology()
