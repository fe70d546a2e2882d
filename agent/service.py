"""The operations facade: what the bot, the CLI and the agent's tools call.

``propose`` runs the deterministic part of the loop — journal, rehearsal, policy, consent or
queue — and nothing the model says can alter it. ``vote`` records signed consent. The one worker
loop (:meth:`Operations.worker`, run by ``start_worker``, ``drain`` and the crash tests) executes
queued changes and reconciles them. Every state change is announced to subscribers (the Slack
bot) as a :class:`ChangeEvent`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, func, select

from agent.approval import AutonomyGuards, ConsentBook, Guardrails, Identity, RoleMap
from agent.execution import (
    Change,
    DuplicateRequest,
    ExecutionReport,
    Executor,
    Journal,
    Refusal,
    Worker,
    call_table,
    change_ref,
    close_undecided,
    journal_table,
)
from agent.incidents import Incident, IncidentBook
from agent.policy import Decision, Policy, PolicyInput, target_of
from agent.schedule import Scheduling, window_start
from twin.actions import InvalidParams, get_action
from twin.graph import TwinGraph, UnknownEntity
from twin.model import utcnow
from twin.plan import Plan, diff_plans, rehearse, stale_entities
from twin.store import TwinStore

__all__ = [
    "ChangeEvent",
    "ChangeRequest",
    "Operations",
    "ProposalResult",
    "break_glass_reason",
    "identity_of",
]

log = logging.getLogger(__name__)


def _identity(key: str) -> Identity:
    team, _, user = key.partition(":")
    return Identity(team_id=team or "-", user_id=user or team)


def break_glass_reason(change: Change) -> str | None:
    """The break-glass reason a change was proposed with, or ``None`` (an ordinary change)."""
    reason = (change.decision or {}).get("break_glass")
    return str(reason) if reason else None


def identity_of(team_id: str, user_id: str) -> str:
    """The one identity string opshand uses: ``<team_id>:<user_id>`` (from signed payloads)."""
    return f"{team_id}:{user_id}"


def _aiops_attr(graph: TwinGraph, entity_id: str) -> dict[str, Any]:
    try:
        value = graph.get(entity_id).attrs.get("aiops")
    except UnknownEntity:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ChangeRequest:
    """A proposal, from a person (via the agent or a command) or from a signal's runbook."""

    action: str
    targets: list[str]
    params: dict[str, Any]
    reason: str
    requester: str
    """``<team_id>:<user_id>`` for people, ``signal:<source>`` for signals."""
    source: Literal["person", "signal"] = "person"
    channel: str = ""
    thread_ts: str = ""
    supersedes: int | None = None
    break_glass: str | None = None
    """The reason given for break-glass; needs the ``breakglass`` role."""
    request_key: str | None = None
    """What asked for it (``slack:<event id>:<n>``): the same key again returns the change it
    recorded instead of proposing a second one (a Slack event replayed after a crash)."""
    tainted: tuple[str, ...] = ()
    """Parameters whose values came from data (tool results), not the person's words."""
    not_before: datetime | None = None
    """Not to run before this time (aware): once approved it waits as ``scheduled``."""
    window: Literal["next"] | None = None
    """``"next"``: not before the targets' next maintenance window opens (resolved here)."""


@dataclass(frozen=True)
class ProposalResult:
    """What ``propose`` did: the change (if one was recorded), the plan and the decision."""

    status: Literal["auto", "consent", "deny", "error"]
    message: str
    change: Change | None = None
    plan: Plan | None = None
    decision: Decision | None = None
    consent_request: Any = None


@dataclass(frozen=True)
class ChangeEvent:
    """A state change announced to subscribers."""

    kind: Literal[
        "proposed", "decided", "vote", "started", "finished", "stale", "expired", "autonomy"
    ]
    change: Change
    detail: dict[str, Any] = field(default_factory=dict)


class Operations(AutonomyGuards, Scheduling):
    """The deterministic core of opshand (its guard rails come from :class:`AutonomyGuards`)."""

    def __init__(
        self,
        *,
        engine: Engine,
        store: TwinStore,
        graph: TwinGraph,
        journal: Journal,
        policy: Policy,
        consent: ConsentBook,
        roles: RoleMap,
        executor_factory: Callable[[Operations], Executor],
        audit: Callable[..., Any],
        team_id: str = "",
        now: Callable[[], datetime] = utcnow,
        guardrails: Guardrails | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self._graph = graph
        self._graph_lock = threading.RLock()
        self.journal = journal
        self.policy = policy
        self.consent = consent
        self.roles = roles
        self.audit = audit
        self.team_id = team_id
        self.now = now
        self.guardrails = guardrails or Guardrails()
        self.subscribers: list[Callable[[ChangeEvent], None]] = []
        self.executor = executor_factory(self)
        self._worker: threading.Thread | None = None
        self._loop: Worker | None = None
        self._wake = threading.Event()

    # ------------------------------------------------------------------ twin
    @property
    def graph(self) -> TwinGraph:
        """The in-memory twin, caught up with the change log."""
        with self._graph_lock:
            self.store.catch_up(self._graph)
            return self._graph

    @property
    def held_graph(self) -> TwinGraph:
        """The in-memory twin as this replica holds it, without catching up (metrics read its
        serial against the store's to report the lag, which catching up would hide)."""
        return self._graph

    # ------------------------------------------------------------------ what metrics read
    def circuit_states(self) -> dict[str, str]:
        """Each integration category's circuit as this replica sees it (closed, half_open,
        open): the breaker of each client (the one retry layer's)."""
        return {c: b.state for c, b in self.executor.breakers().items()}

    def queue_by_state(self, states: Iterable[str]) -> dict[str, tuple[int, datetime | None]]:
        """Changes in each of ``states``: how many, and when the oldest last moved."""
        j = journal_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(j.c.state, func.count(), func.min(j.c.updated_at))
                .where(j.c.state.in_(list(states)))
                .group_by(j.c.state)
            ).all()
        return {str(state): (int(n), oldest) for state, n, oldest in rows}

    def calls_after(self, watermark: int) -> list[tuple[int, str, str]]:
        """(row id, capability, outcome) of the integration call ledger above ``watermark``,
        in id order: metrics count calls incrementally from it."""
        c = call_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.c.id, c.c.capability, c.c.outcome)
                .where(c.c.id > watermark)
                .order_by(c.c.id)
            ).all()
        return [(int(i), str(cap), str(outcome)) for i, cap, outcome in rows]

    def _emit(self, event: ChangeEvent) -> None:
        for fn in list(self.subscribers):
            try:
                fn(event)
            except Exception:  # a broken subscriber must not break the loop
                log.exception("change subscriber failed for %s", event.change.ref)

    # ------------------------------------------------------------------ propose
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
        freeze = self.flag("freeze") is not None
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

    def propose(self, req: ChangeRequest) -> ProposalResult:
        """Record, rehearse and decide a change. Never executes anything itself."""
        try:
            spec = get_action(req.action)
            spec.parse_params(req.params)
        except (KeyError, InvalidParams) as exc:
            return ProposalResult("error", str(exc).strip("'\""))
        if req.break_glass is not None and (
            refusal := self._break_glass(
                requester=req.requester,
                action=req.action,
                targets=req.targets,
                reason=req.break_glass,
            )
        ):
            return ProposalResult("error", refusal)
        not_before = req.not_before
        if not_before is not None and not_before.tzinfo is None:
            return ProposalResult("error", "not_before must carry a time zone (ISO 8601, e.g. Z)")
        if req.window == "next":
            try:
                start = window_start(self.graph, req.targets, self.now())
            except ValueError as exc:
                return ProposalResult("error", str(exc))
            not_before = max(start, not_before) if not_before is not None else start
        try:
            change = self.journal.create(
                action=req.action,
                targets=req.targets,
                params=req.params,
                reason=req.reason,
                requester=req.requester,
                source=req.source,
                channel=req.channel,
                thread_ts=req.thread_ts,
                supersedes=req.supersedes,
                request_key=req.request_key,
                not_before=not_before,
            )
        except DuplicateRequest as dup:
            return self._recorded_before(dup.change)
        if req.break_glass is not None:
            self._break_glass_used(change, req.break_glass)
        self._emit(ChangeEvent("proposed", change))
        try:
            plan = rehearse(
                self.graph,
                req.action,
                req.targets,
                req.params,
                reason=req.reason,
                now=self.now(),
                tainted=req.tainted,
            )
        except (UnknownEntity, InvalidParams) as exc:
            msg = str(exc)
            change = self.journal.move(
                change.id,
                "denied",
                actor="system:rehearsal",
                body={"reason": msg},
                result={"message": msg},
            )
            self._emit(ChangeEvent("decided", change, {"outcome": "deny"}))
            return ProposalResult("error", msg, change)
        change = self.journal.move(
            change.id,
            "rehearsed",
            actor="system:rehearsal",
            body={
                "plan_hash": plan.hash,
                "collateral": len(plan.collateral),
                "invariants": plan.invariant_summary(),
            },
            plan=plan.model_dump(mode="json"),
            plan_hash=plan.hash,
        )
        pin = self._policy_input(req, plan, change.id)
        decision = self._guard(self.policy.decide(pin), req.action)
        body = {
            "outcome": decision.outcome,
            "rules": list(decision.matched),
            "reasons": decision.reasons,
            "policy_hash": decision.policy_hash,
            "input": pin.to_cel(),
        }
        dec = {**decision.model_dump(mode="json"), "input": pin.to_cel()}
        if req.break_glass:
            # Carried by the change: the freeze check before every wave lets it through while
            # its requester still holds the breakglass permission.
            dec["break_glass"] = req.break_glass
        consent_req = None
        if decision.outcome == "deny":
            change = self.journal.move(
                change.id,
                "denied",
                actor="system:policy",
                body=body,
                decision=dec,
                policy_hash=decision.policy_hash,
                result={"message": _bullets(decision.reasons.values())},
            )
        elif decision.outcome == "consent":
            with self.engine.begin() as conn:
                change = self.journal.move(
                    change.id,
                    "awaiting_consent",
                    actor="system:policy",
                    body=body,
                    decision=dec,
                    conn=conn,
                    policy_hash=decision.policy_hash,
                )
                consent_req = self.consent.open(
                    str(change.id),
                    plan.hash,
                    _identity(req.requester),
                    self._consent_terms(decision, change),
                    conn=conn,
                )
        else:
            with self.engine.begin() as conn:
                self.journal.move(
                    change.id,
                    "auto_approved",
                    actor="system:policy",
                    body=body,
                    decision=dec,
                    conn=conn,
                    policy_hash=decision.policy_hash,
                )
                change = self._queue_or_schedule(change.id, "system:policy", conn)
            self._note("auto", change)
            if change.state == "queued":
                self._wake.set()
        if req.break_glass:
            self._emit(ChangeEvent("autonomy", change, {"breakglass": req.break_glass}))
        self._emit(
            ChangeEvent(
                "decided", change, {"outcome": decision.outcome, "consent_request": consent_req}
            )
        )
        status = decision.outcome
        message = {
            "deny": "Refused by policy:\n" + _bullets(decision.reasons.values()),
            "consent": f"Needs consent: {decision.quorum} of {decision.approvers}.",
            "auto": "Policy allows it to run now."
            if change.state != "scheduled"
            else "Policy allows it; it waits for its scheduled time.",
        }[status]
        return ProposalResult(status, message, change, plan, decision, consent_req)

    def _recorded_before(self, change: Change) -> ProposalResult:
        """The result of a request proposed again: what its change became, nothing new."""
        stored = dict(change.decision or {})
        stored.pop("input", None)
        stored.pop("break_glass", None)
        decision = Decision.model_validate(stored) if stored else None
        plan = Plan.model_validate(change.plan) if change.plan else None
        state = change.state.replace("_", " ")
        if decision is None:
            # The first attempt stopped between recording and deciding (a crash): say so
            # rather than guess; asking again proposes it anew under a new key.
            return ProposalResult(
                "error",
                f"{change.ref} was recorded for this request but never decided "
                f"(it is {state}); ask again to propose it anew.",
                change,
                plan,
            )
        return ProposalResult(
            decision.outcome,
            f"{change.ref} was already recorded for this request; it is {state}.",
            change,
            plan,
            decision,
        )

    # ------------------------------------------------------------------ scheduling hooks
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
        return self._guard(self.policy.decide(pin), change.action), pin

    def _announce(self, kind: str, change: Change, detail: dict[str, Any]) -> None:
        self._emit(ChangeEvent(kind, change, detail))  # type: ignore[arg-type]

    def _wake_worker(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ consent
    def vote(
        self,
        change_id: int,
        voter: str,
        approve: bool,
        *,
        plan_hash: str,
        payload_id: str,
        reason: str | None = None,
        not_before: datetime | None = None,
    ) -> Any:
        """Record one signed vote; on quorum the change is queued for execution (or scheduled,
        when it has a ``not_before`` ahead; an approve vote's ``not_before`` holds it later)."""
        reqs = self.consent.for_change(str(change_id))
        if not reqs:
            from agent.approval import VoteOutcome

            return VoteOutcome(
                accepted=False,
                state=None,
                message=f"{change_ref(change_id)} is not waiting for consent.",
            )
        with self.engine.begin() as conn:
            out = self.consent.vote(
                reqs[-1].id,
                _identity(voter),
                "approve" if approve else "reject",
                plan_hash,
                payload_id,
                reason,
                conn=conn,
            )
            if out.accepted and approve and not_before is not None:
                self._hold_until(change_id, not_before, voter, conn)
            if out.accepted and out.state == "approved":
                self.journal.move(
                    change_id, "approved", actor=voter, conn=conn, body={"votes": out.message}
                )
                self._queue_or_schedule(change_id, "system:consent", conn)
            elif out.accepted and out.state == "rejected":
                self.journal.move(
                    change_id,
                    "rejected",
                    actor=voter,
                    conn=conn,
                    body={"reason": reason or ""},
                    result={"message": f"rejected: {reason or 'no reason given'}"},
                )
            elif not out.accepted:
                self.audit(
                    conn,
                    kind="consent.refused",
                    actor=voter,
                    change_id=str(change_id),
                    plan_hash=plan_hash,
                    body={"message": out.message, "refusal": out.refusal},
                )
                if any(c.to_state == "expired" for c in out.changes):
                    self.journal.move(
                        change_id,
                        "expired",
                        actor="system:expiry",
                        conn=conn,
                        result={"message": "consent expired before quorum"},
                    )
        change = self.journal.get(change_id)
        self._emit(ChangeEvent("vote", change, {"outcome": out, "voter": voter}))
        if change.state == "queued":
            self._wake.set()
        return out

    def recheck(self, change: Change) -> Refusal | None:
        """Before every wave and call: consent still valid (approvers still entitled), and no
        freeze unless the change is break-glass and its requester still holds the permission.
        ``None`` when fine."""
        if change.decision and change.decision.get("outcome") == "consent":
            reqs = self.consent.for_change(str(change.id))
            if not reqs:
                return Refusal("consent", "no consent request exists for this change")
            detail = self.consent.recheck_detail(
                reqs[-1].id, change.plan_hash, policy_hash=self.policy.hash
            )
            if not detail.ok:
                return Refusal("consent", f"consent is no longer valid: {detail.reason}")
        glass = break_glass_reason(change) is not None
        if glass:
            team, _, user = change.requester.partition(":")
            if "breakglass" not in self.roles.roles_for(team, user):
                return Refusal(
                    "breakglass",
                    f"{change.requester} no longer holds the breakglass permission",
                )
        if (freeze := self.flag("freeze")) is not None and not glass:
            return Refusal("freeze", f"a change freeze is in force ({freeze})")
        return None

    # ------------------------------------------------------------------ execution
    def expire_consents(self) -> list[Change]:
        """Expire consent requests past their expiry, and their changes."""
        out: list[Change] = []
        with self.engine.begin() as conn:
            for ch in self.consent.expire(self.now(), conn=conn):
                out.append(
                    self.journal.move(
                        int(ch.change_id),
                        "expired",
                        actor="system:expiry",
                        conn=conn,
                        result={"message": "consent expired before quorum"},
                    )
                )
        for c in out:
            self._emit(ChangeEvent("expired", c))
        return out

    def policy_inputs(self, req: ChangeRequest, plans: list[Plan]) -> list[PolicyInput]:
        """:meth:`policy_input` for many plans of one request shape (a patch cycle's hosts),
        with the journal, flags and open incidents read once; same inputs as one by one."""
        return self._policy_inputs(req, plans)

    def policy_input(self, req: ChangeRequest, plan: Plan, change_id: int = 0) -> PolicyInput:
        """The one input policy sees for ``req`` rehearsed as ``plan`` (for previews/explain)."""
        return self._policy_input(req, plan, change_id)

    def worker(self, *, batch: int = 10, idle_sleep: float = 1.0) -> Worker:
        """The one worker loop: production's thread, :meth:`drain` and the crash tests run it.

        Before each round it expires consents and closes changes left undecided; after each
        change it feeds the autonomy breaker, announces the result and replans a stale plan.
        """
        return Worker(
            self.executor,
            batch=batch,
            idle_sleep=idle_sleep,
            before_round=self._housekeeping,
            on_report=self._after_run,
            on_start=self._started,
            wake=self._wake,
        )

    def _started(self, change_id: int) -> None:
        """A worker claimed the change and is about to run it: subscribers hear ``started``."""
        self._emit(ChangeEvent("started", self.journal.get(change_id)))

    def _housekeeping(self) -> None:
        self.expire_consents()
        self.release_due()
        for closed in close_undecided(self.journal, self.now()):
            self._emit(ChangeEvent("decided", closed, {"outcome": "deny"}))

    def _after_run(self, report: ExecutionReport) -> None:
        change = self.journal.get(report.change_id)
        refusal = (change.result or {}).get("refusal") or {}
        drifted = refusal.get("check") == "drift" and refusal.get("before_any_call")
        if change.state in ("rolled_back", "escalated", "failed") and not drifted:
            self._failed(change)
        self._emit(ChangeEvent("finished", change, {"report": report}))
        if drifted:
            self.replan(change)

    def drain(self, limit: int = 10) -> list[ExecutionReport]:
        """Run everything claimable now through the worker loop (the CLI, the patch cycle,
        tests), ``limit`` claims per round."""
        return self.worker(batch=limit).drain().reports or []

    def replan(self, change: Change) -> ProposalResult | None:
        """Re-rehearse a change whose plan went stale, as a new change that supersedes it.

        The new plan goes through policy (and consent) again; subscribers get a ``stale`` event
        carrying the replacement and what changed between the two plans.
        """
        depth, cur = 0, change
        while cur.supersedes is not None and depth < 3:
            cur = self.journal.get(cur.supersedes)
            depth += 1
        if depth >= 3 or change.plan is None:
            return None  # the estate keeps moving under this change: leave it to people
        old = Plan.model_validate(change.plan)
        res = self.propose(
            ChangeRequest(
                action=change.action,
                targets=old.targets,
                params=change.params,
                reason=change.reason,
                requester=change.requester,
                source="signal" if change.source == "signal" else "person",
                channel=change.channel,
                thread_ts=change.thread_ts,
                supersedes=change.id,
                break_glass=break_glass_reason(change),
            )
        )
        diff = diff_plans(old, res.plan).lines() if res.plan is not None else []
        self._emit(
            ChangeEvent(
                "stale", change, {"replacement": res.change, "diff": diff, "outcome": res.status}
            )
        )
        return res

    def _failed(self, change: Change) -> None:
        was_open = self.breaker_open()
        self._note("failure", change)
        if was_open or not self.breaker_open():
            return
        with self.engine.begin() as conn:
            self.audit(
                conn,
                kind="autonomy.breaker_open",
                actor="system",
                change_id=str(change.id),
                plan_hash=None,
                body={"failures": self.guardrails.breaker_failures},
            )
        self._emit(ChangeEvent("autonomy", change, {"breaker": "open"}))

    def start_worker(self, interval: float = 1.0) -> None:
        """Run the worker loop (:meth:`worker`) in a background thread until :meth:`stop_worker`."""
        if self._worker is not None:
            return
        loop = self.worker(idle_sleep=interval)
        self._loop = loop
        self._worker = threading.Thread(target=loop.run, name="opshand-executor", daemon=True)
        self._worker.start()

    def stop_worker(self) -> None:
        """Stop the background worker (after the change it is running)."""
        if self._loop is not None:
            self._loop.stop()
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None
        self._loop = None

    # ------------------------------------------------------------------ reads
    def status(self, ref: str | int) -> Change:
        """One change by ``CR-N`` or number."""
        from agent.execution import parse_ref

        return self.journal.get(ref if isinstance(ref, int) else parse_ref(ref))

    def pending(self) -> list[Change]:
        """Changes waiting for consent."""
        return self.journal.list(states=["awaiting_consent"])

    def is_stale(self, change: Change) -> list[str]:
        """Read-set entities that changed since the change's rehearsal."""
        if change.plan is None:
            return []
        return stale_entities(Plan.model_validate(change.plan), self.graph)


def _bullets(reasons: Iterable[str]) -> str:
    """Policy's reasons as "• reason" lines (never glued with "; ")."""
    return "\n".join(f"• {r.strip().rstrip('.;')}." for r in reasons if r.strip())
