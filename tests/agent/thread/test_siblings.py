"""A number suffix after a full name means that name's sibling ("web-prod-01 and -02"), for the
parser and for the named-set guard alike, never a workstation that ends in 02."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.chat import Agent, AgentReply, ToolBox, TurnContext
from agent.chat.models import offline_model
from agent.chat.named import named_set
from agent.chat.siblings import expand_siblings
from agent.eval import build_world
from agent.eval.world import EvalWorld

WEB1, WEB2 = "host:contoso-ny-web-prod-01", "host:contoso-ny-web-prod-02"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EvalWorld]:
    w = build_world(tmp_path)
    try:
        yield w
    finally:
        w.close()


def ask(world: EvalWorld, text: str, ts: str = "1.0") -> AgentReply:
    agent = Agent(world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor)
    return agent.ask(text, requester=world.user("oncall"), channel="C0S", thread_ts=ts)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("reboot web-prod-01 and -02", "reboot web-prod-01 and web-prod-02"),
        ("patch a-b-01, -02 and -03 tonight", "patch a-b-01, a-b-02 and a-b-03 tonight"),
        ("reboot `x-01` and `-2`", "reboot `x-01` and `x-02`"),
        ("reboot web-1 and -2.", "reboot web-1 and web-2."),
        ("what about -02?", "what about -02?"),  # no full name before it: left to the thread
        ("block 203.0.113.7 for 2026-12-05", "block 203.0.113.7 for 2026-12-05"),
        ("reboot web-prod-01 -force", "reboot web-prod-01 -force"),
        ("why was CR-1 denied, and -02?", "why was CR-1 denied, and -02?"),  # never a change ref
    ],
)
def test_expand_siblings(text: str, want: str) -> None:
    assert expand_siblings(text) == want


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("reboot contoso-ny-web-prod-01 and -02", "host.reboot"),
        ("patch contoso-ny-web-prod-01 and -02 tonight", "patch.apply"),
        ("please patch contoso-ny-web-prod-01 and -02", "patch.apply"),
    ],
)
def test_the_suffix_is_the_sibling_in_a_change_request(
    world: EvalWorld, text: str, action: str
) -> None:
    reply = ask(world, text)
    assert [(p.action, sorted(p.targets)) for p in reply.proposals] == [(action, [WEB1, WEB2])]
    assert "ws-0002" not in reply.text
    if "tonight" in text:
        call = next(c for c in reply.tool_calls if c["name"] == "propose_change")
        assert call["args"]["not_before"]


def test_the_named_set_guard_accepts_the_sibling(world: EvalWorld) -> None:
    g = world.ops.graph
    named = named_set(["patch contoso-ny-web-prod-01 and -02 tonight"], g)
    assert named.names(g.get(WEB2)) and named.names(g.get(WEB1))
    assert not named.names(g.get("host:contoso-ny-ws-0002"))
    text = "reboot contoso-ny-web-prod-01 and -02"
    ctx = TurnContext(
        requester=world.user("oncall"), request_text=text, channel="C0S", thread_ts="9.0"
    )
    out = ToolBox(world.ops, ctx, redactor=world.redactor).call(
        "propose_change", {"action": "host.reboot", "targets": [WEB1, WEB2], "reason": text}
    )
    assert out["status"] != "denied", out
    ws = ToolBox(world.ops, ctx, redactor=world.redactor).call(
        "propose_change", {"action": "host.reboot", "targets": ["host:contoso-ny-ws-0002"]}
    )
    assert ws["status"] == "denied"
