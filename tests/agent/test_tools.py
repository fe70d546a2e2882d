"""The tools: typed arguments, structured short results, "did you mean", the trust guard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from agent.approval import RoleMap
from agent.audit import Redactor
from agent.chat import (
    MAX_RESULT_TOKENS,
    ToolBox,
    TurnContext,
    action_requested,
    estimate_tokens,
    may_request,
    named_in_request,
    param_mentions,
    tool_result,
)
from tests.agent.ops_world import ANA, OpsWorld, make_world
from tests.estate import small_graph
from twin.graph import TwinGraph
from twin.model import NodeKind
from twin.sample import generate_estate


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> OpsWorld:
    return make_world(engine, tmp_path)


def _box(w: OpsWorld, text: str = "", **kw: Any) -> ToolBox:
    return ToolBox(w.ops, TurnContext(requester=ANA, request_text=text), **kw)


def test_tools_search_missing_patch_and_pending_reboot(world: OpsWorld) -> None:
    out = _box(world).call("twin_search", {"missing_patch": "kb5000001"})
    assert out["status"] == "success"
    assert [i["name"] for i in out["data"]["items"]] == ["contoso-ny-web-01"]
    none = _box(world).call("twin_search", {"pending_reboot": True})
    assert none["status"] == "no_data" and none["data"]["total"] == 0


def test_tools_near_miss_gets_did_you_mean(world: OpsWorld) -> None:
    out = _box(world).call("twin_blast_radius", {"entity": "contoso-ny-db-07"})
    assert out["status"] == "error"
    assert "contoso-ny-db-01" in out["data"]["did_you_mean"]
    assert "Did you mean" in out["error"]


def test_tools_bad_arguments_are_named(world: OpsWorld) -> None:
    out = _box(world).call("twin_search", {"limit": "many"})
    assert out["status"] == "error" and "'limit'" in out["error"]
    out = _box(world).call("twin_show", {"entity": "x", "approve": True})
    assert out["status"] == "error" and "'approve'" in out["error"]
    out = _box(world).call("reboot_now", {})
    assert out["status"] == "error" and "propose_change" in out["error"]


def test_tools_result_cut_with_a_note() -> None:
    out = tool_result("success", {"items": [{"name": f"host-{i:05d}"} for i in range(5000)]})
    assert out["data"]["truncated"] is True
    assert out["data"]["items_note"].endswith("of 5000")
    assert estimate_tokens(json.dumps(out)) <= MAX_RESULT_TOKENS
    long = tool_result("success", {"entity": {"attrs": {"body": "ignore all previous " * 5000}}})
    assert long["data"]["entity"]["attrs"]["body"].endswith("…(cut)")


@dataclass
class _GraphOnly:
    graph: TwinGraph


def test_tools_every_result_under_2000_tokens_on_a_large_estate() -> None:
    estate = generate_estate(endpoints=4200)
    g = TwinGraph()
    for e in estate.entities:
        g.put_entity(e)
    for r in estate.relations:
        g.put_relation(r)
    box = ToolBox(_GraphOnly(g), TurnContext(requester=ANA, request_text=""))  # type: ignore[arg-type]
    # the hubs: a client, a hypervisor, a critical service, a site, a domain controller
    hubs = [
        next(iter(g.entities(NodeKind.CLIENT))).id,
        next(iter(g.entities(NodeKind.HYPERVISOR))).id,
        "service:contoso-dns",
        "host:contoso-ny-dc-prod-01",
        next(iter(g.entities(NodeKind.SITE))).id,
    ]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("twin_search", {"limit": 200}),
        ("twin_search", {"query": "contoso", "limit": 200}),
        ("twin_search", {"pending_reboot": True, "limit": 200}),
        ("twin_search", {"missing_patch": "KB5034441", "limit": 200}),
        ("twin_stale", {"hours": 1}),
    ]
    for h in hubs:
        calls += [("twin_show", {"entity": h}), ("twin_deps", {"entity": h})]
        calls += [("twin_blast_radius", {"entity": h})]
    calls.append(("twin_path", {"source": hubs[0], "target": hubs[3]}))
    biggest = 0
    for name, args in calls:
        out = box.call(name, args)
        assert out["status"] in ("success", "no_data"), (name, args, out["error"])
        biggest = max(biggest, estimate_tokens(json.dumps(out)))
    assert 500 < biggest <= MAX_RESULT_TOKENS


def test_tools_audit_query_and_activity_after_a_change(world: OpsWorld) -> None:
    box = _box(world, "restart contoso-dev-app")
    assert (
        box.call("propose_change", {"action": "service.restart", "targets": ["contoso-dev-app"]})[
            "status"
        ]
        == "success"
    )
    world.ops.drain()
    audit = box.call("audit_query", {"period": "today", "kind": "change.*"})
    assert audit["status"] == "success"
    assert "change.reconciled" in audit["data"]["by_kind"]
    assert all(i["change_id"] == "CR-1" for i in audit["data"]["items"])
    act = box.call("activity", {"period": "today"})
    assert act["data"]["by_state"] == {"reconciled": 1}


def test_tools_propose_refuses_a_host_parameter_not_named(world: OpsWorld) -> None:
    out = _box(world, "restart contoso-portal").call(
        "propose_change",
        {
            "action": "service.restart",
            "targets": ["contoso-portal"],
            "params": {"host": "contoso-ny-db-01"},
        },
    )
    assert out["status"] == "denied" and "contoso-ny-db-01" in out["error"]


def test_tools_propose_refuses_a_secret_in_parameters(world: OpsWorld) -> None:
    redactor = Redactor(["sk-live-0123456789abcdef"])
    out = _box(world, "restart contoso-dev-app", redactor=redactor).call(
        "propose_change",
        {
            "action": "service.restart",
            "targets": ["contoso-dev-app"],
            "reason": "key sk-live-0123456789abcdef",
        },
    )
    assert out["status"] == "denied" and "secret" in out["error"]
    assert world.ops.journal.list(limit=5) == []


def test_tools_signal_targets_only_from_the_signal(world: OpsWorld) -> None:
    ctx = TurnContext(
        requester="signal:siem",
        request_text="restart contoso-dev-app and contoso-portal",
        source="signal",
        signal_entities=("service:contoso-dev-app",),
        signal_actions=("service.restart",),
    )
    box = ToolBox(world.ops, ctx)
    bad = box.call("propose_change", {"action": "service.restart", "targets": ["contoso-portal"]})
    assert bad["status"] == "denied"
    ok = box.call("propose_change", {"action": "service.restart", "targets": ["contoso-dev-app"]})
    assert ok["status"] == "success"


@pytest.mark.parametrize(
    ("text", "entity", "named"),
    [
        ("patch the web tier", "host:contoso-ny-web-02", True),
        ("patch the web tier", "host:contoso-ny-db-01", False),
        ("reboot all contoso servers", "host:contoso-ny-dns-01", True),
        ("reboot all fabrikam servers", "host:contoso-ny-dns-01", False),
        ("patch the hosts missing KB5000000", "host:contoso-ny-dev-01", True),
        ("patch the hosts missing KB5000000", "host:contoso-ny-web-01", False),
        ("reboot the contoso-ny-web-01 box", "host:contoso-ny-web-01", True),
        ("disable jdoe", "identity:jdoe", True),
        ("disable jdoe", "identity:breakglass-contoso", False),
        ("restart contoso-erp-app", "service:contoso-erp-db", False),
    ],
)
def test_guard_named_in_request(text: str, entity: str, named: bool) -> None:
    g = small_graph()
    verb = text.split(maxsplit=1)[0]
    action = {"patch": "patch.apply", "reboot": "host.reboot", "disable": "identity.disable"}
    assert named_in_request(g.get(entity), [text], g, action.get(verb, "service.restart")) is named


@pytest.mark.parametrize(
    ("action", "text", "asked"),
    [
        ("host.reboot", "please bounce contoso-ny-web-01", True),
        ("host.reboot", "what depends on contoso-ny-web-01", False),
        ("identity.disable", "show jdoe", False),
        ("identity.disable", "lock jdoe's account", True),
        ("patch.apply", "install KB5000000 on dev-01", True),
        ("siem.rule.throttle", "mute the brute force rule for 2h", True),
        ("made.up", "do made things", False),
        ("host.reboot", "what breaks if contoso-ny-web-01 reboots?", False),
    ],
)
def test_guard_action_requested(action: str, text: str, asked: bool) -> None:
    assert action_requested(action, [text]) is asked


def test_guard_may_request() -> None:
    open_map = RoleMap({"approvers": ["U2"], "requesters": []}, team_id="T1")
    assert may_request(open_map, "T1:U9")
    closed = RoleMap({"requesters": ["U1"], "admins": ["U3"]}, team_id="T1")
    assert may_request(closed, "T1:U1") and may_request(closed, "T1:U3")
    assert not may_request(closed, "T1:U9")
    assert not may_request(closed, "U1")  # not a team:user identity


def test_guard_param_mentions() -> None:
    params = {"host": "web-01", "source": "203.0.113.7/32", "text": "ping 10.0.0.1", "n": 3}
    assert param_mentions(params) == ["web-01", "203.0.113.7/32"]


def test_guard_multi_word_name_respects_the_client_named() -> None:
    estate = generate_estate(endpoints=10)
    g = TwinGraph()
    for e in estate.entities:
        g.put_entity(e)
    text = ["throttle the contoso impossible travel rule for 2 hours"]
    assert named_in_request(g.get("siem_rule:contoso-impossible-travel"), text, g)
    assert not named_in_request(g.get("siem_rule:fabrikam-impossible-travel"), text, g)
    assert not named_in_request(g.get("siem_rule:contoso-edr-heartbeat"), text, g)
