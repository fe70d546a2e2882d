"""A small opshand world for the safety tests: who may request, planting untrusted text, agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from sqlalchemy import Engine

from agent.chat import Agent, offline_model
from tests.agent.ops_world import ANA, TEAM, OpsWorld, make_world
from twin.ingest import IngestBatch
from twin.model import Entity, NodeKind

EVE = f"{TEAM}:U0EVE"
"""A workspace member who holds no role: may ask questions, may not request changes."""


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> OpsWorld:
    w = make_world(engine, tmp_path)
    # Only Ana (and the admin) may request changes here, so Eve is "a requester without the right".
    w.roles.update(
        {"approvers": ["U0BEN", "U0CHLOE", "U0DAN"], "admins": ["U0BEN"], "requesters": ["U0ANA"]}
    )
    return w


def plant(w: OpsWorld, entity_id: str, **attrs: Any) -> None:
    """Write untrusted text into a twin entity's attributes (as an integration would)."""
    e = w.ops.graph.get(entity_id)
    changed = e.model_copy(update={"attrs": {**e.attrs, **attrs}})
    res = w.ops.store.apply(IngestBatch(source="test", entities=[changed]))
    assert not res.rejections, res.rejections


def add_ticket(w: OpsWorld, number: str, body: str) -> str:
    """A PSA ticket whose body is attacker-controlled."""
    eid = f"ticket:{number}"
    t = Entity(
        id=eid,
        kind=NodeKind.TICKET,
        name=number,
        source="test",
        source_ref=number,
        attrs={"client": "contoso", "title": "Printer offline", "body": body},
    )
    assert not w.ops.store.apply(IngestBatch(source="test", entities=[t])).rejections
    return eid


def agent(w: OpsWorld, model: BaseChatModel | None = None, **kw: Any) -> Agent:
    """An agent over the world (the offline model unless one is given)."""
    # The audit log's redactor: a secret registered for the audit is also kept from the model.
    return Agent(
        w.ops, model or offline_model(lambda: w.ops.graph), redactor=w.audit._redactor, **kw
    )


def total_effects(w: OpsWorld) -> int:
    """Every change any adapter made to the sim estate."""
    return sum(w.sim.calls.store.effects().values())


def refused_rows(w: OpsWorld) -> list[Any]:
    return w.audit.query(kind="agent.proposal_refused", limit=10_000)


__all__ = ["ANA", "EVE", "add_ticket", "agent", "plant", "refused_rows", "total_effects", "world"]
