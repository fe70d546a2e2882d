"""compose_answer: plain sentences from structured tool results."""

from __future__ import annotations

from typing import Any

import pytest

from agent.chat.offline import (
    Candidate,
    Intent,
    ToolCall,
    ToolOutcome,
    Unresolved,
    compose_answer,
)


def outcome(tool: str, data: dict[str, Any], status: str = "success", **args: Any) -> ToolOutcome:
    return ToolOutcome.from_result(
        ToolCall(name=tool, args=args), {"status": status, "data": data, "error": None}
    )


def _blast_items() -> list[dict[str, Any]]:
    services = [
        {
            "id": f"service:s{i}",
            "name": f"s{i}",
            "kind": "service",
            "criticality": "critical" if i < 2 else "medium",
            "path": [],
        }
        for i in range(4)
    ]
    hosts = [
        {"id": f"host:h{i}", "name": f"h{i}", "kind": "host", "criticality": "low", "path": []}
        for i in range(8)
    ]
    return services + hosts


def test_blast_radius_counts_per_kind_with_critical() -> None:
    data = {
        "entity": {
            "id": "host:contoso-ny-db-prod-01",
            "name": "contoso-ny-db-prod-01",
            "kind": "host",
        },
        "total": 12,
        "by_kind": {"service": 4, "host": 8},
        "items": _blast_items(),
        "truncated": False,
    }
    text = compose_answer([outcome("twin_blast_radius", data)], Intent.BLAST_RADIUS)
    assert text.startswith(
        "12 things depend on contoso-ny-db-prod-01: 4 services (2 critical), 8 hosts."
    )
    assert "Critical: s0, s1." in text


def test_blast_radius_truncated_uses_aggregates() -> None:
    data = {
        "entity": {"name": "core-sw"},
        "total": 500,
        "by_kind": {"host": 450, "service": 50},
        "by_criticality": {"critical": 7, "low": 493},
        "items": _blast_items()[:2],
        "truncated": True,
    }
    text = compose_answer([outcome("twin_blast_radius", data)], "blast_radius")
    assert "500 things depend on core-sw: 50 services, 450 hosts." in text
    assert "By criticality: 7 critical, 493 low." in text
    assert "cut short" in text


def test_blast_radius_empty() -> None:
    text = compose_answer(
        [outcome("twin_blast_radius", {"total": 0, "items": []}, entity="host:x-01")], "x"
    )
    assert text.startswith("Nothing depends on x-01")


def test_show_lists_facts_and_neighbours() -> None:
    data = {
        "entity": {
            "id": "service:contoso-erp",
            "name": "contoso-erp",
            "kind": "service",
            "attrs": {"env": "prod", "criticality": "critical"},
        },
        "needs": [{"id": "host:contoso-ny-app-01", "name": "contoso-ny-app-01"}, "service:dns"],
        "needed_by": ["service:portal"],
    }
    text = compose_answer([outcome("twin_show", data)], Intent.SHOW)
    assert text == (
        "contoso-erp is a service (env prod, criticality critical). It needs contoso-ny-app-01, "
        "dns. Needed by 1: portal."
    )


def test_search_missing_patch_sentence() -> None:
    data = {"items": [{"id": "host:a", "name": "a"}, {"id": "host:b", "name": "b"}], "total": 2}
    text = compose_answer(
        [outcome("twin_search", data, kind="host", client="contoso", missing_patch="KB5034441")],
        Intent.SEARCH,
    )
    assert text == "2 hosts of contoso are missing KB5034441: a, b."


def test_search_nothing_found() -> None:
    text = compose_answer(
        [outcome("twin_search", {"items": [], "total": 0}, kind="host", pending_reboot=True)],
        Intent.SEARCH,
    )
    assert text == "No hosts are pending a reboot."


def test_search_long_list_is_cut() -> None:
    items = [{"name": f"h{i}"} for i in range(9)]
    text = compose_answer([outcome("twin_search", {"items": items, "total": 9}, kind="host")], "")
    assert text == "9 hosts match: h0, h1, h2, h3, h4 and 4 more."


def test_proposal_names_the_change_once_and_leaves_the_decision_to_its_line() -> None:
    """The decision line after the answer (Slack's waiting line or decision message, the CLI's
    status lines) says what policy decided and why; the answer does not say it again."""
    base = {"change_id": "CR-7", "summary": "reboot contoso-ny-web-02", "rules": ["r-auto"]}
    cases = [
        ({**base, "decision": "auto", "blast_radius": {"total": 3}}, "success"),
        (
            {
                **base,
                "decision": "consent",
                "quorum": 2,
                "approvers": "ops-leads",
                "reasons": ["touches a critical host", "other systems depend on it"],
                "rules": ["r-crit"],
            },
            "approval_required",
        ),
        ({**base, "decision": "deny", "reasons": ["change freeze"]}, "denied"),
    ]
    said = [
        compose_answer([outcome("propose_change", data, status=status)], Intent.PROPOSE_CHANGE)
        for data, status in cases
    ]
    head = "I proposed CR-7 (reboot contoso-ny-web-02)"
    assert said == [
        f"{head}; policy allows it and it is queued to run.",
        f"{head}; it needs 2 approvals from ops-leads before it runs.",
        f"{head}; policy refused it.",
    ]


def test_a_refusal_without_a_change_gives_its_reasons_as_bullets() -> None:
    data = {"decision": "refused", "reasons": ["you may not request host.reboot", "x; y"]}
    text = compose_answer(
        [outcome("propose_change", data, status="denied", action="host.reboot", targets=["a"])],
        Intent.PROPOSE_CHANGE,
    )
    assert text == (
        "I could not propose host.reboot on a:\n• you may not request host.reboot.\n• x; y."
    )


def test_rollback_names_its_proposals_without_their_decisions() -> None:
    data = {
        "undoes": "CR-3",
        "proposals": [
            {
                "change_id": "CR-4",
                "action": "host.reboot",
                "targets": ["host:a"],
                "decision": "consent",
                "reasons": ["critical"],
                "approvers": "leads",
            },
            {
                "change_id": "CR-5",
                "action": "host.reboot",
                "targets": ["host:b"],
                "decision": "deny",
                "reasons": ["freeze"],
            },
        ],
        "notes": ["the ticket comment stays"],
    }
    text = compose_answer([outcome("propose_rollback", data)], "")
    assert text == (
        "To undo CR-3 I proposed CR-4 (host.reboot on a) and CR-5 (host.reboot on b).\n"
        "Not undone:\n• the ticket comment stays."
    )
    assert "waiting for consent" not in text and "refused" not in text


def test_status_and_why() -> None:
    data = {
        "change_id": "CR-42",
        "state": "awaiting_consent",
        "action": "host.reboot",
        "targets": ["host:contoso-ny-web-02"],
        "reasons": ["critical target"],
    }
    assert compose_answer([outcome("change_status", data)], "") == (
        "CR-42 (host.reboot on contoso-ny-web-02) is waiting for consent.\n• critical target."
    )
    why = {
        "change_id": "CR-42",
        "state": "denied",
        "reasons": ["freeze until Monday"],
        "rules": [{"id": "freeze"}],
    }
    assert compose_answer([outcome("change_why", why)], "") == (
        "CR-42 was denied by policy:\n• freeze until Monday."
    )


def test_pending_approvals_and_activity() -> None:
    empty = compose_answer([outcome("pending_approvals", {"items": []})], "")
    assert empty == "Nothing is waiting for approval."
    waiting = {
        "items": [
            {
                "change_id": "CR-7",
                "action": "host.reboot",
                "targets": ["host:web-02"],
                "votes": ["U1"],
                "quorum": 2,
            }
        ]
    }
    assert compose_answer([outcome("pending_approvals", waiting)], "") == (
        "1 change waits for approval: CR-7 (host.reboot on web-02), 1 of 2 votes."
    )
    activity = {
        "counts": {"auto": 3, "needed_consent": 1},
        "items": [{"change_id": "CR-7", "action": "host.reboot", "state": "succeeded"}],
    }
    assert compose_answer([outcome("activity", activity, period="today")], "") == (
        "Today: 3 auto, 1 needed consent. CR-7 (host.reboot) succeeded."
    )


def test_path_and_stale() -> None:
    path = outcome(
        "twin_path",
        {"path": ["service:erp", "host:app-01", "hypervisor:hv-01"]},
        source="service:erp",
        target="hypervisor:hv-01",
    )
    assert compose_answer([path], "") == "Path from erp to hv-01 (2 hops): erp → app-01 → hv-01."
    stale = outcome(
        "twin_stale",
        {"items": [{"name": "laptop-7", "last_seen": "3 days ago", "source": "rmm"}], "total": 1},
        scope="client:contoso",
        hours=24,
    )
    assert compose_answer([stale], "") == (
        "1 fact for contoso older than 24 h: laptop-7 (seen 3 days ago, via rmm)."
    )


def test_error_and_no_data() -> None:
    failed = ToolOutcome.from_result(
        ToolCall(name="twin_show", args={"entity": "host:x"}),
        {"status": "error", "data": None, "error": "the twin is loading"},
    )
    assert compose_answer([failed], "") == "That did not work: the twin is loading."
    nothing = outcome("twin_deps", {}, status="no_data", entity="host:x-01")
    assert compose_answer([nothing], "") == "I found nothing for x-01."


def test_unresolved_and_notes_come_first() -> None:
    text = compose_answer(
        [],
        Intent.PROPOSE_CHANGE,
        unresolved=[
            Unresolved(
                mention="db-prdo-9",
                candidates=[Candidate("host:db-prod-01", "contoso-ny-db-prod-01", 80)],
            )
        ],
        notes=["I took `web-2` to mean contoso-ny-web-02."],
    )
    assert text == (
        "I took `web-2` to mean contoso-ny-web-02. I could not find `db-prdo-9`. "
        "Did you mean contoso-ny-db-prod-01?"
    )


@pytest.mark.parametrize(
    "data",
    [{"items": "not a list", "total": "x"}, {"entity": 5, "needs": None}, {"path": [None]}],
)
@pytest.mark.parametrize(
    "tool",
    [
        "twin_blast_radius",
        "twin_show",
        "twin_search",
        "twin_path",
        "change_status",
        "propose_change",
        "activity",
        "mystery_tool",
    ],
)
def test_odd_shapes_never_raise(tool: str, data: dict[str, Any]) -> None:
    assert compose_answer([outcome(tool, data)], "")


def test_from_result_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        ToolOutcome.from_result(ToolCall(name="twin_show"), {"status": "ok"})


def test_nothing_to_say() -> None:
    assert "nothing to report" in compose_answer([], Intent.SHOW)


def test_search_more_counts_every_match_not_only_the_page() -> None:
    items = [{"name": f"h{i}"} for i in range(20)]
    text = compose_answer(
        [outcome("twin_search", {"items": items, "total": 90}, kind="host", client="contoso")],
        "",
    )
    assert text == "90 hosts of contoso match: h0, h1, h2, h3, h4 and 85 more."


def test_search_without_a_kind_says_entities() -> None:
    items = [{"name": f"e{i}"} for i in range(2)]
    text = compose_answer([outcome("twin_search", {"items": items, "total": 2})], "")
    assert text == "2 entities match: e0, e1."


def test_search_cut_at_its_limit_names_the_closest_not_a_count() -> None:
    items = [{"name": f"web-{i}"} for i in range(20)]
    data = {"items": items, "total": 20, "closest": True}
    text = compose_answer([outcome("twin_search", data, query="web")], "")
    assert text == "The 20 closest entities by name: web-0, web-1, web-2, web-3, web-4 and 15 more."
