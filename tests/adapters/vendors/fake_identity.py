"""Stateful fakes of Okta and Microsoft Graph (Entra ID).

Response shapes follow each vendor's public API documentation; the values are ours.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, form_of


# --------------------------------------------------------------------------- Okta
class FakeOkta(FakeVendor):
    spec = "okta"
    BASE = "https://acme.okta.example"
    PAGE = 2

    def register(self) -> None:
        def user(
            uid: str, login: str, first: str, status: str = "ACTIVE", **extra: str
        ) -> dict[str, Any]:
            return {
                "id": uid,
                "status": status,
                "created": "2025-01-01T00:00:00.000Z",
                "profile": {
                    "login": login,
                    "email": login,
                    "firstName": first,
                    "lastName": "Doe",
                    **extra,
                },
                "_links": {"self": {"href": f"{self.BASE}/api/v1/users/{uid}"}},
            }

        self.users = {
            "00u1": user("00u1", "ada@acme.example", "Ada"),
            "00u2": user("00u2", "bob@acme.example", "Bob", "SUSPENDED"),
            "00u3": user("00u3", "breakglass@acme.example", "Break"),
            "00u4": user("00u4", "svc-backup@acme.example", INJECTED[:30], userType="service"),
        }
        self.groups = {
            "00g1": {
                "id": "00g1",
                "type": "OKTA_GROUP",
                "profile": {"name": "Okta Administrators", "description": ""},
            },
            "00g2": {
                "id": "00g2",
                "type": "OKTA_GROUP",
                "profile": {"name": "Engineering", "description": INJECTED},
            },
        }
        self.members = {"00g1": ["00u1", "00u3"], "00g2": ["00u1", "00u2", "00u4"]}
        self.sessions_revoked: list[str] = []
        self.secrets: dict[str, list[dict[str, Any]]] = {
            "0oa1": [{"id": "ocs1", "status": "ACTIVE"}]
        }
        self.route("GET", r"/api/v1/users", self.list_users)
        self.route("GET", r"/api/v1/users/(?P<uid>[^/]+)", self.get_user)
        self.route("GET", r"/api/v1/users/(?P<uid>[^/]+)/groups", self.user_groups)
        self.route("GET", r"/api/v1/groups", self.list_groups)
        self.route("GET", r"/api/v1/groups/(?P<gid>[^/]+)/users", self.group_users)
        self.route("POST", r"/api/v1/users/(?P<uid>[^/]+)/lifecycle/(?P<op>[a-z]+)", self.lifecycle)
        self.route("DELETE", r"/api/v1/users/(?P<uid>[^/]+)/sessions", self.revoke)
        self.route("POST", r"/api/v1/apps/(?P<app>[^/]+)/credentials/secrets", self.add_secret)
        self.route("GET", r"/api/v1/apps/(?P<app>[^/]+)/credentials/secrets", self.list_secrets)

    def authorized(self, request):
        return request.headers.get("authorization") == "SSWS okta-api-token"

    def error(self, status, message):
        code = {401: "E0000011", 404: "E0000007", 400: "E0000001"}.get(status, "E0000009")
        return httpx.Response(
            status,
            json={
                "errorCode": code,
                "errorSummary": message,
                "errorLink": code,
                "errorId": "oaeXYZ",
                "errorCauses": [],
            },
        )

    def _page(self, request, items: list[dict[str, Any]], path: str) -> httpx.Response:
        limit = int(request.url.params.get("limit", "200"))
        after = request.url.params.get("after")
        start = next((i + 1 for i, x in enumerate(items) if x["id"] == after), 0) if after else 0
        chunk = items[start : start + min(limit, self.PAGE)]
        links = [f'<{self.BASE}{path}?limit={limit}>; rel="self"']
        if start + len(chunk) < len(items):
            links.append(f'<{self.BASE}{path}?after={chunk[-1]["id"]}&limit={limit}>; rel="next"')
        return ok(chunk, headers={"Link": ", ".join(links), "X-Rate-Limit-Remaining": "599"})

    def list_users(self, request):
        return self._page(request, list(self.users.values()), "/api/v1/users")

    def get_user(self, request, uid):
        return (
            ok(self.users[uid])
            if uid in self.users
            else self.error(404, f"Not found: Resource not found: {uid} (User)")
        )

    def user_groups(self, request, uid):
        if uid not in self.users:
            return self.error(404, "Not found")
        gs = [self.groups[g] for g, ms in self.members.items() if uid in ms]
        return self._page(request, gs, f"/api/v1/users/{uid}/groups")

    def list_groups(self, request):
        return self._page(request, list(self.groups.values()), "/api/v1/groups")

    def group_users(self, request, gid):
        return self._page(
            request, [self.users[u] for u in self.members[gid]], f"/api/v1/groups/{gid}/users"
        )

    def lifecycle(self, request, uid, op):
        if uid not in self.users:
            return self.error(404, "Not found")
        u = self.users[uid]
        allowed = {
            "suspend": ("ACTIVE", "SUSPENDED"),
            "unsuspend": ("SUSPENDED", "ACTIVE"),
            "deactivate": ("ACTIVE", "DEPROVISIONED"),
            "activate": ("DEPROVISIONED", "ACTIVE"),
        }
        before, after = allowed[op]
        if u["status"] != before:
            return self.error(
                400, f"Api validation failed: cannot {op} a user that is {u['status']}"
            )
        u["status"] = after
        return ok({})

    def revoke(self, request, uid):
        if uid not in self.users:
            return self.error(404, "Not found")
        self.sessions_revoked.append(uid)
        return httpx.Response(204)

    def add_secret(self, request, app):
        if app not in self.secrets:
            return self.error(404, "Not found: Resource not found (AppInstance)")
        n = len(self.secrets[app]) + 1
        self.secrets[app].append({"id": f"ocs{n}", "status": "ACTIVE"})
        return ok(
            {
                "id": f"ocs{n}",
                "status": "ACTIVE",
                "client_secret": f"okta-new-secret-{n}",
                "secret_hash": "yk4SVx4sUWVJVbHt6M-UPA",
                "created": "2026-03-02T09:00:00.000Z",
            },
            status=201,
        )

    def list_secrets(self, request, app):
        return ok(self.secrets[app]) if app in self.secrets else self.error(404, "Not found")


# --------------------------------------------------------------------------- Entra ID
class FakeGraph(FakeVendor):
    token_paths = ("/oauth2/v2.0/token",)
    TOKEN = "eyJ0eXAiOiJKV1QiLCJub25jZSI6ImZha2UifQ"
    PAGE = 2

    def register(self) -> None:
        self.users = {
            "u-1": {
                "id": "u-1",
                "userPrincipalName": "ada@acme.example",
                "displayName": "Ada Doe",
                "accountEnabled": True,
                "userType": "Member",
            },
            "u-2": {
                "id": "u-2",
                "userPrincipalName": "bob@acme.example",
                "displayName": "Bob Doe",
                "accountEnabled": False,
                "userType": "Member",
            },
            "u-3": {
                "id": "u-3",
                "userPrincipalName": "breakglass@acme.example",
                "displayName": "Break Glass",
                "accountEnabled": True,
                "userType": "Member",
            },
            "u-4": {
                "id": "u-4",
                "userPrincipalName": "svc-backup@acme.example",
                "displayName": INJECTED,
                "accountEnabled": True,
                "userType": "Member",
            },
        }
        self.groups = {"g-1": "Global Administrators", "g-2": "Engineering"}
        self.members = {"g-1": ["u-1", "u-3"], "g-2": ["u-1", "u-2", "u-4"]}
        self.apps = {"app-1": [{"keyId": "k-old", "displayName": "initial", "hint": "abc"}]}
        self.revoked: list[str] = []
        self.route("POST", r"/tenant-1/oauth2/v2.0/token", self.token)
        self.route("GET", r"/v1.0/users", self.list_users)
        self.route("GET", r"/v1.0/users/(?P<uid>[^/]+)", self.get_user)
        self.route("PATCH", r"/v1.0/users/(?P<uid>[^/]+)", self.patch_user)
        self.route("GET", r"/v1.0/users/(?P<uid>[^/]+)/memberOf", self.member_of)
        self.route("POST", r"/v1.0/users/(?P<uid>[^/]+)/revokeSignInSessions", self.revoke)
        self.route("GET", r"/v1.0/groups", self.list_groups)
        self.route("GET", r"/v1.0/groups/(?P<gid>[^/]+)/members", self.group_members)
        self.route("POST", r"/v1.0/applications/(?P<app>[^/]+)/addPassword", self.add_password)
        self.route(
            "POST", r"/v1.0/applications/(?P<app>[^/]+)/removePassword", self.remove_password
        )
        self.route("GET", r"/v1.0/applications/(?P<app>[^/]+)", self.get_app)

    def authorized(self, request):
        return (
            request.url.host == "graph.microsoft.com"
            and request.headers.get("authorization") == f"Bearer {self.TOKEN}"
        )

    def error(self, status, message):
        code = {404: "Request_ResourceNotFound", 401: "InvalidAuthenticationToken"}.get(
            status, "BadRequest"
        )
        return httpx.Response(
            status,
            json={
                "error": {
                    "code": code,
                    "message": message,
                    "innerError": {"request-id": "r1", "date": "2026-03-02T09:00:00"},
                }
            },
        )

    def token(self, request):
        assert request.url.host == "login.microsoftonline.com"
        form = form_of(request)
        if (
            form.get("client_secret") != "graph-secret"
            or form.get("scope") != "https://graph.microsoft.com/.default"
        ):
            return httpx.Response(
                401,
                json={
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        return ok(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": self.TOKEN,
            }
        )

    def _collection(self, request, items: list[dict[str, Any]], path: str) -> httpx.Response:
        skip = int(request.url.params.get("$skiptoken", "0"))
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{path}",
            "value": items[skip : skip + self.PAGE],
        }
        if skip + self.PAGE < len(items):
            body["@odata.nextLink"] = (
                f"https://graph.microsoft.com{path}?$skiptoken={skip + self.PAGE}"
            )
        return ok(body)

    def list_users(self, request):
        return self._collection(request, list(self.users.values()), "/v1.0/users")

    def get_user(self, request, uid):
        return (
            ok(self.users[uid])
            if uid in self.users
            else self.error(
                404,
                f"Resource '{uid}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        )

    def patch_user(self, request, uid):
        if uid not in self.users:
            return self.error(404, "Resource does not exist")
        self.users[uid].update(body_of(request))
        return httpx.Response(204)

    def member_of(self, request, uid):
        gs = [
            {"@odata.type": "#microsoft.graph.group", "id": g, "displayName": self.groups[g]}
            for g, ms in self.members.items()
            if uid in ms
        ]
        return self._collection(request, gs, f"/v1.0/users/{uid}/memberOf")

    def revoke(self, request, uid):
        if uid not in self.users:
            return self.error(404, "Resource does not exist")
        self.revoked.append(uid)
        return ok(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
                "value": True,
            }
        )

    def list_groups(self, request):
        return self._collection(
            request, [{"id": g, "displayName": n} for g, n in self.groups.items()], "/v1.0/groups"
        )

    def group_members(self, request, gid):
        return self._collection(
            request,
            [{"@odata.type": "#microsoft.graph.user", "id": u} for u in self.members[gid]],
            f"/v1.0/groups/{gid}/members",
        )

    def add_password(self, request, app):
        if app not in self.apps:
            return self.error(404, "Resource does not exist")
        n = len(self.apps[app]) + 1
        cred = {
            "keyId": f"k-{n}",
            "displayName": body_of(request)["passwordCredential"]["displayName"],
            "hint": "xyz",
        }
        self.apps[app].append(cred)
        return ok(
            {
                **cred,
                "secretText": f"graph-new-secret-{n}",
                "startDateTime": "2026-03-02T09:00:00Z",
                "endDateTime": "2028-03-02T09:00:00Z",
            }
        )

    def remove_password(self, request, app):
        key = body_of(request)["keyId"]
        self.apps[app] = [c for c in self.apps[app] if c["keyId"] != key]
        return httpx.Response(204)

    def get_app(self, request, app):
        return (
            ok({"passwordCredentials": self.apps[app]})
            if app in self.apps
            else self.error(404, "Resource does not exist")
        )
