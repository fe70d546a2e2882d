"""The sim's identity provider: users, groups, disable/enable, sessions and secret rotation.

Identity changes ripple through the estate: a disabled service account fails every service that
authenticates as it, and a rotated secret fails every consumer instance still configured with
the old version once any overlap window has passed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from adapters.contracts import IdentityGroup, IdentityUser, SecretRotation
from adapters.errors import AdapterError, NotFound
from adapters.sim._core import SimCore
from adapters.sim.faults import FaultRule
from adapters.sim.state import UserState

__all__ = ["SimIdentity", "secret_version", "set_status"]


def secret_version(core: SimCore, user: UserState) -> int:
    """Current secret version of a user: its newest owned credential, else its own counter."""
    owned = [c.version for c in core.credentials.values() if c.owner == user.user_id]
    return max(owned) if owned else user.own_secret_version


class SimIdentity:
    """:class:`~adapters.contracts.IdentityContract` over a :class:`SimCore`.

    With ``client`` set it is one client's tenant (as an MSP connects one IdP per client):
    it lists only that tenant's users and groups and does not find anyone else's.
    """

    def __init__(self, core: SimCore, client: str | None = None) -> None:
        self._core = core
        self._client = client

    def _mine(self, client: str) -> bool:
        return self._client is None or client == self._client

    def _user(self, user_id: str, call: str) -> UserState:
        user = self._core.user(user_id, call)
        if not self._mine(user.client):
            raise NotFound(
                f"no user with id {user_id!r} in this tenant", integration="sim-identity", call=call
            )
        return user

    def _view(self, user: UserState) -> IdentityUser:
        return IdentityUser(
            user_id=user.user_id,
            username=user.username,
            display_name=user.display_name,
            status=user.status,
            groups=tuple(user.groups),
            admin=user.admin,
            break_glass=user.break_glass,
            service_account=user.service_account,
            sessions=user.sessions,
            secret_version=secret_version(self._core, user),
        )

    # ------------------------------------------------------------------ reads
    def list_users(self) -> list[IdentityUser]:
        """Every user and service account."""

        def act(_: list[FaultRule], now: datetime) -> list[IdentityUser]:
            return [self._view(u) for u in self._core.users.values() if self._mine(u.client)]

        return self._core.call("identity", "list_users", target=None, args={}, act=act)

    def list_groups(self) -> list[IdentityGroup]:
        """Every group with its member user ids."""

        def act(_: list[FaultRule], now: datetime) -> list[IdentityGroup]:
            return [
                IdentityGroup(group_id=g.group_id, name=g.name, members=tuple(g.members))
                for g in self._core.groups.values()
                if self._mine(g.client)
            ]

        return self._core.call("identity", "list_groups", target=None, args={}, act=act)

    def get_user(self, user_id: str) -> IdentityUser:
        """One user."""

        def act(_: list[FaultRule], now: datetime) -> IdentityUser:
            return self._view(self._user(user_id, "get_user"))

        return self._core.call(
            "identity", "get_user", target=user_id, args={"user_id": user_id}, act=act
        )

    # ------------------------------------------------------------------ changes
    def disable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Disable the account; its sessions end at once."""

        def act(_: list[FaultRule], now: datetime) -> IdentityUser:
            user = self._user(user_id, "disable_user")
            set_status(self._core, user, "disabled", now)
            return self._view(user)

        return self._mutate("disable_user", user_id, idempotency_key, act)

    def enable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Re-enable the account (sessions do not come back)."""

        def act(_: list[FaultRule], now: datetime) -> IdentityUser:
            user = self._user(user_id, "enable_user")
            set_status(self._core, user, "active", now)
            return self._view(user)

        return self._mutate("enable_user", user_id, idempotency_key, act)

    def revoke_sessions(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """End every session of the user."""

        def act(_: list[FaultRule], now: datetime) -> IdentityUser:
            user = self._user(user_id, "revoke_sessions")
            user.sessions = 0
            self._core.log_event(now, "sessions_revoked", user=user.username)
            return self._view(user)

        return self._mutate("revoke_sessions", user_id, idempotency_key, act)

    def rotate_secret(
        self, user_id: str, *, overlap_minutes: int, idempotency_key: str
    ) -> SecretRotation:
        """Issue a new secret version for every credential the account owns.

        With ``overlap_minutes`` > 0 and a credential that supports overlap, the previous version
        keeps working until then; otherwise consumers still on it fail at once.
        """
        core = self._core

        def act(_: list[FaultRule], now: datetime) -> SecretRotation:
            if overlap_minutes < 0:
                raise AdapterError(
                    f"overlap_minutes must be >= 0, got {overlap_minutes}",
                    integration="sim-identity",
                    call="rotate_secret",
                )
            user = self._user(user_id, "rotate_secret")
            owned = [c for c in core.credentials.values() if c.owner == user_id]
            until = now + timedelta(minutes=overlap_minutes) if overlap_minutes else None
            overlapped = (
                until is not None and bool(owned) and all(c.supports_overlap for c in owned)
            )
            for cred in owned:
                cred.previous_version = cred.version
                cred.version += 1
                cred.rotated_at = now
                cred.previous_valid_until = until if cred.supports_overlap else None
            if not owned:
                user.own_secret_version += 1
            core.log_event(now, "secret_rotated", user=user.username)
            return SecretRotation(
                user_id=user_id,
                new_version=secret_version(core, user),
                previous_valid_until=until if (overlapped or (not owned and until)) else None,
            )

        return core.call(
            "identity",
            "rotate_secret",
            target=user_id,
            args={"user_id": user_id, "overlap_minutes": overlap_minutes},
            key=idempotency_key,
            act=act,
        )

    def _mutate(
        self,
        method: str,
        user_id: str,
        key: str,
        act: Callable[[list[FaultRule], datetime], IdentityUser],
    ) -> IdentityUser:
        return self._core.call(
            "identity",
            method,
            target=user_id,
            args={"user_id": user_id},
            key=key,
            act=act,
        )


def set_status(core: SimCore, user: UserState, status: str, at: datetime) -> None:
    """Disable or enable a user; disabling ends its sessions. Shared with drift."""
    if status == "disabled":
        user.status = "disabled"
        user.sessions = 0
        core.log_event(at, "user_disabled", user=user.username)
    else:
        user.status = "active"
        core.log_event(at, "user_enabled", user=user.username)
