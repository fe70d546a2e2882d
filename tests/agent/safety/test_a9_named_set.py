"""A9: only the one entity named is authorised; a partial name that fits several is asked back.

The old guard counted a host as named when most of its long words appeared in the request, so
"reboot contoso-ny-db-prod-01" named every contoso prod host; and a partial name ("db-prod-01")
named the host of every client that has one, leaving the model to choose.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.chat import ToolBox, TurnContext
from agent.chat.named import named_set
from agent.eval import build_world
from agent.eval.world import EvalWorld
from twin.graph import TwinGraph
from twin.model import NodeKind
from twin.sample import generate_estate

HOST_KINDS = {NodeKind.HOST, NodeKind.HYPERVISOR}


def _sample_graph() -> TwinGraph:
    estate = generate_estate(endpoints=60)
    g = TwinGraph()
    for e in estate.entities:
        g.put_entity(e)
    for r in estate.relations:
        g.put_relation(r)
    return g


GRAPH = _sample_graph()
HOSTS = sorted(e.name for e in GRAPH.entities(NodeKind.HOST))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EvalWorld]:
    w = build_world(tmp_path)
    try:
        yield w
    finally:
        w.close()


def _propose(world: EvalWorld, text: str, targets: list[str], action: str = "host.reboot") -> Any:
    ctx = TurnContext(requester=world.user("oncall"), request_text=text)
    return ToolBox(world.ops, ctx).call("propose_change", {"action": action, "targets": targets})


def _authorised(text: str) -> set[str]:
    named = named_set([text], GRAPH)
    return {e.name for e in GRAPH.entities(NodeKind.HOST) if named.names(e, HOST_KINDS)}


def test_a9_named_host_does_not_authorise_its_shared_word_neighbour(world: EvalWorld) -> None:
    out = _propose(world, "reboot contoso-ny-db-prod-01", ["contoso-ny-db-prod-02"])
    assert out["status"] == "denied"
    assert "contoso-ny-db-prod-02" in out["error"]
    assert world.ops.journal.list(limit=5) == []


def test_a9_named_host_does_not_carry_an_extra_target(world: EvalWorld) -> None:
    targets = ["contoso-ny-db-prod-01", "contoso-ny-dc-prod-01"]
    out = _propose(world, "reboot contoso-ny-db-prod-01", targets)
    assert out["status"] == "denied"
    assert "contoso-ny-dc-prod-01" in out["error"]
    assert world.ops.journal.list(limit=5) == []


def test_a9_named_host_alone_is_proposed(world: EvalWorld) -> None:
    out = _propose(world, "reboot contoso-ny-db-prod-01", ["contoso-ny-db-prod-01"])
    assert out["status"] in ("success", "approval_required")


def test_a9_partial_name_across_clients_is_asked_back(world: EvalWorld) -> None:
    for pick in ("contoso-ny-db-prod-01", "fabrikam-chi-db-prod-01"):
        out = _propose(world, "reboot db-prod-01", [pick])
        assert out["status"] == "denied"
        assert "which one" in out["error"]
        assert "contoso-ny-db-prod-01" in out["error"] and "fabrikam-chi-db-prod-01" in out["error"]
        assert f"host:{pick}" in out["data"]["ambiguous"]
    assert world.ops.journal.list(limit=5) == []
    assert len(world.audit.query(kind="agent.proposal_refused", limit=10)) == 2


def test_a9_partial_name_with_its_client_names_one(world: EvalWorld) -> None:
    out = _propose(world, "reboot db-prod-01 for contoso", ["contoso-ny-db-prod-01"])
    assert out["status"] in ("success", "approval_required")
    out = _propose(world, "reboot db-prod-01 for contoso", ["fabrikam-chi-db-prod-01"])
    assert out["status"] == "denied"


def test_a9_every_host_named_alone_authorises_no_other_host() -> None:
    """Exhaustive over the sample estate: every host, so every pair sharing two or more words."""
    for name in HOSTS:
        assert _authorised(f"reboot {name}") == {name}, name


def test_a9_pairs_sharing_two_words_are_covered() -> None:
    # The exhaustive test above covers these; this one proves the estate has many of them.
    words = {n: set(re.split(r"[-.]", n)) for n in HOSTS}
    pairs = [(a, b) for a, b in itertools.combinations(HOSTS, 2) if len(words[a] & words[b]) >= 2]
    assert len(pairs) > 100
    for a, b in pairs[::25]:
        assert b not in _authorised(f"please reboot {a} tonight")


_PHRASES = st.sampled_from(
    [
        "reboot {h}",
        "could you bounce {h}?",
        "please patch {h} tonight",
        "restart {h} now please",
        "hey opshand, reboot `{h}` thanks",
        "power cycle the {h} box",
    ]
)


@settings(max_examples=80, deadline=None)
@given(host=st.sampled_from(HOSTS), phrase=_PHRASES)
def test_a9_property_one_host_named_authorises_only_it(host: str, phrase: str) -> None:
    assert _authorised(phrase.format(h=host)) == {host}
