"""A stateful fake of the FortiOS REST API (``/api/v2/cmdb``), built from Fortinet's documentation.

Sources (trimmed paths in ``specs/fortigate.json``): FortiOS 7.4 REST API reference on the
Fortinet Developer Network (``cmdb/firewall/policy``, ``cmdb/firewall/address``,
``cmdb/firewall.service/custom``, ``cmdb/firewall.schedule/onetime``) and the FortiOS 7.4 CLI
reference for the same tables (https://docs.fortinet.com/document/fortigate/7.4.3/cli-reference):
field names as in the CLI (``policyid``, ``srcintf``/``dstintf``/``srcaddr``/``dstaddr``/
``service`` as ``[{"name": ...}]``, ``action`` ``accept``|``deny``, ``schedule``, ``comments``;
address ``subnet`` ``"ip mask"``; service ``tcp-portrange``; one-time schedule ``start``/``end``
``"hh:mm yyyy/mm/dd"``). Answers are ``{"http_method", "results", "vdom", "path", "name",
"status": "success", "http_status", "serial", "version", "build"}``; a create answers ``mkey``;
errors are ``{"status": "error", "http_status", "error": <code>}`` (``-5`` exists, ``-3`` not
found); a REST API admin's token comes as ``Authorization: Bearer``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor

TABLES = {
    "firewall/policy": "policyid",
    "firewall/address": "name",
    "firewall.service/custom": "name",
    "firewall.schedule/onetime": "name",
}
_TIME = re.compile(r"^\d{2}:\d{2} \d{4}/\d{2}/\d{2}$")


class FakeFortiGate(FakeVendor):
    TOKEN = "forti-token"

    def register(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TABLES}
        self.next_policy = 1
        for name, subnet in (
            ("lan", "10.0.0.0 255.255.255.0"),
            ("db-01", "10.0.1.5 255.255.255.255"),
        ):
            self.tables["firewall/address"][name] = {
                "name": name,
                "type": "ipmask",
                "subnet": subnet,
            }
        self.tables["firewall/address"]["all"] = {
            "name": "all",
            "type": "ipmask",
            "subnet": "0.0.0.0 0.0.0.0",
        }
        self._add_policy(
            {
                "name": "lan-to-db",
                "srcintf": [{"name": "port1"}],
                "dstintf": [{"name": "port2"}],
                "srcaddr": [{"name": "lan"}],
                "dstaddr": [{"name": "db-01"}],
                "service": [{"name": "HTTPS"}],
                "action": "accept",
                "schedule": "always",
                "status": "enable",
                "comments": INJECTED,
            }
        )
        tables = "|".join(re.escape(t) for t in TABLES)
        base = rf"/api/v2/cmdb/(?P<table>{tables})"
        self.route("GET", base, self.list_table)
        self.route("POST", base, self.create)
        self.route("GET", base + r"/(?P<key>[^/]+)", self.get_one)
        self.route("PUT", base + r"/(?P<key>[^/]+)", self.update)
        self.route("DELETE", base + r"/(?P<key>[^/]+)", self.delete)

    def authorized(self, request):
        return request.headers.get("authorization") == f"Bearer {self.TOKEN}"

    def error(self, status, message):
        code = {404: -3, 500: -5}.get(status, -1)
        return httpx.Response(
            status,
            json={"http_method": "GET", "status": "error", "http_status": status, "error": code},
        )

    def _envelope(self, request, table: str, **extra: Any) -> dict[str, Any]:
        path, _, name = table.rpartition("/")
        return {
            "http_method": request.method,
            "vdom": request.url.params.get("vdom", "root"),
            "path": path,
            "name": name,
            "status": "success",
            "http_status": 200,
            "serial": "FGVM02TM00000000",
            "version": "v7.4.3",
            "build": 2573,
            **extra,
        }

    def _add_policy(self, body: dict[str, Any]) -> int:
        pid = self.next_policy
        self.next_policy += 1
        self.tables["firewall/policy"][str(pid)] = {"policyid": pid, **body}
        return pid

    def _check_vdom(self, request) -> httpx.Response | None:
        if request.url.params.get("vdom") != "root":
            return self.error(403, "vdom")
        return None

    def list_table(self, request, table):
        if (bad := self._check_vdom(request)) is not None:
            return bad
        return ok(self._envelope(request, table, results=list(self.tables[table].values())))

    def get_one(self, request, table, key):
        if (bad := self._check_vdom(request)) is not None:
            return bad
        row = self.tables[table].get(key)
        if row is None:
            return self.error(404, "not found")
        return ok(self._envelope(request, table, results=[row], mkey=key))

    def _invalid(self, table: str, body: dict[str, Any]) -> bool:
        if table == "firewall.schedule/onetime":
            return not (_TIME.match(body.get("start", "")) and _TIME.match(body.get("end", "")))
        if table == "firewall/policy":
            refs = [*body.get("srcaddr", []), *body.get("dstaddr", [])]
            unknown = [r for r in refs if r["name"] not in self.tables["firewall/address"]]
            sched = body.get("schedule", "always")
            return bool(unknown) or (
                sched != "always" and sched not in self.tables["firewall.schedule/onetime"]
            )
        return False

    def create(self, request, table):
        if (bad := self._check_vdom(request)) is not None:
            return bad
        body = body_of(request)
        if self._invalid(table, body):
            return self.error(400, "invalid")
        if table == "firewall/policy":
            mkey = self._add_policy(body)
        else:
            if body["name"] in self.tables[table]:
                return self.error(500, "entry already exists")
            self.tables[table][body["name"]] = body
            mkey = body["name"]
        return ok(self._envelope(request, table, mkey=mkey, revision="a1b2c3"))

    def update(self, request, table, key):
        if key not in self.tables[table]:
            return self.error(404, "not found")
        self.tables[table][key].update(body_of(request))
        return ok(self._envelope(request, table, mkey=key, revision="a1b2c4"))

    def delete(self, request, table, key):
        if self.tables[table].pop(key, None) is None:
            return self.error(404, "not found")
        return ok(self._envelope(request, table, mkey=key, revision="a1b2c5"))
