"""A request replayed after a crash (a Slack event the inbox delivers again) finds its change."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from agent.chat import Agent, offline_model
from agent.execution import DuplicateRequest
from agent.service import ChangeRequest
from tests.agent.ops_world import ANA, OpsWorld, make_world


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> OpsWorld:
    return make_world(engine, tmp_path)


def _restart(key: str | None, target: str = "contoso-dev-app") -> ChangeRequest:
    return ChangeRequest(
        action="service.restart",
        targets=[target],
        params={},
        reason="test",
        requester=ANA,
        request_key=key,
    )


def test_same_request_key_returns_the_recorded_change(world: OpsWorld) -> None:
    first = world.ops.propose(_restart("slack:Ev1:0"))
    again = world.ops.propose(_restart("slack:Ev1:0"))
    assert first.change is not None and again.change is not None
    assert again.change.id == first.change.id
    assert again.status == first.status == "auto"
    assert "already recorded" in again.message
    assert again.decision is not None and again.decision.policy_hash == world.ops.policy.hash
    assert len(world.ops.journal.list(limit=10)) == 1
    # a different key, or none, is a new request
    other = world.ops.propose(_restart("slack:Ev2:0"))
    plain = world.ops.propose(_restart(None))
    assert len({c.id for c in (first.change, other.change, plain.change) if c}) == 3
    world.ops.drain()
    assert world.sim.effects("rmm", "run_script") == 3


def test_journal_refuses_a_second_change_for_one_key(world: OpsWorld) -> None:
    j = world.ops.journal
    kw = dict(
        action="service.restart",
        targets=["x"],
        params={},
        reason="r",
        requester=ANA,
        source="person",
    )
    made = j.create(request_key="k1", **kw)  # type: ignore[arg-type]
    with pytest.raises(DuplicateRequest) as err:
        j.create(request_key="k1", **kw)  # type: ignore[arg-type]
    assert err.value.change.id == made.id
    assert j.by_request_key("k1") is not None and j.by_request_key("k2") is None


def test_interrupted_before_a_decision_is_said_not_guessed(world: OpsWorld) -> None:
    j = world.ops.journal
    stuck = j.create(
        action="service.restart",
        targets=["service:contoso-dev-app"],
        params={},
        reason="r",
        requester=ANA,
        source="person",
        request_key="slack:Ev9:0",
    )
    res = world.ops.propose(_restart("slack:Ev9:0"))
    assert res.status == "error" and res.change is not None and res.change.id == stuck.id
    assert "never decided" in res.message
    assert len(j.list(limit=10)) == 1


def test_agent_turn_replayed_with_its_event_id_proposes_once(world: OpsWorld) -> None:
    agent = Agent(world.ops, offline_model(lambda: world.ops.graph), redactor=world.audit._redactor)
    ask = dict(requester=ANA, channel="C1", thread_ts="5.1", request_id="slack:EvA")
    first = agent.ask("restart contoso-dev-app", **ask)  # type: ignore[arg-type]
    second = agent.ask("restart contoso-dev-app", **ask)  # type: ignore[arg-type]
    assert [c.id for c in first.proposals] == [c.id for c in second.proposals]
    assert len(world.ops.journal.list(limit=10)) == 1
    # without an event id (the CLI), asking twice is asking twice
    agent.ask("restart contoso-dev-app", requester=ANA)
    assert len(world.ops.journal.list(limit=10)) == 2


def test_change_left_undecided_by_a_stopped_process_is_closed_later(world: OpsWorld) -> None:
    from datetime import timedelta

    from agent.execution import INTERRUPTED, UNDECIDED_AFTER, close_undecided

    j = world.ops.journal
    stuck = j.create(
        action="service.restart",
        targets=["service:contoso-dev-app"],
        params={},
        reason="r",
        requester=ANA,
        source="person",
    )
    now = stuck.updated_at
    assert close_undecided(j, now + UNDECIDED_AFTER - timedelta(seconds=1)) == []
    (closed,) = close_undecided(j, now + UNDECIDED_AFTER + timedelta(seconds=1))
    assert closed.id == stuck.id and closed.state == "denied"
    assert (closed.result or {})["message"] == INTERRUPTED
    # a second pass (another replica) finds nothing left; decided changes are never touched
    assert close_undecided(j, now + 2 * UNDECIDED_AFTER) == []
    decided = world.ops.propose(_restart("slack:EvZ:0"))
    assert decided.change is not None
    assert close_undecided(j, decided.change.updated_at + 2 * UNDECIDED_AFTER) == []
    assert j.get(decided.change.id).state != "denied"
    kinds = [r.kind for r in world.audit.query(change_id=str(stuck.id), limit=10)]
    assert "change.denied" in kinds
