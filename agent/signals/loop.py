"""The signal loop: alert in -> incident -> runbook -> the deterministic change path -> ticket.

``SignalLoop.handle(signal)`` groups the signal into an incident (new, repeat, flap, resolve),
opens or closes its PSA ticket, and for a *new* incident lets the first matching runbook propose
exactly one change through :meth:`agent.service.Operations.propose` (``source="signal"``). From
there rehearsal, policy, consent, execution and reconciliation are the same as for a person's
request. When no runbook matches, an optional agent fallback
(``agent.signals.fallback.SignalAgent``,
on when settings allow it) may propose instead; the incident notes what it did, and a fallback
that proposes nothing or fails leaves the incident to a person. When a remediation finishes, the
incident records the outcome, its ticket gets a note and the thread gets a summary.

Alert text is untrusted data: labels and annotations stay on the incident's own record. AIOps
output (labels ``aiops_cluster`` and ``suspected_cause``) is believed only from a source configured
as trusted for it (``Signal.aiops_trusted``, set by the webhook from ``signals.sources.<name>.
aiops_trusted``): then it fills the incident's cluster and cause and is copied onto the twin entity
the signal points at (attribute ``aiops``, with its provenance: source, incident, time), so the
agent's twin tools and policy see it. From any other source nothing reaches the twin or policy;
see :meth:`SignalLoop.entity_context` for what policy can be given.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from adapters.signals import Signal
from agent.execution import Change
from agent.incidents import Disposition, Incident, IncidentBook
from agent.service import ChangeEvent, ChangeRequest, Operations, ProposalResult
from agent.signals.runbooks import RunbookMatch, RunbookSet, TemplateError, resolve_entity

__all__ = [
    "AgentAttempt",
    "AgentFallback",
    "IncidentNote",
    "Preview",
    "SignalLoop",
    "SignalOutcome",
    "preview",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(minutes=10)
"""Grouping window for signals no runbook claims."""

_MAX_ANSWER = 300  # the agent's answer in a note: enough to say why, short enough for a ticket


@dataclass(frozen=True, kw_only=True)
class AgentAttempt:
    """What the agent fallback did for one signal it was asked about."""

    answer: str
    """The agent's final answer (already redacted by the agent loop)."""
    change: Change | None = None
    """The one change it proposed, as recorded after the policy decision, if any."""
    decision: Literal["auto", "consent", "deny", "error"] | None = None
    """Policy's decision on ``change`` (``error`` when it could not be rehearsed or decided)."""
    refused: int = 0
    """Proposal attempts the tool guard refused (another action or target than allowed)."""


AgentFallback = Callable[[Signal, Incident], AgentAttempt | None]
"""Asked to propose for a signal no runbook matches; ``None`` means it did not ask the agent
(no entity to confine it to). The signal's text is untrusted data."""

_ENDINGS = frozenset({"reconciled", "rolled_back", "escalated", "rejected", "expired"})
"""Change states that end an incident's change (as the change events report them)."""

NoteKind = Literal["opened", "proposed", "finished", "resolved", "needs_person"]
Status = Literal["proposed", "grouped", "resolved", "no_runbook", "refused", "agent"]


@dataclass(frozen=True)
class IncidentNote:
    """A line for the incident's Slack thread (the bot posts it and records the thread)."""

    incident: Incident
    kind: NoteKind
    text: str


@dataclass(frozen=True)
class SignalOutcome:
    """What the loop did with one signal."""

    incident: Incident
    disposition: Disposition
    status: Status
    message: str
    runbook: str | None = None
    proposal: ProposalResult | None = None


class SignalLoop:
    """Signals in, routine remediation out, through the same deterministic core as people."""

    def __init__(
        self,
        ops: Operations,
        runbooks: RunbookSet,
        incidents: IncidentBook,
        *,
        agent: AgentFallback | None = None,
        notify: Callable[[IncidentNote], None] | None = None,
        attach_aiops: bool = True,
    ) -> None:
        self.ops = ops
        self.runbooks = runbooks
        self.incidents = incidents
        self.agent = agent
        self.notify = notify
        self.attach_aiops = attach_aiops
        self._lock = threading.Lock()
        self._end_lock = threading.Lock()
        ops.subscribers.append(self._on_change)

    # ------------------------------------------------------------------ intake
    def handle(self, signal: Signal) -> SignalOutcome:
        """Take one signal through the loop. Never raises for a bad signal: it is refused."""
        graph = self.ops.graph
        found = self.runbooks.find(signal, graph)
        match: RunbookMatch | None = None
        refusal = ""
        if found is not None:
            try:
                match = self.runbooks.instantiate(found[0], signal, found[1], graph)
            except TemplateError as exc:
                refusal = str(exc)
        entity = resolve_entity(graph, signal.entity_hint)
        key = match.dedupe_key if match else signal.fingerprint
        window = found[0].group_window if found else DEFAULT_WINDOW
        # One signal at a time per process; the incident row lock covers replicas.
        with self._lock:
            inc, disp = self.incidents.record(
                signal, dedupe_key=key, window=window, entity_id=entity.id if entity else None
            )
        if disp in ("repeat", "flap"):
            return SignalOutcome(inc, disp, "grouped", f"{inc.ref}: {disp}, already handled")
        if disp in ("resolved", "resolve_unknown"):
            if disp == "resolved":
                self._say(inc, "resolved", f"{inc.ref} resolved at the source; ticket closed.")
            return SignalOutcome(inc, disp, "resolved", f"{inc.ref}: signal resolved")
        self._attach_aiops(signal, inc)
        self._say(inc, "opened", f"{inc.ref} opened: {signal.severity} from {signal.source}.")
        if found is None:
            return self._no_runbook(signal, inc)
        rb = found[0]
        if match is None:
            inc = self.incidents.update(inc.id, runbook_id=rb.id, outcome="refused")
            self.incidents.note(inc, f"Runbook {rb.id} could not use this signal: {refusal}", "rf")
            self._say(inc, "needs_person", f"{inc.ref}: runbook {rb.id} refused: {refusal}")
            return SignalOutcome(inc, disp, "refused", refusal, rb.id)
        res = self.ops.propose(
            ChangeRequest(
                action=match.action,
                targets=[match.target],
                params=match.params,
                reason=f"{inc.ref}: runbook {rb.id}",
                requester=f"signal:{signal.source}",
                source="signal",
                channel=inc.thread_channel,
                thread_ts=inc.thread_ts,
            )
        )
        inc = self.incidents.update(
            inc.id,
            runbook_id=rb.id,
            change_id=res.change.id if res.change else None,
            outcome=f"proposed:{res.status}",
        )
        ref = res.change.ref if res.change else "no change"
        self.incidents.note(inc, f"Runbook {rb.id} proposed {ref}: {res.message}", "proposed")
        self._say(inc, "proposed", f"{inc.ref}: runbook {rb.id} -> {ref} ({res.status}).")
        if res.change is not None:
            # A routine change can end before the incident was tied to it: its event then
            # found no incident, so the ending is recorded here.
            now = self.ops.journal.get(res.change.id)
            if now.state in _ENDINGS:
                self._ended(now)
        return SignalOutcome(inc, disp, "proposed", res.message, rb.id, res)

    def _no_runbook(self, signal: Signal, inc: Incident) -> SignalOutcome:
        if self.agent is not None:
            try:
                attempt = self.agent(signal, inc)
            except Exception:  # a broken model or provider must not stop the signal loop
                log.exception("agent fallback failed for %s", inc.ref)
                inc = self.incidents.update(inc.id, outcome="agent:failed")
                self.incidents.note(inc, "The agent could not look at this signal.", "agent")
                self._say(
                    inc, "needs_person", f"{inc.ref}: the agent failed; waiting for a person."
                )
                return SignalOutcome(inc, "new", "agent", "the agent fallback failed")
            if attempt is not None:
                return self._agent_outcome(inc, attempt)
        inc = self.incidents.update(inc.id, outcome="no_runbook")
        self.incidents.note(inc, "No runbook matches this signal; a person should look.", "nr")
        self._say(inc, "needs_person", f"{inc.ref}: no runbook matches; waiting for a person.")
        return SignalOutcome(inc, "new", "no_runbook", "no runbook matches this signal")

    def _agent_outcome(self, inc: Incident, attempt: AgentAttempt) -> SignalOutcome:
        """Record and announce what the agent fallback did (a proposal, or nothing and why)."""
        answer = " ".join(attempt.answer.split())[:_MAX_ANSWER] or "no answer"
        change = attempt.change
        if change is None:
            inc = self.incidents.update(inc.id, outcome="agent:none")
            note = f"No runbook matches; the agent proposed nothing: {answer}"
            self.incidents.note(inc, note, "agent")
            self._say(inc, "needs_person", f"{inc.ref}: {note}")
            return SignalOutcome(inc, "new", "agent", note)
        decision = attempt.decision or "error"
        inc = self.incidents.update(inc.id, change_id=change.id, outcome=f"agent:{decision}")
        note = f"No runbook matches; the agent proposed {change.ref} ({change.action}): {decision}."
        self.incidents.note(inc, note, "proposed")
        self._say(inc, "proposed", f"{inc.ref}: {note}")
        res = ProposalResult(decision, answer, change)
        return SignalOutcome(inc, "new", "agent", note, None, res)

    def _attach_aiops(self, signal: Signal, inc: Incident) -> None:
        if not signal.aiops_trusted or not self.attach_aiops or not inc.entity_id:
            return
        if not (inc.cluster or inc.suspected_cause):
            return
        # Written before any proposal, so a plan's read-set already holds the new version.
        self.ops.store.set_attrs(
            inc.entity_id,
            {
                "aiops": {
                    "cluster": inc.cluster,
                    "suspected_cause": inc.suspected_cause,
                    "incident": inc.ref,
                    # provenance: who said so and when, so a reader can weigh it
                    "source": signal.source,
                    "received_at": signal.received_at.isoformat(),
                }
            },
            actor=f"signal:{signal.source}",
            reason=f"AIOps context from {inc.ref}",
        )

    # ------------------------------------------------------------------ outcomes
    def _on_change(self, event: ChangeEvent) -> None:
        if event.change.source != "signal":
            return
        # Finished, or ended without running: rejected by an approver, or consent expired.
        ended = event.kind in ("finished", "expired") or (
            event.kind == "vote" and event.change.state == "rejected"
        )
        if not ended:
            return
        self._ended(event.change)

    def _ended(self, change: Change) -> None:
        """Record how the incident's change ended, once (the event, or the proposer's check)."""
        with self._end_lock:
            inc = self.incidents.for_change(change.id)
            state = change.state
            if inc is None or inc.outcome == state:
                return
            inc = self.incidents.update(inc.id, outcome=state)
        self.incidents.note(inc, f"{change.ref} ended {state}.", f"done:{state}")
        self._say(inc, "finished", f"{inc.ref}: {change.ref} {state}.")

    def _say(self, inc: Incident, kind: NoteKind, text: str) -> None:
        if self.notify is None:
            return
        try:
            self.notify(IncidentNote(inc, kind, text))
        except Exception:  # a broken thread poster must not stop remediation
            log.exception("incident note failed for %s", inc.ref)

    def entity_context(self, entity_id: str) -> dict[str, object]:
        """Open incidents and AIOps context on one entity, shaped for the agent and policy."""
        open_ = self.incidents.open_for_entity(entity_id)
        return {
            "open_incidents": len(open_),
            "clusters": sorted({i.cluster for i in open_ if i.cluster}),
            "suspected_causes": sorted({i.suspected_cause for i in open_ if i.suspected_cause}),
        }


@dataclass(frozen=True)
class Preview:
    """What the loop would do with a signal, without recording or executing anything."""

    signal: Signal
    runbook: str | None
    action: str | None = None
    target: str | None = None
    params: dict[str, object] | None = None
    outcome: str = "no_runbook"
    """``auto``, ``consent``, ``deny``, ``refused`` (template) or ``no_runbook``."""
    reasons: tuple[str, ...] = ()


def preview(ops: Operations, runbooks: RunbookSet, signal: Signal) -> Preview:
    """Rehearse and decide the runbook's change for ``signal`` as a dry run (``runbook test``)."""
    from twin.actions import InvalidParams
    from twin.graph import UnknownEntity
    from twin.plan import rehearse

    graph = ops.graph
    found = runbooks.find(signal, graph)
    if found is None:
        return Preview(signal, None)
    rb, entity = found
    try:
        m = runbooks.instantiate(rb, signal, entity, graph)
    except TemplateError as exc:
        return Preview(signal, rb.id, rb.action, outcome="refused", reasons=(str(exc),))
    req = ChangeRequest(
        action=m.action,
        targets=[m.target],
        params=m.params,
        reason=f"runbook {rb.id} (dry run)",
        requester=f"signal:{signal.source}",
        source="signal",
    )
    try:
        plan = rehearse(graph, m.action, [m.target], m.params, now=ops.now())
    except (UnknownEntity, InvalidParams) as exc:
        return Preview(signal, rb.id, m.action, m.target, m.params, "refused", (str(exc),))
    # The same policy input propose() builds; change id 0 excludes nothing from history.
    decision = ops.policy.decide(ops.policy_input(req, plan))
    return Preview(
        signal,
        rb.id,
        m.action,
        m.target,
        m.params,
        decision.outcome,
        tuple(f"{k}: {v}" for k, v in decision.reasons.items()),
    )
