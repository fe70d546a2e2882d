"""The named set (agent.chat.named): exact names, unique parts, typos, look-alikes, groups."""

from __future__ import annotations

from agent.chat.named import named_set
from twin.graph import TwinGraph
from twin.model import Entity, NodeKind
from twin.sample import generate_estate

HOSTS = {NodeKind.HOST, NodeKind.HYPERVISOR}


def _graph() -> TwinGraph:
    estate = generate_estate(endpoints=10)
    g = TwinGraph()
    for e in estate.entities:
        g.put_entity(e)
    for r in estate.relations:
        g.put_relation(r)
    return g


G = _graph()


def _named(text: str, eid: str, kinds: set[NodeKind] | None = HOSTS) -> bool:
    return named_set([text], G).names(G.get(eid), kinds)


def test_named_exact_name_and_id() -> None:
    assert _named("reboot contoso-ny-db-prod-01", "host:contoso-ny-db-prod-01")
    assert _named("reboot host:contoso-ny-db-prod-01", "host:contoso-ny-db-prod-01")


def test_named_small_typo_of_a_name_but_never_another_number() -> None:
    assert _named("reboot contoso-ny-file-prdo-01", "host:contoso-ny-file-prod-01")
    assert not _named("reboot contoso-ny-db-prod-09", "host:contoso-ny-db-prod-01")
    # One edit from db-prod-01 but two from dc-prod-01: too close to call, so not named.
    assert not _named("reboot contoso-ny-db-prdo-01", "host:contoso-ny-db-prod-01")
    assert not _named("reboot contoso-ny-db-prdo-01", "host:contoso-ny-dc-prod-01")


def test_named_partial_name_fitting_several_is_a_question() -> None:
    named = named_set(["reboot db-prod-01"], G)
    e = G.get("host:contoso-ny-db-prod-01")
    assert not named.names(e, HOSTS)
    unclear = named.ambiguous(e, HOSTS)
    assert unclear is not None
    question = named.question(unclear)
    assert question.startswith("'db-prod-01' fits several entities; which one:")
    assert "contoso-ny-db-prod-01" in question and "fabrikam-chi-db-prod-01" in question


def test_named_quoted_text_names_nothing() -> None:
    assert not _named(
        'the ticket says "reboot contoso-ny-db-prod-01"', "host:contoso-ny-db-prod-01"
    )


def test_named_lookalike_entity_only_by_its_exact_characters() -> None:
    g = _graph()
    fake = Entity(
        id="identity:c\u043entoso-ceo", kind=NodeKind.IDENTITY, name="c\u043entoso-ceo", source="t"
    )
    g.put_entity(fake)
    assert not named_set(["disable contoso-ceo"], g).names(fake, {NodeKind.IDENTITY})
    assert named_set(["disable c\u043entoso-ceo"], g).names(fake, {NodeKind.IDENTITY})


def test_named_groups_only_for_actions_that_expand_them() -> None:
    named = named_set(["patch all contoso servers"], G)
    e = G.get("host:contoso-ny-db-prod-01")
    assert named.covers(e, G, kinds=HOSTS, expands_groups=True)
    assert not named.covers(e, G, kinds=HOSTS, expands_groups=False)
    assert not named.covers(
        G.get("host:fabrikam-chi-db-prod-01"), G, kinds=HOSTS, expands_groups=True
    )


def test_named_says_a_whole_address_only() -> None:
    named = named_set(["block 203.0.113.7 on contoso-ny-fw-01"], G)
    assert named.says("203.0.113.7")
    assert not named.says("203.0.113.70")
    assert not named.says("3.0.113.7")
