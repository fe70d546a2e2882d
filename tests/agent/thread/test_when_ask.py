"""A change asked for with no time, on a target whose maintenance window is closed, asks "now or
in the next window?" (issue 21); the answer in the same thread proposes with that time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from agent.chat import Agent, AgentReply, ToolBox, TurnContext
from agent.chat.models import offline_model
from agent.chat.offline.when import answers_when
from agent.chat.thread import thread_change_refs
from agent.chat.when_ask import ask_when, question_memo
from agent.eval import build_world
from agent.eval.world import EvalWorld
from agent.schedule import window_start

WEB1 = "host:contoso-ny-web-prod-01"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EvalWorld]:
    w = build_world(tmp_path)
    try:
        yield w
    finally:
        w.close()


def ask(world: EvalWorld, text: str, ts: str = "1.0", tz: str = "UTC") -> AgentReply:
    agent = Agent(
        world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor, ask_when=True
    )
    return agent.ask(text, requester=world.user("oncall"), channel="C0S", thread_ts=ts, tz=tz)


def test_the_eval_world_has_the_window_closed(world: EvalWorld) -> None:
    assert window_start(world.ops.graph, [WEB1], world.ops.now()) > world.ops.now()


def test_no_time_on_a_closed_window_asks_and_records_nothing(world: EvalWorld) -> None:
    reply = ask(world, f"reboot {WEB1}", tz="America/New_York")
    assert reply.proposals == []
    assert "Now (outside the maintenance window — needs consent) or in the next window" in (
        reply.text
    )
    assert "EST" in reply.text  # the next opening in the requester's zone
    assert [c["status"] for c in reply.tool_calls] == ["question"]
    assert thread_change_refs(world.ops.engine, "C0S", "1.0") == []


def test_answer_now_proposes_for_now(world: EvalWorld) -> None:
    ask(world, f"reboot {WEB1}")
    reply = ask(world, "now")
    assert [(p.action, p.targets, p.not_before) for p in reply.proposals] == [
        ("host.reboot", [WEB1], None)
    ]
    assert reply.proposals[0].state != "scheduled"


@pytest.mark.parametrize("answer", ["in the next window", "next maintenance window please"])
def test_answer_next_window_schedules_it_for_the_opening(world: EvalWorld, answer: str) -> None:
    ask(world, f"reboot {WEB1}")
    reply = ask(world, answer)
    opens = window_start(world.ops.graph, [WEB1], world.ops.now())
    assert [(p.action, p.not_before) for p in reply.proposals] == [("host.reboot", opens)]


def test_answer_tonight_proposes_with_a_time(world: EvalWorld) -> None:
    ask(world, f"reboot {WEB1}")
    reply = ask(world, "tonight")
    assert len(reply.proposals) == 1 and reply.proposals[0].not_before is not None


def test_explicit_now_or_a_time_asks_nothing(world: EvalWorld) -> None:
    assert ask(world, f"reboot {WEB1} now", ts="2.0").proposals
    assert ask(world, f"reboot {WEB1} tonight", ts="3.0").proposals


def test_a_bare_now_without_the_question_proposes_nothing(world: EvalWorld) -> None:
    assert ask(world, "now", ts="4.0").proposals == []
    # the question is answered only right after it was asked
    ask(world, f"reboot {WEB1}", ts="5.0")
    ask(world, "who owns it?", ts="5.0")
    assert ask(world, "now", ts="5.0").proposals == []
    # and only in its own thread
    assert ask(world, "now", ts="6.0").proposals == []


def test_a_new_request_after_the_question_is_read_as_new(world: EvalWorld) -> None:
    ask(world, f"reboot {WEB1}")
    reply = ask(world, "patch contoso-ny-web-prod-02 now")
    assert [p.action for p in reply.proposals] == ["patch.apply"]


def test_without_ask_when_the_agent_proposes_as_before(world: EvalWorld) -> None:
    agent = Agent(world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor)
    reply = agent.ask(f"reboot {WEB1}", requester=world.user("oncall"), channel="C", thread_ts="1")
    assert len(reply.proposals) == 1


def test_the_tool_returns_the_question_for_a_real_model(world: EvalWorld) -> None:
    text = f"reboot {WEB1}"
    ctx = TurnContext(requester=world.user("oncall"), request_text=text, ask_when=True)
    box = ToolBox(world.ops, ctx, redactor=world.redactor)
    out = box.call("propose_change", {"action": "host.reboot", "targets": [WEB1]})
    assert out["status"] == "question" and "next window" in out["data"]["question"]
    assert ctx.proposals == []
    assert question_memo(ctx.calls, 0) == {
        "opshand_when_ask": {"action": "host.reboot", "targets": [WEB1]}
    }
    # the model relays it, the person says "in the next window": window next is recorded
    nxt = box.call("propose_change", {"action": "host.reboot", "targets": [WEB1], "window": "next"})
    assert nxt["status"] != "question" and ctx.proposals[-1].not_before is not None


def test_an_open_window_or_no_window_data_asks_nothing(world: EvalWorld) -> None:
    g, now = world.ops.graph, world.ops.now()
    opens = window_start(g, [WEB1], now)
    args = {"action": "host.reboot", "targets": [WEB1], "params": {}, "request_text": "reboot"}
    assert ask_when(g, now=now, **args) is not None  # type: ignore[arg-type]
    later = opens + timedelta(minutes=5)
    assert ask_when(g, now=later, **args) is None  # type: ignore[arg-type]
    client = g.get("client:contoso")
    client.attrs.pop("maintenance_window", None)
    assert ask_when(g, now=now, **args) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("now", True),
        ("Now please", True),
        ("ok, in the next window", True),
        ("tonight", True),
        ("at 02:00", True),
        ("reboot web-02 now", False),
        ("why?", False),
        ("not now", False),
    ],
)
def test_answers_when(text: str, want: bool) -> None:
    assert (answers_when(text) is not None) is want


def test_a_bare_now_authorises_only_the_pending_questions_change(world: EvalWorld) -> None:
    asked = {"action": "host.reboot", "targets": [WEB1]}

    def propose(action: str, target: str, when_asked: dict[str, object] | None) -> str:
        ctx = TurnContext(
            requester=world.user("oncall"),
            request_text="now",
            earlier_requests=(f"reboot {WEB1} and contoso-ny-web-prod-02",),
            ask_when=True,
            when_asked=when_asked,
        )
        box = ToolBox(world.ops, ctx, redactor=world.redactor)
        return str(box.call("propose_change", {"action": action, "targets": [target]})["status"])

    assert propose("host.reboot", WEB1, None) == "denied"  # no question pending
    assert propose("patch.apply", WEB1, asked) == "denied"  # another action
    assert propose("host.reboot", "host:contoso-ny-web-prod-02", asked) == "denied"
    assert propose("host.reboot", WEB1, asked) == "approval_required"
