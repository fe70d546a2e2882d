from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.estate import small_graph
from twin.actions import CATALOG
from twin.fork import AddEdge, AddEntity, Deactivate, Fork, RemoveEdge, SetAttr
from twin.model import EdgeType
from twin.plan import rehearse, stale_entities


def test_fork_overlays_without_touching_base() -> None:
    g = small_graph()
    before = {e.id: e for e in g.entities()}
    f = Fork(
        g,
        [
            SetAttr("host:contoso-ny-db-01", "env", "dev"),
            Deactivate("host:contoso-ny-db-01"),
            RemoveEdge("service:contoso-erp-app", EdgeType.DEPENDS_ON, "service:contoso-erp-db"),
        ],
    )
    assert f.entity("host:contoso-ny-db-01").attrs["env"] == "dev"
    assert not f.active("host:contoso-ny-db-01")
    assert ("depends_on", "service:contoso-erp-db") not in {
        (t.value, d) for t, d in f.out_edges("service:contoso-erp-app")
    }
    assert {e.id: e for e in g.entities()} == before
    assert g.get("host:contoso-ny-db-01").attrs["env"] == "prod"


def test_outage_respects_redundancy() -> None:
    g = small_graph()
    one = Fork(g, [Deactivate("host:contoso-ny-web-01")]).outage()
    assert "service:contoso-portal" in one.degraded and "service:contoso-portal" not in one.down
    all3 = Fork(g, [Deactivate(f"host:contoso-ny-web-0{i}") for i in (1, 2, 3)]).outage()
    assert "service:contoso-portal" in all3.down


def test_outage_propagates_down_the_dependency_chain() -> None:
    g = small_graph()
    out = Fork(g, [Deactivate("host:contoso-ny-dns-01")]).outage()
    assert {"service:contoso-dns", "service:contoso-erp-app", "service:contoso-portal"} <= set(
        out.down
    )
    assert out.down["service:contoso-portal"][-1] == "host:contoso-ny-dns-01"


_DELTAS = st.one_of(
    st.builds(
        SetAttr,
        st.sampled_from(["host:contoso-ny-db-01", "service:contoso-dns"]),
        st.sampled_from(["env", "x"]),
        st.integers(),
    ),
    st.builds(
        Deactivate,
        st.sampled_from(
            ["host:contoso-ny-web-01", "host:contoso-ny-dns-01", "service:contoso-erp-db"]
        ),
    ),
    st.builds(
        AddEdge,
        st.just("service:contoso-dev-app"),
        st.just(EdgeType.DEPENDS_ON),
        st.sampled_from(["service:contoso-dns", "service:contoso-erp-db"]),
    ),
    st.builds(
        RemoveEdge,
        st.just("service:contoso-portal"),
        st.just(EdgeType.DEPENDS_ON),
        st.sampled_from(["service:contoso-dns", "service:contoso-erp-app"]),
    ),
    st.just(AddEntity("firewall_rule:new", "firewall_rule", "new", {"action": "allow"})),
    st.builds(
        AddEdge,
        st.just("firewall_rule:new"),
        st.just(EdgeType.ALLOWS_TRAFFIC),
        st.sampled_from(["service:contoso-dns", "service:contoso-portal"]),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_DELTAS, max_size=6))
def test_fork_never_mutates_base(deltas: list) -> None:  # type: ignore[type-arg]
    g = small_graph()
    nodes = {e.id: e for e in g.entities()}
    edges = sorted((r.src, r.type, r.dst) for r in g.relations())
    f = Fork(g, deltas)
    f.outage()
    for nid in [*nodes, "firewall_rule:new"]:
        if not f.exists(nid):
            continue
        f.entity(nid)
        list(f.in_edges(nid))
        list(f.out_edges(nid))
    assert {e.id: e for e in g.entities()} == nodes
    assert sorted((r.src, r.type, r.dst) for r in g.relations()) == edges
    assert "firewall_rule:new" not in f.read_set  # entities the fork adds are not drift


def test_fork_adds_entities_and_edges_without_touching_base() -> None:
    g = small_graph()
    f = Fork(
        g,
        [
            AddEntity("firewall_rule:new", "firewall_rule", "new", {"port": "443"}),
            AddEdge("firewall_rule:new", EdgeType.ALLOWS_TRAFFIC, "service:contoso-portal"),
        ],
    )
    assert f.exists("firewall_rule:new") and f.is_new("firewall_rule:new")
    assert f.entity("firewall_rule:new").attrs == {"port": "443"}
    assert ("allows_traffic", "firewall_rule:new") in {
        (t.value, s) for t, s in f.in_edges("service:contoso-portal")
    }
    assert "firewall_rule:new" not in g


def test_reboot_below_replicas_is_caught_with_evidence() -> None:
    g = small_graph()
    plan = rehearse(g, "host:reboot".replace(":", "."), ["contoso-ny-db-01"])
    replicas = next(i for i in plan.invariants if i["id"] == "replicas")
    assert not replicas["passed"] and replicas["severity"] == "needs_consent"
    assert "service:contoso-erp-db" in replicas["violations"][0]["entities"]
    quorum = next(i for i in plan.invariants if i["id"] == "quorum")
    assert not quorum["passed"] and quorum["severity"] == "deny"
    assert {a.id for a in plan.collateral} >= {"service:contoso-erp-db"}


def test_reboot_near_miss_passes_replicas() -> None:
    g = small_graph()
    plan = rehearse(g, "host.reboot", ["contoso-ny-web-02"])
    assert all(i["passed"] for i in plan.invariants)
    assert [a.effect for a in plan.collateral] == ["degraded"]


def test_plan_hash_covers_content_and_read_set() -> None:
    g = small_graph()
    p1 = rehearse(g, "host.reboot", ["contoso-ny-web-02"])
    p2 = rehearse(g, "host.reboot", ["contoso-ny-web-02"])
    assert p1.hash == p2.hash == p1.compute_hash()
    assert "host:contoso-ny-web-02" in p1.read_set
    tampered = p1.model_copy(update={"targets": ["host:contoso-ny-web-03"]})
    assert tampered.compute_hash() != p1.hash


def test_stale_plan_detected_when_read_set_changes() -> None:
    g = small_graph()
    plan = rehearse(g, "host.reboot", ["contoso-ny-web-02"])
    assert stale_entities(plan, g) == []
    e = g.get("service:contoso-portal")
    g.put_entity(e.model_copy(update={"version": e.version + 1}))
    assert stale_entities(plan, g) == ["service:contoso-portal"]


def test_waves_put_canary_first_and_split_replicas() -> None:
    g = small_graph()
    plan = rehearse(
        g,
        "patch.apply",
        ["contoso-ny-web-01", "contoso-ny-web-02", "contoso-ny-web-03", "contoso-ny-dev-01"],
    )
    assert len(plan.waves[0]) == 1
    for wave in plan.waves:
        assert sum(1 for t in wave if "web" in t) <= 1


def test_every_catalog_action_declares_its_contract() -> None:
    for kind, spec in CATALOG.items():
        assert spec.capability and spec.target_kinds, kind
        assert spec.summary, kind


def test_bad_params_name_the_field() -> None:
    import pytest

    from twin.actions import InvalidParams

    g = small_graph()
    with pytest.raises(InvalidParams, match="reboot"):
        rehearse(g, "patch.apply", ["contoso-ny-dev-01"], {"reboot": "perhaps"})
    with pytest.raises(InvalidParams, match="colour"):
        rehearse(g, "patch.apply", ["contoso-ny-dev-01"], {"colour": "red"})
