"""A sync from the sim estate through the contracts rebuilds the twin of the sample estate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.errors import AdapterError, AuthError
from adapters.inventory import known_ids
from adapters.sim import FaultRule, ManualClock, SimEstate
from adapters.sync import SYNC_ORDER as CATEGORIES
from adapters.sync import sync_all
from tests.adapters.test_inventory import _DEFAULTS, _KEY_ATTRS, _same
from twin.db import make_engine
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind
from twin.sample import SampleEstate, generate_estate
from twin.store import TwinStore

# What the contracts report. Sites, segments, clusters, services, SaaS, credentials and clients
# (and their edges: runs_on, depends_on, uses_credential, hosted_on, attached_to ...) have no
# contract that reports them, so a sync cannot rebuild them.
REBUILT = (
    NodeKind.HOST,
    NodeKind.HYPERVISOR,
    NodeKind.PATCH,
    NodeKind.IDENTITY,
    NodeKind.GROUP,
    NodeKind.FIREWALL,
    NodeKind.FIREWALL_RULE,
    NodeKind.BACKUP,
    NodeKind.TICKET,
    NodeKind.SIEM_RULE,
)


@pytest.fixture(scope="module")
def estate() -> SampleEstate:
    return generate_estate(endpoints=300)


def _sim(estate: SampleEstate) -> SimEstate:
    return SimEstate.from_twin(
        estate.entities, estate.relations, clock=ManualClock(estate.now), seed=5
    )


def _adapters(sim: SimEstate, estate: SampleEstate) -> dict[str, Any]:
    """The integrations an MSP would configure: one IdP tenant per client, one of the rest."""
    clients = [e.id.split(":", 1)[1] for e in estate.entities if e.kind is NodeKind.CLIENT]
    return {
        "rmm": sim.rmm,
        "identity": {c: sim.identity_for(c) for c in clients},
        "firewall": sim.firewall,
        "backup": sim.backup,
        "psa": sim.psa,
        "siem": sim.siem,
    }


def _store(path: Path) -> TwinStore:
    store = TwinStore(make_engine(f"sqlite:///{path / 'twin.db'}"))
    store.create()
    return store


def _load(store: TwinStore, batches: list[Any]) -> TwinGraph:
    for batch in batches:
        result = store.apply(batch)
        assert result.rejections == [], (batch.source, [str(r) for r in result.rejections[:3]])
    return store.load()


def _key(e: Entity) -> str:
    # SIEM rules are matched on their vendor id where the twin id cannot derive (see below).
    return str(e.attrs["rule_id"]) if e.kind is NodeKind.SIEM_RULE else e.id


def _compare(estate: SampleEstate, graph: TwinGraph, *, siem_by_vendor_id: bool) -> int:
    checked = 0
    for kind in REBUILT:
        want = {
            (_key(e) if siem_by_vendor_id else e.id): e for e in estate.entities if e.kind is kind
        }
        got = {
            (_key(e) if siem_by_vendor_id else e.id): e for e in graph.entities(kind) if e.active
        }
        assert set(got) == set(want), (kind, sorted(set(want) ^ set(got))[:4])
        for k, w in want.items():
            for attr in _KEY_ATTRS.get(kind, ()):
                theirs = w.attrs.get(attr, _DEFAULTS.get(attr))
                if theirs is None:
                    continue
                mine = got[k].attrs.get(attr)
                assert _same(kind, attr, mine, theirs), f"{w.id}.{attr}: {mine!r} != {theirs!r}"
            checked += 1
    kinds = {e.id: e.kind for e in estate.entities}
    for edge, src_kind in (
        (EdgeType.PENDING_ON, NodeKind.PATCH),
        (EdgeType.MEMBER_OF, NodeKind.IDENTITY),
        (EdgeType.RULE_OF, NodeKind.FIREWALL_RULE),
    ):
        want_edges = {
            (r.src, r.dst) for r in estate.relations if r.type == edge and kinds[r.src] is src_kind
        }
        got_edges = {
            (r.src, r.dst)
            for r in graph.relations()
            if r.type == edge and graph.get(r.src).kind is src_kind
        }
        assert got_edges == want_edges, (edge, sorted(want_edges ^ got_edges)[:4])
    return checked


def test_sync_from_sim_rebuilds_sample_twin_in_an_empty_store(
    estate: SampleEstate, tmp_path: Path
) -> None:
    sim = _sim(estate)
    batches = sync_all(_adapters(sim, estate), observed_at=estate.now)
    assert [b.source for b in batches] == list(CATEGORIES)
    assert all(b.full_sync for b in batches)  # the sim lists tickets and rules itself
    graph = _load(_store(tmp_path), batches)
    # From nothing, every id derives from the records alone, except SIEM rules: the SIEM
    # contract carries no client, so a first sync names them by vendor id (compared on it).
    checked = _compare(estate, graph, siem_by_vendor_id=True)
    assert checked == sum(1 for e in estate.entities if e.kind in REBUILT)
    assert checked > 1000
    # Nothing the contracts cannot see was invented.
    assert not any(graph.entities(NodeKind.SERVICE))


def test_sync_with_known_ids_rebuilds_every_twin_id(estate: SampleEstate, tmp_path: Path) -> None:
    sim = _sim(estate)
    batches = sync_all(
        _adapters(sim, estate), known=known_ids(estate.entities), observed_at=estate.now
    )
    graph = _load(_store(tmp_path), batches)
    _compare(estate, graph, siem_by_vendor_id=False)


def test_sync_twice_changes_nothing_and_sees_changes(estate: SampleEstate, tmp_path: Path) -> None:
    sim = _sim(estate)
    store = _store(tmp_path)
    adapters = _adapters(sim, estate)
    _load(store, sync_all(adapters, observed_at=estate.now))
    _, serial = store.meta()
    again = [store.apply(b) for b in sync_all(adapters, observed_at=estate.now)]
    assert sum(r.changed for r in again) == 0 and store.meta()[1] == serial
    user = next(
        e
        for e in estate.entities
        if e.kind is NodeKind.IDENTITY and e.attrs.get("status", "active") == "active"
    )
    sim.identity.disable_user(str(user.attrs["user_id"]), idempotency_key="d-1")
    graph = _load(store, sync_all(adapters, observed_at=estate.now))
    assert graph.get(user.id).attrs["status"] == "disabled"
    assert store.meta()[1] > serial


def test_sync_one_integration_down_others_still_sync(estate: SampleEstate) -> None:
    sim = _sim(estate)
    sim.faults.add(FaultRule(category="backup", kind="auth", status=403))
    failed: list[tuple[str, AdapterError]] = []
    batches = sync_all(
        _adapters(sim, estate), observed_at=estate.now, on_error=lambda c, e: failed.append((c, e))
    )
    assert [b.source for b in batches] == [c for c in CATEGORIES if c != "backup"]
    assert [(c, type(e)) for c, e in failed] == [("backup", AuthError)]
    with pytest.raises(AuthError):
        sync_all(_adapters(sim, estate), observed_at=estate.now)


def test_sync_without_listing_reads_named_tickets_only(estate: SampleEstate) -> None:
    sim = _sim(estate)

    class ContractOnlyPsa:
        """The PSA contract alone: no ``list_tickets``."""

        def __init__(self) -> None:
            self.get_ticket = sim.psa.get_ticket

    first = next(e for e in estate.entities if e.kind is NodeKind.TICKET)
    (batch,) = sync_all(
        {"psa": ContractOnlyPsa()}, tickets=[str(first.source_ref)], observed_at=estate.now
    )
    assert [e.id for e in batch.entities] == [first.id]
    assert batch.full_sync is False  # a named subset must not fade the other tickets out


def test_sync_rejects_a_tenant_configured_twice(estate: SampleEstate) -> None:
    sim = _sim(estate)
    tenant = sim.identity_for("contoso")
    with pytest.raises(ValueError, match="reported by two"):
        sync_all(
            {"identity": {"contoso": tenant, "contoso-again": tenant}},
            known=known_ids(estate.entities),
            observed_at=estate.now,
        )
