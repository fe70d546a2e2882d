"""An :class:`Operations` over the small estate, the sim and the example policy (no Slack)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from adapters.sim import SimEstate, SimTimings, SystemClock
from agent.approval import Guardrails, RoleMap
from agent.audit import AuditLog
from agent.execution import Adapters
from agent.policy import load_policy, load_policy_text
from agent.service import ChangeRequest, Operations
from agent.wiring import build_core, sim_adapters
from tests.estate import small_estate
from twin.ingest import IngestBatch
from twin.store import TwinStore

ROOT = Path(__file__).resolve().parents[2]
TEAM = "T0TEST"
ANA, BEN, CHLOE, DAN = (f"{TEAM}:U0ANA", f"{TEAM}:U0BEN", f"{TEAM}:U0CHLOE", f"{TEAM}:U0DAN")


@dataclass
class OpsWorld:
    ops: Operations
    sim: SimEstate
    audit: AuditLog
    roles: RoleMap

    def request(
        self,
        action: str,
        targets: list[str],
        params: dict[str, Any] | None = None,
        requester: str = ANA,
        break_glass: str | None = None,
    ) -> Any:
        return self.ops.propose(
            ChangeRequest(
                action=action,
                targets=targets,
                params=params or {},
                reason="test",
                requester=requester,
                break_glass=break_glass,
            )
        )


def make_world(
    engine: Engine,
    tmp: Path,
    *,
    policy_text: str | None = None,
    adapters: Adapters | None = None,
    guardrails: Guardrails | None = None,
    now: Callable[[], datetime] | None = None,
) -> OpsWorld:
    store = TwinStore(engine)
    store.create()
    ents, rels = small_estate()
    store.apply(IngestBatch(source="test", entities=ents, relations=rels))
    graph = store.load()
    sim = SimEstate.from_twin(ents, rels, clock=SystemClock(), timings=SimTimings(scale=0))
    policy = (
        load_policy_text(policy_text)
        if policy_text
        else load_policy(ROOT / "examples" / "policy.yaml")
    )
    core = build_core(
        engine=engine,
        store=store,
        graph=graph,
        adapters=adapters or sim_adapters(sim),
        policy=policy,
        members={
            "approvers": ["U0BEN", "U0CHLOE", "U0DAN"],
            "admins": ["U0BEN"],
            "breakglass": ["U0DAN"],
        },
        team_id=TEAM,
        checkpoint=tmp / "audit.checkpoint",
        guardrails=guardrails,
        now=now,
        poll_interval=0.0,
        sleep=lambda s: None,
    )
    return OpsWorld(core.ops, sim, core.audit, core.roles)
