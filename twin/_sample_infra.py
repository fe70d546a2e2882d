"""Sample-estate infrastructure for one client: sites, network, hypervisors, hosts, backups.

Addressing: client ``i`` owns ``10.i.0.0/16``; site ``j`` of it owns the ``/18`` at third octet
``64*j``, split into a ``/19`` for workstations and small blocks for servers, dmz and mgmt.
Server estates live at head office; branch sites get a domain controller and a file server.
"""

from __future__ import annotations

import ipaddress
from typing import Any, NamedTuple

from twin._sample_core import Builder, ClientParts, ClientPlan, HostMeta, SitePlan
from twin._sample_data import (
    ENDPOINT_OS,
    HYPERVISOR_PLATFORMS,
    PATCHES,
    SERVER_OS,
)
from twin.model import EdgeType, NodeKind

_E = EdgeType
_K = NodeKind

# purpose -> (offset of the block's third octet inside the site /18, prefix length)
_SEGMENTS: dict[str, tuple[int, int]] = {
    "workstations": (0, 19),
    "servers": (32, 22),
    "dmz": (36, 24),
    "mgmt": (37, 24),
}
_FIRST_HOST_OFFSET = 10  # .1-.9 are gateways and appliances in every segment
# The first client's head-office endpoint 42 is the documented example host.
_ANCHOR_ENDPOINT = 42
_ANCHOR_OS = ("Windows 10 Pro 22H2", "win10")
_ANCHOR_KBS = ("KB5034441",)


class _Server(NamedTuple):
    key: str  # stage-local role key used later to place services
    code: str  # hostname part
    role: str  # the host ``role`` attribute
    env: str
    criticality: str
    segment: str
    instances: int


def _hq_servers(plan: ClientPlan) -> list[_Server]:
    """The head-office server estate, growing with the client's size."""
    e = plan.endpoints
    rows = [
        _Server("dns", "dns", "dns", "prod", "critical", "servers", 2),
        _Server("dc", "dc", "dc", "prod", "critical", "servers", 2),
        _Server("db", "db", "db", "prod", "critical", "servers", 3 if e >= 800 else 2),
        _Server("web", "web", "web", "prod", "high", "dmz", 3),
        _Server("app", "app", "app", "prod", "high", "servers", min(12, 2 + e // 400)),
        _Server("file", "file", "file", "prod", "high", "servers", 1),
        _Server("bkp", "bkp", "server", "prod", "medium", "servers", 1),
    ]
    if e >= 500:
        rows.append(_Server("mon", "mon", "server", "prod", "medium", "servers", 1))
    if e >= 300:
        rows += [
            _Server("db-stg", "db", "db", "staging", "low", "servers", 1),
            _Server("app-stg", "app", "app", "staging", "low", "servers", 1),
            _Server("web-stg", "web", "web", "staging", "low", "dmz", 1),
        ]
    if e >= 600:  # the largest client always reaches the average size, so dev exists
        rows += [
            _Server("db-dev", "db", "db", "dev", "low", "servers", 1),
            _Server("app-dev", "app", "app", "dev", "low", "servers", 1),
        ]
    return rows


_BRANCH_SERVERS = [
    _Server("dc", "dc", "dc", "prod", "critical", "servers", 1),
    _Server("file", "file", "file", "prod", "high", "servers", 1),
]


class InfraBuilder:
    """Builds one client's infrastructure into a :class:`Builder`."""

    def __init__(self, b: Builder, plan: ClientPlan) -> None:
        self.b = b
        self.plan = plan
        self.parts = ClientParts(plan=plan)
        self._nets: dict[str, ipaddress.IPv4Network] = {}
        self._next_ip: dict[str, int] = {}

    def build(self) -> ClientParts:
        """Create the client, its sites and everything physical or virtual in them."""
        p, b = self.plan, self.b
        hq = p.hq
        client_id = b.add(
            _K.CLIENT,
            p.slug,
            p.display_name,
            {
                "display_name": p.display_name,
                "client": p.slug,
                "maintenance_window": {
                    "days": ["sat", "sun"],
                    "start": "22:00",
                    "end": "04:00",
                    "tz": hq.tz,
                },
            },
            first_seen_days=900,
        )
        for site in p.sites:
            self._site(site, client_id)
        self._backups()
        return self.parts

    def _site(self, site: SitePlan, client_id: str) -> None:
        b, p = self.b, self.plan
        site_id = b.add(
            _K.SITE,
            site.slug,
            site.slug,
            {"client": p.slug, "site": site.slug, "city": site.city, "tz": site.tz},
            first_seen_days=900,
        )
        b.link(site_id, _E.BELONGS_TO, client_id)
        fw_id = b.add(
            _K.FIREWALL,
            f"{site.slug}-fw-01",
            f"{site.slug}-fw-01",
            {
                "client": p.slug,
                "site": site.slug,
                "vendor": p.firewall_vendor,
                "env": "prod",
                "criticality": "critical" if site.hq else "high",
            },
        )
        b.link(fw_id, _E.LOCATED_AT, site_id)
        self.parts.firewalls.append(fw_id)
        base = ipaddress.IPv4Network(f"10.{p.index}.{64 * site.index}.0/18")
        for purpose, (octet, prefix) in _SEGMENTS.items():
            net = ipaddress.IPv4Network((int(base.network_address) + octet * 256, prefix))
            seg_id = b.add(
                _K.SEGMENT,
                f"{site.slug}-{purpose}",
                f"{site.slug}-{purpose}",
                {"client": p.slug, "site": site.slug, "cidr": str(net), "purpose": purpose},
            )
            b.link(seg_id, _E.LOCATED_AT, site_id)
            b.link(seg_id, _E.PROTECTED_BY, fw_id)
            key = f"{site.slug}/{purpose}"
            self.parts.segments[key] = seg_id
            self.parts.segment_cidrs[key] = str(net)
            self._nets[key] = net
            self._next_ip[key] = _FIRST_HOST_OFFSET
        servers = _hq_servers(p) if site.hq else _BRANCH_SERVERS
        hvs = self._hypervisors(site, site_id, sum(s.instances for s in servers))
        vm = 0
        for spec in servers:
            for n in range(1, spec.instances + 1):
                host_id = self._server(site, site_id, spec, n)
                b.link(host_id, _E.HOSTED_ON, hvs[vm % len(hvs)])
                vm += 1
        if site.hq:
            roles, c = self.parts.hosts_by_role, p.slug
            self._cluster(
                f"{c}-erp-db", site, site_id, roles["db"], cluster_type="sql", crit="critical"
            )
            self._cluster(f"{c}-web", site, site_id, roles["web"], cluster_type="web", crit="high")
        self._endpoints(site, site_id)

    def _ip(self, site: SitePlan, purpose: str) -> str:
        key = f"{site.slug}/{purpose}"
        net, off = self._nets[key], self._next_ip[key]
        if off >= net.num_addresses - 1:
            raise ValueError(
                f"site {site.slug} has more hosts than its {purpose} segment {net} can address; "
                "ask for fewer endpoints"
            )
        self._next_ip[key] = off + 1
        return str(ipaddress.IPv4Address(int(net.network_address) + off))

    def _hypervisors(self, site: SitePlan, site_id: str, vms: int) -> list[str]:
        b, p = self.b, self.plan
        count = max(2, -(-vms // 8))
        platform = self.b.rng.choice(HYPERVISOR_PLATFORMS)
        ids: list[str] = []
        for n in range(1, count + 1):
            name = f"{site.slug}-hv-{n:02d}"
            dev = b.device_id()
            hv_id = b.add(
                _K.HYPERVISOR,
                name,
                name,
                {
                    "hostname": name,
                    "client": p.slug,
                    "site": site.slug,
                    "env": "prod",
                    "criticality": "critical" if site.hq else "high",
                    "device_id": dev,
                    "ip": self._ip(site, "mgmt"),
                    "platform": platform,
                },
                source_ref=dev,
            )
            b.link(hv_id, _E.ATTACHED_TO, self.parts.segments[f"{site.slug}/mgmt"])
            b.link(hv_id, _E.LOCATED_AT, site_id)
            ids.append(hv_id)
        self.parts.hypervisors += ids
        crit = "critical" if site.hq else "high"
        self._cluster(f"{site.slug}-hv", site, site_id, ids, cluster_type="hypervisor", crit=crit)
        return ids

    def _cluster(
        self,
        slug: str,
        site: SitePlan,
        site_id: str,
        members: list[str],
        *,
        cluster_type: str,
        crit: str,
    ) -> str:
        """A cluster of ``members``; it tolerates one member down at a time."""
        b, n = self.b, len(members)
        cluster_id = b.add(
            _K.CLUSTER,
            slug,
            slug,
            {
                "client": self.plan.slug,
                "site": site.slug,
                "env": "prod",
                "criticality": crit,
                "cluster_type": cluster_type,
                "replicas_min": max(1, n - 1),
                # Two-member clusters keep quorum through a witness, so one member may be down.
                "quorum": 1 if n <= 2 else n // 2 + 1,
            },
        )
        b.link(cluster_id, _E.LOCATED_AT, site_id)
        for m in members:
            b.link(m, _E.MEMBER_OF, cluster_id)
        return cluster_id

    def _host(
        self,
        site: SitePlan,
        site_id: str,
        *,
        name: str,
        segment: str,
        attrs: dict[str, Any],
        family: str,
        patch_chance: float,
        last_seen_minutes: float,
        force_kbs: tuple[str, ...] = (),
    ) -> str:
        """Add a host with the attributes common to servers and endpoints, and its patches."""
        b = self.b
        pending_reboot = b.rng.random() < 0.07
        dev = b.device_id()
        full = {
            "hostname": name,
            "client": self.plan.slug,
            "site": site.slug,
            **attrs,
            "device_id": dev,
            "ip": self._ip(site, segment),
            "patch_ring": b.ring(),
            "pending_reboot": pending_reboot,
            "last_boot": b.ago(
                days=b.rng.uniform(10, 45) if pending_reboot else b.rng.uniform(0.3, 21)
            ),
        }
        host_id = b.add(
            _K.HOST,
            name,
            name,
            full,
            source_ref=dev,
            first_seen_days=b.rng.uniform(30, 1200),
            last_seen_minutes=last_seen_minutes,
        )
        self.parts.host_meta[host_id] = HostMeta(
            site.slug, str(attrs["env"]), str(attrs["criticality"])
        )
        b.link(host_id, _E.LOCATED_AT, site_id)
        b.link(host_id, _E.ATTACHED_TO, self.parts.segments[f"{site.slug}/{segment}"])
        if force_kbs or (family != "macos" and b.rng.random() < patch_chance):
            self._patches(host_id, name, site, family, force_kbs)
        return host_id

    def _patches(
        self, host_id: str, hostname: str, site: SitePlan, family: str, force_kbs: tuple[str, ...]
    ) -> None:
        b = self.b
        r = b.rng.random()
        count = 1 if r < 0.5 else 2 if r < 0.8 else 3 if r < 0.95 else 4
        pool = [pt for pt in PATCHES if pt.family in (family, "any") and pt.kb not in force_kbs]
        forced = [pt for pt in PATCHES if pt.kb in force_kbs]
        extra = b.rng.sample(pool, max(0, min(count - len(forced), len(pool))))
        for pt in [*forced, *extra]:
            # The RMM notices an update within a day of its release.
            age = b.rng.uniform(2, 60)
            pid = b.add(
                _K.PATCH,
                f"{pt.kb}@{host_id}",
                f"{pt.kb} on {hostname}",
                {
                    "patch_id": pt.kb,
                    "title": f"{pt.title} ({pt.kb})",
                    "severity": pt.severity,
                    "reboot_required": pt.reboot_required,
                    "status": "pending",
                    "client": self.plan.slug,
                    "site": site.slug,
                    "released_at": b.ago(days=age),
                },
                first_seen_days=age - b.rng.uniform(0, 1),
            )
            b.link(pid, _E.PENDING_ON, host_id)

    def _server(self, site: SitePlan, site_id: str, spec: _Server, n: int) -> str:
        os_name, family = self.b.weighted(SERVER_OS)
        attrs: dict[str, Any] = {
            "env": spec.env,
            "role": spec.role,
            "os": os_name,
            "criticality": spec.criticality,
        }
        if spec.role == "db":
            attrs["db_role"] = "primary" if n == 1 else "replica"
        name = f"{site.slug}-{spec.code}-{spec.env}-{n:02d}"
        host_id = self._host(
            site,
            site_id,
            name=name,
            segment=spec.segment,
            attrs=attrs,
            family=family,
            patch_chance=0.7,
            last_seen_minutes=self.b.rng.uniform(0.5, 5),
        )
        self.parts.hosts_by_role.setdefault(spec.key, []).append(host_id)
        self.parts.servers.append(host_id)
        return host_id

    def _endpoints(self, site: SitePlan, site_id: str) -> None:
        b = self.b
        width = max(4, len(str(site.endpoints)))
        for n in range(1, site.endpoints + 1):
            os_name, family = b.weighted(ENDPOINT_OS)
            # docs/SAMPLE_ESTATE.md's example patch exists, so demos and docs can rely on it.
            anchor = n == _ANCHOR_ENDPOINT and site.hq and self.plan.index == 0
            if anchor:
                os_name, family = _ANCHOR_OS
            r = b.rng.random()
            # Most endpoints checked in within the hour; laptops go quiet for days, a few for weeks.
            seen = (
                b.rng.uniform(1, 60)
                if r < 0.9
                else b.rng.uniform(1440, 10080)
                if r < 0.98
                else b.rng.uniform(20160, 86400)
            )
            host_id = self._host(
                site,
                site_id,
                name=f"{site.slug}-ws-{n:0{width}d}",
                segment="workstations",
                attrs={
                    "env": "prod",
                    "role": "endpoint",
                    "os": os_name,
                    "criticality": "medium" if b.rng.random() < 0.05 else "low",
                    "form_factor": "laptop" if b.rng.random() < 0.6 else "desktop",
                },
                family=family,
                patch_chance=0.6,
                last_seen_minutes=seen,
                force_kbs=_ANCHOR_KBS if anchor else (),
            )
            self.parts.endpoints.append(host_id)

    def _backups(self) -> None:
        """One backup job per server, with some stale and some never restore-tested."""
        b, parts = self.b, self.parts
        if not parts.servers:
            return
        # Guarantee the variety even for a tiny client: one stale and one untested job each.
        forced_stale = b.rng.randrange(len(parts.servers))
        forced_untested = b.rng.randrange(len(parts.servers))
        for i, host_id in enumerate(parts.servers):
            hostname = host_id.split(":", 1)[1]
            meta = parts.host_meta[host_id]
            stale = i == forced_stale or b.rng.random() < 0.08
            untested = i == forced_untested or b.rng.random() < 0.15
            is_db = "-db-" in hostname
            bid = b.add(
                _K.BACKUP,
                hostname,
                f"{hostname} daily",
                {
                    "client": self.plan.slug,
                    "site": meta.site,
                    "env": meta.env,
                    "criticality": meta.criticality,
                    "job_id": b.guid(),
                    "object_name": hostname,
                    "last_success": b.ago(
                        days=b.rng.uniform(2, 21) if stale else b.rng.uniform(0.05, 0.95)
                    ),
                    "last_result": "failed" if stale else "success",
                    "tested_at": b.ago(
                        days=b.rng.uniform(120, 400) if untested else b.rng.uniform(3, 80)
                    ),
                    "rpo_hours": 4 if is_db else 24,
                },
            )
            b.link(bid, _E.PROTECTS, host_id)
            parts.backups.append(bid)
