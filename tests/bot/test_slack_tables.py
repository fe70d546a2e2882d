"""Tables that fit Slack: three narrow columns at most and a count line that matches the data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from adapters.sim import SimTimings
from bot.blocks import answer_blocks
from bot.bootstrap import Opshand, bootstrap
from bot.listeners._shared import SlackOut
from bot.listeners.conversations import facts_of
from bot.settings import Settings
from bot.slack_tables import (
    FIRST_WIDTH,
    MAX_COLUMNS,
    MAX_ROWS,
    OTHER_WIDTH,
    breakdown_fields,
    count_line,
    entity_table,
    fixed_table,
    list_block,
)

_WIDEST = FIRST_WIDTH + (MAX_COLUMNS - 1) * (2 + OTHER_WIDTH)


def _tables(blocks: list[dict[str, Any]]) -> list[tuple[list[str], str]]:
    """(table lines, the count line after it) for every code-block table in ``blocks``."""
    found = []
    for n, b in enumerate(blocks):
        text = (b.get("text") or {}).get("text", "")
        if "```" not in text:
            continue
        body = text.split("```")[1]
        after = blocks[n + 1] if n + 1 < len(blocks) else {}
        count = "".join(e.get("text", "") for e in after.get("elements", []))
        found.append((body.split("\n"), count))
    return found


def _assert_fits(lines: list[str], count: str, total: int, *, closest: bool = False) -> None:
    head, rows = lines[0], lines[1:]
    assert len(head.split()) <= MAX_COLUMNS, head
    assert head.split()[:3] == ["name", "kind", "criticality"]
    assert all(len(line) <= _WIDEST for line in lines), max(lines, key=len)
    assert len(rows) <= MAX_ROWS
    if closest:  # a fuzzy search cut at its limit: never "all 20 shown"
        assert count == f"the {len(rows)} closest names; more are alike (narrow the search)"
    elif len(rows) < total:
        assert count == f"showing {len(rows)} of {total} entities"
    else:
        assert count == f"all {total} entities shown" if total != 1 else "1 entities shown"


def test_count_line_says_what_is_left_out() -> None:
    assert count_line(20, 262, "hosts") == "showing 20 of 262 hosts"
    assert count_line(12, 12, "hosts") == "all 12 hosts shown"
    assert count_line(1, 1) == "1 shown"


def test_a_fourth_column_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 3 columns"):
        fixed_table("t", ("a", "b", "c", "d"), [("1", "2", "3", "4")])


def test_entity_table_keeps_kind_and_criticality_apart_and_cuts_long_names() -> None:
    long = "x" * 80
    items = [{"name": long, "kind": "service", "criticality": "critical", "client": "contoso"}]
    blocks = entity_table(items * 30, title="Matches", total=262)
    [(lines, count)] = _tables(blocks)
    assert lines[1].split() == ["x" * (FIRST_WIDTH - 1) + "…", "service", "critical"]
    assert "contoso" not in "\n".join(lines)  # the fourth column is gone
    assert count == "showing 20 of 262 entities"
    _assert_fits(lines, count, 262)


def test_a_fuzzy_search_cut_at_its_limit_says_closest_not_all(oh: Opshand) -> None:
    reply = oh.agent.ask("search web", requester="T1:U0LOCAL01")
    assert reply.text.startswith("The 20 closest entities by name: ")
    facts = facts_of(SlackOut(oh=oh, client=WebClient()), reply, "T1:U0LOCAL01")
    [(lines, count)] = _tables(answer_blocks(reply.text, facts))
    assert count == "the 20 closest names; more are alike (narrow the search)"
    assert len(lines) == 21


def test_breakdown_is_two_fields_kinds_then_criticality() -> None:
    block = breakdown_fields({"host": 3, "service": 9}, {"low": 1, "critical": 2, "high": 4})
    texts = [f["text"] for f in block["fields"]]
    assert texts == [
        "*By kind*\nservice: 9\nhost: 3",
        "*By criticality*\ncritical: 2\nhigh: 4\nlow: 1",
    ]


def test_list_block_counts_only_when_cut() -> None:
    assert len(list_block("By kind", ["a", "b"])) == 1
    blocks = list_block("By kind", [str(i) for i in range(25)], noun="kinds")
    assert blocks[0]["text"]["text"].count("\n• ") == MAX_ROWS
    assert blocks[1]["elements"][0]["text"] == "showing 20 of 25 kinds"


@pytest.fixture(scope="module")
def oh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opshand]:
    path: Path = tmp_path_factory.mktemp("tables")
    o = bootstrap(
        Settings(data_dir=path / "d", sample_endpoints=200), sim_timings=SimTimings(scale=0)
    )
    yield o
    o.close()


_QUESTIONS = (
    "find hosts for contoso",
    "search web",
    "list hosts pending reboot",
    "which hosts are missing KB5034441?",
    "what depends on contoso-ny-db-prod-01?",
    "what breaks if contoso-ny-dc-prod-01 goes down?",
    "what does contoso-ny-web-prod-01 depend on?",
    "blast radius of contoso-ny-hv-01",
    "what depends on contoso-ny-fw-01?",
)


@pytest.mark.parametrize("question", _QUESTIONS)
def test_every_table_answer_in_the_sample_estate_fits_and_counts(
    oh: Opshand, question: str
) -> None:
    reply = oh.agent.ask(question, requester="T1:U0LOCAL01")
    facts = facts_of(SlackOut(oh=oh, client=WebClient()), reply, "T1:U0LOCAL01")
    assert facts, f"{question!r} drew no table: {reply.text}"
    blocks = answer_blocks(reply.text, facts)
    tables = _tables(blocks)
    assert len(tables) == len(facts)
    for (lines, count), (_, data) in zip(tables, facts, strict=True):
        _assert_fits(lines, count, int(data["total"]), closest=bool(data.get("closest")))


def test_every_blast_radius_in_the_sample_estate_fits(oh: Opshand) -> None:
    """Not only the asked questions: every entity's blast radius table and breakdown."""
    from agent.chat import ToolBox, TurnContext

    box = ToolBox(oh.ops, TurnContext(requester="T1:U0LOCAL01", request_text=""))
    checked = 0
    for e in oh.ops.graph.search(limit=100_000):
        res = box.call("twin_blast_radius", {"entity": e.entity.id})
        if res.get("status") != "success":
            continue
        blocks = answer_blocks("", [("twin_blast_radius", res["data"])])
        [(lines, count)] = _tables(blocks)
        _assert_fits(lines, count, int(res["data"]["total"]))
        fields = next(b for b in blocks if b.get("fields"))["fields"]
        assert [f["text"].split("\n")[0] for f in fields] == ["*By kind*", "*By criticality*"]
        checked += 1
    assert checked > 50
