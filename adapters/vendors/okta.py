"""Okta identity client (Management API ``/api/v1``, ``SSWS`` API token).

Checked against Okta's published Management API spec (2026.06.3). Lists follow RFC 8288
``Link: <...>; rel="next"`` headers; Okta's ``X-Rate-Limit-Reset`` is honoured on 429 by the
HTTP layer. The plain user listing omits ``DEPROVISIONED`` users, so they are fetched with a
``search`` as well (search is eventually consistent: a user deactivated seconds ago may show
late).

Disabling uses the reversible *suspend* lifecycle by default (``deactivate`` is available, but
re-activating a deactivated user resets its credentials, a poor rollback). Okta suspends only
``ACTIVE`` users, so the other states have their own path, chosen by settings:
``LOCKED_OUT`` -> ``locked_out_action`` (``unlock_then_suspend``, ``deactivate`` or ``refuse``);
``PASSWORD_EXPIRED``/``RECOVERY``/``PROVISIONED``/``STAGED`` -> ``inactive_action``
(``deactivate`` or ``refuse``, the default: a person decides). Revoking sessions also revokes the
user's OAuth/OIDC tokens (``oauthTokens=true``).

Secret rotation works on OAuth service apps (``/api/v1/apps/{id}/credentials/secrets``), which
hold two secrets at most: older ones (all but the newest active) are deactivated and deleted
first, then a new one is created, and it goes only to an injected sink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from datetime import timedelta
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp, next_link
from adapters.contracts import IdentityGroup, IdentityUser, SecretRotation
from adapters.errors import NotFound, RequestRejected
from adapters.vendors._auth import HeaderToken
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str, seg

__all__ = ["OktaClient", "SecretSink"]

SecretSink = Callable[[str, SecretStr], None]
"""Receives ``(app_or_user_id, new_secret)``; e.g. writes it to the vault consumers read."""

_DISABLED = frozenset({"SUSPENDED", "DEPROVISIONED"})
# States Okta cannot suspend and that are not locked out (the user cannot sign in normally).
_NOT_ACTIVE = frozenset({"PASSWORD_EXPIRED", "RECOVERY", "PROVISIONED", "STAGED"})
LockedOutAction = Literal["unlock_then_suspend", "deactivate", "refuse"]
InactiveAction = Literal["deactivate", "refuse"]


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
        locked_out_action: How a ``LOCKED_OUT`` user is disabled when suspending.
        inactive_action: How a ``PASSWORD_EXPIRED``, ``RECOVERY``, ``PROVISIONED`` or
            ``STAGED`` user is disabled when suspending; ``refuse`` leaves it to a person.
        secret_sink: Where rotated secrets go; rotation is refused without one.
        page_size: ``limit`` per page.
    """

    integration = "okta"
    API_CHECKED = "Okta Management API 2026.06.3 (okta/okta-management-openapi-spec)"
    """The published spec this client was checked against (``opshand adapters check``)."""

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
        locked_out_action: LockedOutAction = "unlock_then_suspend",
        inactive_action: InactiveAction = "refuse",
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
        self._locked_out_action = locked_out_action
        self._inactive_action = inactive_action
        self._sink = secret_sink
        self._page = page_size

    def __repr__(self) -> str:
        return f"OktaClient(base_url={str(self.http.base_url)!r})"

    # ------------------------------------------------------------------ reads
    def list_users(self) -> list[IdentityUser]:
        """All users, deactivated ones too, with group names resolved from the group listing."""
        raw = self._all("/api/v1/users", "list_users")
        # The plain listing omits DEPROVISIONED users; a search returns them.
        gone = self._all(
            "/api/v1/users", "list_users", extra={"search": 'status eq "DEPROVISIONED"'}
        )
        with parsing(self.integration, "list_users"):
            seen = {req_str(u, "id") for u in raw}
            raw += [u for u in gone if req_str(u, "id") not in seen]
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
        """Suspend (or deactivate) the user; a user already disabled is left as is.

        Okta suspends only ``ACTIVE`` users; other states follow ``locked_out_action`` and
        ``inactive_action`` (see the module docstring).
        """
        call = "disable_user"
        status = self._status(user_id, call)
        if status in _DISABLED:
            return self.get_user(user_id)
        if self._disable_mode == "deactivate":
            self._lifecycle(user_id, "deactivate", call, idempotency_key)
        elif status == "ACTIVE":
            self._lifecycle(user_id, "suspend", call, idempotency_key)
        elif status == "LOCKED_OUT":
            self._locked_out(user_id, call, idempotency_key)
        elif status in _NOT_ACTIVE and self._inactive_action == "deactivate":
            self._lifecycle(user_id, "deactivate", call, idempotency_key)
        else:
            raise RequestRejected(
                f"Okta cannot suspend a user in status {status}; set inactive_action="
                "'deactivate' to deactivate such users, or disable this one by hand",
                integration=self.integration,
                call=call,
            )
        return self.get_user(user_id)

    def _locked_out(self, user_id: str, call: str, key: str) -> None:
        if self._locked_out_action == "refuse":
            raise RequestRejected(
                "the user is LOCKED_OUT and locked_out_action is 'refuse'; decide by hand",
                integration=self.integration,
                call=call,
            )
        if self._locked_out_action == "deactivate":
            self._lifecycle(user_id, "deactivate", call, key)
            return
        # Unlock makes the user ACTIVE, the one state Okta can suspend; suspend at once.
        self._lifecycle(user_id, "unlock", call, f"{key}-unlock")
        self._lifecycle(user_id, "suspend", call, key)

    def enable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Unsuspend a suspended user, activate (without email) a deactivated one."""
        call = "enable_user"
        status = self._status(user_id, call)
        if status == "SUSPENDED":
            self._lifecycle(user_id, "unsuspend", call, idempotency_key)
        elif status == "DEPROVISIONED":
            self._lifecycle(user_id, "activate", call, idempotency_key)
        return self.get_user(user_id)

    def revoke_sessions(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """End every IdP session of the user and revoke its OAuth/OIDC tokens."""
        self.http.request(
            "DELETE",
            f"/api/v1/users/{seg(user_id)}/sessions",
            call="revoke_sessions",
            idempotent=True,  # revoking twice leaves the same state
            params={"oauthTokens": "true"},
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
        app = seg(user_id)
        # Two secrets at most: keep the newest active one (consumers use it until they get
        # the new one), retire every other before adding.
        for old in self._secrets(user_id, call)[:-1]:
            self._retire(user_id, old, call, f"{idempotency_key}-retire-{old['id']}")
        answer = self.http.request(
            "POST",
            f"/api/v1/apps/{app}/credentials/secrets",
            call=call,
            idempotent=False,
            json_body={},
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            secret = req_str(as_dict(answer.body, "secret"), "client_secret")
        self._sink(user_id, SecretStr(secret))
        version = len(self._secrets(user_id, call))
        return SecretRotation(
            user_id=user_id,
            new_version=version,
            previous_valid_until=self.http.hooks.now() + timedelta(minutes=overlap_minutes),
        )

    def deactivate_secret(self, app_id: str, secret_id: str, *, idempotency_key: str) -> None:
        """Retire an old client secret once its consumers use the new one: deactivate, delete."""
        call = "deactivate_secret"
        try:
            answer = self.http.get(
                f"/api/v1/apps/{seg(app_id)}/credentials/secrets/{seg(secret_id)}", call=call
            )
        except NotFound:
            return  # already gone
        with parsing(self.integration, call):
            secret = as_dict(answer.body, "secret")
        self._retire(app_id, secret, call, idempotency_key)

    def _secrets(self, app_id: str, call: str) -> list[dict[str, Any]]:
        """The app's secrets, the newest active one last."""
        listing = self.http.get(f"/api/v1/apps/{seg(app_id)}/credentials/secrets", call=call)
        with parsing(self.integration, call):
            secrets = [as_dict(x, "secret") for x in as_list(listing.body, "secrets")]
            for x in secrets:
                req_str(x, "id")

        def order(x: dict[str, Any]) -> tuple[bool, str]:
            return (opt_str(x, "status") == "ACTIVE", opt_str(x, "created"))

        return sorted(secrets, key=order)

    def _retire(self, app_id: str, secret: dict[str, Any], call: str, key: str) -> None:
        base = f"/api/v1/apps/{seg(app_id)}/credentials/secrets/{seg(req_str(secret, 'id'))}"
        if opt_str(secret, "status") != "INACTIVE":
            # Okta deletes only inactive secrets.
            self.http.request(
                "POST", f"{base}/lifecycle/deactivate", call=call, idempotent=True,
                idempotency_key=f"{key}-deactivate",
            )  # fmt: skip
        with suppress(NotFound):  # deleted meanwhile: the same end state
            self.http.request("DELETE", base, call=call, idempotent=True, idempotency_key=key)

    # ------------------------------------------------------------------ helpers
    def _status(self, user_id: str, call: str) -> str:
        answer = self.http.get(f"/api/v1/users/{seg(user_id)}", call=call)
        with parsing(self.integration, call):
            return req_str(as_dict(answer.body, "user"), "status")

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

    def _all(
        self,
        path: str,
        call: str,
        *,
        paged: bool = True,
        extra: dict[str, str | int | bool] | None = None,
    ) -> list[dict[str, Any]]:
        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return [as_dict(x, "item") for x in as_list(page.body, "page")]

        return list(
            self.http.paginate(
                path,
                call=call,
                items=items,
                next_request=lambda page, _seen: next_link(page.headers),
                params={"limit": self._page, **(extra or {})} if paged else None,
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
