"""The sim's firewalls: rules per firewall device, added with an expiry and removed.

Rule ids are local to a firewall (the sample estate numbers rules ``20``, ``30`` ... on every
device), so each device has its own adapter with local ids (``sim.firewalls[name]``), and the
manager view (``sim.firewall``) spans all devices with ids qualified as ``<firewall>/<rule id>``.
Fault targets and effect counts always use the qualified form.
"""

from __future__ import annotations

from datetime import datetime

from adapters.contracts import FirewallRule
from adapters.errors import AdapterError, NotFound
from adapters.sim._core import SimCore
from adapters.sim.faults import FaultRule

__all__ = ["SimFirewall", "put_rule", "split_rule_id"]


def put_rule(
    core: SimCore, firewall: str, rule: FirewallRule, at: datetime, *, enforce_expiry: bool = True
) -> str:
    """Install a rule (local id) and schedule its removal at ``expires_at``; return its key."""
    key = f"{firewall}/{rule.rule_id}"
    core.firewall[key] = rule
    core.log_event(at, "firewall_rule_added", firewall=firewall, rule_id=rule.rule_id)
    if rule.expires_at is not None and enforce_expiry:

        def expire(when: datetime) -> None:
            # Only the rule that was scheduled: a later rule with the same id is not touched.
            if core.firewall.get(key) is rule:
                del core.firewall[key]
                core.log_event(
                    when, "firewall_rule_expired", firewall=firewall, rule_id=rule.rule_id
                )

        core.schedule(rule.expires_at, expire)
    return key


def split_rule_id(core: SimCore, rule_id: str, device: str | None, call: str) -> tuple[str, str]:
    """(firewall, local id) of a rule id as a device view or the manager view received it."""
    if device is not None:
        return device, rule_id
    firewall, sep, local = rule_id.partition("/")
    if sep:
        if firewall not in core.firewalls:
            raise NotFound(f"no firewall {firewall!r}", integration="sim-firewall", call=call)
        return firewall, local
    if len(core.firewalls) == 1:
        return core.firewalls[0], rule_id
    raise AdapterError(
        f"rule id {rule_id!r} does not name its firewall; use '<firewall>/<rule id>' with one of "
        f"{', '.join(core.firewalls)}",
        integration="sim-firewall",
        call=call,
    )


class SimFirewall:
    """:class:`~adapters.contracts.FirewallContract` for one device, or all (``device=None``)."""

    def __init__(self, core: SimCore, device: str | None = None) -> None:
        self._core = core
        self._device = device

    def _target(self, rule_id: str) -> str:
        """The qualified id used for fault matching and effect counts (best effort)."""
        try:
            firewall, local = split_rule_id(self._core, rule_id, self._device, "")
        except AdapterError:
            return rule_id
        return f"{firewall}/{local}"

    def _out(self, key: str, rule: FirewallRule) -> FirewallRule:
        return rule if self._device is not None else rule.model_copy(update={"rule_id": key})

    def list_rules(self) -> list[FirewallRule]:
        """Rules in force now (expired ones are gone)."""
        prefix = f"{self._device}/" if self._device is not None else ""

        def act(_: list[FaultRule], now: datetime) -> list[FirewallRule]:
            return [
                self._out(key, rule)
                for key, rule in self._core.firewall.items()
                if key.startswith(prefix)
            ]

        return self._core.call(
            "firewall", "list_rules", target=self._device, args={"device": self._device}, act=act
        )

    def add_rule(self, rule: FirewallRule, *, idempotency_key: str) -> FirewallRule:
        """Add a rule; an empty (local) ``rule_id`` gets one assigned."""
        core = self._core
        target = self._target(rule.rule_id)

        def act(_: list[FaultRule], now: datetime) -> FirewallRule:
            firewall, local = split_rule_id(core, rule.rule_id, self._device, "add_rule")
            new = rule.model_copy(update={"rule_id": local or core.next_id("r")})
            if f"{firewall}/{new.rule_id}" in core.firewall:
                raise AdapterError(
                    f"a rule with id {new.rule_id!r} already exists on {firewall}",
                    integration="sim-firewall",
                    call="add_rule",
                )
            if new.expires_at is not None and new.expires_at <= now:
                raise AdapterError(
                    f"expires_at {new.expires_at.isoformat()} is not in the future",
                    integration="sim-firewall",
                    call="add_rule",
                )
            key = put_rule(core, firewall, new, now)
            return self._out(key, new)

        return core.call(
            "firewall",
            "add_rule",
            target=target,
            args={"device": self._device, "rule": rule.model_dump(mode="json")},
            key=idempotency_key,
            act=act,
        )

    def remove_rule(self, rule_id: str, *, idempotency_key: str) -> None:
        """Remove a rule; a rule already gone (expired, deleted by hand) counts as removed.

        Raises:
            NotFound: the rule id names a firewall the estate does not have.
        """
        core = self._core
        removed: list[bool] = []

        def act(_: list[FaultRule], now: datetime) -> None:
            firewall, local = split_rule_id(core, rule_id, self._device, "remove_rule")
            key = f"{firewall}/{local}"
            if key not in core.firewall:
                # The wanted state already holds, as a vendor's idempotent delete reports it;
                # nothing changed, so it is no effect either.
                removed.append(False)
                return
            removed.append(True)
            del core.firewall[key]
            core.log_event(now, "firewall_rule_removed", firewall=firewall, rule_id=local)

        core.call(
            "firewall",
            "remove_rule",
            target=self._target(rule_id),
            args={"device": self._device, "rule_id": rule_id},
            key=idempotency_key,
            act=act,
            changed=lambda: all(removed),
        )
