"""Answers people read use words, not internal names: no state names with underscores
(``needs_consent``, ``awaiting_consent``, ``auto_approved``), no policy rule ids, no ISO stamps,
no reasons glued with ".;". Scanned over the help's examples, the demo's steps and the
follow-ups about their changes, on the sample estate."""

from __future__ import annotations

import re
from pathlib import Path

from agent.chat import Agent
from agent.chat.models import offline_model
from agent.chat.offline.compose_changes import state_words
from agent.chat.offline.messages import EXAMPLES
from agent.eval import build_world
from bot.cli.demo_steps import DEMO_STEPS

_FOLLOW_UPS = (
    "disable contoso-breakglass",
    "what did you do today?",
    "what is waiting for approval?",
    "is contoso-ny-bkp-prod-01 healthy?",
    "when was contoso-ny-web-prod-01 last patched?",
    "stale facts for contoso",
)


def _asks() -> list[str]:
    demo = [
        (s.say or "").removeprefix("@opshand ") for s in DEMO_STEPS if (s.say or "").startswith("@")
    ]
    asked = [*EXAMPLES, *demo, *_FOLLOW_UPS]
    # each change those made: its status and why
    asked += [q for n in range(1, 9) for q in (f"status of CR-{n}", f"why was CR-{n} denied?")]
    return asked


def test_answers_to_the_help_and_demo_use_words_not_internal_names(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    try:
        agent = Agent(world.ops, offline_model(lambda: world.ops.graph), redactor=world.redactor)
        rule_ids = [r.id for r in world.ops.policy.rules if "-" in r.id]
        assert "prod-reboot-or-patch" in rule_ids  # the scan knows the real ids
        answers = []
        for n, text in enumerate(_asks()):
            reply = agent.ask(
                text, requester=world.user("oncall"), channel="C0W", thread_ts=f"{n}.0"
            )
            answers.append((text, reply.text))
        assert sum(1 for _, a in answers if "CR-" in a) >= 10  # changes were made and asked about
        for asked, answer in answers:
            assert not re.search(r"\b[a-z]+_[a-z_]+\b", answer), (asked, answer)
            assert not re.search(r"\d{4}-\d\d-\d\dT?\d*", answer), (asked, answer)
            assert ".;" not in answer and "awaiting consent" not in answer, (asked, answer)
            words = set(re.findall(r"[\w.-]+", answer))
            assert not words & set(rule_ids), (asked, answer)
    finally:
        world.close()


def test_state_words_cover_every_state_people_see() -> None:
    for state in ("awaiting_consent", "auto_approved", "rolled_back", "needs_consent"):
        assert "_" not in state_words(state)
    assert state_words("awaiting_consent") == "waiting for consent"
