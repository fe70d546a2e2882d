from __future__ import annotations

import pytest

from tests.estate import small_graph
from twin.graph import UnknownEntity
from twin.model import NodeKind


def test_blast_radius_follows_impact_edges_with_paths() -> None:
    g = small_graph()
    br = g.blast_radius("host:contoso-ny-db-01")
    ids = {i.entity.id for i in br.items}
    # the db service runs on the host; the app needs the db; the portal needs the app
    assert ids == {"service:contoso-erp-db", "service:contoso-erp-app", "service:contoso-portal"}
    portal = next(i for i in br.items if i.entity.id == "service:contoso-portal")
    assert portal.path == (
        "service:contoso-portal",
        "service:contoso-erp-app",
        "service:contoso-erp-db",
        "host:contoso-ny-db-01",
    )
    assert br.by_kind == {"service": 3}
    assert br.by_criticality["critical"] == 1


def test_blast_radius_ignores_non_impact_edges() -> None:
    g = small_graph()
    # member_of and located_at carry no impact: a cluster or site is not "broken" by a host
    site = g.blast_radius("site:contoso-ny")
    assert site.items == ()


def test_dependencies_is_what_x_needs() -> None:
    g = small_graph()
    deps = {i.entity.id for i in g.dependencies("service:contoso-portal")}
    assert "service:contoso-dns" in deps
    assert "host:contoso-ny-db-02" in deps
    assert "hypervisor:contoso-ny-hv-01" in deps
    assert "service:contoso-portal" not in deps


def test_resolve_by_id_name_suffix_and_typo() -> None:
    g = small_graph()
    assert g.resolve("host:contoso-ny-db-01").name == "contoso-ny-db-01"
    assert g.resolve("contoso-ny-db-01").id == "host:contoso-ny-db-01"
    assert g.resolve("dev-01").id == "host:contoso-ny-dev-01"
    assert g.resolve("contoso-ny-dev-01?").id == "host:contoso-ny-dev-01"


def test_resolve_without_fuzzy_asks_instead_of_correcting_a_typo() -> None:
    g = small_graph()
    assert g.resolve("contoso-ny-db-1O").id == "host:contoso-ny-db-01"  # chat: confident guess
    with pytest.raises(UnknownEntity) as exc:
        g.resolve("contoso-ny-db-1O", fuzzy=False)
    assert "contoso-ny-db-01" in exc.value.suggestions
    assert g.resolve("dev-01", fuzzy=False).id == "host:contoso-ny-dev-01"  # suffix is exact


def test_resolve_unknown_names_close_matches() -> None:
    g = small_graph()
    with pytest.raises(UnknownEntity) as exc:
        g.resolve("contoso-ny-db-09")
    assert "contoso-ny-db-0" in str(exc.value)
    assert exc.value.suggestions


def test_search_filters_kind_and_attributes() -> None:
    g = small_graph()
    hits = g.search("", kinds={NodeKind.HOST}, where={"env": "dev"})
    assert [h.entity.name for h in hits] == ["contoso-ny-dev-01"]
    fuzzy = g.search("contso web", kinds={NodeKind.HOST}, limit=3)
    assert fuzzy and all("web" in h.entity.name for h in fuzzy)


def test_path_between_entities() -> None:
    g = small_graph()
    p = g.path("service:contoso-portal", "host:contoso-ny-db-02")
    assert p is not None
    assert p[0] == "service:contoso-portal" and p[-1] == "host:contoso-ny-db-02"


def test_relation_types_on_one_pair_are_kept_apart() -> None:
    from twin.model import EdgeType, Relation

    g = small_graph()
    g.put_relation(
        Relation(
            src="service:contoso-erp-app",
            type=EdgeType.AUTHENTICATES_WITH,
            dst="service:contoso-erp-db",
        )
    )
    types = {t for t, d in g.out_edges("service:contoso-erp-app") if d == "service:contoso-erp-db"}
    assert types == {EdgeType.DEPENDS_ON, EdgeType.AUTHENTICATES_WITH}
    g.remove_relation("service:contoso-erp-app", EdgeType.DEPENDS_ON, "service:contoso-erp-db")
    types = {t for t, d in g.out_edges("service:contoso-erp-app") if d == "service:contoso-erp-db"}
    assert types == {EdgeType.AUTHENTICATES_WITH}
