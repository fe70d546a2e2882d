"""What policy says about a client plan's hosts: the one look a cycle takes before it starts.

Each host is rehearsed against one caught-up twin and decided by the operator's policy, with the
journal, flags and open incidents read once for the whole plan
(:meth:`agent.service.Operations.policy_inputs`). The hourly cap on auto actions is not asked:
the cycle carries its own failure budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agent.patching.stages import StagedHost
from agent.service import ChangeRequest, Operations
from twin.plan import Plan, rehearse

__all__ = ["HostDecisions", "decide_hosts"]


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
