"""A stateful fake of the OPNsense firewall filter API, built from OPNsense's own source.

Source: opnsense/core (https://github.com/opnsense/core), read at commit f95e8151 (27.1.a) and
tags 25.7 / 26.1.9 / 26.7:

* ``src/opnsense/mvc/app/controllers/OPNsense/Firewall/Api/FilterController.php``:
  ``searchRuleAction`` merges MVC rules with ``configd filter list non_mvc_rules`` (legacy and
  plugin-generated rules; ``scripts/filter/list_non_mvc_rules.php`` marks them
  ``legacy: true`` and ``is_automatic``) since 25.7; ``addRule``/``delRule`` answer
  ``{"result": "saved", "uuid"}`` / ``{"result": "deleted" | "not found"}``.
* ``FilterBaseController.php``: up to 26.1.x ``savepoint`` answers
  ``{"status": "ok", "retention", "revision"}``, ``apply/{revision}`` arms a 60 s rollback timer
  and answers ``{"status": <configd output>}`` ("OK\\n\\n"), ``cancelRollback/{revision}`` answers
  ``{"status": <configd output>}`` which is empty (``filter cancel_rollback`` prints nothing).
  From 26.7 (commit 17b84612eb) savepoint/cancelRollback are gone and ``apply`` takes no
  argument.
* ``Diagnostics/Api/SystemController.php::systemInformationAction``: ``versions[0]`` is
  ``"OPNsense <version>-<arch>"``.

Spec fragment: ``specs/opnsense.json``.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.adapters.vendors._fakes import FakeTime, body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, basic

ROLLBACK_SECONDS = 60.0


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


class FakeOPNsense(FakeVendor):
    """OPNsense ``version`` (``"25.1"``, ``"25.7"``, ``"26.1"``, ``"26.7"`` ...) decides the API."""

    spec = "opnsense"

    def __init__(self, time: FakeTime, version: str = "26.1.9") -> None:
        self.version = version
        super().__init__(time)

    @property
    def has_savepoint(self) -> bool:
        return _version_tuple(self.version) < (26, 7)

    @property
    def lists_legacy(self) -> bool:
        return _version_tuple(self.version) >= (25, 7)

    def register(self) -> None:
        self.rules: dict[str, dict[str, Any]] = {}
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
                "sort_order": f"200000.{i:07d}",
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
        # What the packet filter enforces: the rules as of the last apply.
        self.live: dict[str, dict[str, Any]] = copy.deepcopy(self.rules)
        self.saved: dict[str, dict[str, dict[str, Any]]] = {}
        self.armed: dict[str, float] = {}
        self.applied: list[str] = []
        self.rolled_back: list[str] = []
        self.route("GET", r"/api/diagnostics/system/systemInformation", self.system_information)
        self.route("GET", r"/api/firewall/filter/searchRule", self.search)
        self.route("POST", r"/api/firewall/filter/addRule", self.add)
        self.route("POST", r"/api/firewall/filter/delRule/(?P<uuid>[^/]+)", self.delete)
        self.route("POST", r"/api/firewall/filter/apply", self.apply)
        self.route("POST", r"/api/firewall/filter/apply/(?P<rev>[^/]+)", self.apply)
        self.route("POST", r"/api/firewall/filter/savepoint", self.savepoint)
        self.route("POST", r"/api/firewall/filter/cancelRollback/(?P<rev>[^/]+)", self.cancel)

    def authorized(self, request):
        return request.headers.get("authorization") == basic("opn-key", "opn-secret")

    def error(self, status, message):
        return httpx.Response(status, json={"status": status, "message": message})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self._expire_rollbacks()
        return super().__call__(request)

    # ------------------------------------------------------------------ routes
    def system_information(self, request):
        return ok(
            {
                "name": "fw.example.lan",
                "versions": [
                    f"OPNsense {self.version}-amd64",
                    "FreeBSD 14.3-RELEASE-p2",
                    "OpenSSL 3.0.17 1 Jul 2025",
                ],
                "updates": "Click to check for updates.",
            }
        )

    def _legacy_rows(self) -> list[dict[str, Any]]:
        # Shapes of list_non_mvc_rules.php: legacy (config.xml) and automatic (plugin) rules.
        return [
            {
                "enabled": "1",
                "action": "pass",
                "%action": "pass",
                "interface": "lan",
                "direction": "in",
                "ipprotocol": "inet",
                "protocol": "",
                "source_net": "lan",
                "destination_net": "any",
                "destination_port": "",
                "description": "Default allow LAN to any rule",
                "uuid": "fcc3f5e6a2b2c0a5c7b7d2e8f0a1b2c3",
                "sort_order": "400000.1000001",
                "legacy": True,
                "is_automatic": False,
                "updated": {"time": "1700000000.1"},
            },
            {
                "enabled": "1",
                "action": "block",
                "%action": "block",
                "interface": "wan",
                "direction": "in",
                "ipprotocol": "inet",
                "protocol": "",
                "source_net": "any",
                "destination_net": "any",
                "destination_port": "",
                "description": "Block bogon networks",
                "uuid": "02f4bab031b57d1e30553ce08e0ec131",
                "sort_order": "100000.1000002",
                "legacy": True,
                "is_automatic": True,
            },
        ]

    def search(self, request):
        current, count = int(request.url.params["current"]), int(request.url.params["rowCount"])
        rows = list(self.rules.values())
        if self.lists_legacy:
            rows += self._legacy_rows()
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

    def savepoint(self, request):
        if not self.has_savepoint:
            return self.error(404, "Endpoint not found")
        revision = f"{1772441000 + len(self.saved)}.{len(self.saved):04d}"
        self.saved[revision] = copy.deepcopy(self.rules)
        return ok({"status": "ok", "retention": "60", "revision": revision})

    def apply(self, request, rev: str | None = None):
        if rev is not None and self.has_savepoint:
            if rev not in self.saved:
                return ok({"status": "error"})
            self.armed[rev] = self.time.mono + ROLLBACK_SECONDS
        self.applied.append(rev or "")
        self.live = copy.deepcopy(self.rules)
        return ok({"status": "OK\n\n"})

    def cancel(self, request, rev):
        if not self.has_savepoint:
            return self.error(404, "Endpoint not found")
        self.armed.pop(rev, None)
        return ok({"status": ""})  # configd's `filter cancel_rollback` prints nothing

    def _expire_rollbacks(self) -> None:
        for rev, deadline in list(self.armed.items()):
            if self.time.mono >= deadline:
                del self.armed[rev]
                self.rules = copy.deepcopy(self.saved[rev])
                self.live = copy.deepcopy(self.rules)
                self.rolled_back.append(rev)
