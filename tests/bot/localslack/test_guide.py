"""The page's guide (intro + numbered "try this" steps) and Block Kit as terminal text."""

from __future__ import annotations

import httpx
import pytest
from rich.text import Text

from bot.localslack import LocalSlack, TryStep
from bot.localslack.blocktext import mrkdwn_to_markup, render_blocks
from bot.localslack.guide import as_steps
from tests.bot.localslack.conftest import SECRET


def test_guide_strings_become_steps_that_say_them() -> None:
    steps = as_steps(["@opshand hi", TryStep(title="Approve", user="ben")])
    assert steps[0] == TryStep(title="@opshand hi", say="@opshand hi")
    assert steps[1].user == "ben" and steps[1].say is None
    with pytest.raises(TypeError, match="str or TryStep"):
        as_steps([3])  # type: ignore[list-item]


def test_guide_unknown_user_or_channel_fails_at_start() -> None:
    with pytest.raises(ValueError, match="step 1 acts as unknown user 'bob'"):
        LocalSlack(signing_secret=SECRET, try_this=[TryStep(title="x", user="bob")])
    with pytest.raises(ValueError, match="unknown channel 'nope'"):
        LocalSlack(signing_secret=SECRET, try_this=[TryStep(title="x", channel="nope")])


def test_guide_state_carries_intro_and_steps() -> None:
    step = TryStep(title="Approve it", user="ben", channel="ops-approvals", hint="Press Approve")
    with LocalSlack(signing_secret=SECRET, try_this=[step], intro="*Welcome*") as slack:
        state = httpx.get(slack.web_url + "ui/state").json()
    assert state["intro"] == "*Welcome*"
    assert state["try_this"] == [step.model_dump()]


def test_blocktext_renders_a_card_with_numbered_buttons_data() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Consent needed: CR-7"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Requested by* <@U0LOCAL01>"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "_Targets_ 1"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "plan `abc[1]`"}]},
        {"type": "divider"},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "ok",
                    "style": "primary",
                    "value": "7|h",
                    "text": {"type": "plain_text", "text": "Approve"},
                },
                {
                    "type": "button",
                    "action_id": "no",
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject"},
                },
            ],
        },
    ]
    out = render_blocks(blocks, lambda i: {"U0LOCAL01": "ana"}.get(i, i))
    plain = [Text.from_markup(line).plain for line in out.lines]
    assert plain[:4] == ["Consent needed: CR-7", "Requested by @ana", "  Targets 1", "plan abc[1]"]
    assert [(b.label, b.action_id, b.value, b.style) for b in out.buttons] == [
        ("Approve", "ok", "7|h", "primary"),
        ("Reject", "no", None, "danger"),
    ]


def test_blocktext_never_lets_message_text_become_console_markup() -> None:
    markup = mrkdwn_to_markup("[red]boom[/red] &lt;x&gt; :white_check_mark: <https://a.b|site>")
    assert Text.from_markup(markup).plain == "[red]boom[/red] <x> \u2705 site (https://a.b)"
