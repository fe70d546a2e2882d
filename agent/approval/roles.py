"""Who may do what: Slack identities (team id + user id) mapped to opshand roles.

Identity is the workspace (team) id plus the user id taken from Slack's signed payload, never a
display name or anything typed in a message (RELIABILITY B6/B7). The map is built from settings::

    {
        "admins": ["U01ADMIN"],                          # bare user ids
        "approvers": ["U02ALICE", "T0OTHER:U03BOB"],     # or team-qualified ids
        "requesters": {"users": ["U04CAROL"], "usergroups": ["oncall"]},
    }

Each role maps to either a list of members or ``{"users": [...], "usergroups": [...]}``. A member
is ``"U..."`` (a user of ``team_id``; of any team when the map has no ``team_id``, which is meant
for single-workspace installs) or ``"T...:U..."`` (exactly that team and user). ``usergroups``
are Slack user-group handles resolved through an injected callable, so the bot can plug in
``usergroups.users.list``; results are cached for ``usergroup_ttl`` and a failing lookup grants
nothing (fail closed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from twin.model import utcnow

__all__ = ["Identity", "RoleMap", "RoleMapError", "UsergroupMembers"]

log = logging.getLogger(__name__)

UsergroupMembers = Callable[[str], Iterable[str]]
"""Returns the user ids of a Slack user group, given its handle."""

DEFAULT_USERGROUP_TTL = timedelta(seconds=60)


class RoleMapError(ValueError):
    """The role settings have the wrong shape (raised at start-up, naming the bad entry)."""


class Identity(BaseModel):
    """A Slack user as the signed payload names them: workspace id and user id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    team_id: str = Field(min_length=1, pattern=r"^\S+$")
    """Slack workspace (team) id, e.g. ``T0123ABC``."""
    user_id: str = Field(min_length=1, pattern=r"^\S+$")
    """Slack user id, e.g. ``U0456DEF``."""

    @property
    def key(self) -> str:
        """``<team_id>:<user_id>``, the form stored in the database and the policy input."""
        return f"{self.team_id}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class _RoleSpec:
    users: frozenset[str]
    usergroups: tuple[str, ...]


@dataclass(slots=True)
class _CacheEntry:
    members: frozenset[str]
    fetched_at: datetime


def _parse(data: Mapping[str, Any]) -> dict[str, _RoleSpec]:
    specs: dict[str, _RoleSpec] = {}
    for role, entry in data.items():
        if not isinstance(role, str) or not role:
            raise RoleMapError(f"role names must be non-empty strings, not {role!r}")
        if isinstance(entry, Mapping):
            unknown = set(entry) - {"users", "usergroups"}
            if unknown:
                raise RoleMapError(
                    f"role '{role}': unknown keys {sorted(unknown)} (use 'users' and 'usergroups')"
                )
            users, groups = entry.get("users", []), entry.get("usergroups", [])
        elif isinstance(entry, list | tuple):
            users, groups = entry, []
        else:
            raise RoleMapError(f"role '{role}': expected a list of user ids or a mapping")
        for name, values in (("users", users), ("usergroups", groups)):
            if not isinstance(values, list | tuple) or not all(
                isinstance(v, str) and v.strip() and " " not in v.strip() for v in values
            ):
                raise RoleMapError(f"role '{role}': '{name}' must be a list of ids without spaces")
        specs[role] = _RoleSpec(frozenset(u.strip() for u in users), tuple(groups))
    return specs


@dataclass(eq=False)
class RoleMap:
    """Maps a Slack identity to its opshand roles.

    Args:
        data: Role settings in the shape described in the module docstring.
        team_id: The workspace bare user ids belong to; ``None`` lets them match any team.
        usergroup_members: Resolves a user-group handle to member user ids.
        usergroup_ttl: How long a resolved group is trusted before it is fetched again.
        clock: Source of "now" for the cache.

    Raises:
        RoleMapError: ``data`` has the wrong shape.
    """

    data: Mapping[str, Any]
    team_id: str | None = None
    usergroup_members: UsergroupMembers | None = None
    usergroup_ttl: timedelta = DEFAULT_USERGROUP_TTL
    clock: Callable[[], datetime] = utcnow
    _specs: dict[str, _RoleSpec] = field(init=False, repr=False)
    _cache: dict[str, _CacheEntry] = field(init=False, repr=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._specs = _parse(self.data)

    def update(self, data: Mapping[str, Any]) -> None:
        """Replace the role settings (e.g. after a settings reload) and drop cached groups."""
        specs = _parse(data)
        with self._lock:
            self.data = data
            self._specs = specs
            self._cache.clear()

    def invalidate(self) -> None:
        """Forget cached user-group members so the next check fetches them again."""
        with self._lock:
            self._cache.clear()

    @property
    def roles(self) -> frozenset[str]:
        """Every role name the map knows."""
        return frozenset(self._specs)

    def roles_for(self, team_id: str, user_id: str) -> frozenset[str]:
        """The roles of the user ``user_id`` in workspace ``team_id`` (empty if none)."""
        qualified = f"{team_id}:{user_id}"
        bare_ok = self.team_id is None or self.team_id == team_id
        found: set[str] = set()
        for role, spec in self._specs.items():
            direct = qualified in spec.users or (bare_ok and user_id in spec.users)
            # Groups are only consulted when the user is not listed directly (saves API calls).
            if direct or (bare_ok and any(user_id in self._members(g) for g in spec.usergroups)):
                found.add(role)
        return frozenset(found)

    def has_role(self, team_id: str, user_id: str, role: str) -> bool:
        """Whether the user holds ``role``."""
        return role in self.roles_for(team_id, user_id)

    def identity_roles(self, identity: Identity) -> frozenset[str]:
        """``roles_for`` for an ``Identity``."""
        return self.roles_for(identity.team_id, identity.user_id)

    def _members(self, handle: str) -> frozenset[str]:
        if self.usergroup_members is None:
            return frozenset()
        now = self.clock()
        with self._lock:
            entry = self._cache.get(handle)
            if entry is not None and now - entry.fetched_at < self.usergroup_ttl:
                return entry.members
        try:
            members = frozenset(self.usergroup_members(handle))
        except Exception:  # a lookup failure must never grant a role: fail closed
            log.warning("user group %r could not be resolved; granting nothing", handle)
            return frozenset()
        with self._lock:
            self._cache[handle] = _CacheEntry(members, now)
        return members
