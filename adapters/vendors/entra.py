"""Microsoft Entra ID client over Microsoft Graph ``/v1.0``.

Auth is OAuth2 client credentials against ``login.microsoftonline.com/{tenant}`` (its own origin,
so the token request has its own :class:`ResilientHttp` sharing the injected client). Lists follow
``@odata.nextLink``. Disable/enable set ``accountEnabled``; sessions are revoked with
``revokeSignInSessions``; rotation adds an application password (``addPassword``) and
:meth:`EntraClient.remove_secret` retires the old one (``removePassword``).

Admins are found through directory roles, not groups: Global Administrator is a role, and a
group that happens to be called "Global Administrators" grants nothing. The client lists the
active role assignments of each admin role (``/roleManagement/directory/roleAssignments``
filtered on ``roleDefinitionId``, principal expanded); an assignment at the tenant scope
(``directoryScopeId`` ``/``) makes its user an admin, or every user in its role-assignable group
(``transitiveMembers``). Assignments scoped to an administrative unit do not. PIM-eligible
assignments are not active and are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions
from adapters.contracts import IdentityGroup, IdentityUser, SecretRotation
from adapters.errors import RequestRejected
from adapters.vendors._auth import MICROSOFT_LOGIN, microsoft_app_http
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str, seg
from adapters.vendors.okta import SecretSink

__all__ = ["EntraClient"]

_USER_FIELDS = "id,userPrincipalName,displayName,accountEnabled,userType"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
"""Template id of the Global Administrator role (the same in every tenant)."""
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
"""Template id of Privileged Role Administrator (can grant itself any role)."""
_ROLE_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


class EntraClient:
    """:class:`adapters.contracts.IdentityContract` over Microsoft Graph.

    Args:
        tenant_id: Directory (tenant) id.
        client_id: App registration's client id.
        client_secret: Its secret.
        http_client: Injected sync client.
        base_url: Graph endpoint (national clouds differ).
        token_base_url: Identity platform endpoint.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        admin_roles: Role definition (template) ids whose tenant-wide holders count as admins.
        break_glass_upns: UPNs of break-glass accounts.
        service_account_prefix: UPN prefix that marks service accounts.
        secret_sink: Where rotated secrets go; rotation is refused without one.
    """

    integration = "entra"

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: SecretStr,
        http_client: httpx.Client,
        base_url: str = "https://graph.microsoft.com",
        token_base_url: str = MICROSOFT_LOGIN,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        admin_roles: Iterable[str] = (GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR),
        break_glass_upns: Iterable[str] = (),
        service_account_prefix: str = "svc-",
        secret_sink: SecretSink | None = None,
    ) -> None:
        self.http = microsoft_app_http(
            http_client,
            integration=self.integration,
            base_url=base_url,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            token_base_url=token_base_url,
            options=options,
            hooks=hooks,
        )
        self._admin_roles = tuple(admin_roles)
        bad = [r for r in self._admin_roles if not _ROLE_ID.match(r)]
        if bad:
            raise ValueError(f"admin_roles must be role definition ids (GUIDs), got {bad[0]!r}")
        self._break_glass = frozenset(u.lower() for u in break_glass_upns)
        self._svc_prefix = service_account_prefix.lower()
        self._sink = secret_sink

    def __repr__(self) -> str:
        return f"EntraClient(base_url={str(self.http.base_url)!r})"

    # ------------------------------------------------------------------ reads
    def list_users(self) -> list[IdentityUser]:
        """All users, with group names resolved from the group listing and admins from roles."""
        raw = self._all("/v1.0/users", "list_users", {"$select": _USER_FIELDS, "$top": 999})
        member_of: dict[str, list[str]] = {}
        for group in self.list_groups():
            for member in group.members:
                member_of.setdefault(member, []).append(group.name)
        admins = self._admin_ids("list_users")
        with parsing(self.integration, "list_users"):
            return [self._user(u, member_of.get(req_str(u, "id"), []), admins) for u in raw]

    def list_groups(self) -> list[IdentityGroup]:
        """All groups and their direct member ids."""
        result = []
        for raw in self._all("/v1.0/groups", "list_groups", {"$select": "id,displayName"}):
            with parsing(self.integration, "list_groups"):
                group_id = req_str(raw, "id")
                name = opt_str(raw, "displayName") or group_id
            members = self._all(
                f"/v1.0/groups/{seg(group_id)}/members", "list_groups", {"$select": "id"}
            )
            with parsing(self.integration, "list_groups"):
                ids = tuple(req_str(m, "id") for m in members)
            result.append(IdentityGroup(group_id=group_id, name=name, members=ids))
        return result

    def get_user(self, user_id: str) -> IdentityUser:
        """One user and the names of the groups it is a direct member of."""
        call = "get_user"
        answer = self.http.get(
            f"/v1.0/users/{seg(user_id)}", call=call, params={"$select": _USER_FIELDS}
        )
        groups = self._all(
            f"/v1.0/users/{seg(user_id)}/memberOf", call, {"$select": "id,displayName"}
        )
        admins = self._admin_ids(call)
        with parsing(self.integration, call):
            # memberOf also lists directory roles; only groups are groups.
            names = [
                opt_str(g, "displayName")
                for g in groups
                if opt_str(g, "@odata.type", "#microsoft.graph.group") == "#microsoft.graph.group"
            ]
            return self._user(as_dict(answer.body, "user"), [n for n in names if n], admins)

    # ------------------------------------------------------------------ changes
    def disable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """``PATCH accountEnabled=false`` (setting a value: safe to retry)."""
        self._set_enabled(user_id, False, "disable_user", idempotency_key)
        return self.get_user(user_id)

    def enable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """``PATCH accountEnabled=true``."""
        self._set_enabled(user_id, True, "enable_user", idempotency_key)
        return self.get_user(user_id)

    def revoke_sessions(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Invalidate refresh tokens and session cookies (``revokeSignInSessions``)."""
        answer = self.http.request(
            "POST",
            f"/v1.0/users/{seg(user_id)}/revokeSignInSessions",
            call="revoke_sessions",
            idempotent=True,  # revoking twice leaves the same state
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, "revoke_sessions"):
            if as_dict(answer.body, "body").get("value") is not True:
                raise ValueError("revokeSignInSessions did not answer value=true")
        return self.get_user(user_id)

    def rotate_secret(
        self, user_id: str, *, overlap_minutes: int, idempotency_key: str
    ) -> SecretRotation:
        """Add a password to application ``user_id`` (object id); the old stays valid.

        The caller removes the old one after ``previous_valid_until`` with
        :meth:`remove_secret`. The new secret goes only to the configured sink.
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
            f"/v1.0/applications/{seg(user_id)}/addPassword",
            call=call,
            idempotent=False,
            json_body={"passwordCredential": {"displayName": f"opshand {idempotency_key}"}},
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            secret = req_str(as_dict(answer.body, "credential"), "secretText")
        self._sink(user_id, SecretStr(secret))
        app = self.http.get(
            f"/v1.0/applications/{seg(user_id)}",
            call=call,
            params={"$select": "passwordCredentials"},
        )
        with parsing(self.integration, call):
            version = len(as_list(as_dict(app.body, "app")["passwordCredentials"], "credentials"))
        return SecretRotation(
            user_id=user_id,
            new_version=version,
            previous_valid_until=self.http.hooks.now() + timedelta(minutes=overlap_minutes),
        )

    def remove_secret(self, app_id: str, key_id: str, *, idempotency_key: str) -> None:
        """Retire an application password by ``keyId`` (``removePassword``)."""
        self.http.request(
            "POST",
            f"/v1.0/applications/{seg(app_id)}/removePassword",
            call="remove_secret",
            idempotent=True,
            json_body={"keyId": key_id},
            idempotency_key=idempotency_key,
        )

    # ------------------------------------------------------------------ helpers
    def _admin_ids(self, call: str) -> frozenset[str]:
        """Users holding an admin role at tenant scope, directly or through a group."""
        users: set[str] = set()
        groups: set[str] = set()
        for role in self._admin_roles:
            assignments = self._all(
                "/v1.0/roleManagement/directory/roleAssignments",
                call,
                {"$filter": f"roleDefinitionId eq '{role}'", "$expand": "principal"},
            )
            with parsing(self.integration, call):
                for a in assignments:
                    if opt_str(a, "directoryScopeId", "/") != "/":
                        continue  # an administrative unit's admin, not the tenant's
                    # Without the principal's type a group's members would be missed: refuse.
                    kind = req_str(as_dict(a["principal"], "principal"), "@odata.type")
                    if kind == "#microsoft.graph.group":
                        groups.add(req_str(a, "principalId"))
                    elif kind == "#microsoft.graph.user":
                        users.add(req_str(a, "principalId"))
        for group_id in sorted(groups):
            members = self._all(
                f"/v1.0/groups/{seg(group_id)}/transitiveMembers",
                call,
                {"$select": "id"},
            )
            with parsing(self.integration, call):
                users.update(
                    req_str(m, "id")
                    for m in members
                    if opt_str(m, "@odata.type", "#microsoft.graph.user") == "#microsoft.graph.user"
                )
        return frozenset(users)

    def _set_enabled(self, user_id: str, enabled: bool, call: str, key: str) -> None:
        self.http.request(
            "PATCH",
            f"/v1.0/users/{seg(user_id)}",
            call=call,
            idempotent=True,
            json_body={"accountEnabled": enabled},
            idempotency_key=key,
        )

    def _all(
        self, path: str, call: str, params: dict[str, str | int | bool]
    ) -> list[dict[str, Any]]:
        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return [
                    as_dict(x, "item")
                    for x in as_list(as_dict(page.body, "page")["value"], "value")
                ]

        def following(page: HttpResponse, _seen: int) -> str | None:
            link = page.body.get("@odata.nextLink") if isinstance(page.body, dict) else None
            return link if isinstance(link, str) else None

        return list(
            self.http.paginate(path, call=call, items=items, next_request=following, params=params)
        )

    def _user(self, u: dict[str, Any], groups: list[str], admins: frozenset[str]) -> IdentityUser:
        upn = req_str(u, "userPrincipalName")
        enabled = u.get("accountEnabled")
        if not isinstance(enabled, bool):
            raise ValueError("field 'accountEnabled' is not a boolean")
        return IdentityUser(
            user_id=req_str(u, "id"),
            username=upn,
            display_name=opt_str(u, "displayName"),
            status="active" if enabled else "disabled",
            groups=tuple(sorted(groups)),
            admin=req_str(u, "id") in admins,
            break_glass=upn.lower() in self._break_glass,
            service_account=upn.lower().startswith(self._svc_prefix),
        )
