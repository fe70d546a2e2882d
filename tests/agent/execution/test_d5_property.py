"""D5: a stateful property test over propose / edit / vote / expire / crash / retry.

Whatever the order, nothing reaches the estate without quorum on the change's current plan hash
(or an auto decision), and the audit chain verifies. One world is shared by all examples (each
example makes new changes on it) so 1,000 examples stay fast.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from adapters.sim import ManualClock, SimEstate, SimTimings
from agent.approval import Guardrails
from agent.execution import STEPS
from agent.service import ChangeRequest
from tests.agent.execution.harness import ANA, BEN, CHLOE, World, build
from tests.estate import small_estate
from tests.profiles import budget
from twin.db import make_engine

# 1,000 examples under the ``thorough`` profile, 300 routinely. Random votes alone reached the
# consented path too rarely for 300 (measured once: 357 examples, no change executed on
# consent); the ``approve`` rule below gives every change a real chance of a quorum on its current
# plan, and the last test still refuses a run in which no consented change executed.
EXAMPLES = budget(1000, routine=300)
_CHANGE_IN_KEY = re.compile(r"(?:^|:)CR-(\d+):")
HOSTS = ("contoso-ny-web-01", "contoso-ny-web-02", "contoso-ny-web-03")


class _Crash(BaseException):
    """The worker dies at a step boundary."""


@dataclass
class _Shared:
    world: World
    clock: ManualClock
    crash_at: list[str | None]
    checked: set[int]
    examples: int = 0
    consented: int = 0


_SHARED: list[_Shared] = []


def _shared() -> _Shared:
    if not _SHARED:
        # RAM-backed when available: the property is about logic, not about the disk.
        shm = Path("/dev/shm")
        tmp = Path(tempfile.mkdtemp(prefix="opshand-d5-", dir=shm if shm.is_dir() else None))
        clock = ManualClock()
        ents, rels = small_estate()
        sim = SimEstate.from_twin(ents, rels, clock=clock, timings=SimTimings(scale=0))
        crash_at: list[str | None] = [None]

        def hook(step: str) -> None:
            if step == crash_at[0]:
                crash_at[0] = None
                raise _Crash(step)

        engine = make_engine(f"sqlite:///{tmp / 'd5.db'}")
        # The guard rails are tested on their own (test_guardrails.py). Here the breaker, which
        # stays open once injected crashes trip it, and the hourly auto limit would turn every
        # later auto proposal into consent at random, leaving the auto path unexercised.
        unguarded = Guardrails(max_auto_per_hour=10**9, breaker_failures=10**9)
        world = build(
            engine,
            tmp,
            sim=sim,
            now=clock.now,
            step_hook=hook,
            checkpoint_every=0,
            guardrails=unguarded,
        )
        _SHARED.append(_Shared(world, clock, crash_at, set()))
    return _SHARED[0]


class ExecutionMachine(RuleBasedStateMachine):
    changes = Bundle("changes")

    def __init__(self) -> None:
        super().__init__()
        self.s = _shared()
        self.w = self.s.world
        self.s.examples += 1

    @rule(target=changes, host=st.sampled_from(HOSTS), requester=st.sampled_from([ANA, BEN]))
    def propose_reboot(self, host: str, requester: str) -> Any:
        res = self.w.ops.propose(
            ChangeRequest(
                action="host.reboot", targets=[host], params={}, reason="d5", requester=requester
            )
        )
        return res.change.id if res.change is not None else 0

    @rule(target=changes)
    def propose_auto(self) -> Any:
        res = self.w.ops.propose(
            ChangeRequest(
                action="service.restart",
                targets=["contoso-dev-app"],
                params={},
                reason="d5",
                requester=ANA,
            )
        )
        return res.change.id if res.change is not None else 0

    @rule(
        cid=changes,
        voter=st.sampled_from([ANA, BEN, CHLOE]),
        approve=st.booleans(),
        current=st.booleans(),
        payload=st.integers(0, 2),
    )
    def vote(self, cid: int, voter: str, approve: bool, current: bool, payload: int) -> None:
        if not cid:
            return
        change = self.w.ops.journal.get(cid)
        plan_hash = change.plan_hash if current and change.plan_hash else "0" * 64
        self.w.ops.vote(
            cid, voter, approve, plan_hash=plan_hash, payload_id=f"{cid}-{voter}-{payload}"
        )

    @rule(cid=changes)
    def approve(self, cid: int) -> None:
        """Every approver approves the current plan (the requester's own vote is refused)."""
        if not cid:
            return
        for voter in (BEN, CHLOE):
            change = self.w.ops.journal.get(cid)
            self.w.ops.vote(
                cid, voter, True, plan_hash=change.plan_hash or "", payload_id=f"{cid}-{voter}-ok"
            )

    @rule(cid=changes, n=st.integers(0, 10**6))
    def edit(self, cid: int, n: int) -> None:
        """The twin under the plan changes (drift, a sync, another change): the plan is stale."""
        if not cid:
            return
        change = self.w.ops.journal.get(cid)
        target = change.plan["targets"][0] if change.plan else None
        if target:
            self.w.ops.store.set_attrs(target, {"d5_note": n}, actor="d5", reason="edit")

    @rule(hours=st.integers(1, 3))
    def expire(self, hours: int) -> None:
        self.s.clock.advance(hours * 3600)
        self.w.ops.consent.expire()

    @rule(step=st.sampled_from([s for s in STEPS if s != "target_done"]))
    def crash(self, step: str) -> None:
        self.s.crash_at[0] = step
        with contextlib.suppress(_Crash):
            self.w.ops.drain()
        self.s.crash_at[0] = None

    @rule()
    def retry(self) -> None:
        """A restarted worker: the stalled leases have run out."""
        self.s.clock.advance(61)
        self.w.ops.drain()

    @invariant()
    def nothing_runs_without_quorum_on_current_hash(self) -> None:
        assert self.w.sim is not None
        for call in self.w.sim.calls.filter(outcome="ok"):
            # <installation>:CR-<id>:<nonce>:<target> (agent.execution.journal.idempotency_key)
            found = _CHANGE_IN_KEY.search(call.idempotency_key or "")
            if found is None:
                continue
            cid = int(found.group(1))
            if cid in self.s.checked:
                continue
            change = self.w.ops.journal.get(cid)
            assert change.decision is not None and change.plan_hash is not None
            if change.decision.get("outcome") != "auto":
                book = self.w.ops.consent
                approved = [r for r in book.for_change(str(cid)) if r.state == "approved"]
                assert approved, f"{change.ref} reached the estate without approval"
                req = approved[-1]
                assert req.plan_hash == change.plan_hash
                votes = [
                    v
                    for v in book.votes(req.id)
                    if v.vote == "approve"
                    and v.plan_hash == change.plan_hash
                    and f"{v.voter.team_id}:{v.voter.user_id}" != change.requester
                ]
                assert len(votes) >= req.quorum
                self.s.consented += 1
            self.s.checked.add(cid)

    def teardown(self) -> None:
        if self.s.examples % 250 == 0:
            assert self.w.audit.verify().ok


ExecutionMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestD5ExecutionProperty = ExecutionMachine.TestCase
# 1,000 stateful examples take minutes on a loaded 2-core host; pytest-timeout's default (300 s)
# would cut the run mid-example and Hypothesis would report the cut as a flaky failure.
TestD5ExecutionProperty.pytestmark = [pytest.mark.timeout(900)]


def test_d5_audit_chain_verifies_after_the_run() -> None:
    s = _shared()
    assert s.world.audit.verify().ok
    if s.examples:  # the machine ran first (same module): it really executed both kinds
        assert s.examples >= EXAMPLES
        assert s.consented > 0 and len(s.checked) > s.consented
