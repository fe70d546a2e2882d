"""Incident context (AIOps cluster, suspected cause, severity, repeats) reaches policy."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from adapters.signals import parse_generic
from agent.policy import PolicyInput, load_policy_text
from tests.agent.autonomy.world import ROOT, make_auto_world

SIGNALS = ROOT / "examples" / "signals"

_RULE = """
version: 1
defaults: {decision: consent, approvers: approvers, quorum: 1, expires_in: 1h}
rules:
  - id: storage-cluster
    when: input.incident.open && input.incident.aiops_cluster.startsWith("cl-file-io")
    decision: deny
    reason: storage incidents are handled by the storage team.
"""


def test_signal_aiops_labels_reach_the_policy_input(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    body = (SIGNALS / "generic_file_down.json").read_bytes()
    trusted = parse_generic(body).model_copy(update={"aiops_trusted": True})
    out = w.loop.handle(trusted)
    assert out.proposal is not None and out.proposal.change is not None
    change = w.ops.status(out.proposal.change.ref)
    stored = (change.decision or {})["input"]
    assert stored["incident"] == {
        "open": True,
        "aiops_cluster": "cl-file-io-7",
        "suspected_cause": "storage latency on contoso-ny-file-prod-01",
        "severity": "high",
        "repeats": 0,
    }
    # `opshand policy explain` rebuilds the input from what was stored and runs the rules on it
    pin = PolicyInput.from_partial(stored)
    explanation = load_policy_text(_RULE).explain(pin)
    assert explanation.decision.outcome == "deny"


def test_untrusted_aiops_labels_never_reach_the_policy_input(
    engine: Engine, tmp_path: Path
) -> None:
    w = make_auto_world(engine, tmp_path)
    out = w.loop.handle(parse_generic((SIGNALS / "generic_file_down.json").read_bytes()))
    assert out.proposal is not None and out.proposal.change is not None
    stored = (w.ops.status(out.proposal.change.ref).decision or {})["input"]
    assert stored["incident"]["open"] is True
    assert stored["incident"]["aiops_cluster"] == ""
    assert stored["incident"]["suspected_cause"] == ""


def test_no_incident_leaves_the_defaults(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    pin = PolicyInput.from_partial({"action": "service.restart"})
    assert pin.incident.open is False and pin.incident.repeats == 0
    assert load_policy_text(_RULE).decide(pin).outcome == "consent"
    # a proposal on an entity without incidents carries the empty context
    from agent.service import ChangeRequest

    res = w.ops.propose(
        ChangeRequest(
            action="service.restart",
            targets=["service:contoso-file"],
            params={},
            reason="test",
            requester="signal:test",
            source="signal",
        )
    )
    assert res.change is not None
    stored = (w.ops.status(res.change.ref).decision or {})["input"]
    assert stored["incident"]["open"] is False and stored["incident"]["aiops_cluster"] == ""


def test_repeats_count_later_firings(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    body = (SIGNALS / "generic_file_down.json").read_bytes()
    first = w.loop.handle(parse_generic(body))
    again = w.loop.handle(parse_generic(body))
    assert again.status == "grouped"
    ctx = w.ops._incident_context(["service:contoso-file"])
    assert ctx["open"] is True and ctx["repeats"] == 1 and ctx["severity"] == "high"
    assert first.incident.id == again.incident.id
