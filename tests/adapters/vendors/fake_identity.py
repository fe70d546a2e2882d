"""A stateful fake of Okta.

Response shapes follow each vendor's public API documentation; the values are ours.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.adapters.vendors._fakes import ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor


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
