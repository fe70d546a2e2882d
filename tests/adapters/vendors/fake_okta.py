"""A stateful fake of the Okta Management API, built from Okta's published OpenAPI spec.

Source: okta/okta-management-openapi-spec, ``dist/current/management-minimal.yaml`` (2026.06.3,
commit fdda229e), trimmed into ``specs/okta.json``. What the fake enforces, in the spec's words:

* ``GET /api/v1/users`` "omits users that have a status of ``DEPROVISIONED``"; a ``search``
  (``status eq "DEPROVISIONED"``) returns them. Pages follow ``Link: <...>; rel="next"``.
* ``GET /api/v1/users/{id}/groups`` takes no paging parameters.
* Lifecycle: ``suspend`` "only on users with an ``ACTIVE`` status"; ``unsuspend`` only on
  ``SUSPENDED``; ``unlock`` a ``LOCKED_OUT`` user (to ``ACTIVE``); ``deactivate`` any user not
  ``DEPROVISIONED``; ``activate`` only ``STAGED`` or ``DEPROVISIONED`` users.
* ``DELETE /api/v1/users/{userId}/sessions?oauthTokens=true`` also revokes the OAuth/OIDC
  tokens issued to the user; without it only the IdP sessions end.
* Client secrets: "You can create up to two secret objects"; "You can only delete an inactive
  secret".
* Errors: ``{"errorCode": "E0000001", "errorSummary": ..., "errorCauses": [...]}``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.adapters.vendors._fakes import ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor


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
            "00u5": user("00u5", "lou@acme.example", "Lou", "LOCKED_OUT"),
            "00u6": user("00u6", "pat@acme.example", "Pat", "PASSWORD_EXPIRED"),
            "00u7": user("00u7", "rey@acme.example", "Rey", "RECOVERY"),
            "00u8": user("00u8", "pro@acme.example", "Pro", "PROVISIONED"),
            "00u9": user("00u9", "gone@acme.example", "Gone", "DEPROVISIONED"),
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
        # (user id, whether OAuth tokens were revoked too)
        self.sessions_revoked: list[tuple[str, bool]] = []
        self.secrets: dict[str, list[dict[str, Any]]] = {
            "0oa1": [self._secret(1, "2025-06-01T00:00:00.000Z")]
        }
        self._secret_seq = 1
        users = r"/api/v1/users/(?P<uid>[^/]+)"
        secrets = r"/api/v1/apps/(?P<app>[^/]+)/credentials/secrets"
        self.route("GET", r"/api/v1/users", self.list_users)
        self.route("GET", users, self.get_user)
        self.route("GET", users + "/groups", self.user_groups)
        self.route("GET", r"/api/v1/groups", self.list_groups)
        self.route("GET", r"/api/v1/groups/(?P<gid>[^/]+)/users", self.group_users)
        self.route("POST", users + r"/lifecycle/(?P<op>[a-z_]+)", self.lifecycle)
        self.route("DELETE", users + "/sessions", self.revoke)
        self.route("POST", secrets, self.add_secret)
        self.route("GET", secrets, self.list_secrets)
        self.route("GET", secrets + r"/(?P<sid>[^/]+)", self.get_secret)
        self.route("DELETE", secrets + r"/(?P<sid>[^/]+)", self.delete_secret)
        self.route(
            "POST", secrets + r"/(?P<sid>[^/]+)/lifecycle/deactivate", self.deactivate_secret
        )

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
                "errorCauses": [{"errorSummary": message}] if status == 400 else [],
            },
        )

    # ------------------------------------------------------------------ users
    def _page(self, request, items: list[dict[str, Any]], path: str) -> httpx.Response:
        limit = int(request.url.params.get("limit", "200"))
        after = request.url.params.get("after")
        start = next((i + 1 for i, x in enumerate(items) if x["id"] == after), 0) if after else 0
        chunk = items[start : start + min(limit, self.PAGE)]
        query = f"limit={limit}"
        if search := request.url.params.get("search"):
            query += "&search=" + search.replace(" ", "%20").replace('"', "%22")
        links = [f'<{self.BASE}{path}?{query}>; rel="self"']
        if start + len(chunk) < len(items):
            links.append(f'<{self.BASE}{path}?after={chunk[-1]["id"]}&{query}>; rel="next"')
        return ok(chunk, headers={"Link": ", ".join(links), "X-Rate-Limit-Remaining": "599"})

    def list_users(self, request):
        search = request.url.params.get("search")
        if search is None:
            found = [u for u in self.users.values() if u["status"] != "DEPROVISIONED"]
        else:
            m = re.fullmatch(r'status eq "([A-Z_]+)"', search)
            if not m:
                return self.error(400, f"Invalid search criteria: {search}")
            found = [u for u in self.users.values() if u["status"] == m.group(1)]
        return self._page(request, found, "/api/v1/users")

    def get_user(self, request, uid):
        if uid not in self.users:
            return self.error(404, f"Not found: Resource not found: {uid} (User)")
        return ok(self.users[uid])

    def user_groups(self, request, uid):
        if uid not in self.users:
            return self.error(404, "Not found")
        return ok([self.groups[g] for g, ms in self.members.items() if uid in ms])

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
        rules = {
            "suspend": ({"ACTIVE"}, "SUSPENDED"),
            "unsuspend": ({"SUSPENDED"}, "ACTIVE"),
            "unlock": ({"LOCKED_OUT", "ACTIVE"}, "ACTIVE"),
            "activate": ({"STAGED", "DEPROVISIONED"}, "PROVISIONED"),
            "deactivate": (set(self._statuses()) - {"DEPROVISIONED"}, "DEPROVISIONED"),
        }
        if op not in rules:
            return self.error(404, f"Not found: {op}")
        before, after = rules[op]
        if u["status"] not in before:
            return self.error(
                400, f"Api validation failed: cannot {op} a user that is {u['status']}"
            )
        u["status"] = after
        return ok({})

    @staticmethod
    def _statuses() -> list[str]:
        return [
            "STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT",
            "SUSPENDED", "DEPROVISIONED",
        ]  # fmt: skip

    def revoke(self, request, uid):
        if uid not in self.users:
            return self.error(404, "Not found")
        oauth = request.url.params.get("oauthTokens", "false") == "true"
        self.sessions_revoked.append((uid, oauth))
        return httpx.Response(204)

    # ------------------------------------------------------------------ secrets
    def _secret(self, n: int, created: str) -> dict[str, Any]:
        return {
            "id": f"ocs{n}",
            "status": "ACTIVE",
            "client_secret": f"okta-new-secret-{n}",
            "secret_hash": f"hash-{n}",
            "created": created,
            "lastUpdated": created,
        }

    def add_secret(self, request, app):
        if app not in self.secrets:
            return self.error(404, "Not found: Resource not found (AppInstance)")
        if len(self.secrets[app]) >= 2:
            return self.error(400, "Api validation failed: You can create up to two secrets.")
        self._secret_seq += 1
        secret = self._secret(self._secret_seq, self.time.wall.isoformat())
        self.secrets[app].append(secret)
        return ok(secret, status=201)

    def list_secrets(self, request, app):
        if app not in self.secrets:
            return self.error(404, "Not found")
        return ok([{k: v for k, v in s.items() if k != "client_secret"} for s in self.secrets[app]])

    def _find_secret(self, app: str, sid: str) -> dict[str, Any] | None:
        return next((s for s in self.secrets.get(app, []) if s["id"] == sid), None)

    def get_secret(self, request, app, sid):
        if (secret := self._find_secret(app, sid)) is None:
            return self.error(404, "Not found")
        return ok({k: v for k, v in secret.items() if k != "client_secret"})

    def deactivate_secret(self, request, app, sid):
        if (secret := self._find_secret(app, sid)) is None:
            return self.error(404, "Not found")
        secret["status"] = "INACTIVE"
        return ok({k: v for k, v in secret.items() if k != "client_secret"})

    def delete_secret(self, request, app, sid):
        if (secret := self._find_secret(app, sid)) is None:
            return self.error(404, "Not found")
        if secret["status"] != "INACTIVE":
            return self.error(400, "Api validation failed: Only inactive secrets can be deleted.")
        self.secrets[app].remove(secret)
        return httpx.Response(204)
