"""Contract harnesses over the simulated estate: the same ids the vendor fakes hold.

One small hand-made estate, built relative to the suite's :class:`FakeTime` so "now" means the
same instant to the test, the vendor fakes and the sim. The sim's clock *is* the fake time:
advancing one advances the other, and a sim latency fault shows up as a fake sleep.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adapters.sim import SimEstate, SimTimings
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fakes_base import Harness
from twin.model import EdgeType, Entity, NodeKind, Relation

K = NodeKind
E = EdgeType

FW = "acme-fw-01"


class FakeTimeClock:
    """The sim's :class:`~adapters.sim.clock.Clock` over a suite's :class:`FakeTime`."""

    def __init__(self, t: FakeTime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t.wall

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.t.sleep(seconds)


def _e(kind: NodeKind, slug: str, name: str | None = None, /, **attrs: Any) -> Entity:
    return Entity(id=f"{kind.value}:{slug}", kind=kind, name=name or slug, attrs=attrs)


def contract_estate(now: datetime) -> tuple[list[Entity], list[Relation]]:
    """A web server, a db, people of every kind, a rule, a backup, a ticket and a firewall."""
    ago = (now - timedelta(days=2)).isoformat()
    ents = [
        _e(K.HOST, "acme-web-01", hostname="acme-web-01", device_id="100002", client="acme",
           site="acme-hq", role="web", os="Windows Server 2022", last_boot=ago),
        _e(K.HOST, "acme-db-01", hostname="acme-db-01", device_id="100004", client="acme",
           site="acme-hq", role="db", os="Windows Server 2019", last_boot=ago),
        _e(K.SERVICE, "acme-web", role="web"),
        _e(K.PATCH, "KB5034441@host:acme-web-01", patch_id="KB5034441", title="WinRE",
           severity="important"),
        _e(K.PATCH, "KB5031539@host:acme-web-01", patch_id="KB5031539", title="2023-10 CU",
           severity="critical", status="installed"),
        _e(K.IDENTITY, "acme-alice", "Alice Smith", username="alice", user_id="u-alice",
           admin=True, client="acme", display_name="Alice Smith"),
        _e(K.IDENTITY, "acme-bob", "Bob Jones", username="bob", user_id="u-bob",
           status="disabled", client="acme"),
        _e(K.IDENTITY, "acme-breakglass", username="breakglass", user_id="u-bg", admin=True,
           break_glass=True, client="acme"),
        _e(K.IDENTITY, "acme-svc-web", username="svc-web", user_id="u-svc-web",
           service_account=True, client="acme"),
        _e(K.GROUP, "acme-admins", "Admins", group_id="g-admins", client="acme"),
        _e(K.CREDENTIAL, "acme-web-db", version=3, supports_overlap=True,
           owner="identity:acme-svc-web"),
        _e(K.FIREWALL, FW, client="acme"),
        _e(K.FIREWALL_RULE, f"{FW}-r100", "allow web", rule_id="100", action="allow",
           source="any", destination="10.0.32.0/22", port="443", protocol="tcp"),
        _e(K.BACKUP, "acme-db-01", "acme-db-01 daily", job_id="bj-db01",
           object_name="acme-db-01", last_success=(now - timedelta(hours=5)).isoformat(),
           tested_at=(now - timedelta(days=3, hours=2)).isoformat()),
        _e(K.SIEM_RULE, "r-brute", "Brute force", rule_id="r-brute", name="Brute force"),
        Entity(id="ticket:TCK-1001", kind=K.TICKET, name="Printer down", source_ref="tk-1001",
               attrs={"number": "TCK-1001", "status": "new", "priority": "low",
                      "client": "acme"}),
    ]  # fmt: skip
    rels = [
        Relation(src="service:acme-web", type=E.RUNS_ON, dst="host:acme-web-01"),
        Relation(src="service:acme-web", type=E.USES_CREDENTIAL, dst="credential:acme-web-db"),
        Relation(src="identity:acme-alice", type=E.MEMBER_OF, dst="group:acme-admins"),
        Relation(src="identity:acme-breakglass", type=E.MEMBER_OF, dst="group:acme-admins"),
        Relation(src="patch:KB5034441@host:acme-web-01", type=E.PENDING_ON,
                 dst="host:acme-web-01"),
        Relation(src="patch:KB5031539@host:acme-web-01", type=E.PENDING_ON,
                 dst="host:acme-web-01"),
        Relation(src=f"firewall_rule:{FW}-r100", type=E.RULE_OF, dst=f"firewall:{FW}"),
        Relation(src="siem_rule:r-brute", type=E.MONITORS, dst="host:acme-db-01"),
    ]  # fmt: skip
    return ents, rels


# A restore of this small test VM takes two minutes, like the vendor fakes' restores.
TIMINGS = SimTimings(restore_seconds=120.0)


def sim_estate(t: FakeTime, *, seed: int = 0) -> SimEstate:
    """The contract estate as a sim on the suite's fake time."""
    ents, rels = contract_estate(t.wall)
    return SimEstate.from_twin(ents, rels, clock=FakeTimeClock(t), seed=seed, timings=TIMINGS)


def _harness(name: str, client: Any, ids: dict[str, str], sim: SimEstate) -> Harness:
    return Harness(name, client, ids, None, {"sim": sim})


def sim_rmm(t: FakeTime) -> Harness:
    sim = sim_estate(t)
    ids = {
        "device": "100002",
        "patch": "KB5034441",
        "installed_patch": "KB5031539",
        "missing_device": "999",
        "script": "collect-logs",
    }
    return _harness("sim_rmm", sim.rmm, ids, sim)


def sim_psa(t: FakeTime) -> Harness:
    sim = sim_estate(t)
    return _harness("sim_psa", sim.psa, {"ticket": "tk-1001", "missing_ticket": "tk-999"}, sim)


def sim_siem(t: FakeTime) -> Harness:
    sim = sim_estate(t)
    # Seeded start-up alerts are random; this one is the alert the suite acts on.
    alert = sim.drift.raise_alert("r-brute", entity="acme-db-01", severity="high")
    assert alert is not None
    ids = {
        "alert": alert,
        "rule": "r-brute",
        "missing_rule": "no-such-rule",
        "suppress_field": "entity",
    }
    return _harness("sim_siem", sim.siem, ids, sim)


def sim_identity(t: FakeTime) -> Harness:
    sim = sim_estate(t)
    ids = {
        "active_user": "u-alice",
        "disabled_user": "u-bob",
        "break_glass_user": "u-bg",
        "service_app": "u-svc-web",
        "missing_user": "u-999",
        "admin_user": "u-alice",
    }
    return _harness("sim_identity", sim.identity, ids, sim)


def sim_backup(t: FakeTime) -> Harness:
    sim = sim_estate(t)
    # Restore point ids name their job and creation time; the second newest is yesterday's.
    point = (t.wall - timedelta(hours=5) - timedelta(days=1)).strftime("%Y%m%dT%H%M%S")
    ids = {"object": "acme-db-01", "point": f"bj-db01@{point}", "missing_point": "rp-404"}
    return _harness("sim_backup", sim.backup, ids, sim)


def sim_firewall(t: FakeTime) -> Harness:
    sim = sim_estate(t)
    return _harness("sim_firewall", sim.firewalls[FW], {"rule": "100"}, sim)
