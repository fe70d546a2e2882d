"""Incident grouping, flapping and the PSA ticket lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from adapters.signals import Signal, parse_generic
from adapters.sim import SimEstate, SimTimings, SystemClock
from agent.incidents import FLAP_LIMIT, IncidentBook
from tests.estate import small_estate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


class _Now:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


def _sig(status: str = "firing", **labels: str) -> Signal:
    return parse_generic(
        {
            "id": "a1",
            "title": "disk full",
            "status": status,
            "severity": "warning",
            "labels": labels,
        }
    )


def _book(engine: Engine) -> tuple[IncidentBook, SimEstate, _Now]:
    ents, rels = small_estate()
    sim = SimEstate.from_twin(ents, rels, clock=SystemClock(), timings=SimTimings(scale=0))
    now = _Now()
    return IncidentBook(engine, psa=sim.psa, now=now), sim, now


def test_incident_repeat_within_window_counts_once(engine: Engine) -> None:
    book, _, now = _book(engine)
    inc, d = book.record(_sig(), dedupe_key="k", window=WINDOW)
    assert d == "new" and inc.ticket_id
    now.t += timedelta(minutes=5)
    inc2, d2 = book.record(_sig(), dedupe_key="k", window=WINDOW)
    assert (d2, inc2.id, inc2.occurrences) == ("repeat", inc.id, 2)
    # outside the window a repeat of a still-open incident is a new incident
    now.t += timedelta(minutes=30)
    inc3, d3 = book.record(_sig(), dedupe_key="k", window=WINDOW)
    assert d3 == "new" and inc3.id != inc.id


def test_incident_resolve_closes_ticket_and_flaps_follow_up(engine: Engine) -> None:
    book, sim, now = _book(engine)
    inc, _ = book.record(_sig(), dedupe_key="k", window=WINDOW)
    book.update(inc.id, outcome="reconciled")
    _, d = book.record(_sig("resolved"), dedupe_key="k", window=WINDOW)
    assert d == "resolved"
    ticket = sim.psa.get_ticket(inc.ticket_id or "")
    assert ticket.status == "closed" and any("reconciled" in c for c in ticket.comments)
    for _ in range(FLAP_LIMIT):
        now.t += timedelta(minutes=1)
        again, d = book.record(_sig(), dedupe_key="k", window=WINDOW)
        assert d == "flap" and again.id == inc.id
        book.record(_sig("resolved"), dedupe_key="k", window=WINDOW)
    again, d = book.record(_sig(), dedupe_key="k", window=WINDOW)
    assert again.status == "flapping" and again.flaps == FLAP_LIMIT + 1
    # the closed ticket could not re-open: the flap opened a follow-up ticket
    assert again.ticket_id != inc.ticket_id


def test_incident_resolve_without_open_incident_is_harmless(engine: Engine) -> None:
    book, _, _ = _book(engine)
    inc, d = book.record(_sig("resolved"), dedupe_key="k", window=WINDOW)
    assert d == "resolve_unknown" and inc.id == 0
    assert book.all() == []


def test_incident_keeps_aiops_cluster_and_cause(engine: Engine) -> None:
    book, _, _ = _book(engine)
    trusted = _sig(aiops_cluster="cl-9", suspected_cause="db slow")
    inc, _ = book.record(
        trusted.model_copy(update={"aiops_trusted": True}),
        dedupe_key="k",
        window=WINDOW,
        entity_id="host:contoso-ny-db-01",
    )
    assert (inc.cluster, inc.suspected_cause) == ("cl-9", "db slow")
    assert [i.id for i in book.open_for_entity("host:contoso-ny-db-01")] == [inc.id]


def test_incident_from_an_untrusted_source_keeps_aiops_labels_as_data_only(
    engine: Engine,
) -> None:
    book, _, _ = _book(engine)
    inc, _ = book.record(
        _sig(aiops_cluster="cl-9", suspected_cause="db slow"),
        dedupe_key="k",
        window=WINDOW,
        entity_id="host:contoso-ny-db-01",
    )
    assert (inc.cluster, inc.suspected_cause) == ("", "")
    assert inc.labels["suspected_cause"] == "db slow"


def test_incident_long_dedupe_key_is_hashed_consistently(engine: Engine) -> None:
    book, _, _ = _book(engine)
    key = "k:" + "x" * 600
    a, d1 = book.record(_sig(), dedupe_key=key, window=WINDOW)
    b, d2 = book.record(_sig(), dedupe_key=key, window=WINDOW)
    assert (d1, d2) == ("new", "repeat") and a.id == b.id and len(a.dedupe_key) < 255
