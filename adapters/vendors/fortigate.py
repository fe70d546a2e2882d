"""FortiGate firewall client over the FortiOS REST API (``/api/v2/cmdb``, FortiOS 7.x).

Auth is a REST API administrator's token (``Authorization: Bearer``); every call names the
VDOM (``vdom=``). Answers are ``{"status": "success", "results": [...]}`` envelopes.

A contract rule becomes FortiOS objects named after the idempotency key: two address objects
(``firewall/address``, ``subnet`` as ``ip mask``), a custom service (``firewall.service/custom``,
``tcp-portrange``/``udp-portrange``) unless the port is ``any`` (service ``ALL``), a one-time
schedule (``firewall.schedule/onetime``) that ends at the rule's expiry, so FortiOS itself stops
matching the policy then, and the policy (``firewall/policy``) whose ``comments`` carry the
``[opshand key=... expires=...]`` tag that makes add idempotent. Removing deletes the policy and
the objects made for it; a policy already gone counts as removed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, ResilienceOptions, ResilientHttp
from adapters.contracts import FirewallRule
from adapters.errors import IdempotencyConflict, NotFound, RequestRejected
from adapters.vendors._auth import HeaderToken
from adapters.vendors._parse import as_dict, as_list, iso, opt_str, parsing, req_str, seg

__all__ = ["FortiGateClient"]

_TAG = re.compile(r"\[opshand key=(?P<key>[A-Za-z0-9._:-]+)(?: expires=(?P<exp>[0-9TZ:+.-]+))?\]")
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,40}$")
_POLICY = "/api/v2/cmdb/firewall/policy"
_ADDRESS = "/api/v2/cmdb/firewall/address"
_SERVICE = "/api/v2/cmdb/firewall.service/custom"
_SCHEDULE = "/api/v2/cmdb/firewall.schedule/onetime"


class FortiGateClient:
    """:class:`adapters.contracts.FirewallContract` over the FortiOS REST API.

    Args:
        base_url: The FortiGate's management address, e.g. ``https://fw.example``.
        api_token: A REST API administrator's token.
        http_client: Injected sync client.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        vdom: The VDOM the rules live in.
        srcintf: Ingress interface of the policies made (``any`` for every one).
        dstintf: Egress interface of the policies made.
    """

    integration = "fortigate"

    def __init__(
        self,
        base_url: str,
        *,
        api_token: SecretStr,
        http_client: httpx.Client,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        vdom: str = "root",
        srcintf: str = "any",
        dstintf: str = "any",
    ) -> None:
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=HeaderToken(api_token),
            hooks=hooks,
        )
        self._vdom = vdom
        self._intf = (srcintf, dstintf)

    def __repr__(self) -> str:
        return f"FortiGateClient(base_url={str(self.http.base_url)!r}, vdom={self._vdom!r})"

    # ------------------------------------------------------------------ reads
    def list_rules(self) -> list[FirewallRule]:
        """Every firewall policy of the VDOM, addresses and services resolved."""
        call = "list_rules"
        policies = self._results(_POLICY, call)
        addresses = {opt_str(a, "name"): a for a in self._results(_ADDRESS, call)}
        services = {opt_str(s, "name"): s for s in self._results(_SERVICE, call)}
        with parsing(self.integration, call):
            return [_rule(p, addresses, services) for p in policies]

    # ------------------------------------------------------------------ changes
    def add_rule(self, rule: FirewallRule, *, idempotency_key: str) -> FirewallRule:
        """Create the rule's objects and policy; the same key returns the rule made before."""
        call = "add_rule"
        if not _KEY.match(idempotency_key):
            raise RequestRejected(
                "idempotency key must be 1-40 letters, digits or ._:-",
                integration=self.integration,
                call=call,
            )
        for existing in self.list_rules():
            found = _TAG.search(existing.description)
            if found and found.group("key") == idempotency_key:
                if _same(existing, rule):
                    return existing
                raise IdempotencyConflict(
                    f"key {idempotency_key!r} already added a different rule",
                    integration=self.integration,
                    call=call,
                )
        prefix = f"opshand-{idempotency_key}"
        src = self._address(f"{prefix}-src", rule.source, call, idempotency_key)
        dst = self._address(f"{prefix}-dst", rule.destination, call, idempotency_key)
        service = self._service(f"{prefix}-svc", rule, call, idempotency_key)
        schedule = "always"
        tag = f"[opshand key={idempotency_key}"
        if rule.expires_at is not None:
            schedule = self._schedule(f"{prefix}-sched", rule.expires_at, call, idempotency_key)
            tag += f" expires={rule.expires_at.isoformat().replace('+00:00', 'Z')}"
        comments = f"{rule.description} {tag}]".strip()[-1023:]
        answer = self.http.request(
            "POST",
            _POLICY,
            call=call,
            idempotent=False,
            params={"vdom": self._vdom},
            json_body={
                "name": prefix[:35],
                "srcintf": [{"name": self._intf[0]}],
                "dstintf": [{"name": self._intf[1]}],
                "srcaddr": [{"name": src}],
                "dstaddr": [{"name": dst}],
                "service": [{"name": service}],
                "action": "accept" if rule.action == "allow" else "deny",
                "schedule": schedule,
                "status": "enable",
                "logtraffic": "all",
                "comments": comments,
            },
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            policy_id = req_str(_ok(answer.body), "mkey")
        return rule.model_copy(update={"rule_id": policy_id, "description": comments})

    def remove_rule(self, rule_id: str, *, idempotency_key: str) -> None:
        """Delete the policy and the objects made for it; an absent policy is already removed."""
        call = "remove_rule"
        if not rule_id.isdigit():
            raise NotFound(
                f"FortiOS policy ids are numbers; no policy {rule_id!r}",
                integration=self.integration,
                call=call,
            )
        try:
            answer = self.http.get(f"{_POLICY}/{seg(rule_id)}", call=call, params=self._q())
        except NotFound:
            return
        with parsing(self.integration, call):
            rows = as_list(_ok(answer.body).get("results", []), "results")
            comments = opt_str(as_dict(rows[0], "policy"), "comments") if rows else ""
        self._delete(f"{_POLICY}/{seg(rule_id)}", call, idempotency_key)
        tag = _TAG.search(comments)
        if tag is None:
            return
        prefix = f"opshand-{tag.group('key')}"
        for path, name in (
            (_SCHEDULE, f"{prefix}-sched"),
            (_SERVICE, f"{prefix}-svc"),
            (_ADDRESS, f"{prefix}-src"),
            (_ADDRESS, f"{prefix}-dst"),
        ):
            self._delete(f"{path}/{seg(name)}", call, f"{idempotency_key}-{name[-5:]}")

    # ------------------------------------------------------------------ helpers
    def _q(self) -> dict[str, str | int | bool]:
        return {"vdom": self._vdom}

    def _results(self, path: str, call: str) -> list[dict[str, Any]]:
        answer = self.http.get(path, call=call, params=self._q())
        with parsing(self.integration, call):
            return [as_dict(r, "result") for r in as_list(_ok(answer.body)["results"], "results")]

    def _delete(self, path: str, call: str, key: str) -> None:
        with contextlib.suppress(NotFound):  # already gone
            self.http.request(
                "DELETE", path, call=call, idempotent=True, params=self._q(), idempotency_key=key
            )

    def _upsert(self, path: str, name: str, body: dict[str, Any], call: str, key: str) -> str:
        """Create ``name`` or, when a retried add made it before, set it to ``body``."""
        try:
            self.http.get(f"{path}/{seg(name)}", call=call, params=self._q())
        except NotFound:
            self.http.request(
                "POST", path, call=call, idempotent=False, params=self._q(),
                json_body={"name": name, **body}, idempotency_key=key,
            )  # fmt: skip
            return name
        self.http.request(
            "PUT", f"{path}/{seg(name)}", call=call, idempotent=True, params=self._q(),
            json_body=body, idempotency_key=key,
        )  # fmt: skip
        return name

    def _address(self, name: str, value: str, call: str, key: str) -> str:
        if value == "any":
            return "all"
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise RequestRejected(
                f"not an IPv4 address or network: {value[:60]!r}",
                integration=self.integration,
                call=call,
            ) from exc
        if net.version != 4:
            raise RequestRejected(
                "IPv6 rules are not supported yet", integration=self.integration, call=call
            )
        subnet = f"{net.network_address} {net.netmask}"
        return self._upsert(
            _ADDRESS, name, {"type": "ipmask", "subnet": subnet}, call, f"{key}-{name[-3:]}"
        )

    def _service(self, name: str, rule: FirewallRule, call: str, key: str) -> str:
        if rule.port == "any" and rule.protocol == "any":
            return "ALL"
        protocol = rule.protocol.lower()
        if protocol not in ("tcp", "udp") or not re.fullmatch(r"\d{1,5}(-\d{1,5})?", rule.port):
            raise RequestRejected(
                f"a port rule needs protocol tcp or udp and a port or range, got "
                f"{rule.protocol!r} {rule.port!r}",
                integration=self.integration,
                call=call,
            )
        body = {"protocol": "TCP/UDP/SCTP", f"{protocol}-portrange": rule.port}
        return self._upsert(_SERVICE, name, body, call, f"{key}-svc")

    def _schedule(self, name: str, end: datetime, call: str, key: str) -> str:
        start = self.http.hooks.now()
        # FortiOS one-time schedules take "hh:mm yyyy/mm/dd" in the unit's own time zone;
        # the unit is expected to run on UTC (the integration table says so).
        body = {
            "start": start.strftime("%H:%M %Y/%m/%d"),
            "end": end.strftime("%H:%M %Y/%m/%d"),
            "expiration-days": 0,
        }
        return self._upsert(_SCHEDULE, name, body, call, f"{key}-sched")


def _ok(body: Any) -> dict[str, Any]:
    envelope = as_dict(body, "body")
    if opt_str(envelope, "status") != "success":
        raise ValueError(f"FortiOS answered status {opt_str(envelope, 'status')!r}")
    return envelope


def _names(policy: dict[str, Any], key: str) -> list[str]:
    return [opt_str(as_dict(x, key), "name") for x in as_list(policy.get(key) or [], key)]


def _net(names: list[str], addresses: dict[str, dict[str, Any]]) -> str:
    if not names or names == ["all"]:
        return "any"
    parts = []
    for name in names:
        subnet = opt_str(addresses.get(name, {}), "subnet")
        if subnet and " " in subnet:
            ip, mask = subnet.split(" ", 1)
            parts.append(_plain(f"{ip}/{mask}"))
        else:
            parts.append(name)  # an FQDN, range or group: its name is what we can show
    return ",".join(parts)


def _rule(
    policy: dict[str, Any],
    addresses: dict[str, dict[str, Any]],
    services: dict[str, dict[str, Any]],
) -> FirewallRule:
    comments = opt_str(policy, "comments")
    tag = _TAG.search(comments)
    expires = iso(tag.group("exp"), "expires tag") if tag and tag.group("exp") else None
    port, protocol = "any", "any"
    svc = _names(policy, "service")
    if len(svc) == 1 and svc[0] in services:
        s = services[svc[0]]
        for proto in ("tcp", "udp"):
            if opt_str(s, f"{proto}-portrange"):
                port, protocol = opt_str(s, f"{proto}-portrange").split(":")[0], proto
    elif svc and svc != ["ALL"]:
        port = ",".join(svc)  # predefined services (HTTPS, DNS ...) by name
    return FirewallRule(
        rule_id=req_str(policy, "policyid"),
        action="allow" if opt_str(policy, "action") == "accept" else "block",
        source=_net(_names(policy, "srcaddr"), addresses),
        destination=_net(_names(policy, "dstaddr"), addresses),
        port=port,
        protocol=protocol,
        description=comments,
        expires_at=expires,
    )


def _plain(value: str) -> str:
    """A network as ``a.b.c.d/n``, a single host as ``a.b.c.d``; other text unchanged."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return value
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def _same(a: FirewallRule, b: FirewallRule) -> bool:
    if (_plain(a.source), _plain(a.destination)) != (_plain(b.source), _plain(b.destination)):
        return False
    keys = ("action", "port", "protocol", "expires_at")
    return all(getattr(a, k) == getattr(b, k) for k in keys)
