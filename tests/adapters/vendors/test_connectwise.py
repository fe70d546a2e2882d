"""ConnectWise Manage: create once per key via externalXRef, notes, statuses by name, spec."""

from __future__ import annotations

import httpx
import pytest

from adapters.errors import AmbiguousOutcome, NotFound, RequestRejected
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime, body_of
from tests.adapters.vendors.spec_contract import assert_in_spec


def test_connectwise_create_retried_after_a_lost_answer_makes_one_ticket():
    t = FakeTime()
    h = hs.connectwise(t)
    lost = [True]

    def drop_first_create(request: httpx.Request) -> bool:
        if request.method == "POST" and request.url.path.endswith("/service/tickets") and lost[0]:
            lost[0] = False
            h.fake.create(request)  # Manage made the ticket, the answer never came back
            return True
        return False

    h.fake.faults.append((drop_first_create, lambda r: httpx.Response(504)))
    with pytest.raises(AmbiguousOutcome):
        h.client.create_ticket("Disk full", "d", priority="high", idempotency_key="k-1")
    again = h.client.create_ticket("Disk full", "d", priority="high", idempotency_key="k-1")
    made = [x for x in h.fake.tickets.values() if x["externalXRef"] == "opshand:k-1"]
    assert len(made) == 1 and again.ticket_id == str(made[0]["id"])
    assert again.priority == "high"


def test_connectwise_comment_is_a_discussion_note_once_per_key():
    h = hs.connectwise(FakeTime())
    h.client.comment("1001", "rebooted", idempotency_key="c-1")
    ticket = h.client.comment("1001", "rebooted", idempotency_key="c-1")
    assert ticket.comments == ("rebooted",)
    note = h.fake.notes[1001][0]
    assert (note["detailDescriptionFlag"], note["internalAnalysisFlag"]) == (True, False)


def test_connectwise_status_change_is_a_json_patch_with_the_board_status_id():
    h = hs.connectwise(FakeTime())
    h.client.update_status("1001", "in_progress", idempotency_key="s-1")
    patch = next(r for r in h.fake.requests if r.method == "PATCH")
    assert body_of(patch) == [{"op": "replace", "path": "status", "value": {"id": 2}}]
    with pytest.raises(RequestRejected, match="unknown status"):
        h.client.update_status("1001", "on_fire", idempotency_key="s-2")


def test_connectwise_close_sends_a_resolution_note():
    h = hs.connectwise(FakeTime())
    closed = h.client.close("1001", "patched", idempotency_key="x-1")
    assert closed.status == "closed"
    assert h.fake.notes[1001][-1]["resolutionFlag"] is True


def test_connectwise_foreign_id_is_not_found_after_asking_manage():
    h = hs.connectwise(FakeTime())
    with pytest.raises(NotFound):
        h.client.get_ticket("INC0001")
    assert h.fake.api_requests()  # the credentials were exercised


def test_connectwise_every_request_is_in_the_reference():
    h = hs.connectwise(FakeTime())
    made = h.client.create_ticket("t", "d", priority="low", idempotency_key="k")
    h.client.comment(made.ticket_id, "c", idempotency_key="c")
    h.client.escalate(made.ticket_id, "why", idempotency_key="e")
    h.client.close(made.ticket_id, "done", idempotency_key="x")
    assert_in_spec("connectwise", h.fake.requests)
