"""Fixed texts of the offline model: help, "I did not understand", and "did you mean"."""

from __future__ import annotations

from collections.abc import Sequence

from agent.chat.offline.types import Unresolved

__all__ = [
    "EXAMPLES",
    "HELP_TEXT",
    "NOT_UNDERSTOOD",
    "SUPPORTED_CHANGES",
    "describe_unresolved",
    "one_request_only",
]

SUPPORTED_CHANGES = (
    "The changes I can propose are: reboot hosts, patch them, restart services, rotate "
    "credentials, disable users or revoke their sessions, restore from backup, block an IP on a "
    "firewall, throttle a SIEM rule, escalate, close or comment on tickets, and run a known script."
)

EXAMPLES: tuple[str, ...] = (
    "what breaks if contoso-ny-db-prod-01 goes down?",
    "tell me about contoso-erp",
    "is contoso-ny-web-prod-01 healthy?",
    "which hosts of contoso are missing KB5034439?",
    "patch contoso-ny-web-prod-01 and -02 tonight",
    "restart contoso-erp-app on contoso-ny-app-prod-01",
    "block 203.0.113.7 on contoso-ny-fw-01 for 24h",
    "what is scheduled tonight?",
    "why was CR-1 denied?",
    "what is waiting for approval?",
    "what changed on contoso-ny-web-prod-01?",
    "who owns contoso-sql?",
    "what did you do today?",
)
"""Requests that work on the sample estate, in this order (tests/agent/thread/test_help.py)."""

HELP_TEXT = (
    "I answer questions from the live model of the estate and propose changes; policy decides "
    "whether a change runs by itself, needs someone's approval, or is refused.\n"
    "Questions: what depends on X / what breaks if X goes down, tell me about X, is X healthy, "
    "what changed on X, when was X last patched, who owns X, what does X need, path from X to Y, "
    "which hosts of CLIENT are missing PATCH, which hosts need a reboot, stale facts for CLIENT, "
    "status of CR-N, why was CR-N denied, what is waiting for approval, what is scheduled "
    "tonight, what did you do today.\n"
    "Changes: reboot X, patch X and Y tonight, patch the web tier, restart SERVICE on X, rotate "
    "the X credential, disable user U, revoke U's sessions, restore X from last night's backup, "
    "block IP on FIREWALL for 24h, throttle SIEM rule R for 2 hours, escalate / close / comment on "
    "ticket N, run script S on X.\n"
    "In a thread: why?, status?, who approved it?, undo that, what about -02?, and its "
    "backups?\n"
    "For example: " + "; ".join(f"“{e}”" for e in EXAMPLES[:5]) + "."
)

NOT_UNDERSTOOD = (
    "I did not understand that request. I can answer questions about the estate and propose "
    "changes, one request at a time. Try, for example: "
    + "; ".join(f"“{e}”" for e in EXAMPLES)
    + ". Say “help” for the full list."
)


def describe_unresolved(item: Unresolved) -> str:
    """One sentence on a mention that matched nothing or several things."""
    names = [c.name for c in item.candidates]
    if len(set(names)) < len(names):
        # Same display name on several entities (one SIEM rule per client): show the ids.
        names = [c.id for c in item.candidates]
    if item.ambiguous and len(names) > 1:
        return (
            f"`{item.mention}` matches several things: {_or_list(names)}. Which one did you mean?"
        )
    if names:
        return f"I could not find `{item.mention}`. Did you mean {_or_list(names)}?"
    where = (
        f" among {', '.join(k.replace('_', ' ') + 's' for k in item.kinds)}" if item.kinds else ""
    )
    return f"I could not find `{item.mention}`{where}, and nothing has a similar name."


def one_request_only(labels: Sequence[str]) -> str:
    """The question asked when one message holds several different requests."""
    listed = "; ".join(f"“{label}”" for label in labels)
    return (
        f"That message holds {len(labels)} different requests ({listed}). I act on one clear "
        "request at a time, so I have done none of them: which one do you want?"
    )


def _or_list(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]
