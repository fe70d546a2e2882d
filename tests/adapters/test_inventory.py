"""Inventory from the sim rebuilds the twin's own entity ids and key attributes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from adapters.inventory import (
    InventoryBatch,
    backup_inventory,
    firewall_inventory,
    identity_inventory,
    known_ids,
    psa_inventory,
    rmm_inventory,
    siem_inventory,
)
from adapters.sim import ManualClock, SimEstate, SimTimings
from tests.adapters.sim.conftest import START, small_estate
from twin.ingest import validate_batch
from twin.model import Entity, NodeKind, Relation

_KEY_ATTRS: dict[NodeKind, tuple[str, ...]] = {
    NodeKind.HOST: ("hostname", "client", "site", "role", "os", "device_id", "last_boot"),
    NodeKind.HYPERVISOR: ("hostname", "client", "site", "device_id"),
    NodeKind.PATCH: ("patch_id", "title", "severity", "reboot_required", "status"),
    NodeKind.IDENTITY: ("username", "user_id", "admin", "break_glass", "service_account"),
    NodeKind.GROUP: ("group_id",),
    NodeKind.FIREWALL_RULE: ("rule_id", "action", "source", "destination", "port", "protocol"),
    NodeKind.BACKUP: ("job_id", "object_name", "last_success", "tested_at"),
    NodeKind.SIEM_RULE: ("rule_id", "name", "enabled"),
    NodeKind.TICKET: ("number", "status", "priority", "client"),
}

_DEFAULTS = {"admin": False, "break_glass": False, "service_account": False, "enabled": True}


def _same(kind: NodeKind, key: str, mine: object, theirs: object) -> bool:
    if isinstance(theirs, str) and key in {"last_boot", "last_success", "tested_at"}:
        return mine == datetime.fromisoformat(theirs).isoformat()
    return mine == theirs


def _all(sim: SimEstate, entities: list[Entity]) -> list[InventoryBatch]:
    """Every inventory, as a sync would run it: known objects matched on their vendor ids."""
    at = sim.clock.now()
    known = known_ids(entities)
    tickets = [e.source_ref for e in entities if e.kind is NodeKind.TICKET and e.source_ref]
    rules = [e.attrs["rule_id"] for e in entities if e.kind is NodeKind.SIEM_RULE]
    return [
        rmm_inventory(sim.rmm, observed_at=at),
        identity_inventory(sim.identity, known=known, observed_at=at),
        firewall_inventory(sim.firewall, observed_at=at),
        backup_inventory(sim.backup, observed_at=at),
        psa_inventory(sim.psa, tickets, observed_at=at),
        siem_inventory(sim.siem, rules, known=known, observed_at=at),
    ]


def check_round_trip(entities: list[Entity], relations: list[Relation], sim: SimEstate) -> int:
    """Assert every modelled entity comes back with its id and key attrs; return the count."""
    batches = _all(sim, entities)
    got = {e.id: e for b in batches for e in b.entities}
    checked = 0
    for want in entities:
        keys = _KEY_ATTRS.get(want.kind)
        if keys is None:
            continue
        assert want.id in got, f"{want.id} not rebuilt by inventory"
        mine = got[want.id]
        assert mine.kind is want.kind
        for key in keys:
            theirs = want.attrs.get(key, _DEFAULTS.get(key))
            if theirs is None:
                continue
            assert _same(want.kind, key, mine.attrs.get(key), theirs), (
                f"{want.id}.{key}: inventory {mine.attrs.get(key)!r} != twin {theirs!r}"
            )
        checked += 1
    want_pending = {(r.src, r.dst) for r in relations if r.type == "pending_on"}
    got_pending = {(r.src, r.dst) for b in batches for r in b.relations if r.type == "pending_on"}
    assert got_pending == want_pending
    kinds = {e.id: e.kind for e in entities}
    for b in batches:
        assert all(e.source == b.source for e in b.entities)
        result = validate_batch(b.to_ingest(), kinds.get)
        assert result.rejections == [], result.rejections[:3]
    return checked


def test_inventory_rebuilds_small_estate_ids_and_attrs() -> None:
    ents, rels = small_estate()
    sim = SimEstate.from_twin(ents, rels, clock=ManualClock(START), seed=1)
    assert check_round_trip(ents, rels, sim) >= 15


def test_inventory_source_refs_are_vendor_ids() -> None:
    ents, rels = small_estate()
    sim = SimEstate.from_twin(ents, rels, clock=ManualClock(START))
    rmm = rmm_inventory(sim.rmm, observed_at=START)
    web = next(e for e in rmm.entities if e.id == "host:contoso-ny-web-01")
    assert (web.source, web.source_ref) == ("rmm", "100002")
    assert web.attrs["online"] is True and web.attrs["services"] == {"contoso-web": "running"}
    assert web.last_seen == START and rmm.observed_at == START
    ident = identity_inventory(sim.identity_for("contoso"), client="contoso", observed_at=START)
    alice = next(e for e in ident.entities if e.id == "identity:contoso-alice")
    assert (alice.source, alice.source_ref) == ("identity", "u-alice")


def test_inventory_reflects_changes_after_actions() -> None:
    ents, rels = small_estate()
    clock = ManualClock(START)
    sim = SimEstate.from_twin(ents, rels, clock=clock, timings=SimTimings(scale=0))
    sim.rmm.apply_patches("100002", ["KB5034129"], reboot=True, idempotency_key="p")
    sim.identity.disable_user("u-bob", idempotency_key="d")
    sim.drift.add_firewall_rule(
        sim.firewall.list_rules()[0].model_copy(
            update={"rule_id": "7", "expires_at": START + timedelta(minutes=5)}
        )
    )
    rmm = rmm_inventory(sim.rmm)
    ids = {e.id for e in rmm.entities}
    assert "patch:KB5034129@host:contoso-ny-web-01" not in ids
    assert "patch:KB5034439@host:contoso-ny-web-01" in ids
    web = next(e for e in rmm.entities if e.id == "host:contoso-ny-web-01")
    assert web.attrs["last_boot"] == START.isoformat()
    bob = next(
        e
        for e in identity_inventory(sim.identity_for("contoso"), client="contoso").entities
        if e.id == "identity:contoso-bob"
    )
    assert bob.attrs["status"] == "disabled" and bob.attrs["sessions"] == 0
    rule_id = "firewall_rule:contoso-ny-fw-01-r007"
    assert rule_id in {e.id for e in firewall_inventory(sim.firewall).entities}
    device = firewall_inventory(sim.firewalls["contoso-ny-fw-01"], device="contoso-ny-fw-01")
    assert rule_id in {e.id for e in device.entities}
    clock.advance(300)
    assert rule_id not in {e.id for e in firewall_inventory(sim.firewall).entities}


def test_inventory_identity_tenant_derives_sample_ids_without_index() -> None:
    ents, rels = small_estate()
    sim = SimEstate.from_twin(ents, rels, clock=ManualClock(START))
    batch = identity_inventory(sim.identity_for("contoso"), client="contoso", observed_at=START)
    want = {e.id for e in ents if e.kind is NodeKind.IDENTITY and e.attrs["client"] == "contoso"}
    got = {e.id for e in batch.entities if e.kind is NodeKind.IDENTITY}
    assert got == want
    assert "identity:fabrikam-eve" not in got
    assert ("identity:contoso-alice", "group:contoso-admins") in {
        (r.src, r.dst) for r in batch.relations
    }
    other = identity_inventory(sim.identity_for("fabrikam"), client="fabrikam")
    assert [e.id for e in other.entities] == ["identity:fabrikam-eve"]


def test_inventory_identity_refuses_ambiguous_ids() -> None:
    ents, rels = small_estate()
    ents.append(
        Entity(
            id="identity:fabrikam-bob",
            kind=NodeKind.IDENTITY,
            name="Bob Other",
            attrs={"username": "bob", "user_id": "u-bob-2", "client": "fabrikam"},
        )
    )
    sim = SimEstate.from_twin(ents, rels, clock=ManualClock(START))
    with pytest.raises(ValueError, match="identity:bob"):
        identity_inventory(sim.identity)
    ok = identity_inventory(sim.identity, known=known_ids(ents))
    assert {"identity:contoso-bob", "identity:fabrikam-bob"} <= {e.id for e in ok.entities}
