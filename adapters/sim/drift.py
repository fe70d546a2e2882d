"""Drift: changes made to the estate outside opshand, so the next sync has something to find.

Each helper acts at once, bypasses faults and idempotency (a person at a console does not send
idempotency keys), and is counted as an effect of category ``drift`` so it never muddles the
"exactly once" counts of the adapters.
"""

from __future__ import annotations

from adapters.contracts import FirewallRule
from adapters.errors import NotFound
from adapters.sim._core import SimCore
from adapters.sim.firewall import put_rule, split_rule_id
from adapters.sim.identity import set_status
from adapters.sim.rmm import install_patches
from adapters.sim.siem import raise_alert
from adapters.sim.state import DeviceState, PatchRecord, RestorePointState

__all__ = ["Drift"]


class Drift:
    """Out-of-band changes to a sim estate (``sim.drift``)."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    def _count(self, method: str, target: str | None) -> None:
        self._core.calls.add_effect("drift", method, target)

    def _device(self, device_id: str) -> DeviceState:
        dev = self._core.devices.get(device_id)
        if dev is None:
            raise NotFound(f"no device with id {device_id!r}", integration="sim-drift")
        return dev

    def reboot(self, device_id: str) -> None:
        """Someone reboots the host by hand (down for ``reboot_seconds``)."""
        with self._core.lock:
            now = self._core.settle()
            self._core.begin_reboot(self._device(device_id), now)
            self._count("reboot", device_id)
            self._core.settle()

    def take_offline(self, device_id: str) -> None:
        """The device drops off the network; its jobs wait, then fail."""
        with self._core.lock:
            now = self._core.settle()
            dev = self._device(device_id)
            dev.reachable = False
            dev.last_seen = now
            self._count("take_offline", device_id)

    def bring_online(self, device_id: str) -> None:
        """The device is reachable again; jobs waiting for it start."""
        with self._core.lock:
            now = self._core.settle()
            self._device(device_id).reachable = True
            self._count("bring_online", device_id)
            self._core.wake(device_id, now)
            self._core.settle()

    def stop_service(self, device_id: str, service: str) -> None:
        """A service instance is stopped by hand (``restart-service`` brings it back)."""
        with self._core.lock:
            dev = self._device(device_id)
            svc = self._core.find_service(service)
            if svc is None or svc.service_id not in dev.services:
                raise NotFound(f"service {service!r} does not run on {device_id}")
            dev.stopped.add(svc.service_id)
            self._count("stop_service", device_id)

    def install_patch(self, device_id: str, patch_id: str) -> None:
        """A patch is installed by hand (no reboot; a reboot may now be pending)."""
        with self._core.lock:
            now = self._core.settle()
            dev = self._device(device_id)
            if patch_id not in dev.patches:
                raise NotFound(f"patch {patch_id!r} is not known on {device_id}")
            install_patches(self._core, dev, [patch_id], now)
            self._count("install_patch", device_id)

    def release_patch(
        self,
        device_id: str,
        patch_id: str,
        *,
        title: str = "",
        severity: str = "important",
        reboot_required: bool = True,
    ) -> None:
        """The vendor publishes a new patch that is now pending on the device."""
        with self._core.lock:
            self._device(device_id).patches[patch_id] = PatchRecord(
                patch_id=patch_id, title=title, severity=severity, reboot_required=reboot_required
            )
            self._count("release_patch", device_id)

    def disable_user(self, user_id: str) -> None:
        """An admin disables the account in the directory console."""
        with self._core.lock:
            now = self._core.settle()
            set_status(self._core, self._core.user(user_id, "drift"), "disabled", now)
            self._count("disable_user", user_id)

    def enable_user(self, user_id: str) -> None:
        """An admin re-enables the account."""
        with self._core.lock:
            now = self._core.settle()
            set_status(self._core, self._core.user(user_id, "drift"), "active", now)
            self._count("enable_user", user_id)

    def login(self, user_id: str) -> None:
        """The user signs in (one more session); a disabled account cannot."""
        with self._core.lock:
            now = self._core.settle()
            user = self._core.user(user_id, "drift")
            if user.status == "active":
                user.sessions += 1
                self._core.log_event(now, "login", user=user.username)
            else:
                self._core.log_event(now, "login_failed", user=user.username)
            self._count("login", user_id)

    def add_firewall_rule(self, rule: FirewallRule) -> None:
        """Someone adds a rule on a firewall's own console (``rule_id``: ``<firewall>/<id>``)."""
        with self._core.lock:
            now = self._core.settle()
            firewall, local = split_rule_id(self._core, rule.rule_id, None, "drift")
            key = put_rule(self._core, firewall, rule.model_copy(update={"rule_id": local}), now)
            self._count("add_firewall_rule", key)

    def remove_firewall_rule(self, rule_id: str) -> None:
        """Someone deletes a rule on a firewall's own console (``rule_id``: ``<firewall>/<id>``)."""
        with self._core.lock:
            firewall, local = split_rule_id(self._core, rule_id, None, "drift")
            key = f"{firewall}/{local}"
            if self._core.firewall.pop(key, None) is None:
                raise NotFound(f"no firewall rule {key!r}")
            self._count("remove_firewall_rule", key)

    def raise_alert(
        self, rule_id: str, *, entity: str = "", title: str = "", severity: str = "medium"
    ) -> str | None:
        """A detection fires; returns the alert id, or ``None`` if the rule is throttled."""
        with self._core.lock:
            now = self._core.settle()
            if rule_id not in self._core.siem_rules:
                raise NotFound(f"no SIEM rule {rule_id!r}")
            alert = raise_alert(
                self._core, rule_id, now, entity=entity, title=title, severity=severity
            )
            self._count("raise_alert", rule_id)
            return alert.alert_id if alert is not None else None

    def backup_now(self, job_id: str) -> str:
        """A backup runs by hand; returns the new restore point id."""
        with self._core.lock:
            now = self._core.settle()
            job = self._core.backups.get(job_id)
            if job is None:
                raise NotFound(f"no backup job {job_id!r}")
            point = RestorePointState(
                point_id=f"{job_id}@{now:%Y%m%dT%H%M%S}",
                job_id=job_id,
                object_name=job.object_name,
                created_at=now,
            )
            job.points.append(point)
            job.last_run = now
            job.last_result = "success"
            self._core.points[point.point_id] = point
            self._count("backup_now", job_id)
            return point.point_id
