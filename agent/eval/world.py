"""A world to run the agent in without Slack, and a scripted chat model (shipped test doubles).

:func:`build_world` wires the deterministic core the way ``bootstrap`` does (the agent package
may not import ``bot``): the sample estate in SQLite, sim adapters, the example policy, roles.
:class:`ScriptedChatModel` is a LangChain chat model that plays a script of tool calls and
answers (or a function of the messages), and records every prompt it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from adapters.sim import SimEstate, SimTimings, SystemClock
from agent.audit import AuditLog, Redactor
from agent.chat.offline import unwrap_data
from agent.policy import Policy, load_policy
from agent.service import ChangeRequest, Operations, ProposalResult
from agent.wiring import build_core, sim_adapters
from twin.db import make_engine, metadata
from twin.ingest import IngestBatch
from twin.model import Entity, NodeKind
from twin.sample import generate_estate
from twin.store import TwinStore

__all__ = ["DEFAULT_POLICY", "ROLES_TEAM", "USERS", "EvalWorld", "ScriptedChatModel", "build_world"]

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"
ROLES_TEAM = "T0EVAL"
USERS = {
    "oncall": "U0ONCALL",
    "approver": "U0APPR1",
    "admin": "U0ADMIN",
    "stranger": "U0EVE",
}
"""Who asks in a scenario; the stranger holds no role and may not request changes."""


@dataclass
class EvalWorld:
    """The deterministic core over the sample estate."""

    ops: Operations
    sim: SimEstate
    audit: AuditLog
    redactor: Redactor

    def user(self, who: str) -> str:
        """``team:user`` of a scenario role (``oncall``, ``approver``, ``admin``, ``stranger``)."""
        return f"{ROLES_TEAM}:{USERS[who]}"

    def propose(
        self, action: str, targets: list[str], params: dict[str, Any], *, who: str = "approver"
    ) -> ProposalResult:
        """Propose directly (set-up for status and approval questions)."""
        g = self.ops.graph
        return self.ops.propose(
            ChangeRequest(
                action=action,
                targets=[g.resolve(t).id for t in targets],
                params=params,
                reason="set-up",
                requester=self.user(who),
            )
        )

    def close(self) -> None:
        """Release the database."""
        self.ops.engine.dispose()


def build_world(
    folder: Path,
    *,
    plants: Sequence[tuple[str, dict[str, Any]]] = (),
    extra: Sequence[dict[str, Any]] = (),
    endpoints: int = 60,
    policy_file: Path = DEFAULT_POLICY,
    secrets: Sequence[str] = (),
) -> EvalWorld:
    """A world in ``folder``: sample estate with ``plants`` merged into entity attributes and
    ``extra`` entities (``{id, kind, name, attrs}``) added before the first load. A folder that
    already holds a seeded database (a copied template) is opened as it is."""
    engine = make_engine(f"sqlite:///{folder / 'eval.db'}")
    metadata.create_all(engine)
    store = TwinStore(engine)
    store.create()
    if store.meta()[1] == 0:
        _seed(store, plants, extra, endpoints)
    graph = store.load()
    sim = SimEstate.from_twin(
        list(graph.entities()),
        list(graph.relations()),
        clock=SystemClock(),
        timings=SimTimings(scale=0),
    )
    core = build_core(
        engine=engine,
        store=store,
        graph=graph,
        adapters=sim_adapters(sim),
        policy=_policy(policy_file),
        members={
            "admins": [USERS["admin"]],
            "approvers": [USERS["approver"], "U0APPR2", USERS["admin"]],
            "requesters": [USERS["oncall"], USERS["approver"]],
        },
        team_id=ROLES_TEAM,
        checkpoint=folder / "audit.checkpoint",
        redactor=Redactor(secrets),
        poll_interval=0.0,
        sleep=lambda s: None,
    )
    return EvalWorld(core.ops, sim, core.audit, core.redactor)


_POLICIES: dict[Path, Policy] = {}


def _policy(path: Path) -> Policy:
    """The compiled policy, once per file: compiling CEL is the slow part of opening a world."""
    if path not in _POLICIES:
        _POLICIES[path] = load_policy(path)
    return _POLICIES[path]


def _seed(
    store: TwinStore,
    plants: Sequence[tuple[str, dict[str, Any]]],
    extra: Sequence[dict[str, Any]],
    endpoints: int,
) -> None:
    estate = generate_estate(endpoints=endpoints)
    ents: dict[str, Entity] = {e.id: e for e in estate.entities}
    for eid, attrs in plants:
        if eid not in ents:
            raise ValueError(f"plant: no entity '{eid}' in the sample estate")
        ents[eid] = ents[eid].model_copy(update={"attrs": {**ents[eid].attrs, **attrs}})
    for raw in extra:
        ents[raw["id"]] = Entity(
            id=raw["id"],
            kind=NodeKind(raw["kind"]),
            name=raw["name"],
            source="eval",
            source_ref=raw["id"],
            attrs=dict(raw.get("attrs", {})),
        )
    res = store.apply(
        IngestBatch(source="sample", entities=list(ents.values()), relations=list(estate.relations))
    )
    if res.rejections:
        raise ValueError(f"eval estate rejected: {res.rejections[0]}")


Step = list[dict[str, Any]] | str | Callable[[list[BaseMessage]], Any]


class ScriptedChatModel(BaseChatModel):
    """A chat model that plays a script, for tests and the loop's mechanics.

    Each model call takes the next step: a list of tool calls (``{"name", "args"}``), a final
    answer (a string; :attr:`SUMMARY` answers with the tool results' statuses), or a function of
    the messages returning either. When the script runs out the last step repeats, so a script
    of one tool call loops forever (the caps must end it). Every prompt is kept in :attr:`seen`.
    """

    SUMMARY: ClassVar[str] = "__summary__"

    model_config = ConfigDict(arbitrary_types_allowed=True)
    script: list[Any]
    tokens_per_call: int = 0
    """Reported as usage; 0 reports none (the loop then estimates)."""
    fail_with: str | None = None
    """Raise this error message on every call (a provider outage)."""
    _step: int = PrivateAttr(default=0)
    _ids: int = PrivateAttr(default=0)
    _seen: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _bound: list[Any] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "opshand-scripted"

    @property
    def seen(self) -> list[list[BaseMessage]]:
        """Every list of messages the model was sent, in order."""
        return self._seen

    @property
    def bound_tools(self) -> list[Any]:
        """The tools the loop bound."""
        return self._bound

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Remember the tools; the script already says what to call."""
        self._bound = list(tools)
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._seen.append(list(messages))
        if self.fail_with is not None:
            raise RuntimeError(self.fail_with)
        step = self.script[min(self._step, len(self.script) - 1)]
        self._step += 1
        if callable(step):
            step = step(messages)
        usage = (
            {
                "input_tokens": self.tokens_per_call,
                "output_tokens": 0,
                "total_tokens": self.tokens_per_call,
            }
            if self.tokens_per_call
            else None
        )
        if isinstance(step, str):
            text = self._summary(messages) if step == self.SUMMARY else step
            msg = AIMessage(content=text, usage_metadata=usage)
        else:
            calls = []
            for c in step:
                self._ids += 1
                calls.append(
                    {"name": c["name"], "args": dict(c.get("args", {})), "id": f"s{self._ids}"}
                )
            msg = AIMessage(content="", tool_calls=calls, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=msg)])

    @staticmethod
    def _summary(messages: list[BaseMessage]) -> str:
        parts = []
        for m in messages:
            if isinstance(m, ToolMessage):
                try:
                    body = json.loads(unwrap_data(str(m.content)))
                except json.JSONDecodeError:
                    body = {"status": "unreadable"}
                parts.append(f"{body.get('status')}: {body.get('error') or ''}".strip(": "))
        return "Results: " + "; ".join(parts) if parts else "Nothing to report."
