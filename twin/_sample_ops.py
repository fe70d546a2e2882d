"""Sample-estate security and operations data for one client: firewall rules, SIEM rules, tickets.

These come last because they point at what the earlier stages made (services, segments, hosts,
identities). Variety is deliberate: a temporary vendor rule that already expired, a disabled
SIEM rule, tickets in every open state.
"""

from __future__ import annotations

from typing import Any

from twin._sample_core import Builder, ClientParts
from twin._sample_data import TICKET_TITLES
from twin.model import EdgeType, NodeKind

_E = EdgeType
_K = NodeKind

_TICKET_STATUS = (("new", 0.25), ("open", 0.35), ("in_progress", 0.25), ("waiting_customer", 0.15))
_TICKET_PRIORITY = (("low", 0.3), ("medium", 0.45), ("high", 0.2), ("critical", 0.05))


def _pick(b: Builder, table: tuple[tuple[str, float], ...]) -> str:
    r, acc = b.rng.random(), 0.0
    for value, weight in table:
        acc += weight
        if r < acc:
            return value
    return table[-1][0]


class OpsBuilder:
    """Builds one client's firewall rules, SIEM rules and open tickets."""

    def __init__(self, b: Builder, parts: ClientParts, ticket_seq: int) -> None:
        self.b = b
        self.parts = parts
        self.c = parts.plan.slug
        self.ticket_seq = ticket_seq
        """Next ticket number; PSA ticket numbers run across all clients."""

    def build(self) -> int:
        """Create everything and return the next free ticket number."""
        for site, fw in zip(self.parts.plan.sites, self.parts.firewalls, strict=True):
            self._firewall_rules(site.slug, fw, hq=site.hq)
        self._siem_rules()
        self._tickets()
        return self.ticket_seq

    def _firewall_rules(self, site: str, fw: str, *, hq: bool) -> None:
        svc, seg = self.parts.services, self.parts.segments
        nets = self.parts.segment_cidrs
        ws, srv = nets[f"{site}/workstations"], nets[f"{site}/servers"]
        internal = f"10.{self.parts.plan.index}.0.0/16"
        # (number, action, source, destination, port, protocol, target id or None, expires_at)
        rules: list[tuple[int, str, str, str, str, str, str | None, str | None]] = [
            (20, "allow", ws, srv, "445", "tcp", svc["file"], None),
            (30, "allow", ws, srv, "88,389,636", "tcp", svc["idp"], None),
            (40, "allow", internal, srv, "53", "udp", svc["dns"], None),
            (50, "allow", nets[f"{site}/mgmt"], srv, "3389", "tcp", seg[f"{site}/servers"], None),
            (80, "allow", srv, "any", "443", "tcp", seg[f"{site}/servers"], None),
        ]
        if hq:
            dmz = nets[f"{site}/dmz"]
            rules += [
                (10, "allow", "any", dmz, "443", "tcp", svc["portal"], None),
                (60, "allow", internal, srv, "8443", "tcp", svc["erp-app"], None),
            ]
            if self.b.rng.random() < 0.6:
                # Temporary vendor access; some were never cleaned up after they lapsed.
                days = self.b.rng.choice((-30, -4, 3, 10))
                app_host = self.parts.hosts_by_role["app"][0]
                until = self.b.ahead(days=days)
                rules.append((70, "allow", "203.0.113.45/32", srv, "443", "tcp", app_host, until))
        rules.append((999, "block", "any", "any", "any", "any", None, None))
        for num, action, src, dst, port, proto, target, expires in sorted(
            rules, key=lambda r: r[0]
        ):
            attrs: dict[str, Any] = {
                "client": self.c,
                "site": site,
                "rule_id": str(num),
                "action": action,
                "source": src,
                "destination": dst,
                "port": port,
                "protocol": proto,
                "expires_at": expires,
            }
            fw_name = fw.split(":", 1)[1]
            rid = self.b.add(_K.FIREWALL_RULE, f"{fw_name}-r{num:03d}", f"{fw_name} #{num}", attrs)
            self.b.link(rid, _E.RULE_OF, fw)
            if target is not None:
                self.b.link(rid, _E.ALLOWS_TRAFFIC, target)

    def _siem_rules(self) -> None:
        p = self.parts
        hosts = [*p.servers, *p.endpoints]
        bg = f"identity:{self.c}-breakglass"
        rules: list[tuple[str, str, list[str]]] = [
            ("edr-heartbeat", "EDR agent heartbeat missing", hosts),
            ("malware-detected", "Malware detected and not remediated", hosts),
            ("dc-bruteforce", "Brute force against domain controller",
             [*p.hosts_by_role["dc"], p.services["idp"]]),
            ("impossible-travel", "Impossible travel sign-in", p.users),
            ("priv-group-change", "Privileged group membership changed",
             [p.groups["domain-admins"], *p.admins, bg]),
            ("breakglass-signin", "Break-glass account sign-in", [bg]),
            ("backup-failure", "Backup job failed or missed", p.backups),
            ("fw-config-change", "Firewall configuration changed", p.firewalls),
            ("db-exfil", "Unusual volume read from ERP database",
             [p.services["erp-db"], *p.hosts_by_role["db"]]),
        ]  # fmt: skip
        disabled = self.b.rng.randrange(len(rules))
        for i, (slug, name, targets) in enumerate(rules):
            # One rule per client left disabled (muted during a noisy week and forgotten).
            enabled = i != disabled or slug in ("breakglass-signin", "edr-heartbeat")
            rid = self.b.add(
                _K.SIEM_RULE,
                f"{self.c}-{slug}",
                name,
                {"client": self.c, "rule_id": self.b.guid(), "name": name, "enabled": enabled},
            )
            for t in targets:
                self.b.link(rid, _E.MONITORS, t)

    def _tickets(self) -> None:
        b, p = self.b, self.parts
        for _ in range(max(2, round(p.plan.endpoints / 120))):
            on_server = b.rng.random() < 0.2 or not p.endpoints
            host = b.rng.choice(p.servers if on_server else p.endpoints)
            number = f"TCK-{self.ticket_seq}"
            self.ticket_seq += 1
            title = b.rng.choice(TICKET_TITLES)
            age = b.rng.uniform(0.1, 14)
            tid = b.add(
                _K.TICKET,
                number,
                f"{number} {title}",
                {
                    "number": number,
                    "title": title,
                    "status": _pick(b, _TICKET_STATUS),
                    "priority": _pick(b, _TICKET_PRIORITY),
                    "client": self.c,
                    "site": p.host_meta[host].site,
                    "opened_at": b.ago(days=age),
                },
                first_seen_days=age,
            )
            b.link(tid, _E.CONCERNS, host)
