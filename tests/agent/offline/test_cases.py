"""The data-driven parser suite: every case in cases.yaml, against the estate in estate.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.chat.offline import ConversationContext, TwinNameResolver, parse
from tests.agent.offline.estate import make_resolver

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "cases.yaml").read_text(encoding="utf-8")
)
_FIELDS = {
    "id",
    "category",
    "text",
    "intent",
    "calls",
    "after",
    "unresolved",
    "candidates",
    "clarification",
    "notes",
}


@pytest.fixture(scope="module")
def resolver() -> TwinNameResolver:
    return make_resolver()


def test_cases_file_is_well_formed() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 80
    for case in CASES:
        assert set(case) <= _FIELDS, f"{case['id']}: unknown fields {set(case) - _FIELDS}"
        assert {"id", "category", "text", "intent", "calls"} <= set(case), case["id"]


NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
"""When the cases are read: "tonight" is 22:00 UTC that day."""


@pytest.mark.parametrize("case", CASES, ids=[f"{c['category']}-{c['id']}" for c in CASES])
def test_parse_case(case: dict[str, Any], resolver: TwinNameResolver) -> None:
    context = None
    if "after" in case:
        earlier = parse(case["after"], resolver, now=NOW)
        assert earlier.tool_calls or earlier.pending, f"the earlier message failed: {earlier.text}"
        context = ConversationContext.from_result(earlier)
    result = parse(case["text"], resolver, context=context, now=NOW)

    assert result.intent.value == case["intent"], result.text
    got = [(c.name, {k: v for k, v in c.args.items() if k != "reason"}) for c in result.tool_calls]
    want = [
        (c["name"], {k: v for k, v in c["args"].items() if k != "reason"}) for c in case["calls"]
    ]
    assert got == want, result.text
    for call in result.tool_calls:
        if call.name == "propose_change":
            assert call.args["reason"].startswith("Requested in chat: ")
    if not case["calls"]:
        assert result.text, "a request without tool calls must say why"
    assert [u.mention for u in result.unresolved] == case.get("unresolved", [])
    offered = [c.name for u in result.unresolved for c in u.candidates]
    for name in case.get("candidates", []):
        assert name in offered, f"{name} not offered in {offered}"
    if "clarification" in case:
        assert case["clarification"] in (result.clarification or ""), result.clarification
    for mention in case.get("notes", []):
        assert any(mention in note for note in result.notes), result.notes


_PREFIXES = ["<@U123ABC> ", "hey opshand, could you please ", "pls ", "<@U0ABCDEF|opshand> hi, "]
_SUFFIXES = ["", " please", ", thanks!"]
_WRAPPABLE = [
    c
    for c in CASES
    if c["calls"] and "after" not in c and ":" not in c["text"] and "\n" not in c["text"]
]


@pytest.mark.parametrize(
    ("case", "prefix", "suffix"),
    [
        (c, _PREFIXES[i % len(_PREFIXES)], _SUFFIXES[i % len(_SUFFIXES)])
        for i, c in enumerate(_WRAPPABLE)
    ],
    ids=[c["id"] for c in _WRAPPABLE],
)
def test_parse_case_with_polite_wrapping(
    case: dict[str, Any], prefix: str, suffix: str, resolver: TwinNameResolver
) -> None:
    # Every case must read the same when someone @-mentions the bot and adds pleasantries.
    plain = parse(case["text"], resolver, now=NOW)
    wrapped = parse(prefix + case["text"].rstrip("?") + suffix, resolver, now=NOW)
    assert wrapped.intent == plain.intent
    assert [
        (c.name, {k: v for k, v in c.args.items() if k != "reason"}) for c in wrapped.tool_calls
    ] == [(c.name, {k: v for k, v in c.args.items() if k != "reason"}) for c in plain.tool_calls]
