"""A stateful fake of OPNsense.

Response shapes follow each vendor's public API documentation; the values are ours.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, basic


# --------------------------------------------------------------------------- OPNsense
class FakeOPNsense(FakeVendor):
    def register(self) -> None:
        self.rules: dict[str, dict[str, Any]] = {}
        self.applied: list[str] = []
        self.pending_rollback: set[str] = set()
        for i, (action, src, dst, port) in enumerate(
            [
                ("pass", "10.0.0.0/24", "10.0.1.5", "443"),
                ("block", "any", "10.0.9.0/24", ""),
                ("pass", "10.0.0.0/24", "any", "53"),
            ]
        ):
            uuid = f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd"
            self.rules[uuid] = {
                "uuid": uuid,
                "enabled": "1",
                "sequence": str(i),
                "action": action,
                "interface": "lan",
                "direction": "in",
                "ipprotocol": "inet",
                "protocol": "TCP" if port else "any",
                "source_net": src,
                "destination_net": dst,
                "destination_port": port,
                "description": INJECTED if i == 1 else f"rule {i}",
            }
        self.route("GET", r"/api/firewall/filter/searchRule", self.search)
        self.route("POST", r"/api/firewall/filter/addRule", self.add)
        self.route("POST", r"/api/firewall/filter/delRule/(?P<uuid>[^/]+)", self.delete)
        self.route(
            "POST",
            r"/api/firewall/filter/savepoint",
            lambda r: ok({"revision": f"{1772441000 + len(self.applied)}.1234"}),
        )
        self.route("POST", r"/api/firewall/filter/apply/(?P<rev>[^/]+)", self.apply)
        self.route("POST", r"/api/firewall/filter/cancelRollback/(?P<rev>[^/]+)", self.cancel)

    def authorized(self, request):
        return request.headers.get("authorization") == basic("opn-key", "opn-secret")

    def error(self, status, message):
        return httpx.Response(status, json={"status": status, "message": message})

    def search(self, request):
        current, count = int(request.url.params["current"]), int(request.url.params["rowCount"])
        rows = list(self.rules.values())
        size = min(count, 2)
        chunk = rows[(current - 1) * size : current * size]
        return ok({"total": len(rows), "rowCount": len(chunk), "current": current, "rows": chunk})

    def add(self, request):
        rule = body_of(request)["rule"]
        if rule["source_net"] in ("", "not-a-net"):
            return ok(
                {"result": "failed", "validations": {"rule.source_net": "not a valid source"}}
            )
        uuid = f"{len(self.rules) + 100:08d}-aaaa-bbbb-cccc-dddddddddddd"
        self.rules[uuid] = {"uuid": uuid, "sequence": "100", **rule}
        return ok({"result": "saved", "uuid": uuid})

    def delete(self, request, uuid):
        return ok({"result": "deleted" if self.rules.pop(uuid, None) else "not found"})

    def apply(self, request, rev):
        self.applied.append(rev)
        self.pending_rollback.add(rev)
        return ok({"status": "OK\n\n"})

    def cancel(self, request, rev):
        self.pending_rollback.discard(rev)
        return ok({"status": "ok"})
