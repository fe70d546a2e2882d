"""What policy sees: the one :class:`~agent.policy.PolicyInput` for a request rehearsed as a
plan (roles, journal counts and history, freeze, the open incident on the targets), built for one
plan or for many of one request shape."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agent.execution import Change
from agent.incidents import Incident, IncidentBook
from agent.policy import Decision, PolicyInput, target_of
from agent.service.core import OperationsCore
from agent.service.records import ChangeRequest, break_glass_reason
from twin.graph import TwinGraph, UnknownEntity
from twin.plan import Plan

__all__ = ["PolicyInputs"]


def _aiops_attr(graph: TwinGraph, entity_id: str) -> dict[str, Any]:
    try:
        value = graph.get(entity_id).attrs.get("aiops")
    except UnknownEntity:
        return {}
    return value if isinstance(value, dict) else {}


class PolicyInputs(OperationsCore):
    """Policy's input for requests and their plans; policy asked again for a scheduled change."""

    def _policy_input(self, req: ChangeRequest, plan: Plan, change_id: int) -> PolicyInput:
        return self._policy_inputs(req, [plan], change_id)[0]

    def _policy_inputs(
        self, req: ChangeRequest, plans: list[Plan], change_id: int = 0
    ) -> list[PolicyInput]:
        """Inputs for plans of one request shape: what does not depend on the targets (journal
        counts and history, roles, flags) is read once, the rest per plan."""
        g = self.graph
        team, _, user = req.requester.partition(":")
        roles = sorted(self.roles.roles_for(team, user)) if req.source == "person" else ["signal"]
        now = self.now()
        since = now - timedelta(hours=24)
        counts = self.journal.counts(since)
        finished = sum(
            counts.get(s, 0) for s in ("reconciled", "rolled_back", "escalated", "verified")
        )
        bad = counts.get("rolled_back", 0) + counts.get("escalated", 0)
        history: dict[str, Any] = {}
        freeze = self.guards.flag("freeze") is not None
        book = IncidentBook(self.engine)
        open_by_entity: dict[str, list[Incident]] | None = None
        if len(plans) > 1:  # one read of the open incidents instead of one per target
            open_by_entity = {}
            for inc in book.all(open_only=True):
                open_by_entity.setdefault(inc.entity_id or "", []).append(inc)
        out = []
        for plan in plans:
            if plan.action not in history:
                history[plan.action] = self.journal.history(plan.action, exclude=change_id)
            targets = [target_of(g.get(tid)) for tid in plan.targets]
            out.append(
                PolicyInput.from_partial(
                    {
                        "action": plan.action,
                        "targets": targets,
                        "params": plan.params,
                        "tainted": list(plan.tainted),
                        "requester": {"id": req.requester, "roles": roles},
                        "channel": req.channel,
                        "source": req.source,
                        "blast_radius": plan.collateral_summary(),
                        "invariants": plan.invariant_summary(),
                        "history": history[plan.action],
                        "time": {
                            "freeze": freeze,
                            "hour": now.hour,
                            "weekday": ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
                                now.weekday()
                            ],
                            "in_maintenance_window": False,
                        },
                        "recent_failure_rate": (bad / finished) if finished else 0.0,
                        "break_glass": bool(req.break_glass),
                        "incident": self._incident_context(plan.targets, g, open_by_entity),
                    }
                )
            )
        return out

    def _incident_context(
        self,
        target_ids: list[str],
        graph: TwinGraph | None = None,
        open_by_entity: dict[str, list[Incident]] | None = None,
    ) -> dict[str, Any]:
        """``input.incident``: the most severe open incident on the targets, else their AIOps attr.

        The entity's ``aiops`` attribute (written by the signal loop) is the fallback so a rule
        still sees the cluster when the incident row has no labels or was already resolved.
        """
        rank = {"critical": 0, "high": 1, "warning": 2, "info": 3}
        g = graph or self.graph
        if open_by_entity is None:
            book = IncidentBook(self.engine)
            found = [i for tid in target_ids for i in book.open_for_entity(tid)]
        else:
            found = [i for tid in target_ids for i in open_by_entity.get(tid, [])]
        if found:
            inc = min(found, key=lambda i: (rank.get(i.severity, 4), -i.id))
            aiops = _aiops_attr(g, inc.entity_id or "")
            return {
                "open": True,
                "aiops_cluster": inc.cluster or str(aiops.get("cluster", "")),
                "suspected_cause": inc.suspected_cause or str(aiops.get("suspected_cause", "")),
                "severity": inc.severity,
                "repeats": max(inc.occurrences - 1, 0) + inc.flaps,
            }
        for tid in target_ids:
            aiops = _aiops_attr(g, tid)
            if aiops:
                return {
                    "aiops_cluster": str(aiops.get("cluster", "")),
                    "suspected_cause": str(aiops.get("suspected_cause", "")),
                }
        return {}

    def policy_inputs(self, req: ChangeRequest, plans: list[Plan]) -> list[PolicyInput]:
        """:meth:`policy_input` for many plans of one request shape (a patch cycle's hosts),
        with the journal, flags and open incidents read once; same inputs as one by one."""
        return self._policy_inputs(req, plans)

    def policy_input(self, req: ChangeRequest, plan: Plan, change_id: int = 0) -> PolicyInput:
        """The one input policy sees for ``req`` rehearsed as ``plan`` (for previews/explain)."""
        return self._policy_input(req, plan, change_id)

    def _reask(self, change: Change, plan: Plan) -> tuple[Decision, PolicyInput]:
        req = ChangeRequest(
            action=change.action,
            targets=list(plan.targets),
            params=change.params,
            reason=change.reason,
            requester=change.requester,
            source="signal" if change.source == "signal" else "person",
            channel=change.channel,
            thread_ts=change.thread_ts,
            break_glass=break_glass_reason(change),
            tainted=tuple(plan.tainted),
        )
        pin = self._policy_input(req, plan, change.id)
        return self.guards.apply(self.policy.decide(pin), change.action), pin
