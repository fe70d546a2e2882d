"""TwinNameResolver: exact, partial and fuzzy resolution, and roles."""

from __future__ import annotations

import pytest

from agent.chat.offline import EntityResolver, RoleAwareResolver, TwinNameResolver
from tests.agent.offline.estate import make_resolver


@pytest.fixture(scope="module")
def resolver() -> TwinNameResolver:
    return make_resolver()


def test_resolver_satisfies_both_protocols(resolver: TwinNameResolver) -> None:
    assert isinstance(resolver, EntityResolver)
    assert isinstance(resolver, RoleAwareResolver)


@pytest.mark.parametrize(
    ("mention", "expected", "match"),
    [
        ("host:contoso-ny-web-02", "host:contoso-ny-web-02", "id"),
        ("CONTOSO-NY-WEB-02", "host:contoso-ny-web-02", "name"),
        ("`contoso-erp`", "service:contoso-erp", "name"),
        ("db-prod-01", "host:contoso-ny-db-prod-01", "partial"),
        ("web-2", "host:contoso-ny-web-02", "partial"),
        ("impossible travel", "siem_rule:impossible-travel", "name"),
        ("db-prdo-01", "host:contoso-ny-db-prod-01", "fuzzy"),
        ("contso-erp", "service:contoso-erp", "fuzzy"),
    ],
)
def test_resolve_finds_one_entity(
    resolver: TwinNameResolver, mention: str, expected: str, match: str
) -> None:
    result = resolver.resolve(mention, None)
    assert (result.entity_id, result.match) == (expected, match)


def test_resolve_ambiguous_partial_offers_every_match(resolver: TwinNameResolver) -> None:
    result = resolver.resolve("web-01", {"host"})
    assert result.entity_id is None
    assert result.ambiguous
    assert [c.name for c in result.candidates] == ["contoso-ny-web-01", "fabrikam-web-01"]


def test_resolve_never_changes_a_number_to_match(resolver: TwinNameResolver) -> None:
    # db-prod-03 is one edit from db-prod-01/02, but a different machine: suggest, never choose.
    result = resolver.resolve("db-prod-03", {"host"})
    assert result.entity_id is None
    assert {c.name for c in result.candidates} >= {"contoso-ny-db-prod-01"}


def test_resolve_respects_kinds(resolver: TwinNameResolver) -> None:
    assert resolver.resolve("contoso-erp", {"identity"}).entity_id is None
    assert resolver.resolve("contoso-erp", {"service"}).entity_id == "service:contoso-erp"
    assert resolver.resolve("host:contoso-ny-web-02", {"service"}).entity_id is None


def test_resolve_nothing_close_gives_no_candidates(resolver: TwinNameResolver) -> None:
    result = resolver.resolve("zaphod", None)
    assert result.entity_id is None
    assert result.candidates == []


def test_resolve_blank_mention_is_unresolved(resolver: TwinNameResolver) -> None:
    assert resolver.resolve("  `` ", None).entity_id is None


def test_resolve_close_pair_is_not_guessed() -> None:
    # Two names equally close to the typo: the margin rule refuses to pick one.
    resolver = TwinNameResolver(
        [
            ("host:abc-web-01", "host", "abc-web-01", {}),
            ("host:abd-web-01", "host", "abd-web-01", {}),
        ]
    )
    result = resolver.resolve("abx-web-01", None)
    assert result.entity_id is None
    assert len(result.candidates) == 2


def test_names_are_sorted_by_name(resolver: TwinNameResolver) -> None:
    assert [n for _, n in resolver.names("identity")] == ["asmith", "jdoe"]


def test_members_use_role_attribute(resolver: TwinNameResolver) -> None:
    assert [i for i, _ in resolver.members("db", "host")] == [
        "host:contoso-ny-db-prod-01",
        "host:contoso-ny-db-prod-02",
    ]
    assert resolver.members("mail", "host") == []


def test_members_fall_back_to_name_segments_without_roles() -> None:
    resolver = TwinNameResolver(
        [
            ("host:x-web-01", "host", "x-web-01", {}),
            ("host:x-webdav-01", "host", "x-webdav-01", {}),
            ("host:x-db-01", "host", "x-db-01", {}),
        ]
    )
    assert resolver.members("web", "host") == [("host:x-web-01", "x-web-01")]


def test_name_of_and_kind_of(resolver: TwinNameResolver) -> None:
    assert resolver.name_of("siem_rule:impossible-travel") == "Impossible travel"
    assert resolver.kind_of("identity:jdoe") == "identity"
    assert resolver.name_of("nope:x") == "nope:x"
    assert resolver.kind_of("nope:x") is None


def test_resolver_finds_an_entity_by_its_id_without_the_kind() -> None:
    r = TwinNameResolver(
        [
            ("siem_rule:acme-impossible-travel", "siem_rule", "Impossible travel", {}),
            ("siem_rule:zeta-impossible-travel", "siem_rule", "Impossible travel", {}),
            ("siem_rule:acme-rule-1", "siem_rule", "Rule one", {}),
        ]
    )
    found = r.resolve("acme-impossible-travel", {"siem_rule"})
    assert (found.entity_id, found.match) == ("siem_rule:acme-impossible-travel", "name")
    # the title names both: ask, never pick one
    assert r.resolve("impossible travel", {"siem_rule"}).ambiguous
    # a unique whole-segment part of an id is enough; a part two ids share is not
    assert r.resolve("acme-rule-1", None).entity_id == "siem_rule:acme-rule-1"
    assert r.resolve("rule-1", None).entity_id == "siem_rule:acme-rule-1"
    assert r.resolve("impossible-travel", None).entity_id is None
    # numbers in an id are never fuzzed
    assert r.resolve("acme-rule-2", None).entity_id is None


def test_resolver_fleet_is_every_host_of_a_client_except_roles(
    resolver: TwinNameResolver,
) -> None:
    contoso = [n for _, n in resolver.fleet("host", "contoso")]
    assert contoso[0] == "contoso-ny-app-01" and len(contoso) == 7
    assert resolver.fleet("host", "fabrikam") == [("host:fabrikam-web-01", "fabrikam-web-01")]
    assert len(resolver.fleet("host")) == 8
    no_db = resolver.fleet("host", "contoso", except_roles=["db", "WEB"])
    assert no_db == [("host:contoso-ny-app-01", "contoso-ny-app-01")]
