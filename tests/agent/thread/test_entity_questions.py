"""Ordinary questions about one entity and about the schedule, answered from the twin and the
journal by the offline model through the real loop on the sample estate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.chat import Agent, AgentReply
from agent.chat.models import offline_model
from agent.eval import build_world
from agent.eval.world import EvalWorld

WEB1 = "contoso-ny-web-prod-01"
NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
"""The answers' clock: the sample's facts are from early 2026, so they read weeks old."""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EvalWorld]:
    w = build_world(tmp_path)
    try:
        yield w
    finally:
        w.close()


def ask(world: EvalWorld, text: str, ts: str = "1.0") -> AgentReply:
    model = offline_model(lambda: world.ops.graph, clock=lambda: NOW)
    agent = Agent(world.ops, model, redactor=world.redactor)
    return agent.ask(text, requester=world.user("oncall"), channel="C0Q", thread_ts=ts)


def _calls(reply: AgentReply) -> list[tuple[str, dict[str, Any]]]:
    return [(str(c["name"]), dict(c["args"])) for c in reply.tool_calls]


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        (f"is {WEB1} healthy?", "health"),
        (f"what changed on {WEB1}?", "changes"),
        (f"when was {WEB1} last patched?", "patch"),
        (f"is {WEB1} patched?", "patch"),
        (f"patch status of {WEB1}", "patch"),
        (f"who owns {WEB1}?", "owner"),
    ],
)
def test_each_question_asks_for_its_own_facts(world: EvalWorld, text: str, aspect: str) -> None:
    reply = ask(world, text)
    assert _calls(reply) == [("twin_show", {"entity": f"host:{WEB1}", "aspect": aspect})]
    assert not reply.proposals and "did not understand" not in reply.text


def test_health_answer_comes_from_the_twin(world: EvalWorld) -> None:
    text = ask(world, f"is {WEB1} healthy?").text
    assert text.startswith(f"{WEB1} looks healthy in the twin")
    # the backup that protects it, as an age (sample backup 2026-01-04, clock 2026-02-20)
    assert re.search(r"Last good backup (4[5-7] days|2 months) ago\.", text), text
    assert not re.search(r"\d{4}-\d\d-\d\d", text)  # no ISO stamps in the words
    host = world.ops.graph.get(f"host:{WEB1}")
    world.ops.graph.put_entity(
        host.model_copy(update={"attrs": {**host.attrs, "pending_reboot": True}})
    )
    assert "it is waiting for a reboot" in ask(world, f"is {WEB1} ok?", ts="2.0").text


def test_patch_answer_names_pending_patches_and_the_last_patch_change(world: EvalWorld) -> None:
    text = ask(world, f"when was {WEB1} last patched?").text
    assert "2 patches pending: KB5034275, KB5034439" in text
    assert "no record" in text


def test_owner_answer_names_the_client_and_the_credentials_owner(world: EvalWorld) -> None:
    assert "belongs to the client Contoso Ltd" in ask(world, f"who owns {WEB1}?").text
    assert "owned by contoso-svc-sql" in ask(world, "who owns contoso-sql?", ts="2.0").text


def test_what_changed_lists_the_journals_changes_on_it(world: EvalWorld) -> None:
    assert "made no change" in ask(world, f"what changed on {WEB1}?").text
    change = ask(world, f"reboot {WEB1}", ts="2.0").proposals[0]
    text = ask(world, f"what has changed on {WEB1} recently?", ts="3.0").text
    assert f"{change.ref} (host.reboot, waiting for consent, " in text  # words, not state names
    assert "_" not in text.replace(WEB1, "")


def test_what_is_scheduled_tonight_reads_the_journal(world: EvalWorld) -> None:
    first = ask(world, "what is scheduled tonight?")
    assert _calls(first) == [("scheduled_changes", {"period": "tonight"})]
    assert first.text == "Nothing is scheduled tonight."
    change = ask(world, f"patch {WEB1} tonight", ts="2.0").proposals[0]
    assert change.state == "awaiting_consent"
    text = ask(world, "what's scheduled for tonight?", ts="3.0").text
    assert f"{change.ref} (patch.apply, waiting for consent) at" in text
    assert _calls(ask(world, "what is scheduled this week?", ts="4.0")) == [
        ("scheduled_changes", {"period": "this_week"})
    ]


def test_a_question_about_patching_never_proposes_a_patch(world: EvalWorld) -> None:
    for text in (f"is {WEB1} up to date?", f"what patches is {WEB1} missing?"):
        reply = ask(world, text)
        assert not reply.proposals
        assert [c[0] for c in _calls(reply)] == ["twin_show"], text
