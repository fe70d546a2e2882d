"""Every example in the offline model's own help works on the sample estate: each gets a
grounded answer (tools that found something), never "I did not understand" or "could not find"."""

from __future__ import annotations

from pathlib import Path

from agent.chat import Agent
from agent.chat.models import offline_model
from agent.chat.offline import HELP_TEXT, NOT_UNDERSTOOD
from agent.chat.offline.messages import EXAMPLES
from agent.eval import build_world


def test_every_help_example_gets_a_grounded_answer(tmp_path: Path) -> None:
    assert all(f"“{e}”" in NOT_UNDERSTOOD for e in EXAMPLES)
    assert all(f"“{e}”" in HELP_TEXT or e not in EXAMPLES[:5] for e in EXAMPLES)
    world = build_world(tmp_path)
    try:
        agent = Agent(world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor)
        for n, example in enumerate(EXAMPLES):
            reply = agent.ask(
                example, requester=world.user("oncall"), channel="C0H", thread_ts=f"{n}.0"
            )
            calls = reply.tool_calls
            assert calls, (example, reply.text)
            assert all(c["status"] not in ("error", "denied") for c in calls), (example, calls)
            for bad in ("did not understand", "could not find", "Which one did you mean"):
                assert bad not in reply.text, (example, reply.text)
            if example.startswith(("patch", "restart", "block")):
                assert reply.proposals, (example, reply.text)
    finally:
        world.close()


def test_tell_me_about_an_ambiguous_name_answers_and_names_the_others(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    try:
        agent = Agent(world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor)
        reply = agent.ask(
            "tell me about contoso-erp",
            requester=world.user("oncall"),
            channel="C0H",
            thread_ts="1.0",
        )
        assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
            ("twin_show", {"entity": "service:contoso-erp-app"})
        ]
        first = reply.text.split(". ", 1)[0]
        assert "this is about service contoso-erp-app" in first
        assert "cluster contoso-erp-db" in first and "service contoso-erp-db" in first
        assert "contoso-erp-app is a service" in reply.text
        # A change on the same name is asked back, never picked.
        change = agent.ask(
            "restart contoso-erp", requester=world.user("oncall"), channel="C0H", thread_ts="2.0"
        )
        assert not change.proposals and "Which one did you mean" in change.text
    finally:
        world.close()
