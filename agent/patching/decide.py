"""What policy says about a client plan's hosts: the one look a cycle takes before it starts.

Each host is rehearsed against one caught-up twin and decided by the operator's policy, with the
journal, flags and open incidents read once for the whole plan
(:meth:`agent.service.Operations.policy_inputs`). The hourly cap on auto actions is not asked:
the cycle carries its own failure budget. :func:`approve_plan` turns those decisions into the
plan's one card and asks a person at most once: for the hosts policy wants consent for, and those
that drifted in the twin since the plan was made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.patching.report import HostOutcome
from agent.patching.stages import ClientPlan, StagedHost, plan_drift
from agent.service import ChangeRequest, Operations
from twin.plan import Plan, rehearse

__all__ = ["HostDecisions", "PlanApproval", "approve_plan", "decide_hosts"]


@dataclass
class HostDecisions:
    """Hosts policy lets run, refuses, or wants a person for."""

    auto: list[StagedHost] = field(default_factory=list)
    denied: list[tuple[StagedHost, str]] = field(default_factory=list)
    exceptions: list[StagedHost] = field(default_factory=list)
    """Hosts needing consent: the production exceptions on the plan's card."""
    violations: int = 0
    """Auto-approved hosts whose rehearsal failed a deny invariant (must stay 0)."""


def decide_hosts(
    ops: Operations, hosts: list[StagedHost], *, reason: str, requester: str, now: datetime
) -> HostDecisions:
    """Rehearse ``patch.apply`` on each host and ask policy; nothing is proposed or run."""
    out = HostDecisions()
    req = ChangeRequest(action="patch.apply", targets=[], params={}, reason=reason,
                        requester=requester, source="signal")  # fmt: skip
    rehearsed: list[tuple[StagedHost, Plan]] = []
    graph = ops.graph  # caught up once: the whole plan is rehearsed against one twin
    for h in hosts:
        params = {"patch_ids": list(h.patch_ids), "reboot": h.reboot}
        try:
            rehearsed.append((h, rehearse(graph, req.action, [h.host_id], params, now=now)))
        except (LookupError, ValueError) as exc:
            out.denied.append((h, f"rehearsal failed: {exc}"))
    inputs = ops.policy_inputs(req, [p for _, p in rehearsed])
    for (h, plan), pin in zip(rehearsed, inputs, strict=True):
        decision = ops.policy.decide(pin)
        if decision.outcome == "auto":
            out.auto.append(h)
            out.violations += bool(plan.invariant_summary()["deny"])
        elif decision.outcome == "deny":
            out.denied.append((h, "; ".join(decision.reasons.values()) or "refused by policy"))
        else:
            out.exceptions.append(h)
    return out


@dataclass(frozen=True)
class PlanApproval:
    """What the one look at a client's plan came to."""

    card: dict[str, Any]
    """The plan's card: counts, stages, a sample of hosts, the exceptions and any drift."""
    granted: bool
    """Whether the card was approved (True when no host needed a person)."""
    asked: bool
    """Whether a person was asked (some host needed consent or drifted)."""
    held: list[tuple[StagedHost, HostOutcome, str]]
    """Hosts held out of the cycle (denied, or consent not given), with the outcome and why."""
    violations: int
    """Auto-approved hosts whose rehearsal failed a deny invariant (must stay 0)."""


def approve_plan(
    ops: Operations,
    plan: ClientPlan,
    cycle_id: str,
    *,
    requester: str,
    now: datetime,
    approve: Callable[[dict[str, Any]], bool] | None,
) -> PlanApproval:
    """Ask policy about every host of ``plan`` once, and ``approve`` (a person) at most once.

    ``approve`` is shown the card when any host needs consent; ``None`` means nobody answers,
    so those hosts wait (unknown is not safe).
    """
    d = decide_hosts(ops, plan.hosts, reason=f"patch cycle {cycle_id}", requester=requester,
                     now=now)  # fmt: skip
    held: list[tuple[StagedHost, HostOutcome, str]] = [(h, "denied", why) for h, why in d.denied]
    # G4: a plan made before its window whose hosts drifted since goes back to a person
    drift = plan_drift(ops.graph, plan)
    exceptions = d.exceptions + [h for h in d.auto if h.host_id in drift]
    card = plan.card(exceptions=[h.name for h in exceptions])
    card["cycle_id"] = cycle_id
    if drift:
        names = {h.host_id: h.name for h in plan.hosts}
        card["drifted"] = {names[k]: v for k, v in sorted(drift.items())}
    granted = True
    if exceptions:
        granted = approve is not None and approve(card)
        if not granted:
            for h in exceptions:
                why = "; ".join(drift.get(h.host_id, []))
                why = f" (the twin drifted since planning: {why})" if why else ""
                held.append((h, "awaiting_consent", "the cycle's card was not approved" + why))
    return PlanApproval(card, granted, bool(exceptions), held, d.violations)
