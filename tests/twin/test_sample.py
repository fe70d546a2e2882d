"""The sample-estate generator: determinism, integrity, the conventions of docs/SAMPLE_ESTATE.md."""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import networkx as nx
import pytest

from twin.model import IMPACT_EDGES, EdgeType, Entity, NodeKind, Relation, edge_allowed
from twin.sample import (
    DEFAULT_ENDPOINTS,
    REFERENCE_NOW,
    SampleEstate,
    generate_estate,
    summary_table,
)

K, E = NodeKind, EdgeType


@pytest.fixture(scope="module")
def estate() -> SampleEstate:
    return generate_estate()


@pytest.fixture(scope="module")
def by_id(estate: SampleEstate) -> dict[str, Entity]:
    return {e.id: e for e in estate.entities}


def _dump(est: SampleEstate) -> list[str]:
    return [x.model_dump_json() for x in (*est.entities, *est.relations)]


def _of(est: SampleEstate, kind: NodeKind) -> list[Entity]:
    return [e for e in est.entities if e.kind is kind]


def _out(est: SampleEstate, edge: EdgeType) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for r in est.relations:
        if r.type is edge:
            out[r.src].append(r.dst)
    return out


def _in(est: SampleEstate, edge: EdgeType) -> dict[str, list[str]]:
    inn: dict[str, list[str]] = defaultdict(list)
    for r in est.relations:
        if r.type is edge:
            inn[r.dst].append(r.src)
    return inn


# --- determinism and input checking ---------------------------------------------------------


def test_sample_same_arguments_give_identical_output(estate: SampleEstate) -> None:
    assert _dump(generate_estate()) == _dump(estate)


def test_sample_different_seed_gives_different_estate(estate: SampleEstate) -> None:
    other = generate_estate(seed=8)
    assert _dump(other) != _dump(estate)
    # The size contract holds whatever the seed.
    assert sum(1 for h in _of(other, K.HOST) if h.attrs["role"] == "endpoint") == DEFAULT_ENDPOINTS


def test_sample_timestamps_are_offsets_from_now(estate: SampleEstate) -> None:
    later = REFERENCE_NOW + timedelta(days=30)
    moved = generate_estate(now=later)
    assert moved.now == later and estate.now == REFERENCE_NOW
    for a, b in zip(estate.entities[:500], moved.entities[:500], strict=True):
        assert b.last_seen - a.last_seen == timedelta(days=30)
        assert b.first_seen - a.first_seen == timedelta(days=30)
        for key in ("last_boot", "last_success", "tested_at", "rotated_at"):
            if key in a.attrs:
                shift = datetime.fromisoformat(b.attrs[key]) - datetime.fromisoformat(a.attrs[key])
                assert shift == timedelta(days=30)
    for e in estate.entities:
        assert e.first_seen <= REFERENCE_NOW and e.last_seen <= REFERENCE_NOW


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoints": 0}, "endpoints must be between"),
        ({"endpoints": -5}, "endpoints must be between"),
        ({"endpoints": 10_000_000}, "endpoints must be between"),
        ({"endpoints": True}, "endpoints must be an int"),
        ({"endpoints": "4200"}, "endpoints must be an int"),
        ({"target_nodes": 50}, "target_nodes must be at least"),
        ({"target_nodes": 1e5}, "target_nodes must be an int"),
        ({"target_nodes": 10**9}, "target_nodes 1000000000 is too large"),
        ({"now": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_sample_bad_input_is_refused_with_a_clear_error(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_estate(**kwargs)  # type: ignore[arg-type]


# --- integrity ------------------------------------------------------------------------------


def test_sample_ids_unique_and_every_edge_allowed_with_both_ends(
    estate: SampleEstate, by_id: dict[str, Entity]
) -> None:
    assert len(by_id) == len(estate.entities)
    for e in estate.entities:
        assert e.id == f"{e.kind.value}:{e.id.split(':', 1)[1]}"
    for r in estate.relations:
        assert r.src in by_id, r
        assert r.dst in by_id, r
        assert edge_allowed(by_id[r.src].kind, r.type, by_id[r.dst].kind), r
    assert len({(r.src, r.type, r.dst) for r in estate.relations}) == len(estate.relations)


def test_sample_records_pass_full_validation(estate: SampleEstate) -> None:
    for e in estate.entities[::37]:
        assert Entity.model_validate(e.model_dump()) == e
    for r in estate.relations[::101]:
        assert Relation.model_validate(r.model_dump()) == r


def test_sample_service_dependencies_form_a_dag(estate: SampleEstate) -> None:
    g = nx.DiGraph()
    g.add_edges_from((r.src, r.dst) for r in estate.relations if r.type in IMPACT_EDGES)
    assert nx.is_directed_acyclic_graph(g)


def test_sample_ip_addresses_unique_and_inside_their_segment(
    estate: SampleEstate, by_id: dict[str, Entity]
) -> None:
    attached = _out(estate, E.ATTACHED_TO)
    ips = [h.attrs["ip"] for h in estate.entities if h.kind in (K.HOST, K.HYPERVISOR)]
    assert len(ips) == len(set(ips))
    for h in estate.entities[::13]:
        if h.kind in (K.HOST, K.HYPERVISOR):
            (seg,) = attached[h.id]
            net = ipaddress.ip_network(by_id[seg].attrs["cidr"])
            assert ipaddress.ip_address(h.attrs["ip"]) in net


# --- conventions ----------------------------------------------------------------------------

_REQUIRED: dict[NodeKind, set[str]] = {
    K.CLIENT: {"display_name", "maintenance_window"},
    K.SITE: {"client", "city", "tz"},
    K.SEGMENT: {"client", "site", "cidr", "purpose"},
    K.HOST: {"hostname", "client", "site", "env", "role", "os", "criticality", "device_id", "ip",
             "patch_ring", "pending_reboot", "last_boot"},
    K.HYPERVISOR: {"hostname", "client", "site", "device_id"},
    K.CLUSTER: {"client", "env", "replicas_min", "quorum"},
    K.SERVICE: {"client", "env", "criticality", "replicas_min", "role", "port"},
    K.SAAS: {"vendor", "criticality"},
    K.IDENTITY: {"username", "client", "display_name", "admin", "break_glass", "service_account",
                 "status", "user_id"},
    K.GROUP: {"client", "group_id"},
    K.CREDENTIAL: {"client", "version", "supports_overlap", "owner", "rotated_at"},
    K.FIREWALL: {"client", "site", "vendor"},
    K.FIREWALL_RULE: {"rule_id", "action", "source", "destination", "port", "protocol",
                      "expires_at"},
    K.BACKUP: {"client", "job_id", "object_name", "last_success", "tested_at", "rpo_hours"},
    K.PATCH: {"patch_id", "title", "severity", "reboot_required", "status"},
    K.SIEM_RULE: {"rule_id", "name", "enabled"},
    K.TICKET: {"number", "status", "priority", "client"},
}  # fmt: skip
_DOMAINS: dict[str, set[object]] = {
    "env": {"prod", "staging", "dev"},
    "criticality": {"low", "medium", "high", "critical"},
    "patch_ring": {"canary", "early", "broad"},
    "purpose": {"servers", "workstations", "dmz", "mgmt"},
    "severity": {"critical", "important", "moderate"},
    "db_role": {"primary", "replica"},
    "status": {"active", "disabled", "pending", "new", "open", "in_progress", "waiting_customer"},
    "action": {"allow", "block"},
}
_ROLES = {
    K.HOST: {"endpoint", "server", "db", "web", "app", "dc", "dns", "file"},
    K.SERVICE: {"dns", "idp", "db", "web", "app", "mail", "file", "backup", "monitoring"},
}
_TIMESTAMPS = ("last_boot", "rotated_at", "last_success", "tested_at", "expires_at")


def test_sample_every_kind_carries_its_documented_attributes(estate: SampleEstate) -> None:
    seen = Counter(e.kind for e in estate.entities)
    assert set(_REQUIRED) <= set(seen), set(_REQUIRED) - set(seen)
    for e in estate.entities:
        missing = _REQUIRED.get(e.kind, set()) - set(e.attrs)
        assert not missing, (e.id, missing)
        for key, allowed in _DOMAINS.items():
            if key in e.attrs:
                assert e.attrs[key] in allowed, (e.id, key, e.attrs[key])
        if e.kind in _ROLES:
            assert e.attrs["role"] in _ROLES[e.kind], e.id
        for key in _TIMESTAMPS:
            if e.attrs.get(key) is not None:
                assert datetime.fromisoformat(e.attrs[key]).tzinfo is not None, (e.id, key)
        assert ("db_role" in e.attrs) == (e.kind is K.HOST and e.attrs["role"] == "db"), e.id


def test_sample_names_and_ids_follow_the_convention(
    estate: SampleEstate, by_id: dict[str, Entity]
) -> None:
    # The examples in docs/SAMPLE_ESTATE.md exist, so docs and demos can point at them.
    for eid in (
        "host:contoso-ny-db-prod-01",
        "host:contoso-ny-ws-0042",
        "service:contoso-erp-db",
        "patch:KB5034441@host:contoso-ny-ws-0042",
        "site:contoso-ny",
        "client:contoso",
    ):
        assert eid in by_id, eid
    pending_on = _out(estate, E.PENDING_ON)
    for p in _of(estate, K.PATCH):
        (host,) = pending_on[p.id]
        assert p.id == f"patch:{p.attrs['patch_id']}@{host}"
    for h in _of(estate, K.HOST):
        assert h.name == h.attrs["hostname"] == h.id.removeprefix("host:")
        assert h.attrs["hostname"].startswith(h.attrs["site"] + "-")
        assert h.attrs["site"].startswith(h.attrs["client"] + "-")
    for s in _of(estate, K.SITE):
        (client,) = _out(estate, E.BELONGS_TO)[s.id]
        assert client == f"client:{s.attrs['client']}"


def test_sample_patch_ring_mix_is_about_5_20_75(estate: SampleEstate) -> None:
    rings = Counter(h.attrs["patch_ring"] for h in _of(estate, K.HOST))
    total = sum(rings.values())
    assert 0.03 < rings["canary"] / total < 0.07
    assert 0.16 < rings["early"] / total < 0.24
    assert 0.70 < rings["broad"] / total < 0.80


def test_sample_realistic_variety(estate: SampleEstate) -> None:
    hosts = _of(estate, K.HOST)
    assert {h.attrs["env"] for h in hosts} == {"prod", "staging", "dev"}
    reboot = sum(h.attrs["pending_reboot"] for h in hosts)
    assert 0.03 * len(hosts) < reboot < 0.15 * len(hosts)
    per_host = Counter(d for ds in _out(estate, E.PENDING_ON).values() for d in ds)
    assert len(per_host) > 0.4 * len(hosts)  # many hosts have pending patches
    assert max(per_host.values()) >= 3  # some have several
    patches = _of(estate, K.PATCH)
    assert {p.attrs["severity"] for p in patches} == {"critical", "important", "moderate"}
    assert {p.attrs["reboot_required"] for p in patches} == {True, False}
    now = estate.now
    backups = _of(estate, K.BACKUP)
    stale = [
        b
        for b in backups
        if now - datetime.fromisoformat(b.attrs["last_success"]) > timedelta(days=2)
    ]
    untested = [
        b
        for b in backups
        if now - datetime.fromisoformat(b.attrs["tested_at"]) > timedelta(days=90)
    ]
    assert 0 < len(stale) < len(backups) / 2
    assert 0 < len(untested) < len(backups) / 2
    assert len(_out(estate, E.PROTECTS)) == len(backups)
    assert {t.attrs["status"] for t in _of(estate, K.TICKET)} <= {
        "new",
        "open",
        "in_progress",
        "waiting_customer",
    }
    assert all(_out(estate, E.CONCERNS)[t.id] for t in _of(estate, K.TICKET))


def test_sample_core_services_are_critical(estate: SampleEstate) -> None:
    for s in _of(estate, K.SERVICE):
        if s.attrs["role"] in ("dns", "idp") or s.name.endswith("-erp-db"):
            assert s.attrs["criticality"] == "critical", s.id


# --- graph shape ----------------------------------------------------------------------------


def test_sample_dns_and_idp_are_each_clients_hubs(estate: SampleEstate) -> None:
    impact = nx.DiGraph()
    impact.add_edges_from((r.dst, r.src) for r in estate.relations if r.type in IMPACT_EDGES)
    by_client: dict[str, list[Entity]] = defaultdict(list)
    for s in _of(estate, K.SERVICE):
        by_client[s.attrs["client"]].append(s)
    assert len(by_client) == len(_of(estate, K.CLIENT))
    for client, services in by_client.items():
        dependents = {s.id: len(nx.descendants(impact, s.id)) for s in services}
        ranked = sorted(dependents, key=lambda sid: -dependents[sid])
        assert ranked[:2] == [f"service:{client}-dns", f"service:{client}-idp"], client
        assert dependents[ranked[1]] > dependents[ranked[2]]
        # Everything else of the client needs DNS one way or another.
        assert dependents[f"service:{client}-dns"] >= len(services) - 1
        assert dependents[f"service:{client}-erp-db"] >= 3  # the core database is a hub too


def test_sample_clusters_and_services_have_their_replicas(estate: SampleEstate) -> None:
    members = _in(estate, E.MEMBER_OF)
    clusters = _of(estate, K.CLUSTER)
    assert {c.attrs["cluster_type"] for c in clusters} == {"hypervisor", "sql", "web"}
    for c in clusters:
        assert len(members[c.id]) >= c.attrs["replicas_min"] >= 1, c.id
        assert 1 <= c.attrs["quorum"] <= len(members[c.id]), c.id
    runs_on = _out(estate, E.RUNS_ON)
    for s in _of(estate, K.SERVICE):
        assert len(runs_on[s.id]) >= s.attrs["replicas_min"], s.id
    web = next(c for c in clusters if c.id == "cluster:contoso-web")
    assert len(members[web.id]) == 3 and web.attrs["replicas_min"] == 2
    assert all(h.attrs["role"] != "endpoint" for h in _of(estate, K.HOST) if h.id in runs_on)


def test_sample_each_client_has_one_break_glass_and_an_admin(estate: SampleEstate) -> None:
    identities = _of(estate, K.IDENTITY)
    for client in _of(estate, K.CLIENT):
        mine = [i for i in identities if i.attrs["client"] == client.attrs["client"]]
        assert sum(i.attrs["break_glass"] for i in mine) == 1, client.id
        assert any(i.attrs["admin"] and not i.attrs["break_glass"] for i in mine), client.id
        assert any(i.attrs["service_account"] for i in mine), client.id
        assert sum(not i.attrs["admin"] and not i.attrs["service_account"] for i in mine) > 10


def test_sample_credentials_are_shared_and_owned(
    estate: SampleEstate, by_id: dict[str, Entity]
) -> None:
    consumers = _in(estate, E.USES_CREDENTIAL)
    owners = _in(estate, E.OWNS)
    creds = _of(estate, K.CREDENTIAL)
    assert len(creds) >= 3 * len(_of(estate, K.CLIENT))
    for c in creds:
        assert len(consumers[c.id]) >= 2, c.id
        assert owners[c.id] == [c.attrs["owner"]], c.id
        assert by_id[c.attrs["owner"]].attrs["service_account"] is True
        assert not any("secret" in k and k != "secret_type" for k in c.attrs)


def test_sample_default_size_is_the_4200_endpoint_estate(estate: SampleEstate) -> None:
    endpoints = [h for h in _of(estate, K.HOST) if h.attrs["role"] == "endpoint"]
    assert len(endpoints) == DEFAULT_ENDPOINTS == estate.endpoints
    assert len(_of(estate, K.CLIENT)) >= 5
    assert 3.5 <= len(estate.relations) / len(estate.entities) <= 4.5


def test_sample_summary_and_table_count_what_is_there(estate: SampleEstate) -> None:
    summary = estate.summary()
    assert sum(summary.values()) == len(estate.entities)
    assert summary["host"] == len(_of(estate, K.HOST))
    table = dict(summary_table(estate))
    assert table["relations (total)"] == len(estate.relations)
    assert table["entities (total)"] == len(estate.entities)
    assert table["endpoint hosts"] == DEFAULT_ENDPOINTS
    assert table["client"] == summary["client"]


def test_sample_small_estate_still_complete() -> None:
    small = generate_estate(endpoints=5, seed=3, now=datetime(2025, 6, 1, tzinfo=UTC))
    summary = small.summary()
    assert summary["client"] == 3
    assert sum(1 for h in _of(small, K.HOST) if h.attrs["role"] == "endpoint") == 5
    assert summary["service"] >= 3 * 10


@pytest.mark.parametrize("target", [5_000, 20_000])
def test_sample_target_nodes_lands_within_10_percent(target: int) -> None:
    est = generate_estate(target_nodes=target)
    assert abs(len(est.entities) - target) <= 0.1 * target


@pytest.mark.slow
def test_sample_100k_target_has_about_4_edges_per_node() -> None:
    est = generate_estate(target_nodes=100_000)
    nodes = len(est.entities)
    assert 90_000 <= nodes <= 110_000
    assert 3.5 <= len(est.relations) / nodes <= 4.5
    assert len({e.id for e in est.entities}) == nodes
    kinds = {e.id: e.kind for e in est.entities}
    for r in est.relations[::7]:
        assert edge_allowed(kinds[r.src], r.type, kinds[r.dst])
    assert len(est.summary()) >= 17
    assert est.summary()["client"] > 20
