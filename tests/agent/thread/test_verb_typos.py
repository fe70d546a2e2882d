"""Verb typos ("restrat", "reboto") are read the same way by the offline parser and by the guard:
both go through the one intent reader's :func:`agent.chat.intent.verb_of`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.chat import Agent, read_intent
from agent.chat.intent import ACTION_VERBS, verb_of
from agent.chat.models import offline_model
from agent.chat.offline.text import _PROTECTED, _VOCABULARY, fix_typos, inflection_of
from agent.eval import build_world
from agent.eval.world import EvalWorld

VERBS = sorted({v for verbs in ACTION_VERBS.values() for v in verbs if "-" not in v})


def _one_edit(word: str) -> set[str]:
    out = set()
    for i in range(len(word)):
        out.add(word[:i] + word[i + 1 :])  # a letter left out
        out.add(word[:i] + word[i] + word[i:])  # a letter doubled
        if i < len(word) - 1:
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])  # two letters swapped
        out.update(word[:i] + c + word[i + 1 :] for c in "aeiorst")  # a wrong letter
    return out


def test_parser_corrects_towards_a_change_verb_exactly_when_the_intent_reader_reads_it() -> None:
    words = {w for v in VERBS for w in _one_edit(v)} - _PROTECTED - _VOCABULARY
    disagree = []
    for word in sorted(w for w in words if w.isalpha()):
        fixed = fix_typos(word)
        parser_verb = fixed if verb_of(fixed) == fixed else None
        read = verb_of(word)
        if read is not None and inflection_of(word, read):
            continue  # "resolved" is the verb inflected, read by the grammar itself
        if parser_verb != read:
            disagree.append((word, fixed, verb_of(word)))
    assert len(words) > 2000
    assert disagree == []


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EvalWorld]:
    w = build_world(tmp_path)
    try:
        yield w
    finally:
        w.close()


@pytest.mark.parametrize(
    ("text", "action", "verb"),
    [
        ("restrat contoso-erp-app", "service.restart", "restart"),
        ("reboto contoso-ny-web-prod-01", "host.reboot", "reboot"),
        ("please rebooot contoso-ny-web-prod-02", "host.reboot", "reboot"),
        ("rotaet contoso-sql", "credential.rotate", "rotate"),
        ("escalte TCK-1001", "ticket.escalate", "escalate"),
    ],
)
def test_a_verb_typo_is_proposed_and_accepted_by_the_guard(
    world: EvalWorld, text: str, action: str, verb: str
) -> None:
    assert verb in read_intent(text).verbs
    agent = Agent(world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor)
    reply = agent.ask(text, requester=world.user("oncall"), channel="C0T", thread_ts="1.0")
    assert [p.action for p in reply.proposals] == [action], reply.text
    assert all(c["status"] != "denied" for c in reply.tool_calls)


def test_a_word_the_intent_reader_does_not_take_for_a_verb_proposes_nothing(
    world: EvalWorld,
) -> None:
    agent = Agent(world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor)
    for n, text in enumerate(
        ("clone contoso-ny-web-prod-01", "alock 203.0.113.7 on contoso-ny-fw-01")
    ):
        assert not read_intent(text).verbs
        reply = agent.ask(text, requester=world.user("oncall"), channel="C0T", thread_ts=f"{n}.0")
        assert not reply.proposals
        assert not [c for c in reply.tool_calls if c["name"] == "propose_change"], text
