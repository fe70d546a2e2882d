"""Jira Service Management against a fake built from Atlassian's published platform spec."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from adapters.errors import AmbiguousOutcome
from adapters.vendors import JiraServiceManagementClient
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime, body_of
from tests.adapters.vendors.fake_jira import INDEX_LAG
from tests.adapters.vendors.fakes_base import basic


def _lose_answer_of_first_create(h, *, apply: bool = True):
    """The first POST /issue reaches Jira (and is applied) but its answer never comes back."""
    remaining = [1]

    def first_create(request):
        hit = request.method == "POST" and request.url.path == "/rest/api/3/issue" and remaining
        return bool(hit)

    def applied_then_lost(request):
        remaining.pop()
        if apply:
            h.fake.create(request)
        raise httpx.ReadTimeout("read timed out", request=request)

    h.fake.faults.append((first_create, applied_then_lost))


def _issues_with_label(h, label):
    return [i for i in h.fake.issues.values() if label in i["fields"]["labels"]]


def test_jira_create_sends_label_property_adf_and_mapped_priority():
    h = hs.jira(FakeTime())
    t = h.client.create_ticket(
        "VPN", "line one\nline two", priority="critical", idempotency_key="k-9"
    )
    post = next(r for r in h.fake.requests if r.method == "POST")
    body = body_of(post)
    fields = body["fields"]
    assert fields["labels"] == ["opshand-k-9"] and fields["priority"] == {"name": "Highest"}
    assert body["properties"] == [{"key": "opshand.idempotency", "value": {"key": "k-9"}}]
    assert fields["description"]["type"] == "doc" and len(fields["description"]["content"]) == 2
    assert post.headers["authorization"] == basic("bot@acme.example", "jira-token")
    # Priorities come back as the contract's values, not Jira's names ("highest").
    assert t.priority == "critical"


@pytest.mark.parametrize(
    ("jira_name", "contract"),
    [("Highest", "critical"), ("High", "high"), ("Medium", "moderate"), ("Low", "low"),
     ("Lowest", "low")],
)  # fmt: skip
def test_jira_priorities_map_back_to_contract_values(jira_name, contract):
    h = hs.jira(FakeTime())
    h.fake.issues["OPS-1"]["fields"]["priority"] = {"name": jira_name}
    assert h.client.get_ticket("OPS-1").priority == contract


def test_jira_comment_is_a_platform_comment_marked_internal():
    # The service desk comment endpoint 404s on plain issues (and is not in the platform
    # spec): the old client could not comment on any issue it had created.
    h = hs.jira(FakeTime())
    t = h.client.create_ticket("VPN", "d", priority="high", idempotency_key="k-1")
    after = h.client.comment(t.number, "internal note", idempotency_key="k-2")
    sent = [r for r in h.fake.requests if r.url.path.endswith("/comment")][-1]
    assert sent.url.path == f"/rest/api/3/issue/{t.number}/comment"
    assert body_of(sent)["properties"] == [
        {"key": "sd.public.comment", "value": {"internal": True}}
    ]
    assert after.comments == ("internal note",)
    stored = h.fake.issues[t.number]["fields"]["comment"]["comments"][-1]
    assert stored["jsdPublic"] is False  # agents only, never the customer


def test_jira_create_whose_answer_was_lost_is_found_not_duplicated():
    # Search is eventually consistent: the old client, retried after a lost answer, searched
    # before the index caught up and created a second issue.
    t = FakeTime()
    h = hs.jira(t)
    _lose_answer_of_first_create(h)
    try:
        ticket = h.client.create_ticket("Disk", "full", priority="high", idempotency_key="k-7")
    except AmbiguousOutcome:
        ticket = h.client.create_ticket("Disk", "full", priority="high", idempotency_key="k-7")
    assert len(_issues_with_label(h, "opshand-k-7")) == 1
    assert ticket.title == "Disk"
    assert (
        sum(r.method == "POST" and r.url.path == "/rest/api/3/issue" for r in h.fake.requests) == 1
    )
    assert sum(t.sleeps) >= INDEX_LAG  # it waited for search, it did not create again


def test_jira_lost_create_that_never_landed_stays_ambiguous_and_is_sent_once():
    h = hs.jira(FakeTime())
    _lose_answer_of_first_create(h, apply=False)
    with pytest.raises(AmbiguousOutcome):
        h.client.create_ticket("Disk", "full", priority="high", idempotency_key="k-8")
    posts = [r for r in h.fake.requests if r.method == "POST" and r.url.path == "/rest/api/3/issue"]
    assert len(posts) == 1


def test_jira_a_label_copied_by_hand_is_not_taken_for_our_issue():
    t = FakeTime()
    h = hs.jira(t)
    h.fake.issues["OPS-1"]["fields"]["labels"].append("opshand-k-5")  # someone copied it
    created = h.client.create_ticket("New", "d", priority="low", idempotency_key="k-5")
    assert created.number != "OPS-1"
    t.advance(INDEX_LAG)
    # Another process (no memory of the create) finds the right one through the property.
    other = JiraServiceManagementClient(
        "https://acme.atlassian.example", email="bot@acme.example",
        api_token=SecretStr("jira-token"), http_client=h.fake.client(), project_key="OPS",
        options=hs.OPTIONS, hooks=t.hooks(),
    )  # fmt: skip
    again = other.create_ticket("New", "d", priority="low", idempotency_key="k-5")
    assert again.number == created.number
    assert len(h.fake.issues) == 2


def test_jira_close_sends_the_resolution_the_screen_requires():
    # The Resolve transition's screen requires a resolution; the old client sent none and
    # Jira answered 400 "Resolution is required."
    h = hs.jira(FakeTime())
    closed = h.client.close("OPS-1", "fixed the tunnel", idempotency_key="k-3")
    assert closed.status == "resolved"
    assert h.fake.issues["OPS-1"]["fields"]["resolution"] == {"name": "Done"}
    sent = [r for r in h.fake.requests if r.url.path.endswith("/transitions")]
    assert sent[0].url.params["expand"] == "transitions.fields"
    assert body_of(sent[-1])["fields"] == {"resolution": {"name": "Done"}}


def test_jira_move_without_a_resolution_screen_sends_no_fields():
    h = hs.jira(FakeTime())
    h.client.update_status("OPS-1", "In Progress", idempotency_key="k-4")
    post = [r for r in h.fake.requests if r.method == "POST"][-1]
    assert body_of(post) == {"transition": {"id": "11"}}
