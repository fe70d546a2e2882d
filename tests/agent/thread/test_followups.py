"""Threads remember their subject: follow-ups that say "it" or "that" refer to the thread's
change or entity (offline model, the real agent loop, the sample estate)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.chat import Agent, AgentReply, ToolBox, TurnContext
from agent.chat.models import offline_model
from agent.eval import build_world
from agent.eval.world import EvalWorld

WEB1, WEB2 = "contoso-ny-web-prod-01", "contoso-ny-web-prod-02"
USER = "contoso-mia.dubois"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EvalWorld]:
    w = build_world(tmp_path)
    try:
        yield w
    finally:
        w.close()


class Thread:
    """One Slack thread with the offline model."""

    def __init__(self, world: EvalWorld, ts: str = "100.0") -> None:
        self.world = world
        self.ts = ts
        self.agent = Agent(
            world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor
        )

    def ask(self, text: str, who: str = "oncall") -> AgentReply:
        return self.agent.ask(
            text, requester=self.world.user(who), channel="C0CONV", thread_ts=self.ts
        )


def _calls(reply: AgentReply) -> list[tuple[str, dict[str, Any]]]:
    return [(str(c["name"]), dict(c["args"])) for c in reply.tool_calls]


def _reboot(thread: Thread) -> Any:
    first = thread.ask(f"reboot {WEB1}")
    assert first.proposals, first.text
    return first.proposals[0]


def test_why_status_and_who_refer_to_the_threads_change(world: EvalWorld) -> None:
    thread = Thread(world)
    change = _reboot(thread)
    for text, tool in (
        ("why?", "change_why"),
        ("why is it waiting?", "change_why"),
        ("status?", "change_status"),
        ("is it done yet?", "change_status"),
        ("who approved it?", "change_status"),
    ):
        reply = thread.ask(text)
        assert _calls(reply) == [(tool, {"change_id": change.ref})], (text, reply.text)
        assert change.ref in reply.text
        assert "did not understand" not in reply.text


def test_the_same_words_in_a_fresh_thread_do_not_guess(world: EvalWorld) -> None:
    _reboot(Thread(world))
    other = Thread(world, ts="200.0")
    for text in ("why?", "status?", "who approved it?"):
        assert not [c for c in _calls(other.ask(text)) if c[0].startswith("change_")], text


def test_why_was_it_rejected_gives_the_approvers_reason_first(world: EvalWorld) -> None:
    thread = Thread(world)
    change = _reboot(thread)
    plan_hash = world.ops.journal.get(change.id).plan_hash
    world.ops.vote(
        change.id,
        world.user("approver"),
        False,
        plan_hash=str(plan_hash),
        payload_id="p1",
        reason="not during month end close",
    )
    reply = thread.ask("why was it rejected?")
    lines = reply.text.splitlines()
    assert "rejected by U0APPR1" in lines[0] and "not during month end close" in lines[0]
    # policy's reasons come after, apart, as bullets, never glued with ".;"
    assert any(line.startswith("Policy had asked") for line in lines[1:])
    assert all(line.startswith("• ") for line in lines[2:])
    assert ".;" not in reply.text
    named = Thread(world, ts="300.0").ask(f"why was {change.ref} rejected?")
    assert named.text.splitlines()[0] == lines[0]
    who = thread.ask("who rejected it?")
    assert "Rejected by U0APPR1" in who.text


def test_undo_of_a_change_that_has_not_run_proposes_nothing(world: EvalWorld) -> None:
    thread = Thread(world)
    change = _reboot(thread)
    reply = thread.ask("undo that")
    assert _calls(reply) == [("propose_rollback", {"change_id": change.ref})]
    assert not reply.proposals
    assert "has not run" in reply.text


def _ran(world: EvalWorld, thread: Thread, text: str) -> Any:
    first = thread.ask(text)
    assert first.proposals, first.text
    change = first.proposals[0]
    fresh = world.ops.journal.get(change.id)
    if fresh.state == "awaiting_consent":
        world.ops.vote(
            change.id, world.user("approver"), True, plan_hash=str(fresh.plan_hash), payload_id="v"
        )
    world.ops.drain()
    assert world.ops.journal.get(change.id).state in ("reconciled", "succeeded", "verified")
    return change


@pytest.mark.parametrize("words", ["undo that", "roll it back", "please revert it", "back it out"])
def test_undo_that_proposes_the_rollback_through_policy(world: EvalWorld, words: str) -> None:
    thread = Thread(world)
    change = _ran(world, thread, f"disable {USER}")
    reply = thread.ask(words)
    assert _calls(reply) == [("propose_rollback", {"change_id": change.ref})], reply.text
    assert [p.action for p in reply.proposals] == ["identity.enable"]
    assert reply.proposals[0].decision is not None  # policy decided, like any change
    assert f"To undo {change.ref}" in reply.text


def test_undo_is_not_read_from_a_question_or_a_negation(world: EvalWorld) -> None:
    thread = Thread(world)
    _reboot(thread)
    for text in ("should we undo that?", "don't roll it back", "why would anyone revert it?"):
        reply = thread.ask(text)
        assert not [c for c in _calls(reply) if c[0] == "propose_rollback"], text


def test_a_change_from_another_thread_is_undone_only_when_named(world: EvalWorld) -> None:
    change = _reboot(Thread(world))

    def box(text: str) -> ToolBox:
        ctx = TurnContext(
            requester=world.user("oncall"), request_text=text, channel="C0CONV", thread_ts="4.0"
        )
        return ToolBox(world.ops, ctx, redactor=world.redactor)

    refused = box("undo that").call("propose_rollback", {"change_id": change.ref})
    assert refused["status"] == "denied"
    assert "does not belong to this thread" in str(refused["error"])
    named = box(f"undo {change.ref}").call("propose_rollback", {"change_id": change.ref})
    assert named["status"] == "no_data"  # named, so read; it has not run, so nothing to undo


def test_what_about_the_sibling_and_its_backups(world: EvalWorld) -> None:
    thread = Thread(world)
    first = thread.ask(f"tell me about {WEB1}")
    assert _calls(first) == [("twin_show", {"entity": f"host:{WEB1}"})]
    reply = thread.ask("what about web-02?")
    assert _calls(reply) == [("twin_show", {"entity": f"host:{WEB2}"})], reply.text
    assert "ws-0002" not in reply.text
    backups = thread.ask("and its backups?")
    assert _calls(backups) == [("twin_show", {"entity": f"backup:{WEB2}"})], backups.text


def test_what_about_after_a_change_question_looks_at_the_entity(world: EvalWorld) -> None:
    thread = Thread(world)
    _reboot(thread)
    thread.ask("status?")
    reply = thread.ask("what about -02?")
    assert _calls(reply) == [("twin_show", {"entity": f"host:{WEB2}"})], reply.text
    assert not reply.proposals


def test_pronouns_mean_the_threads_entity(world: EvalWorld) -> None:
    thread = Thread(world)
    thread.ask(f"tell me about {WEB1}")
    reply = thread.ask("what depends on it?")
    assert _calls(reply) == [("twin_blast_radius", {"entity": f"host:{WEB1}"})], reply.text


def test_a_real_model_is_given_the_threads_changes_and_entities(world: EvalWorld) -> None:
    from agent.eval import ScriptedChatModel

    thread = Thread(world)
    change = _reboot(thread)
    model = ScriptedChatModel(script=[ScriptedChatModel.SUMMARY])
    Agent(world.ops, model, redactor=world.redactor).ask(
        "why?", requester=world.user("oncall"), channel="C0CONV", thread_ts=thread.ts
    )
    system = str(model.seen[0][0].content)
    assert change.ref in system and f"host:{WEB1}" in system
    assert "<data>" in system  # delimited as data, not instructions


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        (f"is {WEB1} healthy?", "health"),
        (f"who owns {WEB1}?", "owner"),
        (f"what changed on {WEB1}?", "changes"),
        (f"when was {WEB1} last patched?", "patch"),
    ],
)
def test_ordinary_questions_about_one_entity(world: EvalWorld, text: str, aspect: str) -> None:
    reply = Thread(world).ask(text)
    assert _calls(reply) == [("twin_show", {"entity": f"host:{WEB1}", "aspect": aspect})]
    assert not reply.proposals


def test_is_it_healthy_in_a_thread_means_its_entity(world: EvalWorld) -> None:
    thread = Thread(world)
    thread.ask(f"tell me about {WEB1}")
    for text, aspect in (("is it healthy?", "health"), ("who owns it?", "owner")):
        want = [("twin_show", {"entity": f"host:{WEB1}", "aspect": aspect})]
        assert _calls(thread.ask(text)) == want, text


def test_why_was_it_denied_after_a_policy_denial(world: EvalWorld) -> None:
    thread = Thread(world)
    first = thread.ask("disable contoso-breakglass")
    change = first.proposals[0]
    assert change.state == "denied"
    reply = thread.ask("why was it denied?")
    assert _calls(reply) == [("change_why", {"change_id": change.ref})]
    lines = reply.text.splitlines()
    assert "denied by policy" in lines[0]
    assert "• Break-glass accounts are never disabled by automation." in lines
    assert len(lines) == len(set(lines)) and ".;" not in reply.text  # each reason once


def test_and_the_sibling_too_proposes_it_and_the_guard_accepts(world: EvalWorld) -> None:
    thread = Thread(world)
    _reboot(thread)
    reply = thread.ask("and -02 too")
    assert [(p.action, p.targets) for p in reply.proposals] == [("host.reboot", [f"host:{WEB2}"])]
    assert all(c["status"] != "denied" for c in reply.tool_calls)
    assert "ws-0002" not in reply.text
