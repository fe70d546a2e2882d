"""The staged cycle's audit: one row per integration call and per job result (RELIABILITY F5).

The stage rows stay summaries (counts and a tally of calls); each change asked of the RMM or the
PSA has its own ``integration.call`` row (host, job id, idempotency key, outcome) and each job
its ``patch_cycle.job`` row when it ends, and the chain still verifies.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from adapters.sim import FaultRule
from agent.patching import CALL_KIND, FINISHED_KIND, JOB_KIND, STAGE_KIND, StageSettings
from tests.agent.autonomy.test_staged_cycle import CLIENT, World, _single_patch_service_host, world

__all__ = ["world"]  # the fixture, re-exported for pytest

_CHANGES = {"apply_patches", "run_script", "reject_patch", "create_ticket"}


def _rows(w: World, kind: str) -> list[Any]:
    return [r for r in w.audit.iter_rows() if r.kind == kind]


def _sim_changes(w: World) -> list[Any]:
    return [c for c in w.sim.calls.store.records() if c.method in _CHANGES]


def test_f5_each_staged_cycle_call_has_its_own_audit_row_and_the_chain_verifies(
    world: World,
) -> None:
    world.sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="partial_failure",
                                   probability=0.03))  # fmt: skip
    plans = world.plan()
    report = world.cycle().run(plans)[CLIENT]
    calls = _rows(world, CALL_KIND)
    sim = [c for c in _sim_changes(world) if c.method == "apply_patches"]
    assert sim, "the cycle submitted no job"
    # every job the RMM received has exactly one row, keyed as it was sent, and no row more
    keys = Counter(
        r.body["idempotency_key"] for r in calls if r.body["capability"] == "rmm.apply_patches"
    )
    assert keys == Counter(c.idempotency_key for c in sim)
    for r in calls:
        assert r.body["outcome"] == "submitted" and r.body["job_id"] and r.body["target"]
        assert r.body["cycle_id"] == report.cycle_id and r.change_id is None
    # every submitted job ends in a job row with its state; a host's last one is its outcome
    jobs = {r.body["job_id"]: r for r in _rows(world, JOB_KIND)}
    assert set(jobs) == {r.body["job_id"] for r in calls}
    last: dict[str, str] = {}
    for r in _rows(world, JOB_KIND):
        last[r.body["target"]] = r.body["outcome"]
    for host, res in report.results.items():
        if res.outcome == "patched":
            assert last[host] == "succeeded"
        if res.outcome in ("failed", "escalated"):
            assert last[host] != "succeeded"
    # the stage rows are summaries: a tally, not a list of every call
    stages = _rows(world, STAGE_KIND)
    assert stages and all(isinstance(s.body["calls"], dict) for s in stages)
    assert sum(s.body["calls"].get("rmm.apply_patches:submitted", 0) for s in stages) == len(sim)
    # rows come in order: each call before its stage's summary, the summary before the end
    seqs = [r.seq for r in world.audit.iter_rows() if r.kind in (CALL_KIND, STAGE_KIND)]
    kinds = [r.kind for r in world.audit.iter_rows() if r.kind in (CALL_KIND, STAGE_KIND)]
    assert seqs == sorted(seqs) and kinds[-1] == STAGE_KIND
    assert _rows(world, FINISHED_KIND)[-1].seq > stages[-1].seq
    assert world.audit.verify().ok


def test_f5_refused_jobs_rejections_and_uninstalls_are_audited_one_by_one(world: World) -> None:
    plan = world.plan()[CLIENT]
    host_id, service, kb = _single_patch_service_host(world, plan)
    g = world.ops.graph
    e = g.get(host_id)
    g.put_entity(e.model_copy(update={"attrs": {**e.attrs, "patch_ring": "canary"}}))
    plans = world.plan(settings=StageSettings(canary_max_blast=1000))
    world.sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="bad_patch",
                                   patch_id=kb, service=service))  # fmt: skip
    world.sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="error", times=2))
    report = world.cycle().run(plans)[CLIENT]
    assert kb in report.quarantined
    calls = _rows(world, CALL_KIND)
    by = Counter((r.body["capability"], r.body["outcome"]) for r in calls)
    assert by[("rmm.apply_patches", "refused")] == 2
    refused = [r for r in calls if r.body["outcome"] == "refused"]
    assert all(r.body["detail"] and r.body["idempotency_key"] and not r.body["job_id"]
               for r in refused)  # fmt: skip
    assert by[("rmm.reject_patch", "succeeded")] == 1
    [reject] = [r for r in calls if r.body["capability"] == "rmm.reject_patch"]
    assert reject.body["patch_ids"] == [kb]
    uninstalls = [r for r in calls if r.body["capability"] == "rmm.run_script"]
    assert uninstalls and host_id in {r.body["target"] for r in uninstalls}
    sim_scripts = [c for c in _sim_changes(world) if c.method == "run_script"]
    assert {r.body["idempotency_key"] for r in uninstalls} == {
        c.idempotency_key for c in sim_scripts
    }
    undone = [r for r in _rows(world, JOB_KIND) if r.body["kind"] == "uninstall"]
    assert {r.body["target"] for r in undone} == {r.body["target"] for r in uninstalls}
    assert world.audit.verify().ok
