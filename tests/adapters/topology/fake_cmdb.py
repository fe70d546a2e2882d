"""A fake ServiceNow instance serving the CMDB tables a topology read uses.

Shapes follow ServiceNow's published documentation:
- Table API (``GET /api/now/table/{tableName}``, ``{"result": [...]}``, ``sysparm_query``,
  ``sysparm_fields``, ``sysparm_limit``/``sysparm_offset``, ``sysparm_display_value=all`` giving
  ``{"display_value", "value"}`` per field, error body ``{"error": {...}, "status": "failure"}``):
  https://www.servicenow.com/docs/bundle/zurich-api-reference/page/integrate/inbound-rest/concept/c_TableAPI.html
- CI relationships (a parent CI, a child CI and a type such as ``Depends on::Used by``; table
  ``cmdb_rel_ci``): https://www.servicenow.com/docs/r/zurich/servicenow-platform/configuration-management-database-cmdb/c_CIRelationships.html
Values are ours.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.adapters.vendors._fakes import ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, basic


def ci(sid: str, name: str, cls: str, **fields: str) -> dict[str, str]:
    base = {
        "sys_id": sid,
        "name": name,
        "sys_class_name": cls,
        "fqdn": "",
        "host_name": "",
        "ip_address": "",
        "serial_number": "",
        "environment": "",
        "used_for": "",
        "sys_updated_on": "2026-02-28 10:00:00",
        "company": "",
    }
    return {**base, **fields}


def rel(parent: str, kind: str, child: str) -> dict[str, Any]:
    return {
        "parent": {"display_value": f"CI {parent}", "value": parent},
        "child": {"display_value": f"CI {child}", "value": child},
        "type": {"display_value": kind, "value": f"type-{abs(hash(kind)) % 1000}"},
    }


class FakeCmdb(FakeVendor):
    def register(self) -> None:
        self.cis = [
            ci("c1", "contoso-erp-db", "cmdb_ci_db_instance", environment="Production"),
            ci("c2", "contoso-erp-app", "cmdb_ci_appl", used_for="Staging"),
            ci(
                "c3",
                "CONTOSO-NY-DB-01",
                "cmdb_ci_win_server",
                fqdn="contoso-ny-db-01.contoso.local",
                ip_address="10.0.32.40",
                serial_number="VMware-42 1a",
                used_for="Production",
            ),
            ci("c4", "contoso-ny-hv-01", "cmdb_ci_esx_server", used_for="Production"),
            ci("c5", "contoso-db-cluster", "cmdb_ci_cluster", sys_updated_on="2024-11-01 00:00:00"),
            ci("c6", INJECTED, "cmdb_ci_printer"),  # a class we do not read
        ]
        self.rels = [
            rel("c2", "Depends on::Used by", "c1"),
            rel("c1", "Runs on::Runs", "c3"),
            rel("c3", "Virtualized by::Virtualizes", "c4"),
            rel("c5", "Members::Member of", "c3"),
            rel("c3", "Managed by::Manages", "c4"),  # not a topology relation
            rel("c6", "Depends on::Used by", "c1"),  # the printer is not read
        ]
        self.route("GET", r"/api/now/table/cmdb_ci", self.table(lambda: self.cis))
        self.route("GET", r"/api/now/table/cmdb_rel_ci", self.table(lambda: self.rels))

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == basic("opshand", "sn-pass")

    def error(self, status: int, message: str) -> httpx.Response:
        return httpx.Response(
            status, json={"error": {"message": message, "detail": ""}, "status": "failure"}
        )

    def table(self, rows_of: Any) -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            rows = list(rows_of())
            q = request.url.params.get("sysparm_query", "")
            if q.startswith("sys_class_nameIN"):
                wanted = set(q.removeprefix("sys_class_nameIN").split(","))
                rows = [r for r in rows if r["sys_class_name"] in wanted]
            limit = int(request.url.params.get("sysparm_limit", "10000"))
            offset = int(request.url.params.get("sysparm_offset", "0"))
            return ok({"result": rows[offset : offset + limit]})

        return handler
