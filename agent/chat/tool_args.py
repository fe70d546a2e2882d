"""The agent tools' argument models: what the model may pass, typed and described.

Each field's description is part of the JSON schema the model reads; ``extra="forbid"`` turns an
invented argument into an error the model can read and correct.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twin.model import NodeKind

__all__ = ["MAX_TARGETS", "TOOL_ARGS", "ToolArgs"]

MAX_TARGETS = 25
"""The most targets one proposal may hold; policy already asks two approvers above 10."""


class ToolArgs(BaseModel):
    """Base for tool arguments: unknown arguments are errors the model can read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchArgs(ToolArgs):
    query: str = Field("", description="Part of a name; typos are tolerated. Empty lists all.")
    kind: NodeKind | None = Field(None, description="Entity kind, e.g. host, service, identity")
    client: str | None = Field(None, description="Client slug, e.g. contoso")
    missing_patch: str | None = Field(None, description="Patch id pending on hosts, e.g. KB5034441")
    pending_reboot: bool | None = Field(None, description="Hosts waiting for a reboot")
    env: str | None = Field(None, description="prod, dev, ...")
    role: str | None = Field(None, description="Role or tier, e.g. web, db, dns")
    limit: int = Field(20, ge=1, le=200, description="At most this many items")


class EntityArgs(ToolArgs):
    entity: str = Field(description="Entity id or name, e.g. contoso-ny-db-prod-01")


class ShowArgs(EntityArgs):
    aspect: Literal["health", "changes", "patch", "owner"] | None = Field(
        None,
        description="Only for 'is X healthy' (health), 'what changed on X' (changes), 'when was "
        "X last patched' (patch) or 'who owns X' (owner): add those facts from the twin and "
        "the journal",
    )


class ScheduledArgs(ToolArgs):
    period: Literal["tonight", "today", "this_week", "week", "all"] = Field(
        "all", description="Due tonight/today (next 24 hours), this week (7 days) or all"
    )


class PathArgs(ToolArgs):
    source: str = Field(description="Entity id or name")
    target: str = Field(description="Entity id or name")


class StaleArgs(ToolArgs):
    scope: str | None = Field(None, description="Only this client (slug)")
    hours: int = Field(24, ge=1, le=24 * 90, description="Not observed within this many hours")


class ChangeArgs(ToolArgs):
    change_id: str = Field(description="Change reference, e.g. CR-42")


class NoArgs(ToolArgs):
    pass


Period = Literal["today", "yesterday", "this_week", "last_week", "week"]


class ActivityArgs(ToolArgs):
    period: Period = Field(
        "today", description="today, yesterday, or the last 7 days (week, this_week, last_week)"
    )


class AuditArgs(ToolArgs):
    period: Period = Field(
        "today", description="today, yesterday, or the last 7 days (week, this_week, last_week)"
    )
    change_id: str | None = Field(None, description="Only rows about this change (CR-42)")
    kind: str | None = Field(None, description="Row kind or prefix, e.g. change.* or consent.*")


class ProposeArgs(ToolArgs):
    action: str = Field(description="Action kind, e.g. host.reboot, patch.apply")
    targets: list[str] = Field(min_length=1, description="Entity ids or names the person named")
    params: dict[str, Any] = Field(default_factory=dict, description="The action's parameters")
    reason: str = Field("", max_length=1000, description="Why, in the person's words")
    not_before: str | None = Field(
        None,
        max_length=40,
        description="Only if the person said when: not to run before this time, ISO 8601 with "
        "its offset (e.g. 2026-12-05T22:00:00-05:00). Omit to run once approved.",
    )
    window: Literal["next"] | None = Field(
        None,
        description="'next' if the person asked for the next maintenance window of the targets",
    )


TOOL_ARGS: dict[str, type[ToolArgs]] = {
    "twin_search": SearchArgs,
    "twin_show": ShowArgs,
    "twin_deps": EntityArgs,
    "twin_blast_radius": EntityArgs,
    "twin_path": PathArgs,
    "twin_stale": StaleArgs,
    "change_status": ChangeArgs,
    "change_why": ChangeArgs,
    "pending_approvals": NoArgs,
    "scheduled_changes": ScheduledArgs,
    "activity": ActivityArgs,
    "audit_query": AuditArgs,
    "propose_change": ProposeArgs,
    "propose_rollback": ChangeArgs,
}
"""Tool name -> argument model: the one list of tools the model can call."""
