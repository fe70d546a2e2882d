"""OPNsense firewall client over the MVC filter API (``/api/firewall/filter/*``).

Auth is HTTP Basic with an API key and secret. How a change is applied depends on the version
(read once from ``/api/diagnostics/system/systemInformation``):

* up to 26.1: behind a *savepoint*: ``savepoint`` -> ``apply/{revision}`` ->
  ``cancelRollback/{revision}``. If a change cuts this client off, the cancel never arrives and
  OPNsense rolls the change back by itself (60 s). ``cancelRollback`` answers an empty status
  (configd prints nothing): that is success.
* from 26.7: savepoint and cancelRollback are gone; ``apply`` takes no argument, so there is no
  automatic rollback.

When the version cannot be read (the key lacks the diagnostics privilege), a ``savepoint``
answered 404 selects the 26.7 flow. Since 25.7 ``searchRule`` also lists legacy and automatic
(plugin) rules; only MVC rules are ours to list and change.
OPNsense has neither an idempotency header nor rule expiry, so both live in a tag in the rule
description (``[opshand key=... expires=...]``); :meth:`add_rule` finds a rule already created
with the same key instead of adding a second one.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.contracts import FirewallRule
from adapters.errors import AuthError, IdempotencyConflict, NotFound, RequestRejected
from adapters.vendors._auth import BasicAuth
from adapters.vendors._parse import as_dict, as_list, iso, opt_str, parsing, req_str, seg

__all__ = ["OPNsenseClient"]

ApplyFlow = Literal["auto", "savepoint", "plain"]
_VERSION = re.compile(r"OPNsense\s+(?P<full>(?P<major>\d+)\.(?P<minor>\d+)[^\s-]*)")
# The release that removed savepoint/cancelRollback (opnsense/core 17b84612eb).
_PLAIN_APPLY_FROM = (26, 7)

_TAG = re.compile(r"\s*\[opshand key=(?P<key>[^\s\]]+)(?: expires=(?P<exp>[^\s\]]+))?\]\s*$")


class OPNsenseClient:
    """:class:`adapters.contracts.FirewallContract` over the OPNsense API.

    Args:
        base_url: The firewall, e.g. ``https://fw.example``.
        api_key: API key (the Basic-auth user).
        api_secret: API secret (the Basic-auth password).
        http_client: Injected sync client.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        interface: Interface new rules attach to.
        page_size: Rows per search page.
        apply_flow: ``auto`` (by version), ``savepoint`` (up to 26.1) or ``plain`` (26.7 on).
    """

    integration = "opnsense"
    API_CHECKED = "OPNsense 25.1-26.7 filter API (opnsense/core controllers)"
    """The source this client was checked against (``opshand adapters check``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        api_secret: SecretStr,
        http_client: httpx.Client,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        interface: str = "lan",
        page_size: int = 500,
        apply_flow: ApplyFlow = "auto",
    ) -> None:
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=BasicAuth(api_key, api_secret),
            hooks=hooks,
        )
        self._interface = interface
        self._page = page_size
        self._flow: ApplyFlow = apply_flow
        self.version: str | None = None
        """The firmware version read from the firewall (``"26.7.1"``), once known."""

    def __repr__(self) -> str:
        return f"OPNsenseClient(base_url={str(self.http.base_url)!r})"

    def list_rules(self) -> list[FirewallRule]:
        """Every filter rule managed through the API."""
        with parsing(self.integration, "list_rules"):
            return [_rule(row) for row in self._rows()]

    def add_rule(self, rule: FirewallRule, *, idempotency_key: str) -> FirewallRule:
        """Add ``rule`` (its ``rule_id`` is ignored; OPNsense assigns a uuid) and apply it."""
        call = "add_rule"
        if not re.fullmatch(r"[A-Za-z0-9._:-]+", idempotency_key):
            raise RequestRejected(
                "idempotency key must be letters, digits or ._:-",
                integration=self.integration,
                call=call,
            )
        with parsing(self.integration, call):
            for row in self._rows():
                found = _TAG.search(opt_str(row, "description"))
                if found and found.group("key") == idempotency_key:
                    existing = _rule(row)
                    if _same(existing, rule):
                        return existing
                    raise IdempotencyConflict(
                        f"key {idempotency_key!r} already added a different rule",
                        integration=self.integration,
                        call=call,
                    )
        tag = f"[opshand key={idempotency_key}"
        if rule.expires_at is not None:
            tag += f" expires={rule.expires_at.isoformat().replace('+00:00', 'Z')}"
        body = {
            "rule": {
                "enabled": "1",
                "action": "pass" if rule.action == "allow" else "block",
                "interface": self._interface,
                "direction": "in",
                "ipprotocol": "inet",
                "protocol": "any" if rule.protocol == "any" else rule.protocol.upper(),
                "source_net": rule.source,
                "destination_net": rule.destination,
                "destination_port": "" if rule.port == "any" else rule.port,
                "description": f"{rule.description} {tag}]".strip(),
            }
        }
        answer = self.http.request(
            "POST",
            "/api/firewall/filter/addRule",
            call=call,
            idempotent=False,
            json_body=body,
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            result = as_dict(answer.body, "body")
            if opt_str(result, "result") != "saved":
                problems = as_dict(result.get("validations") or {}, "validations")
                raise RequestRejected(
                    f"rule not saved: {sorted(problems)!r}", integration=self.integration, call=call
                )
            uuid = req_str(result, "uuid")
        self._apply(call, idempotency_key)
        return rule.model_copy(update={"rule_id": uuid, "description": body["rule"]["description"]})

    def remove_rule(self, rule_id: str, *, idempotency_key: str) -> None:
        """Delete a rule and apply; a rule already gone counts as removed."""
        call = "remove_rule"
        answer = self.http.request(
            "POST",
            f"/api/firewall/filter/delRule/{seg(rule_id)}",
            call=call,
            idempotent=True,  # deleting twice leaves the same state
            json_body={},
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            result = opt_str(as_dict(answer.body, "body"), "result")
        if result not in ("deleted", "not found"):
            raise RequestRejected(
                f"delete answered {result!r}", integration=self.integration, call=call
            )
        self._apply(call, idempotency_key)

    # ------------------------------------------------------------------ helpers
    def _apply(self, call: str, key: str) -> None:
        """Apply the saved change the way this firewall's version supports."""
        flow = self._apply_flow()
        if flow == "savepoint":
            try:
                revision = self._savepoint(call, key)
            except NotFound:
                if self._flow != "auto":
                    raise
                # Version unknown and no savepoint endpoint: a 26.7-or-later firewall.
                self._flow = flow = "plain"
        if flow == "plain":
            self._step("apply", "/api/firewall/filter/apply", call, f"{key}-apply", ("ok",))
            return
        rev = seg(revision)
        self._step("apply", f"/api/firewall/filter/apply/{rev}", call, f"{key}-apply", ("ok",))
        # cancelRollback answers configd's output, which is empty on success.
        self._step(
            "cancelRollback", f"/api/firewall/filter/cancelRollback/{rev}", call,
            f"{key}-cancelRollback", ("ok", ""),
        )  # fmt: skip

    def _apply_flow(self) -> ApplyFlow:
        if self._flow != "auto":
            return self._flow
        try:
            answer = self.http.get("/api/diagnostics/system/systemInformation", call="version")
        except (AuthError, NotFound):
            return "savepoint"  # unknown: try the savepoint, a 404 there means 26.7 on
        with parsing(self.integration, "version"):
            versions = as_list(as_dict(answer.body, "body").get("versions") or [], "versions")
            found = next((m for v in versions if (m := _VERSION.search(str(v)))), None)
        if found is None:
            return "savepoint"
        self.version = found.group("full")
        release = (int(found.group("major")), int(found.group("minor")))
        self._flow = "plain" if release >= _PLAIN_APPLY_FROM else "savepoint"
        return self._flow

    def _savepoint(self, call: str, key: str) -> str:
        point = self.http.request(
            "POST", "/api/firewall/filter/savepoint", call=call, idempotent=False,
            json_body={}, idempotency_key=f"{key}-savepoint",
        )  # fmt: skip
        with parsing(self.integration, call):
            return req_str(as_dict(point.body, "body"), "revision")

    def _step(self, step: str, path: str, call: str, key: str, success: tuple[str, ...]) -> None:
        answer = self.http.request(
            "POST", path, call=call, idempotent=True, json_body={}, idempotency_key=key
        )
        with parsing(self.integration, call):
            body = {} if answer.body is None else as_dict(answer.body, "body")
            status = opt_str(body, "status").strip().lower()
        if status not in success:
            raise RequestRejected(
                f"{step} answered {status!r}", integration=self.integration, call=call
            )

    def _rows(self) -> list[dict[str, Any]]:
        call = "list_rules"

        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return [
                    as_dict(r, "row") for r in as_list(as_dict(page.body, "page")["rows"], "rows")
                ]

        def ours(row: dict[str, Any]) -> bool:
            # Since 25.7 searchRule also lists legacy and plugin-generated rules; they are not
            # MVC rules, cannot be changed through this API, and are never opshand's.
            return not (_truthy(row.get("legacy")) or _truthy(row.get("is_automatic")))

        def following(page: HttpResponse, seen: int) -> dict[str, str | int | bool] | None:
            body = page.body if isinstance(page.body, dict) else {}
            total, current = body.get("total"), body.get("current")
            if isinstance(total, int) and isinstance(current, int) and seen < total:
                return {"current": current + 1}
            return None

        return [
            row
            for row in self.http.paginate(
                "/api/firewall/filter/searchRule",
                call=call,
                items=items,
                next_request=following,
                params={"current": 1, "rowCount": self._page},
            )
            if ours(row)
        ]


def _truthy(value: Any) -> bool:
    """OPNsense flags come as booleans or as ``"1"``/``"0"`` strings."""
    return value is True or value in ("1", 1, "true")


def _same(a: FirewallRule, b: FirewallRule) -> bool:
    keys = ("action", "source", "destination", "port", "protocol", "expires_at")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def _rule(row: dict[str, Any]) -> FirewallRule:
    description = opt_str(row, "description")
    tag = _TAG.search(description)
    expires = iso(tag.group("exp"), "expires tag") if tag and tag.group("exp") else None
    action = opt_str(row, "action").lower()
    protocol = opt_str(row, "protocol", "any").lower() or "any"
    port = opt_str(row, "destination_port")
    return FirewallRule(
        rule_id=req_str(row, "uuid"),
        action="allow" if action == "pass" else "block",
        source=opt_str(row, "source_net", "any") or "any",
        destination=opt_str(row, "destination_net", "any") or "any",
        port=port or "any",
        protocol=protocol,
        description=description,
        expires_at=expires,
    )
