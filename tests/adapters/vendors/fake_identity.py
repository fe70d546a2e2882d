"""Stateful fake of Microsoft Graph (Entra ID); Okta: ``fake_okta``.

Response shapes follow each vendor's public API documentation; the values are ours.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, form_of


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
