"""A stateful fake of Splunk Enterprise Security's REST API, built from Splunk's documentation.

Sources (trimmed paths in ``specs/splunk.json``):
- REST API Reference, search endpoints: ``search/jobs`` (``exec_mode=oneshot``) and
  ``saved/searches/{name}`` (GET/POST, ``output_mode=json`` Atom-style ``entry`` envelope),
  https://docs.splunk.com/Documentation/Splunk/9.2.0/RESTREF/RESTsearch
- ``savedsearches.conf.spec`` (Splunk 9.2): ``alert.suppress``, ``alert.suppress.period``,
  ``alert.suppress.fields`` ("*must* be specified if the digest mode is disabled and
  suppression is enabled"), ``alert.digest_mode`` (default true),
  https://docs.splunk.com/Documentation/Splunk/9.2.0/Admin/Savedsearchesconf
- Enterprise Security REST API, ``notable_update`` (``ruleUIDs``, ``status``, ``comment``),
  https://docs.splunk.com/Documentation/ES/7.3.0/API/NotableEventAPIreference

The fake refuses a suppression that a per-result search cannot honour (no fields) with
splunkd's error envelope, and :meth:`FakeSplunk.fire` applies suppression the way the scheduler
does: a firing opens a window of ``alert.suppress.period`` for its values of the fields.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.adapters.vendors._fakes import ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, form_of

_PERIOD = re.compile(r"^(\d+)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class FakeSplunk(FakeVendor):
    TOKEN = "splunk-token"

    def register(self) -> None:
        self.notables = [
            {
                "event_id": "A1B2C3@@notable@@1a2b",
                "rule_title": "Brute force against vpn-01",
                "rule_name": "Access - Brute Force - Rule",
                "urgency": "high",
                "status_label": "New",
                "search_name": "Access - Brute Force - Rule",
                "dest": "vpn-01",
                "src": "203.0.113.9",
                "_time": "1772441000",
                "comment_from_attacker": INJECTED,
            },
            {
                "event_id": "D4E5F6@@notable@@3c4d",
                "rule_title": "Malware on ws-17",
                "rule_name": "Malware",
                "urgency": "medium",
                "status_label": "Resolved",
                "search_name": "Endpoint - Malware - Rule",
                "dest": "ws-17",
            },
        ]
        # ES correlation searches create a notable per result: digest mode off.
        self.saved = {
            "Access - Brute Force - Rule": {
                "disabled": False,
                "alert.digest_mode": "0",
                "alert.suppress": "0",
                "alert.suppress.period": "",
                "alert.suppress.fields": "",
                "action.correlationsearch.label": "Brute force",
                "action.notable": "1",
                "search": "| tstats count ...",
            },
            "Threat - Daily Summary - Rule": {
                "disabled": False,
                "alert.digest_mode": "1",
                "alert.suppress": "0",
                "alert.suppress.period": "",
                "alert.suppress.fields": "",
                "search": "| tstats count ...",
            },
        }
        # Suppression windows the scheduler keeps: (search, field values) -> end.
        self.windows: dict[tuple[str, tuple[str, ...]], datetime] = {}
        self.updated = {name: "2026-03-01T10:00:00+00:00" for name in self.saved}
        self.route("POST", r"/services/search/jobs", self.oneshot)
        self.route("POST", r"/services/notable_update", self.notable_update)
        self.route("GET", r"/servicesNS/-/-/saved/searches/(?P<name>[^/]+)", self.get_saved)
        self.route(
            "POST",
            r"/servicesNS/(?P<owner>[^/]+)/(?P<app>[^/]+)/saved/searches/(?P<name>[^/]+)",
            self.post_saved,
        )

    def authorized(self, request):
        return request.headers.get("authorization") == f"Bearer {self.TOKEN}"

    def error(self, status, message):
        return httpx.Response(status, json={"messages": [{"type": "ERROR", "text": message}]})

    def oneshot(self, request):
        form = form_of(request)
        assert form["exec_mode"] == "oneshot" and form["output_mode"] == "json"
        spl, rows = form["search"], []
        if spl.startswith("search `notable`"):
            rows = list(self.notables)
            if m := re.search(r'lower\(status_label\)="([^"]*)"', spl):
                rows = [r for r in rows if r["status_label"].lower() == m.group(1)]
            if m := re.search(r'event_id="([^"]*)"', spl):
                rows = [r for r in rows if r["event_id"] == m.group(1)]
        else:
            rows = [
                {"_raw": f"event {i}", "host": "web-01", "_time": str(1772441000 + i)}
                for i in range(5)
            ]
        return ok(
            {
                "preview": False,
                "init_offset": 0,
                "messages": [],
                "fields": [],
                "results": rows[: int(form["count"])],
            }
        )

    def notable_update(self, request):
        form = form_of(request)
        hits = [n for n in self.notables if n["event_id"] == form["ruleUIDs"]]
        for n in hits:
            n["status_label"] = {"1": "New", "2": "In Progress", "5": "Resolved"}[form["status"]]
        return ok(
            {
                "success": True,
                "message": f"{len(hits)} event updated successfully",
                "details": {},
                "failure_count": 0,
            }
        )

    def _entry(self, name: str) -> dict[str, Any]:
        return {
            "links": {},
            "origin": "https://splunk.example:8089/servicesNS/-/-/saved/searches",
            "updated": self.updated[name],
            "entry": [
                {
                    "name": name,
                    "id": f"https://splunk.example:8089/servicesNS/admin/SplunkEnterpriseSecuritySuite/saved/searches/{name}",
                    "updated": self.updated[name],
                    "author": "admin",
                    "acl": {
                        "app": "SplunkEnterpriseSecuritySuite",
                        "owner": "admin",
                        "sharing": "global",
                    },
                    "content": dict(self.saved[name]),
                }
            ],
            "paging": {"total": 1, "perPage": 30, "offset": 0},
            "messages": [],
        }

    def get_saved(self, request, name):
        return (
            ok(self._entry(name))
            if name in self.saved
            else self.error(404, f"Could not find object id={name}")
        )

    def post_saved(self, request, owner, app, name):
        if name not in self.saved or (owner, app) != ("admin", "SplunkEnterpriseSecuritySuite"):
            return self.error(404, f"Could not find object id={name}")
        form = form_of(request)
        merged = {**self.saved[name], **{k: v for k, v in form.items() if k.startswith("alert.")}}
        per_result = merged.get("alert.digest_mode", "1") in ("0", "false")
        if (
            merged.get("alert.suppress") == "1"
            and per_result
            and not merged["alert.suppress.fields"]
        ):
            return self.error(
                400,
                f"In handler 'savedsearch': alert.suppress.fields must be specified for {name}"
                " when digest mode is disabled and suppression is enabled",
            )
        if merged.get("alert.suppress") == "1" and not _PERIOD.match(
            merged.get("alert.suppress.period", "")
        ):
            return self.error(400, "In handler 'savedsearch': bad alert.suppress.period")
        self.saved[name] = merged
        self.updated[name] = self.time.wall.isoformat()
        return ok(self._entry(name))

    def fire(self, name: str, result: dict[str, str]) -> bool:
        """The scheduler runs ``name`` and it matches ``result``: True when a notable is made."""
        conf = self.saved[name]
        if conf.get("alert.suppress") != "1":
            return True
        fields = [f.strip() for f in conf.get("alert.suppress.fields", "").split(",") if f.strip()]
        key = (name, tuple(result.get(f, "") for f in fields))
        end = self.windows.get(key)
        now = self.time.wall
        if end is not None and now < end:
            return False
        m = _PERIOD.match(conf["alert.suppress.period"])
        assert m is not None
        self.windows[key] = now + timedelta(seconds=int(m.group(1)) * _UNIT[m.group(2)])
        return True
