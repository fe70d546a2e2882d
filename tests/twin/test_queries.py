from __future__ import annotations

import random
from collections import deque
from datetime import timedelta
from itertools import pairwise

import networkx as nx
import pytest

from tests.estate import small_graph
from twin.graph import TwinGraph
from twin.model import IMPACT_EDGES, EdgeType, Entity, NodeKind, Relation
from twin.queries import entity_detail, hosts_missing_patch, in_scope, pending_reboot, stale
from twin.sample import REFERENCE_NOW, SampleEstate, generate_estate


@pytest.fixture(scope="module")
def estate() -> SampleEstate:
    return generate_estate(endpoints=300, seed=3)


@pytest.fixture
def graph(estate: SampleEstate) -> TwinGraph:
    g = TwinGraph()
    g.bulk_load(estate.entities, ((r.src, r.type.value, r.dst) for r in estate.relations))
    return g


def _bfs(g: TwinGraph, root: str) -> set[str]:
    seen, queue = {root}, deque([root])
    while queue:
        n = queue.popleft()
        for src, d in g.g._pred[n].items():
            if src not in seen and d["types"] & IMPACT_EDGES:
                seen.add(src)
                queue.append(src)
    return seen - {root}


def test_hosts_missing_patch_matches_the_patch_records(
    estate: SampleEstate, graph: TwinGraph
) -> None:
    patch = next(e for e in estate.entities if e.kind == NodeKind.PATCH)
    pid = patch.attrs["patch_id"]
    patch_ids = {
        e.id for e in estate.entities if e.kind == NodeKind.PATCH and e.attrs["patch_id"] == pid
    }
    want = {r.dst for r in estate.relations if r.type == EdgeType.PENDING_ON and r.src in patch_ids}
    got = hosts_missing_patch(graph, pid.lower())
    assert {h.id for h in got} == want and want
    assert [h.name for h in got] == sorted(h.name for h in got)
    client = graph.get(sorted(want)[0]).attrs["client"]
    scoped = hosts_missing_patch(graph, pid, client=f"client:{client}")
    assert scoped and {h.attrs["client"] for h in scoped} == {client}
    assert hosts_missing_patch(graph, "KB0000000") == []


def test_hosts_missing_patch_ignores_installed_patches(graph: TwinGraph) -> None:
    patch = next(graph.entities(NodeKind.PATCH))
    host = next(d for t, d in graph.out_edges(patch.id) if t == EdgeType.PENDING_ON)
    before = {h.id for h in hosts_missing_patch(graph, patch.attrs["patch_id"])}
    graph.put_entity(patch.model_copy(update={"attrs": {**patch.attrs, "status": "installed"}}))
    after = {h.id for h in hosts_missing_patch(graph, patch.attrs["patch_id"])}
    assert host in before and host not in after


def test_pending_reboot_and_servers_only(estate: SampleEstate, graph: TwinGraph) -> None:
    want = {
        e.id
        for e in estate.entities
        if e.kind == NodeKind.HOST and e.attrs.get("pending_reboot") is True
    }
    got = pending_reboot(graph)
    assert {e.id for e in got} == want and want
    servers = pending_reboot(graph, servers_only=True)
    assert servers and all(e.attrs["role"] != "endpoint" for e in servers)
    assert len(servers) < len(got)
    one = servers[0].attrs["client"]
    assert {e.attrs["client"] for e in pending_reboot(graph, one)} == {one}


def test_stale_threshold_scope_and_order(estate: SampleEstate, graph: TwinGraph) -> None:
    day = timedelta(hours=24)
    got = stale(graph, day, now=REFERENCE_NOW)
    want = {e.id for e in estate.entities if e.last_seen < REFERENCE_NOW - day}
    assert {e.id for e in got} == want and want
    assert [e.last_seen for e in got] == sorted(e.last_seen for e in got)
    site = got[0].attrs["site"]
    assert all(in_scope(e, site) for e in stale(graph, day, site, now=REFERENCE_NOW))
    hosts = stale(graph, day, kinds=[NodeKind.HOST], now=REFERENCE_NOW)
    assert hosts and all(e.kind == NodeKind.HOST for e in hosts)
    gone = got[0]
    graph.put_entity(gone.model_copy(update={"active": False}))
    assert gone.id not in {e.id for e in stale(graph, day, now=REFERENCE_NOW)}


def test_path_is_a_shortest_undirected_path(graph: TwinGraph) -> None:
    und = graph.g.to_undirected(as_view=True)
    ids = sorted(graph.g.nodes)
    rng = random.Random(1)
    for _ in range(40):
        a, b = rng.choice(ids), rng.choice(ids)
        p = graph.path(a, b)
        if not nx.has_path(und, a, b):
            assert p is None
            continue
        assert p is not None and p[0] == a and p[-1] == b
        assert len(p) - 1 == nx.shortest_path_length(und, a, b)
        assert all(und.has_edge(x, y) for x, y in pairwise(p))


def test_path_between_unconnected_entities_is_none() -> None:
    g = small_graph()
    g.put_entity(Entity(id="host:island", kind=NodeKind.HOST, name="island"))
    assert g.path("host:island", "service:contoso-dns") is None
    assert g.path("host:island", "host:island") == ["host:island"]


def test_blast_index_stays_right_through_edits(graph: TwinGraph) -> None:
    rng = random.Random(7)
    impact = [(s, d) for s, d, t in graph.g.edges(data="types") if t & IMPACT_EDGES]
    for s, d in rng.sample(impact, 30):
        for t in list(graph.g[s][d]["types"]):
            graph.remove_relation(s, t, d)
    victims = rng.sample([e.id for e in graph.entities(NodeKind.HOST)], 10)
    for v in victims:
        graph.remove_entity(v)
    services = [e.id for e in graph.entities(NodeKind.SERVICE)]
    for _ in range(20):
        a, b = rng.sample(services, 2)
        graph.put_relation(Relation(src=a, type=EdgeType.DEPENDS_ON, dst=b))
    for root in [*services, *(e.id for e in graph.entities(NodeKind.HYPERVISOR))]:
        assert {i.entity.id for i in graph.blast_radius(root).items} == _bfs(graph, root)


def test_blast_paths_explain_each_item(graph: TwinGraph) -> None:
    hv = max(graph.entities(NodeKind.HYPERVISOR), key=lambda e: len(graph.blast_radius(e.id).items))
    br = graph.blast_radius(hv.id)
    assert br.items
    for item in br.items:
        assert item.path[0] == item.entity.id and item.path[-1] == hv.id
        for a, b in pairwise(item.path):
            assert graph.g[a][b]["types"] & IMPACT_EDGES
    groups = br.grouped()
    assert sum(len(v) for by in groups.values() for v in by.values()) == len(br.items)
    assert br.visited == {hv.id, *(i.entity.id for i in br.items)}
    assert len(graph.blast_radius(hv.id, max_items=3).items) == 3


def test_bulk_load_equals_incremental_puts(estate: SampleEstate, graph: TwinGraph) -> None:
    inc = TwinGraph()
    for e in estate.entities:
        inc.put_entity(e)
    for r in estate.relations:
        inc.put_relation(r)
    assert sorted(inc.relations(), key=str) == sorted(graph.relations(), key=str)
    assert inc._impact_in == graph._impact_in
    assert {k: list(v) for k, v in inc._by_kind.items()} == {
        k: list(v) for k, v in graph._by_kind.items()
    }


def test_put_relation_with_a_missing_end_raises() -> None:
    g = small_graph()
    with pytest.raises(KeyError, match="service:ghost"):
        g.put_relation(
            Relation(src="service:contoso-dns", type=EdgeType.DEPENDS_ON, dst="service:ghost")
        )


def test_entity_detail_lists_neighbours_both_ways() -> None:
    g = small_graph()
    d = entity_detail(g, "service:contoso-erp-db")
    assert {n["id"] for n in d["needs"]} == {"host:contoso-ny-db-01", "host:contoso-ny-db-02"}
    assert {n["id"] for n in d["needed_by"]} == {"service:contoso-erp-app"}
    assert d["entity"]["kind"] == "service"
