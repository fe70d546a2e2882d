"""VMware vCenter as a topology source, over the vSphere Automation REST API (``/api``).

A session comes from ``POST /api/session`` with Basic credentials and rides in the
``vmware-api-session-id`` header; an expired session (401) is dropped and made again. The read
walks clusters (``GET /api/vcenter/cluster``), the ESXi hosts of each (``GET
/api/vcenter/host?clusters=...``, then standalone hosts) and the VMs of each host (``GET
/api/vcenter/vm?hosts=...``, which also keeps each list under the API's per-call cap), and asks
VMware Tools for each VM's guest hostname and IP (``GET /api/vcenter/vm/{vm}/guest/identity``;
a VM without running Tools answers 404 or 503 and is matched on its name alone).
VM ``hosted_on`` ESXi host ``member_of`` cluster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, ResilienceOptions, ResilientHttp
from adapters.errors import InvalidResponse, NotFound, RequestRejected, TransientError
from adapters.topology.contract import TopoLink, TopologyReport, TopoRecord
from adapters.vendors._auth import BasicAuth
from adapters.vendors._parse import Malformed, as_dict, as_list, opt_str, parsing, req_str, seg
from twin import EdgeType, NodeKind, utcnow

__all__ = ["VcenterSession", "VcenterTopology"]


class VcenterSession:
    """A vSphere API session: created on first use, made again after a 401."""

    def __init__(self, username: str, password: SecretStr) -> None:
        self._basic = BasicAuth(username, password)
        self._id: SecretStr | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "VcenterSession(***)"

    @property
    def refreshable(self) -> bool:
        """A session refused with 401 has expired; a new one is created on the next request."""
        return True

    def auth_headers(self, http: ResilientHttp) -> dict[str, str]:
        """``vmware-api-session-id``, creating a session first when there is none."""
        with self._lock:
            if self._id is None:
                answer = http.request(
                    "POST",
                    "/api/session",
                    call="create_session",
                    idempotent=True,
                    mutating=False,
                    headers=self._basic.auth_headers(http),
                    authenticated=False,
                )
                if not isinstance(answer.body, str) or not answer.body:
                    raise InvalidResponse(
                        "session response is not a session id",
                        integration=http.integration,
                        call="create_session",
                    )
                self._id = SecretStr(answer.body)
            return {"vmware-api-session-id": self._id.get_secret_value()}

    def invalidate(self) -> None:
        """Forget the session; the next call makes a new one."""
        with self._lock:
            self._id = None


class VcenterTopology:
    """:class:`adapters.topology.contract.TopologySource` over vCenter.

    Args:
        base_url: The vCenter, e.g. ``https://vcenter.corp.example``.
        http_client: Injected sync client.
        username: A read-only vSphere user.
        password: Its password.
        guest_identity: Ask VMware Tools for each VM's hostname and IP (one call per VM).
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        clock: The observation time of a read.
    """

    source = "vcenter"
    integration = "vcenter"

    def __init__(
        self,
        base_url: str,
        *,
        http_client: httpx.Client,
        username: str,
        password: SecretStr,
        guest_identity: bool = True,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not username:
            raise ValueError("vCenter needs a username and password")
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=VcenterSession(username, password),
            hooks=hooks,
        )
        self.guest_identity = guest_identity
        self.clock = clock

    def __repr__(self) -> str:
        return f"VcenterTopology(base_url={str(self.http.base_url)!r})"

    def _list(self, path: str, call: str, params: dict[str, str] | None = None) -> list[Any]:
        page = self.http.get(path, call=call, params=params)
        with parsing(self.integration, call):
            return [as_dict(x, "item") for x in as_list(page.body, "body")]

    def _identity(self, vm: str) -> dict[str, Any]:
        call = "vm_guest_identity"
        try:
            page = self.http.get(f"/api/vcenter/vm/{seg(vm)}/guest/identity", call=call)
        except (NotFound, TransientError, RequestRejected):
            return {}  # no VMware Tools running: the VM's name is all there is
        with parsing(self.integration, call):
            return as_dict(page.body, "guest identity")

    def read_topology(self) -> TopologyReport:
        """Clusters, ESXi hosts and VMs, with ``hosted_on`` and ``member_of``."""
        at = self.clock()
        records: list[TopoRecord] = []
        links: list[TopoLink] = []
        hosts: dict[str, str] = {}  # host id -> cluster id ("" when standalone)
        with parsing(self.integration, "list_clusters"):
            clusters = [
                (req_str(c, "cluster"), req_str(c, "name"))
                for c in self._list("/api/vcenter/cluster", "list_clusters")
            ]
        for cid, cname in clusters:
            records.append(TopoRecord(ref=cid, kind=NodeKind.CLUSTER, name=cname))
            for h in self._list("/api/vcenter/host", "list_hosts", {"clusters": cid}):
                with parsing(self.integration, "list_hosts"):
                    hosts.setdefault(req_str(h, "host"), cid)
        names: dict[str, str] = {}
        for h in self._list("/api/vcenter/host", "list_hosts"):
            with parsing(self.integration, "list_hosts"):
                hid, hname = req_str(h, "host"), req_str(h, "name")
            names[hid] = hname
            hosts.setdefault(hid, "")
        for hid, cid in hosts.items():
            hname = names.get(hid, hid)
            records.append(
                TopoRecord(
                    ref=hid,
                    kind=NodeKind.HYPERVISOR,
                    name=hname.split(".", 1)[0],
                    hostname=hname.split(".", 1)[0],
                    fqdn=hname if "." in hname else "",
                )
            )
            if cid:
                links.append(TopoLink(src=hid, type=EdgeType.MEMBER_OF, dst=cid))
            for vm in self._list("/api/vcenter/vm", "list_vms", {"hosts": hid}):
                with parsing(self.integration, "list_vms"):
                    vid, vname = req_str(vm, "vm"), req_str(vm, "name")
                    power = opt_str(vm, "power_state")
                guest = self._identity(vid) if self.guest_identity else {}
                with parsing(self.integration, "vm_guest_identity"):
                    ghost = opt_str(guest, "host_name")
                    ip = opt_str(guest, "ip_address")
                    if ghost and " " in ghost:
                        raise Malformed("host_name holds spaces")
                records.append(
                    TopoRecord(
                        ref=vid,
                        kind=NodeKind.HOST,
                        name=vname,
                        hostname=ghost.split(".", 1)[0],
                        fqdn=ghost if "." in ghost else "",
                        ips=(ip,) if ip else (),
                        attrs={"power_state": power} if power else {},
                    )
                )
                links.append(TopoLink(src=vid, type=EdgeType.HOSTED_ON, dst=hid))
        return TopologyReport(source=self.source, records=records, links=links, observed_at=at)
