"""The sim built from the shared sample estate, and a full inventory round trip over it."""

from __future__ import annotations

from collections import Counter

import pytest

from adapters.contracts import FirewallRule
from adapters.inventory import firewall_inventory, identity_inventory
from adapters.sim import ManualClock, SimEstate, SimTimings
from tests.adapters.test_inventory import check_round_trip
from twin.model import NodeKind
from twin.sample import SampleEstate, generate_estate


@pytest.fixture(scope="module")
def estate() -> SampleEstate:
    return generate_estate(endpoints=200)


def _sim(estate: SampleEstate, timings: SimTimings | None = None) -> SimEstate:
    return SimEstate.from_twin(
        estate.entities, estate.relations, clock=ManualClock(estate.now), seed=3, timings=timings
    )


def test_sample_sim_builds_every_device_and_service(estate: SampleEstate) -> None:
    sim = _sim(estate)
    kinds = Counter(e.kind for e in estate.entities)
    assert len(sim.rmm.list_devices()) == kinds[NodeKind.HOST] + kinds[NodeKind.HYPERVISOR]
    services = [e for e in estate.entities if e.kind is NodeKind.SERVICE]
    placed = [sim.service_health(s.id) for s in services]
    assert all(h.status in ("running", "unplaced") for h in placed)
    assert sum(h.status == "running" for h in placed) >= len(services) // 2
    assert len(sim.firewalls) == kinds[NodeKind.FIREWALL]


def test_sample_inventory_round_trip(estate: SampleEstate) -> None:
    sim = _sim(estate)
    checked = check_round_trip(estate.entities, estate.relations, sim)
    modelled = {
        NodeKind.HOST, NodeKind.HYPERVISOR, NodeKind.PATCH, NodeKind.IDENTITY, NodeKind.GROUP,
        NodeKind.FIREWALL_RULE, NodeKind.BACKUP, NodeKind.SIEM_RULE, NodeKind.TICKET,
    }  # fmt: skip
    assert checked == sum(1 for e in estate.entities if e.kind in modelled)


def test_sample_ids_derive_without_an_index(estate: SampleEstate) -> None:
    """Per tenant / per device, identity and firewall-rule ids come out of the records alone."""
    sim = _sim(estate)
    clients = sorted({e.attrs["client"] for e in estate.entities if e.kind is NodeKind.IDENTITY})
    for client in clients:
        batch = identity_inventory(sim.identity_for(client), client=client)
        want = {
            e.id
            for e in estate.entities
            if e.kind is NodeKind.IDENTITY and e.attrs["client"] == client
        }
        assert {e.id for e in batch.entities if e.kind is NodeKind.IDENTITY} == want
        groups = {
            e.id
            for e in estate.entities
            if e.kind is NodeKind.GROUP and e.attrs["client"] == client
        }
        assert {e.id for e in batch.entities if e.kind is NodeKind.GROUP} == groups
    for name, fw in sim.firewalls.items():
        got = {
            e.id
            for e in firewall_inventory(fw, device=name).entities
            if e.kind is NodeKind.FIREWALL_RULE
        }
        assert all(i.startswith(f"firewall_rule:{name}-r") for i in got)
    rules = {e.id for e in estate.entities if e.kind in (NodeKind.FIREWALL_RULE, NodeKind.FIREWALL)}
    assert {e.id for e in firewall_inventory(sim.firewall).entities} == rules


def test_sample_estate_operations_work(estate: SampleEstate) -> None:
    sim = _sim(estate, timings=SimTimings(scale=0))
    db_host = next(
        e for e in estate.entities if e.kind is NodeKind.HOST and e.attrs.get("role") == "db"
    )
    job = sim.rmm.reboot(db_host.attrs["device_id"], idempotency_key="r")
    assert sim.rmm.job_status(job.job_id).state == "succeeded"
    used = Counter(r.dst for r in estate.relations if r.type == "uses_credential")
    cred = next(e for e in estate.entities if e.kind is NodeKind.CREDENTIAL and used[e.id])
    owner = next(e for e in estate.entities if e.id == cred.attrs["owner"])
    consumers = [
        r.src for r in estate.relations if r.type == "uses_credential" and r.dst == cred.id
    ]
    assert all(sim.service_health(c).status in ("running", "unplaced") for c in consumers)
    sim.identity.rotate_secret(owner.attrs["user_id"], overlap_minutes=0, idempotency_key="x")
    assert all(sim.service_health(c).status in ("down", "degraded", "unplaced") for c in consumers)
    name = next(iter(sim.firewalls))
    sim.firewalls[name].add_rule(
        FirewallRule(rule_id="500", action="block", source="198.51.100.9", destination="any"),
        idempotency_key="fw",
    )
    assert f"firewall_rule:{name}-r500" in {e.id for e in firewall_inventory(sim.firewall).entities}
