"""The tools that propose: ``propose_change`` (the one write, and only a proposal: the trust
guard decides whether the model may even ask, then the service rehearses and policy decides)
and ``propose_rollback``; every refused attempt is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.chat.guard import (
    action_refusal,
    may_request,
    tainted_params,
    target_refusal,
)
from agent.chat.reads import ReadTools
from agent.chat.results import tool_result
from agent.chat.thread import asks_undo, rollback_steps
from agent.chat.when_ask import answered, ask_when
from agent.service import ChangeRequest
from twin.graph import UnknownEntity
from twin.model import Entity

__all__ = ["ProposalTools", "parse_not_before"]


def parse_not_before(text: str | None) -> datetime | None:
    """``propose_change``'s ``not_before``: an ISO 8601 time with its offset, or ``None``.

    Raises:
        ValueError: not a time, or one without an offset (whose zone would be a guess).
    """
    if text is None or not text.strip():
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not_before {text!r} is not an ISO 8601 time (e.g. 2026-12-05T22:00:00-05:00)"
        ) from None
    if at.tzinfo is None:
        raise ValueError(f"not_before {text!r} has no UTC offset; add one (e.g. -05:00 or Z)")
    return at.astimezone(UTC)


class ProposalTools(ReadTools):
    """``propose_change`` and ``propose_rollback`` on top of the read tools."""

    def propose_rollback(self, change_id: str) -> dict[str, Any]:
        """Propose the undo of a change (its plan's rollback steps) as a new change."""
        ctx = self.ctx
        if ctx.source != "person":
            return self._refuse("rollback", [], "Refused: only a person may ask for a rollback.")
        if not may_request(self.ops.roles, ctx.requester):
            return self._refuse("rollback", [], "Refused: you may not request changes.")
        change = self._change(change_id)
        if not asks_undo(ctx.request_text):
            return self._refuse(
                "rollback",
                list(change.targets),
                f"Refused: the request does not ask to undo {change.ref}; say “undo {change.ref}”.",
            )
        mine = change.channel == ctx.channel and change.thread_ts == ctx.thread_ts and ctx.channel
        if not mine and change.ref.lower() not in ctx.request_text.lower().replace(" ", ""):
            return self._refuse(
                "rollback",
                list(change.targets),
                f"Refused: {change.ref} does not belong to this thread; name it to undo it.",
            )
        if change.state in ("proposed", "rehearsed", "awaiting_consent", "approved", "queued"):
            return tool_result(
                "no_data",
                {"change_id": change.ref, "state": change.state},
                f"{change.ref} has not run, so there is nothing to undo; reject or let it expire.",
            )
        if change.state in ("denied", "rejected", "expired", "stale", "rolled_back"):
            return tool_result(
                "no_data",
                {"change_id": change.ref, "state": change.state},
                f"{change.ref} is {change.state.replace('_', ' ')}; there is nothing to undo.",
            )
        steps, notes = rollback_steps(change)
        if not steps:
            why = "; ".join(notes) or "its plan has no rollback"
            return tool_result(
                "no_data", {"change_id": change.ref, "notes": notes}, f"{change.ref}: {why}."
            )
        out: list[dict[str, Any]] = []
        for action, targets, params in steps:
            key = f"{ctx.request_id}:{ctx.proposed}" if ctx.request_id else None
            ctx.proposed += 1
            # Targets and parameters come from opshand's own journal, not from the model.
            res = self.ops.propose(
                ChangeRequest(
                    action=action,
                    targets=targets,
                    params=params,
                    reason=f"undo {change.ref}: {ctx.request_text[:250]}",
                    requester=ctx.requester,
                    channel=ctx.channel,
                    thread_ts=ctx.thread_ts,
                    request_key=key,
                )
            )
            if res.change is not None:
                ctx.proposals.append(res.change)
            dec = res.decision
            out.append(
                {
                    "change_id": res.change.ref if res.change else None,
                    "action": action,
                    "targets": res.plan.target_names if res.plan else targets,
                    "decision": res.status,
                    "reasons": list(dec.reasons.values()) if dec else [res.message],
                    "rules": list(dec.matched) if dec else [],
                    "quorum": dec.quorum if dec else 0,
                    "approvers": dec.approvers if dec else None,
                }
            )
        status = "denied" if all(o["decision"] in ("deny", "error") for o in out) else "success"
        return tool_result(status, {"undoes": change.ref, "proposals": out, "notes": notes})

    # ------------------------------------------------------------------ the one write
    def _refuse(self, action: str, targets: list[str], reason: str, **extra: Any) -> dict[str, Any]:
        """Audit a refused proposal attempt and tell the model why, in a sentence."""
        with self.ops.engine.begin() as conn:
            self.ops.audit(
                conn,
                kind="agent.proposal_refused",
                actor=self.ctx.requester,
                change_id=None,
                plan_hash=None,
                body={
                    "action": action[:120],
                    "targets": [t[:120] for t in targets[:20]],
                    "target_count": len(targets),
                    "reason": reason,
                    "source": self.ctx.source,
                    **extra,
                },
            )
        data = {"reasons": [reason.removeprefix("Refused: ")], "target_count": len(targets)}
        return tool_result("denied", {**data, **extra}, reason)

    def propose_change(
        self,
        action: str,
        targets: list[str],
        params: dict[str, Any] | None = None,
        reason: str = "",
        not_before: str | None = None,
        window: str | None = None,
    ) -> dict[str, Any]:
        """Propose a change: it is rehearsed on a fork of the twin and policy decides (auto,
        consent or deny). Nothing runs from this call. Use only the action and the targets the
        person asked for; a target found only in tool results is refused. For an alert, only the
        actions and the entity opshand names are allowed, and one proposal at most."""
        params = params or {}
        ctx = self.ctx
        try:
            at = parse_not_before(not_before)
        except ValueError as exc:
            return tool_result("error", {"not_before": not_before}, str(exc))
        if ctx.source == "person" and not may_request(self.ops.roles, ctx.requester):
            return self._refuse(action, targets, "Refused: you may not request changes.")
        if ctx.source == "signal" and (refusal := self._signal_refusal(action)):
            return self._refuse(action, targets, refusal)
        if self.redactor.redact([params, reason]) != [params, reason]:
            # A secret in a parameter would travel to a ticket, a script or an integration.
            return self._refuse(
                action, targets, "Refused: the request carries a secret value; I never send one."
            )
        unique = list(dict.fromkeys(targets))
        if len(unique) > self.max_targets:
            return self._refuse(
                action,
                unique,
                f"Refused: this would touch {len(unique)} targets; I propose at most "
                f"{self.max_targets} at once. Narrow it down (a client, a tier or a list).",
            )
        answer = answered(ctx.when_asked, ctx.request_text, action, unique, self.g)
        if (
            ctx.source == "person"
            and not answer
            and (why := action_refusal(action, ctx.trusted_texts, ctx.offer))
        ):
            return self._refuse(action, unique, why)
        resolved: list[Entity] = []
        for t in unique:
            try:
                resolved.append(self.g.resolve(t))
            except UnknownEntity as exc:
                self._refuse(action, unique, str(exc))
                raise
        blocked = target_refusal(
            action,
            resolved,
            params,
            self.g,
            named=ctx.named(self.g) if ctx.source == "person" else None,
            offer=ctx.offer if ctx.assent else None,
            signal_entities=ctx.signal_entities if ctx.source == "signal" else None,
        )
        if blocked is not None:
            return self._refuse(action, [e.id for e in resolved], blocked.reason, **blocked.extra)
        if ctx.ask_when and ctx.source == "person" and not (at or window or ctx.assent):
            ids, now = [e.id for e in resolved], self.ops.now()
            if q := ask_when(self.g, action=action, targets=ids, params=params,
                             request_text=ctx.request_text, now=now, tz=ctx.tz):  # fmt: skip
                return q  # "now or in the next window?": nothing recorded (agent.chat.when_ask)
        if isinstance(params.get("host"), str):
            # The rehearsal matches hosts by id: a name would silently match nothing.
            params = {**params, "host": self.g.resolve(params["host"]).id}
        # Values taken from data (a ticket body, a URL from an alert) are marked: policy sees
        # input.tainted and the card shows them, so a person reads them before they are used.
        trusted = ctx.trusted_texts if ctx.source == "person" else ()
        tainted = tuple(tainted_params(params, trusted, ctx.seen))
        key = f"{ctx.request_id}:{ctx.proposed}" if ctx.request_id else None
        ctx.proposed += 1
        res = self.ops.propose(
            ChangeRequest(
                action=action,
                targets=[e.id for e in resolved],
                params=params,
                reason=reason[:300] or ctx.request_text[:300],
                requester=ctx.requester,
                source="signal" if ctx.source == "signal" else "person",
                channel=ctx.channel,
                thread_ts=ctx.thread_ts,
                request_key=key,
                tainted=tainted,
                not_before=at,
                window="next" if window == "next" else None,
            )
        )
        if res.change is not None:
            ctx.proposals.append(res.change)
        if res.status == "error":
            if res.change is None:
                self._refuse(action, unique, res.message)
            return tool_result(
                "error", {"change_id": res.change.ref if res.change else None}, res.message
            )
        plan, dec = res.plan, res.decision
        data = {
            "change_id": res.change.ref if res.change else None,
            "decision": res.status,
            "reasons": list(dec.reasons.values()) if dec else [],
            "rules": list(dec.matched) if dec else [],
            "quorum": dec.quorum if dec else 0,
            "approvers": dec.approvers if dec else None,
            "target_count": len(resolved),
            "targets": plan.target_names if plan else [],
            "blast_radius": plan.collateral_summary() if plan else {},
            "invariants": [i["id"] for i in (plan.invariants if plan else []) if not i["passed"]],
            "tainted": list(tainted),
        }
        if res.change is not None and res.change.not_before is not None:
            data["not_before"] = res.change.not_before.isoformat()
            data["scheduled"] = res.change.state == "scheduled"
        status = {"auto": "success", "consent": "approval_required", "deny": "denied"}[res.status]
        return tool_result(status, data)

    def _signal_refusal(self, action: str) -> str | None:
        """Why a signal turn may not propose ``action`` now, or ``None`` when it may."""
        allowed = self.ctx.signal_actions
        if action not in allowed:
            named = ", ".join(allowed) if allowed else "no action"
            return (
                f"Refused: for a signal I may only propose {named}; "
                f"'{action[:60]}' is not allowed, so I will not propose it."
            )
        if self.ctx.proposals:
            # One signal, one remediation: a second proposal would need a person anyway.
            return "Refused: I already proposed a change for this signal; one is the limit."
        return None
