"""The staged patch cycle on a virtual clock, with injected trouble (RELIABILITY G4, E4).

Every test runs real job times (about 7 minutes a host) on a :class:`ManualClock`, so an hour of
jobs takes no wall time and nothing here asserts wall-clock limits.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.contracts import contract_method_names
from adapters.sim import FaultRule, ManualClock, SimEstate, SimTimings
from agent.approval import Guardrails
from agent.patching import (
    ClientPlan,
    CycleEvent,
    StagedCycle,
    StagedSettings,
    StageSettings,
    plan_stages,
    window_close,
)
from agent.service import ChangeRequest, Operations
from agent.wiring import build_core, sim_adapters
from twin.db import make_engine, metadata
from twin.ingest import IngestBatch
from twin.model import EdgeType
from twin.plan import rehearse
from twin.sample import generate_estate
from twin.store import TwinStore

ROOT = Path(__file__).resolve().parents[3]
SAT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # before contoso's Sat 22:00 (New York) window
CLIENT = "contoso"


class World:
    def __init__(self, tmp: Path, endpoints: int = 400) -> None:
        self.clock = ManualClock(SAT)
        engine = make_engine(f"sqlite:///{tmp / 'cycle.db'}")
        metadata.create_all(engine)
        store = TwinStore(engine)
        store.create()
        est = generate_estate(endpoints=endpoints, now=SAT - timedelta(hours=1))
        store.apply(IngestBatch(source="sample", entities=list(est.entities),
                                relations=list(est.relations)))  # fmt: skip
        graph = store.load()
        self.sim = SimEstate.from_twin(list(graph.entities()), list(graph.relations()),
                                       clock=self.clock, timings=SimTimings())  # fmt: skip
        from agent.policy import load_policy

        core = build_core(
            engine=engine, store=store, graph=graph, adapters=sim_adapters(self.sim),
            policy=load_policy(ROOT / "examples" / "policy_autonomy.yaml"),
            members={"approvers": ["U0BEN"], "admins": ["U0BEN"]}, team_id="T0CYC",
            checkpoint=tmp / "audit.checkpoint", now=self.clock.now,
            guardrails=Guardrails(max_auto_per_hour=5, breaker_failures=2),
            poll_interval=0.0, sleep=self.clock.sleep,
        )  # fmt: skip
        self.ops: Operations = core.ops
        self.audit = core.audit
        self.events: list[CycleEvent] = []
        self.cards: list[dict[str, Any]] = []

    def plan(self, **kw: Any) -> dict[str, ClientPlan]:
        return plan_stages(self.ops.graph, at=self.clock.now(), client=CLIENT, **kw)

    def cycle(self, approve: bool | None = True, rmm: Any = None, **kw: Any) -> StagedCycle:
        def ok(card: dict[str, Any]) -> bool:
            self.cards.append(card)
            return bool(approve)

        return StagedCycle(self.ops, rmm=rmm or self.sim.rmm, psa=self.sim.psa, clock=self.clock,
                           settings=StagedSettings(**kw), progress=self.events.append,
                           approve=None if approve is None else ok)  # fmt: skip

    def patch_calls(self) -> list[Any]:
        return [c for c in self.sim.calls.store.records()
                if c.method == "apply_patches" and c.outcome == "ok"]  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_stages_grow_canary_is_low_blast_and_at_most_eight(world: World) -> None:
    g = world.ops.graph
    plan = world.plan()[CLIENT]
    # the host with the most dependents, put in the canary ring, must not be a canary
    big = max(plan.hosts, key=lambda h: h.blast)
    assert big.blast > 3
    e = g.get(big.host_id)
    g.put_entity(e.model_copy(update={"attrs": {**e.attrs, "patch_ring": "canary"}}))
    plan = world.plan()[CLIENT]
    names = [s.name for s in plan.stages]
    assert names[0] == "canary" and names[1] == "early" and len(names) <= 8
    assert all(h.blast <= 3 for h in plan.stages[0].hosts)
    assert big.host_id in {h.host_id for h in plan.stages[1].hosts}
    broad = [len(s.hosts) for s in plan.stages if s.name.startswith("broad")]
    assert broad == sorted(broad) and len(broad) >= 3
    assert len({h.host_id for h in plan.hosts}) == len(plan.hosts)


def test_cycle_waits_for_the_window_and_ends_in_time(world: World) -> None:
    plans = world.plan()
    plan = plans[CLIENT]
    assert plan.opens_at > SAT and plan.closes_at is not None
    cycle = world.cycle()
    report = cycle.run(plans)[CLIENT]
    first = min(c.at for c in world.patch_calls())
    assert first >= plan.opens_at  # nothing ran before the window opened
    assert not report.unaccounted([h.host_id for h in plan.hosts])
    assert cycle.stats()[CLIENT]["hours_from_opening"] <= 2.5
    assert report.consent_requests <= 1 and report.invariant_violations == 0
    # about one post per stage, not one per host
    assert cycle.stats()[CLIENT]["slack_posts"] <= cycle.stats()[CLIENT]["stages"] + 3


def test_redundancy_budget_never_exceeded(world: World) -> None:
    plans = world.plan(settings=StageSettings(redundancy=0.0))  # budget: one host per group
    plan = plans[CLIENT]
    world.cycle().run(plans)
    device_groups = {h.device_id: h.groups for h in plan.hosts}
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for job in world.sim._core.jobs.values():
        if job.kind == "patch" and job.started_at and job.finished_at:
            for g in device_groups.get(job.target, ()):
                spans.setdefault(g, []).append((job.started_at, job.finished_at))
    assert any(len(v) > 1 for v in spans.values()), "no group with two patched hosts"
    for g, ss in spans.items():
        ss.sort()
        for (_, end), (start, _) in itertools.pairwise(ss):
            assert start >= end, f"two hosts of {g} down at once"


def _single_patch_service_host(w: World, plan: ClientPlan) -> tuple[str, str, str]:
    g = w.ops.graph
    for h in plan.hosts:
        if len(h.patch_ids) == 1:
            for t, s in g.in_edges(h.host_id):
                if t is EdgeType.RUNS_ON:
                    return h.host_id, s.split(":", 1)[1], h.patch_ids[0]
    raise AssertionError("no service host with one pending patch")


def test_bad_patch_in_canary_quarantined_rejected_and_stopped_before_next_stage(
    world: World,
) -> None:
    plan = world.plan()[CLIENT]
    host_id, service, kb = _single_patch_service_host(world, plan)
    g = world.ops.graph
    e = g.get(host_id)
    g.put_entity(e.model_copy(update={"attrs": {**e.attrs, "patch_ring": "canary"}}))
    plans = world.plan(settings=StageSettings(canary_max_blast=1000))
    assert host_id in {h.host_id for h in plans[CLIENT].stages[0].hosts}
    world.sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="bad_patch",
                                   patch_id=kb, service=service))  # fmt: skip
    report = world.cycle().run(plans)[CLIENT]
    assert kb in report.quarantined and "rejected in the RMM" in report.quarantined[kb]
    assert kb in world.sim._core.rejected_patches
    quarantined_at = next(e for e in world.events if e.kind == "quarantined")
    idx = world.events.index(quarantined_at)
    assert [e.data["number"] for e in world.events[:idx] if e.kind == "stage"] == [1]
    # after the canary, no job carried the patch anywhere
    canary = {h.device_id for h in plans[CLIENT].stages[0].hosts}
    later = [c for c in world.patch_calls() if c.args["device_id"] not in canary]
    assert later and all(kb not in c.args["patch_ids"] for c in later)
    assert report.results[host_id].outcome == "rolled_back"
    assert world.sim.service_health(service).status == "running"


def test_offline_hosts_are_deferred_not_failed(world: World) -> None:
    plans = world.plan()
    hosts = plans[CLIENT].hosts
    off = [h for h in hosts[::15]]
    for h in off:
        world.sim.drift.take_offline(h.device_id)
    report = world.cycle().run(plans)[CLIENT]
    assert not report.halted
    assert {report.results[h.host_id].outcome for h in off} <= {"deferred_offline", "denied",
                                                                 "awaiting_consent"}  # fmt: skip
    offline = {h.device_id for h in off}
    assert not [c for c in world.patch_calls() if c.args["device_id"] in offline]


def test_failures_over_the_background_rate_halt_before_the_next_stage(world: World) -> None:
    plans = world.plan()
    world.sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="partial_failure",
                                   probability=0.5))  # fmt: skip
    report = world.cycle().run(plans)[CLIENT]
    assert "above the background rate" in report.halted
    stages = [e for e in world.events if e.kind == "stage"]
    assert len(stages) <= 2
    later = {h.device_id for s in plans[CLIENT].stages[2:] for h in s.hosts}
    assert not [c for c in world.patch_calls() if c.args["device_id"] in later]
    assert "halted" in report.counts()


def test_background_failures_do_not_halt(world: World) -> None:
    plans = world.plan()
    world.sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="partial_failure",
                                   probability=0.03))  # fmt: skip
    report = world.cycle().run(plans)[CLIENT]
    assert not report.halted
    assert report.counts().get("patched", 0) > 0.85 * report.planned


def test_window_closing_mid_cycle_defers_with_reason(world: World) -> None:
    plans = world.plan()
    p = plans[CLIENT]
    plans = {CLIENT: replace(p, closes_at=p.opens_at + timedelta(minutes=75))}
    cycle = world.cycle()
    report = cycle.run(plans)[CLIENT]
    deferred = [r for r in report.results.values() if r.outcome == "deferred_window"]
    assert deferred and all("window closes" in r.detail for r in deferred)
    # deferred to the next opening: Sunday 22:00 in New York (the window is Sat and Sun nights)
    assert all("2026-11-29T22:00:00-05:00" in r.detail for r in deferred)
    close = p.opens_at + timedelta(minutes=75)
    need = timedelta(seconds=p.settings.p95_job_seconds + p.settings.rollback_seconds)
    assert all(c.at + need <= close for c in world.patch_calls())
    assert not report.unaccounted([h.host_id for h in p.hosts])


class ContractOnly:
    """The sim's RMM with only :class:`RmmContract`: no bulk job reads, no patch rejection."""

    def __init__(self, rmm: Any) -> None:
        for name in contract_method_names("rmm"):
            setattr(self, name, getattr(rmm, name))


@pytest.mark.parametrize("bulk", [True, False])
def test_rmm_budget_and_in_flight_limit_hold(world: World, bulk: bool) -> None:
    plans = world.plan()
    rmm = None if bulk else ContractOnly(world.sim.rmm)
    cycle = world.cycle(rmm=rmm, rmm_per_minute=20, max_in_flight=15)
    report = cycle.run(plans)[CLIENT]
    reads = ("job_status", "jobs_status")
    polls = [c for c in world.sim.calls.store.records() if c.method in reads]
    assert {c.method for c in polls} == {"jobs_status" if bulk else "job_status"}
    assert cycle.peak_in_flight <= 15
    per_minute: dict[datetime, int] = {}
    calls = [c for c in world.sim.calls.store.records() if c.category == "rmm"]
    for c in calls:
        per_minute[c.at.replace(second=0)] = per_minute.get(c.at.replace(second=0), 0) + 1
    # the budget is a sliding minute; the few forced health reads may add one or two
    assert max(per_minute.values()) <= 22
    assert not report.unaccounted([h.host_id for h in plans[CLIENT].hosts])


def test_one_card_per_client_and_unapproved_exceptions_wait(world: World) -> None:
    plans = world.plan()
    report = world.cycle(approve=False).run(plans)[CLIENT]
    assert len(world.cards) == 1 and report.consent_requests == 1
    card = world.cards[0]
    assert card["production_exceptions"] and card["stages"] and card["sample"]
    waiting = [h for h, r in report.results.items() if r.outcome == "awaiting_consent"]
    assert sorted(world.ops.graph.get(h).name for h in waiting) == card["production_exceptions"]
    assert report.counts().get("patched", 0) > len(waiting)
    # the hourly cap on auto actions (5 here) does not apply: the cycle has its own budget
    assert report.counts()["patched"] > 5


def test_nobody_to_ask_means_exceptions_wait(world: World) -> None:
    report = world.cycle(approve=None).run(world.plan())[CLIENT]
    assert report.counts().get("awaiting_consent", 0) >= 1


def test_policy_inputs_in_bulk_equal_one_by_one(world: World) -> None:
    plan = world.plan()[CLIENT]
    req = ChangeRequest(action="patch.apply", targets=[], params={}, reason="t",
                        requester="signal:patch-cycle", source="signal")  # fmt: skip
    plans = [
        rehearse(world.ops.graph, "patch.apply", [h.host_id],
                 {"patch_ids": list(h.patch_ids), "reboot": h.reboot}, now=SAT)
        for h in plan.hosts[:12]
    ]  # fmt: skip
    bulk = world.ops.policy_inputs(req, plans)
    assert [b.to_cel() for b in bulk] == [world.ops.policy_input(req, p).to_cel() for p in plans]


def test_window_close_overnight() -> None:
    win = {"days": ["sat"], "start": "22:00", "end": "04:00", "tz": "America/New_York"}
    at = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # Sat 23:00 in New York
    close = window_close(win, at)
    assert close is not None and close.isoformat() == "2026-11-29T04:00:00-05:00"
    assert window_close(win, datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) is None
