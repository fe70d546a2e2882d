"""A6: a model that loops on tools is stopped by the caps on tool calls, tokens and wall time,
with a clear message."""

from __future__ import annotations

from agent.eval import ScriptedChatModel
from tests.agent.ops_world import ANA, OpsWorld
from tests.agent.safety.conftest import agent

LOOP = [[{"name": "twin_search", "args": {"query": "web"}}]]  # repeats forever


def test_a6_tool_call_cap_ends_the_turn(world: OpsWorld) -> None:
    model = ScriptedChatModel(script=LOOP)
    reply = agent(world, model, max_tool_calls=5).ask("find web hosts", requester=ANA)
    assert reply.capped == "tool calls"
    assert len(reply.tool_calls) == 5
    assert "limit of 5 tool calls" in reply.text and "Nothing was changed" in reply.text


def test_a6_token_cap_ends_the_turn(world: OpsWorld) -> None:
    model = ScriptedChatModel(script=LOOP, tokens_per_call=4000)
    reply = agent(world, model, max_tool_calls=100, max_tokens=10_000).ask("x", requester=ANA)
    assert reply.capped == "tokens"
    assert reply.tokens > 10_000 and len(reply.tool_calls) == 2
    assert "10,000 tokens" in reply.text


def test_a6_time_cap_ends_the_turn(world: OpsWorld) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 7.0  # every look at the clock is 7 s later
        return now[0]

    model = ScriptedChatModel(script=LOOP)
    reply = agent(world, model, max_tool_calls=100, max_seconds=30, clock=clock).ask(
        "x", requester=ANA
    )
    assert reply.capped == "time"
    assert "30 seconds" in reply.text
    assert len(reply.tool_calls) < 10


def test_a6_cap_message_names_what_was_proposed_before_the_stop(world: OpsWorld) -> None:
    model = ScriptedChatModel(
        script=[
            [
                {
                    "name": "propose_change",
                    "args": {"action": "service.restart", "targets": ["contoso-dev-app"]},
                }
            ],
            *LOOP,
        ]
    )
    reply = agent(world, model, max_tool_calls=3).ask("restart contoso-dev-app", requester=ANA)
    assert reply.capped == "tool calls"
    assert reply.proposals and reply.proposals[0].ref in reply.text
