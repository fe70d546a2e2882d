"""A small hand-made estate and a sim built on it, with a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.sim import ManualClock, SimEstate, SimTimings
from twin.model import EdgeType, Entity, NodeKind, Relation

START = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)

K = NodeKind
E = EdgeType


def _e(kind: NodeKind, slug: str, name: str | None = None, /, **attrs: Any) -> Entity:
    return Entity(id=f"{kind.value}:{slug}", kind=kind, name=name or slug, attrs=attrs)


def small_estate() -> tuple[list[Entity], list[Relation]]:
    """Two web servers behind one service, a db, an endpoint, people, secrets, rules."""
    ago = (START - timedelta(days=2)).isoformat()
    ents = [
        _e(K.CLIENT, "contoso", "Contoso Ltd"),
        _e(K.SITE, "contoso-ny", client="contoso"),
        _e(K.HYPERVISOR, "contoso-ny-hv-01", hostname="contoso-ny-hv-01", device_id="100001",
           client="contoso", site="contoso-ny"),
        _e(K.HOST, "contoso-ny-web-01", hostname="contoso-ny-web-01", device_id="100002",
           client="contoso", site="contoso-ny", role="web", os="Windows Server 2022",
           last_boot=ago),
        _e(K.HOST, "contoso-ny-web-02", hostname="contoso-ny-web-02", device_id="100003",
           client="contoso", site="contoso-ny", role="web", os="Windows Server 2022",
           last_boot=ago),
        _e(K.HOST, "contoso-ny-db-01", hostname="contoso-ny-db-01", device_id="100004",
           client="contoso", site="contoso-ny", role="db", os="Windows Server 2019",
           last_boot=ago),
        _e(K.HOST, "contoso-ny-ws-0001", hostname="contoso-ny-ws-0001", device_id="100005",
           client="contoso", site="contoso-ny", role="endpoint", os="Windows 10 Pro 22H2"),
        _e(K.SERVICE, "contoso-web", role="web"),
        _e(K.SERVICE, "contoso-erp-db", role="db"),
        _e(K.SERVICE, "contoso-reports", role="app"),
        _e(K.IDENTITY, "contoso-alice", "Alice Smith", username="alice", user_id="u-alice",
           admin=True, client="contoso", display_name="Alice Smith"),
        _e(K.IDENTITY, "contoso-bob", "Bob Jones", username="bob", user_id="u-bob",
           client="contoso"),
        _e(K.IDENTITY, "contoso-svc-web", username="svc-web", user_id="u-svc-web",
           service_account=True, client="contoso"),
        _e(K.IDENTITY, "contoso-svc-erp", username="svc-erp", user_id="u-svc-erp",
           service_account=True, client="contoso"),
        _e(K.IDENTITY, "contoso-svc-rpt", username="svc-rpt", user_id="u-svc-rpt",
           service_account=True, client="contoso"),
        _e(K.GROUP, "contoso-admins", "Admins", group_id="g-admins", client="contoso"),
        _e(K.IDENTITY, "fabrikam-eve", "Eve Other", username="eve", user_id="u-eve",
           client="fabrikam"),
        _e(K.CREDENTIAL, "contoso-web-db", version=3, supports_overlap=True,
           owner="identity:contoso-svc-web"),
        _e(K.CREDENTIAL, "contoso-erp-legacy", version=1, supports_overlap=False,
           owner="identity:contoso-svc-erp"),
        _e(K.PATCH, "KB5034129@host:contoso-ny-web-01", patch_id="KB5034129",
           title="2024-01 CU", severity="critical", reboot_required=True),
        _e(K.PATCH, "KB5034129@host:contoso-ny-web-02", patch_id="KB5034129",
           title="2024-01 CU", severity="critical", reboot_required=True),
        _e(K.PATCH, "KB5034439@host:contoso-ny-web-01", patch_id="KB5034439",
           title="WinRE", severity="important", reboot_required=False),
        _e(K.PATCH, "KB5034441@host:contoso-ny-ws-0001", patch_id="KB5034441",
           title="WinRE", severity="important", reboot_required=False),
        _e(K.FIREWALL, "contoso-ny-fw-01", client="contoso"),
        _e(K.FIREWALL_RULE, "contoso-ny-fw-01-r100", "allow web", rule_id="100", action="allow",
           source="any", destination="10.0.32.0/22", port="443", protocol="tcp",
           expires_at=None),
        _e(K.BACKUP, "contoso-ny-db-01", "contoso-ny-db-01 daily", job_id="bj-db01",
           object_name="contoso-ny-db-01",
           last_success=(START - timedelta(hours=5)).isoformat(),
           tested_at=(START - timedelta(days=10, hours=2)).isoformat()),
        _e(K.SIEM_RULE, "r-brute", "Brute force", rule_id="r-brute", name="Brute force"),
        Entity(id="ticket:TCK-1001", kind=K.TICKET, name="Printer down", source_ref="tk-1001",
               attrs={"number": "TCK-1001", "status": "new", "priority": "low",
                      "client": "contoso"}),
    ]  # fmt: skip
    rels = [
        Relation(src="service:contoso-web", type=E.RUNS_ON, dst="host:contoso-ny-web-01"),
        Relation(src="service:contoso-web", type=E.RUNS_ON, dst="host:contoso-ny-web-02"),
        Relation(src="service:contoso-erp-db", type=E.RUNS_ON, dst="host:contoso-ny-db-01"),
        Relation(src="service:contoso-reports", type=E.RUNS_ON, dst="host:contoso-ny-db-01"),
        Relation(src="service:contoso-web", type=E.USES_CREDENTIAL,
                 dst="credential:contoso-web-db"),
        Relation(src="service:contoso-erp-db", type=E.USES_CREDENTIAL,
                 dst="credential:contoso-erp-legacy"),
        Relation(src="service:contoso-reports", type=E.AUTHENTICATES_WITH,
                 dst="identity:contoso-svc-rpt"),
        Relation(src="identity:contoso-alice", type=E.MEMBER_OF, dst="group:contoso-admins"),
        Relation(src="identity:contoso-svc-web", type=E.OWNS,
                 dst="credential:contoso-web-db"),
        Relation(src="patch:KB5034129@host:contoso-ny-web-01", type=E.PENDING_ON,
                 dst="host:contoso-ny-web-01"),
        Relation(src="patch:KB5034129@host:contoso-ny-web-02", type=E.PENDING_ON,
                 dst="host:contoso-ny-web-02"),
        Relation(src="patch:KB5034439@host:contoso-ny-web-01", type=E.PENDING_ON,
                 dst="host:contoso-ny-web-01"),
        Relation(src="patch:KB5034441@host:contoso-ny-ws-0001", type=E.PENDING_ON,
                 dst="host:contoso-ny-ws-0001"),
        Relation(src="firewall_rule:contoso-ny-fw-01-r100", type=E.RULE_OF,
                 dst="firewall:contoso-ny-fw-01"),
        Relation(src="backup:contoso-ny-db-01", type=E.PROTECTS, dst="host:contoso-ny-db-01"),
        Relation(src="siem_rule:r-brute", type=E.MONITORS, dst="host:contoso-ny-db-01"),
    ]  # fmt: skip
    return ents, rels


WEB1, WEB2, DB1, WS1, HV1 = "100002", "100003", "100004", "100005", "100001"
FW = "contoso-ny-fw-01"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sim(clock: ManualClock) -> SimEstate:
    ents, rels = small_estate()
    return SimEstate.from_twin(ents, rels, clock=clock, seed=7, timings=SimTimings())


@pytest.fixture
def instant() -> SimEstate:
    """Zero-length timings: every job ends the moment it is accepted."""
    ents, rels = small_estate()
    return SimEstate.from_twin(
        ents, rels, clock=ManualClock(START), seed=7, timings=SimTimings(scale=0)
    )
