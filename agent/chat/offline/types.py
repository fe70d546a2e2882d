"""Records shared by the offline parser, the entity resolver and the answer composer.

Everything here is data: frozen keyword-only pydantic models, one closed set of intents and the
small :class:`EntityResolver` contract the parser needs from the twin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Candidate",
    "ConversationContext",
    "EntityResolver",
    "Intent",
    "ParseResult",
    "Resolution",
    "RoleAwareResolver",
    "ToolCall",
    "ToolOutcome",
    "ToolStatus",
    "Unresolved",
]


class Intent(StrEnum):
    """What the person asked for; one per parse."""

    BLAST_RADIUS = "blast_radius"
    SHOW = "show"
    DEPS = "deps"
    SEARCH = "search"
    PATH = "path"
    STALE = "stale"
    CHANGE_STATUS = "change_status"
    CHANGE_WHY = "change_why"
    PENDING_APPROVALS = "pending_approvals"
    ACTIVITY = "activity"
    SCHEDULED = "scheduled"
    PROPOSE_CHANGE = "propose_change"
    ROLLBACK = "rollback"
    HELP = "help"
    CLARIFY = "clarify"
    """The request holds several different requests (or is otherwise unclear): ask, never guess."""
    UNKNOWN = "unknown"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(NamedTuple):
    """One possible match for a mention: entity id, display name and a 0-100 score."""

    id: str
    name: str
    score: float


class Resolution(_Frozen):
    """What a mention resolved to.

    ``entity_id`` is set only when the match is unique and confident; otherwise
    ``candidates`` (best first) feed a "did you mean" question.
    """

    mention: str
    entity_id: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    match: Literal["id", "name", "partial", "fuzzy", "none"] = "none"
    """How ``entity_id`` was found (``fuzzy``: the spelling was corrected); without an
    ``entity_id``, ``name``/``partial`` mean several entities matched equally well."""

    @property
    def ambiguous(self) -> bool:
        """Whether several entities match exactly or by name part, so none was chosen."""
        return self.entity_id is None and self.match in ("name", "partial")


@runtime_checkable
class EntityResolver(Protocol):
    """Names to entity ids, as the parser needs them from the twin."""

    def resolve(self, mention: str, kinds: set[str] | None) -> Resolution:
        """Resolve ``mention`` to one entity of one of ``kinds`` (any kind when ``None``).

        Args:
            mention: The words the person used (``db-prdo-01``, ``contoso-erp``).
            kinds: Entity kinds that make sense in this place of the request.
        """
        ...

    def names(self, kind: str) -> Iterable[tuple[str, str]]:
        """Every ``(id, name)`` of one kind."""
        ...


@runtime_checkable
class RoleAwareResolver(EntityResolver, Protocol):
    """A resolver that also knows roles/tiers, for requests such as "patch the web tier"."""

    def members(self, role: str, kind: str, client: str | None = None) -> list[tuple[str, str]]:
        """Every ``(id, name)`` of ``kind`` whose role/tier is ``role``, sorted by name.

        Args:
            role: The role or tier (``web``, ``db``).
            kind: The entity kind (``host``).
            client: Only this client's entities (its slug, as in ``attrs.client``).
        """
        ...

    def fleet(
        self, kind: str, client: str | None = None, *, except_roles: Iterable[str] = ()
    ) -> list[tuple[str, str]]:
        """Every ``(id, name)`` of ``kind``, optionally one client's, leaving out some roles.

        Args:
            kind: The entity kind (``host``).
            client: Only this client's entities (its slug).
            except_roles: Roles to leave out (``endpoint`` for "all servers").
        """
        ...


class ToolCall(_Frozen):
    """One call of an agent tool, by name, with JSON-serialisable arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Unresolved(_Frozen):
    """A mention that resolved to nothing (or to several things), with what is close to it."""

    mention: str
    candidates: list[Candidate] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    """The kinds that were looked for (empty: any)."""
    ambiguous: bool = False
    """Several entities matched equally well (rather than none matching)."""


class ParseResult(_Frozen):
    """The parser's verdict on one human message.

    Exactly one of these holds: ``tool_calls`` is non-empty (act on them), ``clarification`` is set
    (ask the person; ``unresolved`` says which mentions failed), or ``reply`` is set (help).
    """

    intent: Intent
    tool_calls: list[ToolCall] = Field(default_factory=list)
    unresolved: list[Unresolved] = Field(default_factory=list)
    clarification: str | None = None
    reply: str | None = None
    """A direct answer that needs no tool (the help text)."""
    notes: list[str] = Field(default_factory=list)
    """Spelling corrections made on the way ("I took `db-prdo-01` to mean ..."); show them."""
    pending: ToolCall | None = None
    """With ``unresolved``: the call waiting for the person to say which entity they meant
    (``targets`` holds only what did resolve). Kept in the context for the next message."""

    @property
    def text(self) -> str | None:
        """The message to show when there is no tool call to make."""
        return self.reply or self.clarification

    def targets(self) -> list[str]:
        """Entity ids the tool calls are about, in order, without repeats."""
        seen: list[str] = []
        for call in self.tool_calls:
            for key in ("entity", "source", "target", "change_id"):
                value = call.args.get(key)
                if isinstance(value, str) and value not in seen:
                    seen.append(value)
            for value in call.args.get("targets", []):
                if value not in seen:
                    seen.append(value)
        return seen


class ConversationContext(_Frozen):
    """What the previous turn asked, so that "and web-04 too?" can repeat it."""

    last_intent: Intent | None = None
    last_tool_calls: list[ToolCall] = Field(default_factory=list)
    last_targets: list[str] = Field(default_factory=list)
    pending: ToolCall | None = None
    """A call left waiting for "which one did you mean?" (see :attr:`ParseResult.pending`)."""
    candidates: list[Candidate] = Field(default_factory=list)
    """The names offered in that question, so "the second one" can be answered."""
    when_asked: ToolCall | None = None
    """A proposal left waiting for "now or in the next window?" (only the last turn's)."""
    changes: list[str] = Field(default_factory=list)
    """The thread's changes (``CR-n``), newest first: what "it" means in "why was it denied?"."""
    entities: list[str] = Field(default_factory=list)
    """The thread's entities, newest first: what "its" means in "and its backups?"."""

    @classmethod
    def from_result(cls, result: ParseResult) -> ConversationContext:
        """The context to pass with the next message after ``result`` was acted on."""
        single = result.unresolved[0].candidates if len(result.unresolved) == 1 else []
        return cls(
            last_intent=result.intent,
            last_tool_calls=list(result.tool_calls),
            last_targets=result.targets(),
            pending=result.pending,
            candidates=list(single) if result.pending else [],
        )


ToolStatus = Literal["success", "error", "no_data", "approval_required", "denied", "question"]


class ToolOutcome(_Frozen):
    """One tool call and what it returned, as the composer reads it."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    status: ToolStatus
    data: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_result(cls, call: ToolCall, result: Mapping[str, Any]) -> ToolOutcome:
        """Pair a tool call with its structured result (``{"status", "data", "error"}``).

        Raises:
            ValueError: When ``result`` has no known ``status``.
        """
        status = result.get("status")
        if status not in ("success", "error", "no_data", "approval_required", "denied", "question"):
            raise ValueError(f"tool result for {call.name} has an unknown status: {status!r}")
        data = result.get("data")
        error = result.get("error")
        return cls(
            tool=call.name,
            args=dict(call.args),
            status=status,
            data=dict(data) if isinstance(data, Mapping) else {},
            error=str(error) if error else None,
        )
