"""Signals in, routine remediation out: end to end through the loop on the sim (no Slack)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from adapters.signals import parse_alertmanager, parse_generic
from tests.agent.autonomy.world import BEN, ROOT, make_auto_world

SIGNALS = ROOT / "examples" / "signals"


def _portal_alert() -> bytes:
    return (SIGNALS / "alertmanager_portal_down.json").read_bytes()


def test_alert_handled_end_to_end_with_no_human(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    [sig] = parse_alertmanager(_portal_alert())
    out = w.loop.handle(sig)
    assert out.status == "proposed" and out.runbook == "restart-down-service"
    assert out.proposal is not None and out.proposal.status == "auto", out.proposal.message
    change = out.proposal.change
    assert change is not None and change.requester == "signal:alertmanager"
    assert change.source == "signal" and change.targets == ["service:contoso-portal"]
    [report] = w.ops.drain()
    assert report.final_state == "reconciled"
    assert w.sim.effects("rmm", "run_script") == 3  # one restart per replica, nobody asked
    inc = w.incidents.get(out.incident.id)
    assert inc.outcome == "reconciled" and inc.ticket_id
    ticket = w.sim.psa.get_ticket(inc.ticket_id)
    assert any("ended reconciled" in c for c in ticket.comments)
    assert [n.kind for n in w.notes] == ["opened", "proposed", "finished"]
    # the signal resolves: the ticket is commented on and closed
    resolved = json.loads(_portal_alert())
    resolved["alerts"][0]["status"] = "resolved"
    [rsig] = parse_alertmanager(json.dumps(resolved))
    rout = w.loop.handle(rsig)
    assert rout.status == "resolved" and rout.incident.id == inc.id
    assert w.sim.psa.get_ticket(inc.ticket_id).status == "closed"
    assert w.audit.verify().ok


def test_same_alert_repeated_is_handled_once(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    outs = [w.loop.handle(parse_alertmanager(_portal_alert())[0]) for _ in range(5)]
    assert [o.status for o in outs] == ["proposed"] + ["grouped"] * 4
    assert len({o.incident.id for o in outs}) == 1
    w.ops.drain()
    assert w.sim.effects("rmm", "run_script") == 3
    assert w.incidents.get(outs[0].incident.id).occurrences == 5
    assert len(w.ops.journal.list()) == 1
    # the same alert via the generic webhook groups by the runbook's dedupe key, not the source
    g = parse_generic(
        {
            "id": "x1",
            "title": "portal down",
            "status": "firing",
            "severity": "high",
            "labels": {"alertname": "ServiceDown", "service": "contoso-portal"},
        }
    )
    assert w.loop.handle(g).status == "grouped"


def test_flapping_alert_is_grouped_not_acted_on_twice(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    body = json.loads(_portal_alert())
    statuses = []
    for i in range(8):
        body["alerts"][0]["status"] = "firing" if i % 2 == 0 else "resolved"
        statuses.append(w.loop.handle(parse_alertmanager(json.dumps(body))[0]).disposition)
    assert statuses == [
        "new",
        "resolved",
        "flap",
        "resolved",
        "flap",
        "resolved",
        "flap",
        "resolved",
    ]
    inc = w.incidents.all()[0]
    assert inc.flaps == 3 and len(w.incidents.all()) == 1
    assert len(w.ops.journal.list()) == 1


def test_alert_whose_remediation_needs_consent(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    out = w.loop.handle(parse_generic((SIGNALS / "generic_file_down.json").read_bytes()))
    assert out.proposal is not None and out.proposal.status == "consent", out.proposal.message
    change = out.proposal.change
    assert change is not None
    assert w.ops.drain() == [] and w.sim.effects("rmm", "run_script") == 0
    assert w.incidents.get(out.incident.id).outcome == "proposed:consent"
    plan = out.proposal.plan
    assert plan is not None
    assert w.ops.vote(change.id, BEN, True, plan_hash=plan.hash, payload_id="p1").accepted
    [report] = w.ops.drain()
    assert report.final_state == "reconciled"
    assert w.sim.effects("rmm", "run_script") == 1
    assert w.incidents.get(out.incident.id).outcome == "reconciled"


def test_aiops_cluster_and_cause_attach_to_the_entity(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    sig = parse_generic((SIGNALS / "generic_file_down.json").read_bytes(), source="aiops")
    w.loop.handle(sig.model_copy(update={"aiops_trusted": True}))
    ent = w.ops.graph.get("service:contoso-file")
    assert ent.attrs["aiops"]["cluster"] == "cl-file-io-7"
    assert "storage latency" in ent.attrs["aiops"]["suspected_cause"]
    # provenance: who said so and when
    assert ent.attrs["aiops"]["source"] == "aiops" and ent.attrs["aiops"]["received_at"]
    ctx = w.loop.entity_context("service:contoso-file")
    assert ctx["open_incidents"] == 1 and ctx["clusters"] == ["cl-file-io-7"]


def test_untrusted_alert_labels_write_nothing_to_the_twin(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    before = w.ops.graph.get("service:contoso-file")
    serial = w.ops.store.meta()
    # a `suspected_cause` label from a source nobody made trusted for AIOps output
    out = w.loop.handle(parse_generic((SIGNALS / "generic_file_down.json").read_bytes()))
    ent = w.ops.graph.get("service:contoso-file")
    assert "aiops" not in ent.attrs and ent.version == before.version
    assert w.ops.store.meta() == serial
    inc = w.incidents.get(out.incident.id)
    # kept as data on the incident's own record, but not as its cluster or cause
    assert inc.labels["suspected_cause"].startswith("storage latency")
    assert (inc.cluster, inc.suspected_cause) == ("", "")
    assert w.loop.entity_context("service:contoso-file")["suspected_causes"] == []


def test_alert_with_no_runbook_waits_for_a_person(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    out = w.loop.handle(parse_generic((SIGNALS / "generic_disk_full.json").read_bytes()))
    assert out.status == "no_runbook" and out.proposal is None
    assert w.ops.journal.list() == []
    inc = w.incidents.get(out.incident.id)
    assert inc.outcome == "no_runbook" and inc.entity_id == "host:contoso-ny-app-prod-01"
    ticket = w.sim.psa.get_ticket(inc.ticket_id or "")
    assert any("No runbook" in c for c in ticket.comments)
    assert w.notes[-1].kind == "needs_person"


def test_alert_with_no_runbook_goes_to_the_agent_when_allowed(
    engine: Engine, tmp_path: Path
) -> None:
    w = make_auto_world(engine, tmp_path)
    seen = []
    w.loop.agent = lambda sig, inc: seen.append((sig.title, inc.ref)) or None
    out = w.loop.handle(parse_generic((SIGNALS / "generic_disk_full.json").read_bytes()))
    assert seen and seen[0][1] == out.incident.ref
    assert out.status == "no_runbook"  # the agent chose not to propose


def test_rejected_remediation_is_recorded_on_the_incident(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    out = w.loop.handle(parse_generic((SIGNALS / "generic_file_down.json").read_bytes()))
    assert out.proposal is not None and out.proposal.change and out.proposal.plan
    w.ops.vote(out.proposal.change.id, BEN, False, plan_hash=out.proposal.plan.hash,
               payload_id="p1", reason="not now")  # fmt: skip
    inc = w.incidents.get(out.incident.id)
    assert inc.outcome == "rejected"
    assert w.ops.drain() == [] and w.sim.effects("rmm", "run_script") == 0


def test_a_change_that_ends_before_its_incident_is_tied_to_it_still_closes_it(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_auto_world(engine, tmp_path)
    propose = w.ops.propose

    def propose_and_run(request: Any) -> Any:
        result = propose(request)
        w.ops.drain()  # a fast worker: the change reconciles before propose's caller continues
        return result

    monkeypatch.setattr(w.ops, "propose", propose_and_run)
    out = w.loop.handle(parse_alertmanager(_portal_alert())[0])
    assert out.proposal is not None and out.proposal.status == "auto"
    inc = w.incidents.get(out.incident.id)
    assert inc.outcome == "reconciled"
    assert [n.kind for n in w.notes] == ["opened", "proposed", "finished"]
    # told once, however many times the ending is seen
    change = w.ops.journal.get(inc.change_id or 0)
    w.loop._ended(change)
    assert [n.kind for n in w.notes].count("finished") == 1
