"""F5 (audit rows in the same transaction, no secrets anywhere) and drift (estate changed
outside opshand -> the next sync shows it in the twin and stale plans are refused)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from adapters.errors import TransientError
from adapters.inventory import known_ids, rmm_inventory
from adapters.sim import FaultRule
from agent.execution import TRANSITIONS, Adapters, call_table, journal_table, target_table
from tests.agent.execution.harness import CANARY, build, enqueue, sim_adapters, sim_for
from tests.estate import small_estate


class _Boom(RuntimeError):
    pass


class _LeakyRmm:
    """An RMM whose errors echo a secret, as careless vendor APIs do."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def run_script(self, *a: Any, **kw: Any) -> Any:
        raise TransientError(
            f"HTTP 502 upstream said: Authorization: Bearer {CANARY}",
            integration="leaky-rmm",
            call="run_script",
        )


def _boom_logged(caplog: pytest.LogCaptureFixture) -> bool:
    """The worker loop logged the failed change (it goes on with the next, as in production)."""
    found = any(r.exc_info and r.exc_info[0] is _Boom for r in caplog.records)
    caplog.clear()
    return found


def test_f5_state_change_and_its_audit_row_commit_together(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    armed = {"kind": "change.reconciled"}

    def fail_on(kind: str) -> None:
        if kind == armed["kind"]:
            raise _Boom(kind)

    w = build(engine, tmp_path, audit_hook=fail_on)
    c = enqueue(w, "service.restart", ["contoso-dev-app"])
    assert w.ops.worker().drain().errors == 1 and _boom_logged(caplog)
    # The audit append failed, so the moves of that transaction never happened either.
    assert w.ops.journal.get(c.id).state == "executing"
    kinds = [r.kind for r in w.audit.query(change_id=str(c.id), limit=100)]
    assert "change.succeeded" not in kinds and "change.reconciled" not in kinds
    # Same for a target's state and its integration-call row.
    armed["kind"] = "integration.call"
    c2 = enqueue(w, "service.restart", ["contoso-dev-app"])
    assert w.ops.worker().drain().errors == 1 and _boom_logged(caplog)
    with engine.connect() as conn:
        state = conn.execute(
            select(target_table.c.state).where(target_table.c.change_id == c2.id)
        ).scalar_one()
        ledger = conn.execute(
            select(call_table.c.outcome).where(call_table.c.change_id == c2.id)
        ).scalar_one()
    assert state == "calling" and ledger == "calling"
    assert w.audit.verify().ok


def test_f5_every_transition_and_call_audited_and_no_secret_in_any_row(
    engine: Engine, tmp_path: Path
) -> None:
    ents, rels = small_estate()
    sim = sim_for(ents, rels)
    leaky = Adapters(**{**sim_adapters(sim).__dict__, "rmm": _LeakyRmm(sim.rmm)})
    w = build(engine, tmp_path, adapters=leaky)
    sim.faults.add(FaultRule(category="identity", kind="timeout", times=1))
    changes = [
        enqueue(w, "service.restart", ["contoso-dev-app"]),  # fails, detail carries the canary
        enqueue(w, "identity.disable", ["jdoe"]),  # unknown -> read back
    ]
    w.ops.journal.create(
        action="service.restart",
        targets=["contoso-dev-app"],
        params={},
        reason=f"token {CANARY} pasted by mistake",
        requester="T:U",
        source="person",
    )
    w.ops.drain()
    rows = list(w.audit.iter_rows())
    by_change: dict[str, list[str]] = {}
    for r in rows:
        if r.kind.startswith("change.") and r.kind not in (
            "change.target",
            "change.lease_taken_over",
        ):
            by_change.setdefault(r.change_id or "", []).append(r.kind.removeprefix("change."))
    for c in changes:
        path = by_change[str(c.id)]
        assert path[0] == "proposed"
        for a, b in itertools.pairwise(path):
            assert b in TRANSITIONS[a], (a, b)  # every state change has its row, in order
        assert path[-1] == w.ops.journal.get(c.id).state
    calls = {
        r.body["idempotency_key"]: r.body["outcome"] for r in rows if r.kind == "integration.call"
    }
    with engine.connect() as conn:
        ledger = {
            k: o
            for k, o in conn.execute(select(call_table.c.idempotency_key, call_table.c.outcome))
        }
        # What the executor wrote into the journal (the reason is the requester's own text).
        journal_text = str(conn.execute(select(journal_table.c.result)).all())
        target_text = str(conn.execute(select(target_table)).all())
        ledger_text = str(conn.execute(select(call_table)).all())
    assert ledger and calls == ledger  # every integration call has its audit row
    buf = io.StringIO()
    w.audit.export_jsonl(buf)
    for text in (buf.getvalue(), journal_text, target_text, ledger_text):
        assert CANARY not in text
    assert "HTTP 502" in target_text  # the error itself is kept, only the secret is not


def test_drift_shows_in_twin_on_next_sync_and_stale_plan_refused(
    engine: Engine, tmp_path: Path
) -> None:
    w = build(engine, tmp_path)
    assert w.sim is not None
    sim = w.sim

    def sync() -> None:
        batch = rmm_inventory(sim.rmm, known=known_ids(w.ops.graph.entities()))
        w.ops.store.apply(batch.to_ingest(full_sync=False))

    sync()
    c = enqueue(w, "host.reboot", ["contoso-ny-web-02"])
    sync()  # nothing changed out there: the plan stays fresh
    assert w.ops.is_stale(w.ops.journal.get(c.id)) == []
    sim.drift.stop_service("dev-web-02", "contoso-portal")  # someone acts by hand
    sync()
    host = w.ops.graph.get("host:contoso-ny-web-02")
    assert host.attrs["services"]["contoso-portal"] == "stopped"  # the twin shows it
    assert "host:contoso-ny-web-02" in w.ops.is_stale(w.ops.journal.get(c.id))
    [report] = w.ops.drain()
    assert report.final_state == "escalated"
    assert "changed since rehearsal" in report.message
    assert sim.effects("rmm", "reboot") == 0
