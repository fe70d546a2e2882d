"""A11: attacker text reaching Slack is escaped; mentions and links come only from our own ids.

Every block builder is rendered with hostile text in every field that carries data (entity
names, invariant messages, collateral, vote reasons, execution details, model answers, digest
rows, patch-cycle posts), and every mrkdwn string and text fallback is scanned for a ``<…>``
token Slack would parse. The only tokens allowed are mentions of the ids the test put there as
real people.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.digest import CycleSummary, DigestNumbers, Failure
from agent.execution import Change
from agent.schedule import Upcoming
from bot.blocks import (
    answer_blocks,
    decision_blocks,
    thread_summary,
)
from bot.cards import Card, CardState, consent_card
from bot.cli.autonomy import CycleThread
from bot.digest import DigestConfig, digest_blocks
from bot.home import home_view
from bot.listeners.consent import _outcome_text
from bot.mrkdwn import esc, link, mention, person
from bot.plan_view import plan_view
from bot.slack_tables import breakdown_fields, entity_table, list_block

HOSTILE = "<!channel> <!here> <https://evil.example/login|SSO login> <@U123> <#C999> &amp; x"
OURS = {"U0ANA", "U0BEN"}
"""The real people in these tests: the only ids a live mention may name."""
_TOKEN = re.compile(r"<[^<>]*>")


def _mrkdwn(node: Any, out: list[str]) -> list[str]:
    """Every string Slack parses as mrkdwn: mrkdwn text objects and message text fallbacks."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            out.append(node["text"])
        for key, value in node.items():
            if key == "text" and isinstance(value, str) and node.get("type") != "plain_text":
                out.append(value)
            else:
                _mrkdwn(value, out)
    elif isinstance(node, list):
        for item in node:
            _mrkdwn(item, out)
    return out


def _assert_inert(rendered: Any) -> None:
    texts = _mrkdwn(rendered, [])
    assert texts, "nothing rendered"
    live = [t for s in texts for t in _TOKEN.findall(s) if t[2:-1] not in OURS or t[1] != "@"]
    assert not live, f"live Slack markup from data: {live}"
    joined = "\n".join(texts)
    # the hostile text is still shown, escaped, rather than dropped
    assert "&lt;!channel&gt;" in joined


def _change(state: str = "awaiting_consent", **over: Any) -> Change:
    plan = {
        "action": "host.reboot",
        "targets": ["host:web-01", f"host:{HOSTILE}"],
        "target_names": ["web-01", HOSTILE],
        "intended": ["host:web-01"],
        "collateral": [
            {"name": HOSTILE, "kind": HOSTILE, "criticality": "critical", "effect": HOSTILE},
            {"name": "svc", "kind": "service", "criticality": HOSTILE, "effect": "down"},
        ],
        "invariants": [
            {
                "id": HOSTILE,
                "passed": False,
                "severity": HOSTILE,
                "violations": [{"message": HOSTILE}],
            },
            {"id": "quorum", "passed": False, "error": HOSTILE},
        ],
        "waves": [["host:web-01"], [f"host:{HOSTILE}"]],
    }
    base: dict[str, Any] = dict(
        id=7,
        state=state,
        action="host.reboot",
        targets=["host:web-01"],
        params={"text": HOSTILE},
        reason=HOSTILE,
        requester="T1:U0ANA",
        source="person",
        channel="C1",
        thread_ts="1.0",
        plan=plan,
        plan_hash="a" * 64,
        policy_hash="b" * 64,
        decision={
            "outcome": "consent",
            "quorum": 2,
            "approvers": HOSTILE,
            "deciding": [HOSTILE],
            "reasons": {HOSTILE: HOSTILE},
        },
        result={
            "message": HOSTILE,
            "targets": {
                "host:web-01": {"state": "failed", "detail": HOSTILE},
                f"host:{HOSTILE}": {"state": HOSTILE, "detail": HOSTILE},
            },
            "observations": [
                {"target": f"host:{HOSTILE}", "check": HOSTILE, "ok": False, "detail": HOSTILE}
            ],
        },
        supersedes=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    base.update(over)
    return Change(**base)


def _card(state: str) -> CardState:
    return CardState(
        state=state,
        votes=[("U0BEN", "approve", HOSTILE), (HOSTILE, "reject", HOSTILE)],
        quorum=2,
        approvers=HOSTILE,
        expires_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        decided_by="T1:U0BEN" if state != "open" else "",
        next_step=HOSTILE if state != "open" else "",
    )


def test_a11_escape_replaces_exactly_slacks_three_control_characters() -> None:
    assert esc("a & b < c > d *bold* `code` _i_") == "a &amp; b &lt; c &gt; d *bold* `code` _i_"
    assert mention("U0ANA") == "<@U0ANA>"
    assert "<" not in mention("<!channel>") and "<" not in mention("U1|x>")
    assert person("signal:grafana<!here>") == "`signal:grafana&lt;!here&gt;`"
    assert person("T1:U0BEN") == "<@U0BEN>"
    assert link("https://opshand.example/cr/7", "CR-7 <!here>") == (
        "<https://opshand.example/cr/7|CR-7 &lt;!here&gt;>"
    )
    assert "<" not in link("https://evil|SSO login", "x")
    assert "<" not in link("javascript:alert(1)", "x")


def test_a11_answer_blocks_escape_the_model_answer_and_tool_facts() -> None:
    item = {"name": HOSTILE, "kind": HOSTILE, "criticality": HOSTILE, "client": HOSTILE}
    facts = [
        (
            "twin_blast_radius",
            {
                "entity": {"name": HOSTILE},
                "items": [item],
                "total": 1,
                "by_kind": {HOSTILE: 1},
                "by_criticality": {HOSTILE: 1},
            },
        ),
        ("twin_search", {"items": [item], "total": 1}),
    ]
    blocks = answer_blocks(f"*Done.* {HOSTILE}", facts)
    _assert_inert(blocks)
    assert "*Done.*" in _mrkdwn(blocks, [])[0]  # the model's own formatting still shows
    _assert_inert(entity_table([item], title=HOSTILE))
    _assert_inert([breakdown_fields({HOSTILE: 1}, {HOSTILE: 2})])
    _assert_inert(list_block(HOSTILE, [esc(HOSTILE)]))


def test_a11_decision_blocks_escape_plans_reasons_and_results_in_every_state() -> None:
    for state, outcome in (
        ("denied", "deny"),
        ("awaiting_consent", "consent"),
        ("approved", "auto"),
        ("escalated", None),
    ):
        change = _change(state)
        change.decision["outcome"] = outcome  # type: ignore[index]
        _assert_inert(decision_blocks(change))
    denied = _change("denied", result=None)
    _assert_inert(decision_blocks(denied))


def _message(card: Card) -> dict[str, Any]:
    """The card as chat.postMessage sends it: fallback text, header, coloured attachment."""
    return {"text": card.text, "blocks": card.blocks, "attachments": card.attachments}


def test_a11_consent_cards_escape_votes_reasons_and_next_steps() -> None:
    for state in ("open", "approved", "rejected", "expired", "stale"):
        _assert_inert(_message(consent_card(_change(), _card(state))))
    signal = _change(requester="signal:<!channel>")
    _assert_inert(_message(consent_card(signal, _card("open"))))
    hostile_plan = {**(_change().plan or {}), "action": HOSTILE}
    _assert_inert(_message(consent_card(_change(plan=hostile_plan), _card("open"))))
    _assert_inert(plan_view(_change(plan=hostile_plan)))
    text = _outcome_text(_change("rejected"), _card("rejected"))
    assert "&lt;!channel&gt;" in text and "<!" not in text


def test_a11_thread_summary_escapes_execution_details() -> None:
    _assert_inert(thread_summary(_change("escalated"), "#3 abcdef"))


def test_a11_digest_escapes_kinds_failures_and_the_patch_cycle_summary() -> None:
    numbers = DigestNumbers(
        day=date(2026, 1, 1),
        timezone="UTC",
        outcomes={"auto": 1},
        by_kind={HOSTILE: {"auto": 1}},
        consent_median=timedelta(minutes=3),
        consent_slowest=(HOSTILE, timedelta(minutes=9)),
        failures=[Failure(ref=HOSTILE, action=HOSTILE, state="failed", detail=HOSTILE)],
        escalations=0,
        waiting={HOSTILE: 1},
        rules=[(HOSTILE, 2)],
        succeeded={"host.reboot": 1},
        minutes_saved=15.0,
        history=[(date(2026, 1, 1), 1, 0)],
        patch_cycle=CycleSummary(
            cycle_id="c1", at=datetime(2026, 1, 1, tzinfo=UTC), summary=HOSTILE
        ),
        coming_up=[_upcoming()],
        as_of=datetime(2026, 1, 1, tzinfo=UTC),
    )
    text, blocks = digest_blocks(numbers, DigestConfig(minutes_per_action={HOSTILE: 3.0}))
    _assert_inert({"text": text, "blocks": blocks})


def _upcoming() -> Upcoming:
    return Upcoming(
        ref=HOSTILE,
        action=HOSTILE,
        targets=(f"host:{HOSTILE}",),
        not_before=datetime(2026, 1, 3, 3, tzinfo=UTC),
        approved_by=(f"T1:{HOSTILE}", "policy"),
    )


class _Ops:
    """The part of ``Operations`` the Home tab reads, holding hostile changes."""

    class roles:
        @staticmethod
        def roles_for(team: str, user: str) -> set[str]:
            return set()

    class journal:
        @staticmethod
        def list(**_: Any) -> list[Change]:
            return [_change(action=HOSTILE, targets=[f"host:{HOSTILE}"])]

    def pending(self) -> list[Change]:
        return []

    def coming_up(self) -> list[Upcoming]:
        return [_upcoming()]

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def autonomy_status(self) -> dict[str, Any]:
        return {"freeze": HOSTILE, "auto_last_hour": HOSTILE, "auto_limit_per_hour": HOSTILE}


def test_a11_home_tab_escapes_changes_and_the_freeze_reason() -> None:
    _assert_inert(home_view(_Ops(), "T1", "U0ANA"))  # type: ignore[arg-type]


class _Slack:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    def chat_postMessage(self, **kw: Any) -> dict[str, Any]:
        self.posts.append(kw)
        return {"ts": f"1.{len(self.posts)}"}


class _Event:
    def __init__(self, kind: str, data: dict[str, Any]) -> None:
        self.kind, self.data = kind, data


def test_a11_patch_cycle_thread_escapes_patches_hosts_and_reasons() -> None:
    slack = _Slack()
    thread = CycleThread(slack, "C0OPS")
    thread.start("c1", 2, 3)
    thread.on_event(_Event("wave_done", {"number": 1, "counts": {HOSTILE: 1}}))
    thread.on_event(_Event("quarantined", {"patch": HOSTILE, "hosts": [HOSTILE]}))
    thread.on_event(_Event("halted", {"reason": HOSTILE}))
    thread.finish(HOSTILE)
    assert len(slack.posts) == 5
    _assert_inert([{"text": p["text"]} for p in slack.posts[1:]])


def test_a11_only_bot_mrkdwn_writes_live_slack_markup() -> None:
    """A convention as a test: no other module of the bot spells a mention, a broadcast or a
    link itself (each would be a place where data could become live markup). ``bot/chat.py`` is
    exempt: it is the terminal client, typing as the person, not the bot speaking."""
    root = Path(__file__).resolve().parents[2] / "bot"
    live = re.compile(r"""["'][^"'\n]*<[@!#](?:\{|[A-Z!])|f["'][^"'\n]*<\{""")
    offenders = [
        f"{path.relative_to(root.parent)}:{n}"
        for path in root.rglob("*.py")
        if path.name not in ("mrkdwn.py", "chat.py") and "localslack" not in path.parts
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if live.search(line)
    ]
    assert not offenders, f"live Slack markup built outside bot/mrkdwn.py: {offenders}"
