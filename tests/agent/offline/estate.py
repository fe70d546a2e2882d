"""A small hand-made estate for the offline parser tests."""

from __future__ import annotations

from typing import Any

from agent.chat.offline import TwinNameResolver

ENTITIES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("client:contoso", "client", "Contoso Ltd", {"client": "contoso"}),
    ("client:fabrikam", "client", "Fabrikam", {"client": "fabrikam"}),
    ("site:contoso-ny", "site", "New York", {"client": "contoso"}),
    (
        "host:contoso-ny-db-prod-01",
        "host",
        "contoso-ny-db-prod-01",
        {"client": "contoso", "role": "db", "env": "prod", "criticality": "critical"},
    ),
    (
        "host:contoso-ny-db-prod-02",
        "host",
        "contoso-ny-db-prod-02",
        {"client": "contoso", "role": "db", "env": "prod", "criticality": "critical"},
    ),
    *[
        (
            f"host:contoso-ny-web-{n:02d}",
            "host",
            f"contoso-ny-web-{n:02d}",
            {"client": "contoso", "role": "web", "env": "prod", "criticality": "high"},
        )
        for n in range(1, 5)
    ],
    (
        "host:contoso-ny-app-01",
        "host",
        "contoso-ny-app-01",
        {"client": "contoso", "role": "app", "env": "prod"},
    ),
    (
        "host:fabrikam-web-01",
        "host",
        "fabrikam-web-01",
        {"client": "fabrikam", "role": "web", "env": "prod"},
    ),
    ("hypervisor:contoso-ny-hv-01", "hypervisor", "contoso-ny-hv-01", {"client": "contoso"}),
    (
        "service:contoso-erp",
        "service",
        "contoso-erp",
        {"client": "contoso", "criticality": "critical"},
    ),
    (
        "service:contoso-dns",
        "service",
        "contoso-dns",
        {"client": "contoso", "criticality": "critical"},
    ),
    ("service:contoso-web", "service", "contoso-web", {"client": "contoso"}),
    (
        "credential:contoso-erp-sql-password",
        "credential",
        "contoso-erp-sql-password",
        {"client": "contoso"},
    ),
    (
        "credential:contoso-backup-api-key",
        "credential",
        "contoso-backup-api-key",
        {"client": "contoso"},
    ),
    ("identity:jdoe", "identity", "jdoe", {"display_name": "John Doe"}),
    ("identity:asmith", "identity", "asmith", {"display_name": "Alice Smith"}),
    ("firewall:contoso-ny-fw", "firewall", "contoso-ny-fw", {"client": "contoso"}),
    ("firewall:fabrikam-fw", "firewall", "fabrikam-fw", {"client": "fabrikam"}),
    ("siem_rule:brute-force-single-source", "siem_rule", "Brute force from single source", {}),
    ("siem_rule:impossible-travel", "siem_rule", "Impossible travel", {}),
    ("ticket:TCK-1042", "ticket", "TCK-1042", {"title": "Printer offline"}),
    ("ticket:TCK-1043", "ticket", "TCK-1043", {"title": "VPN slow"}),
]


def make_resolver() -> TwinNameResolver:
    """The resolver over :data:`ENTITIES`."""
    return TwinNameResolver(ENTITIES)
