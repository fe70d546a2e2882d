"""Okta identity client (Management API ``/api/v1``, ``SSWS`` API token).

Lists follow RFC 8288 ``Link: <...>; rel="next"`` headers; Okta's ``X-Rate-Limit-Reset`` is
honoured on 429 by the HTTP layer. Disabling uses the reversible *suspend* lifecycle by default
(``deactivate`` is available, but re-activating a deactivated user resets its credentials, a poor
rollback). Secret rotation works on OAuth service apps (``/api/v1/apps/{id}/credentials/secrets``)
and hands the new secret to an injected sink: it never leaves this client otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp, next_link
from adapters.contracts import IdentityGroup, IdentityUser, SecretRotation
from adapters.errors import RequestRejected
from adapters.vendors._auth import HeaderToken
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str, seg

__all__ = ["OktaClient", "SecretSink"]

SecretSink = Callable[[str, SecretStr], None]
"""Receives ``(app_or_user_id, new_secret)``; e.g. writes it to the vault consumers read."""

_DISABLED = frozenset({"SUSPENDED", "DEPROVISIONED"})


class OktaClient:
    """:class:`adapters.contracts.IdentityContract` over the Okta Management API.

    Args:
        base_url: The org, e.g. ``https://acme.okta.com``.
        api_token: An Okta API token.
        http_client: Injected sync client.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        admin_groups: Group names whose members count as admins.
        break_glass_logins: Logins of break-glass accounts.
        disable_mode: ``suspend`` (reversible) or ``deactivate``.
        secret_sink: Where rotated secrets go; rotation is refused without one.
        page_size: ``limit`` per page.
    """

    integration = "okta"

    def __init__(
        self,
        base_url: str,
        *,
        api_token: SecretStr,
        http_client: httpx.Client,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        admin_groups: Iterable[str] = ("Okta Administrators",),
        break_glass_logins: Iterable[str] = (),
        disable_mode: Literal["suspend", "deactivate"] = "suspend",
        secret_sink: SecretSink | None = None,
        page_size: int = 200,
    ) -> None:
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=HeaderToken(api_token, scheme="SSWS"),
            hooks=hooks,
        )
        self._admin_groups = frozenset(admin_groups)
        self._break_glass = frozenset(login.lower() for login in break_glass_logins)
        self._disable_mode = disable_mode
        self._sink = secret_sink
        self._page = page_size

    def __repr__(self) -> str:
        return f"OktaClient(base_url={str(self.http.base_url)!r})"

    # ------------------------------------------------------------------ reads
    def list_users(self) -> list[IdentityUser]:
        """All users, with group names resolved from the group listing."""
        raw = self._all("/api/v1/users", "list_users")
        groups = self.list_groups()
        member_of: dict[str, list[str]] = {}
        for group in groups:
            for member in group.members:
                member_of.setdefault(member, []).append(group.name)
        with parsing(self.integration, "list_users"):
            return [self._user(u, member_of.get(req_str(u, "id"), [])) for u in raw]

    def list_groups(self) -> list[IdentityGroup]:
        """All groups and their member ids."""
        result = []
        for raw in self._all("/api/v1/groups", "list_groups"):
            with parsing(self.integration, "list_groups"):
                group_id = req_str(raw, "id")
                name = opt_str(as_dict(raw.get("profile") or {}, "profile"), "name") or group_id
            members = self._all(f"/api/v1/groups/{seg(group_id)}/users", "list_groups")
            with parsing(self.integration, "list_groups"):
                ids = tuple(req_str(m, "id") for m in members)
            result.append(IdentityGroup(group_id=group_id, name=name, members=ids))
        return result

    def get_user(self, user_id: str) -> IdentityUser:
        """One user and the names of its groups."""
        call = "get_user"
        answer = self.http.get(f"/api/v1/users/{seg(user_id)}", call=call)
        # Not paginated: the spec declares no limit/after for listUserGroups.
        groups = self._all(f"/api/v1/users/{seg(user_id)}/groups", call, paged=False)
        with parsing(self.integration, call):
            names = [opt_str(as_dict(g.get("profile") or {}, "profile"), "name") for g in groups]
            return self._user(as_dict(answer.body, "user"), [n for n in names if n])

    # ------------------------------------------------------------------ lifecycle
    def disable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Suspend (or deactivate) the user; a user already disabled is left as is."""
        current = self.get_user(user_id)
        if current.status == "disabled":
            return current
        self._lifecycle(user_id, self._disable_mode, "disable_user", idempotency_key)
        return self.get_user(user_id)

    def enable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Unsuspend (or activate without email) the user; an active user is left as is."""
        current = self.get_user(user_id)
        if current.status == "active":
            return current
        op = "unsuspend" if self._disable_mode == "suspend" else "activate"
        self._lifecycle(user_id, op, "enable_user", idempotency_key)
        return self.get_user(user_id)

    def revoke_sessions(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """``DELETE /api/v1/users/{id}/sessions``: ends every IdP session of the user."""
        self.http.request(
            "DELETE",
            f"/api/v1/users/{seg(user_id)}/sessions",
            call="revoke_sessions",
            idempotent=True,  # revoking twice leaves the same state
            idempotency_key=idempotency_key,
        )
        return self.get_user(user_id)

    def rotate_secret(
        self, user_id: str, *, overlap_minutes: int, idempotency_key: str
    ) -> SecretRotation:
        """Add a client secret to the OAuth service app ``user_id``; the old stays valid.

        The caller retires the old secret after ``previous_valid_until`` with
        :meth:`deactivate_secret`. The new secret goes only to the configured sink.
        """
        call = "rotate_secret"
        if self._sink is None:
            raise RequestRejected(
                "no secret sink configured; refusing to create a secret nobody can store",
                integration=self.integration,
                call=call,
            )
        answer = self.http.request(
            "POST",
            f"/api/v1/apps/{seg(user_id)}/credentials/secrets",
            call=call,
            idempotent=False,
            json_body={},
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            secret = req_str(as_dict(answer.body, "secret"), "client_secret")
        self._sink(user_id, SecretStr(secret))
        listing = self.http.get(f"/api/v1/apps/{seg(user_id)}/credentials/secrets", call=call)
        with parsing(self.integration, call):
            version = len(as_list(listing.body, "secrets"))
        return SecretRotation(
            user_id=user_id,
            new_version=version,
            previous_valid_until=self.http.hooks.now() + timedelta(minutes=overlap_minutes),
        )

    def deactivate_secret(self, app_id: str, secret_id: str, *, idempotency_key: str) -> None:
        """Retire an old client secret once its consumers use the new one."""
        self.http.request(
            "POST",
            f"/api/v1/apps/{seg(app_id)}/credentials/secrets/{seg(secret_id)}/lifecycle/deactivate",
            call="deactivate_secret",
            idempotent=True,
            idempotency_key=idempotency_key,
        )

    # ------------------------------------------------------------------ helpers
    def _lifecycle(self, user_id: str, op: str, call: str, key: str) -> None:
        params: dict[str, str | int | bool] = {}
        if op in ("activate", "deactivate"):
            params["sendEmail"] = "false"
        self.http.request(
            "POST",
            f"/api/v1/users/{seg(user_id)}/lifecycle/{op}",
            call=call,
            idempotent=False,
            params=params or None,
            idempotency_key=key,
        )

    def _all(self, path: str, call: str, *, paged: bool = True) -> list[dict[str, Any]]:
        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return [as_dict(x, "item") for x in as_list(page.body, "page")]

        return list(
            self.http.paginate(
                path,
                call=call,
                items=items,
                next_request=lambda page, _seen: next_link(page.headers),
                params={"limit": self._page} if paged else None,
            )
        )

    def _user(self, u: dict[str, Any], groups: list[str]) -> IdentityUser:
        profile = as_dict(u.get("profile") or {}, "profile")
        login = req_str(profile, "login")
        display = opt_str(profile, "displayName") or " ".join(
            p for p in (opt_str(profile, "firstName"), opt_str(profile, "lastName")) if p
        )
        return IdentityUser(
            user_id=req_str(u, "id"),
            username=login,
            display_name=display,
            status="disabled" if req_str(u, "status") in _DISABLED else "active",
            groups=tuple(sorted(groups)),
            admin=bool(self._admin_groups.intersection(groups)),
            break_glass=login.lower() in self._break_glass,
            service_account=opt_str(profile, "userType").lower() == "service",
        )
