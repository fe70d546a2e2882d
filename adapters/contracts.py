"""One small contract per integration category, shared by the sim and every vendor client.

Every method that changes the estate takes an ``idempotency_key``: the same key with the same
arguments must not act twice, and the same key with *different* arguments is an error
(:class:`adapters.errors.IdempotencyConflict`). Read methods never change anything.
All records are frozen pydantic models; vendor clients translate their JSON into these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CATEGORIES",
    "CONTRACTS",
    "Alert",
    "BackupContract",
    "BackupJob",
    "Category",
    "Device",
    "FirewallContract",
    "FirewallRule",
    "IdentityContract",
    "IdentityGroup",
    "IdentityUser",
    "Job",
    "JobState",
    "PatchState",
    "PsaContract",
    "RestorePoint",
    "RmmContract",
    "SecretRotation",
    "SiemContract",
    "SiemRule",
    "Ticket",
    "contract_method_names",
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


JobState = Literal["queued", "running", "succeeded", "failed", "unknown"]


class Job(_Record):
    """An asynchronous operation started in the estate (patch run, reboot, restore, script)."""

    job_id: str
    state: JobState
    target: str
    """The source system's id of the device/user/object the job acts on."""
    kind: str
    detail: str = ""
    idempotency_key: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


# --------------------------------------------------------------------------- RMM
class Device(_Record):
    """A managed endpoint or server as the RMM sees it."""

    device_id: str
    hostname: str
    os: str = ""
    online: bool = True
    client: str = ""
    site: str = ""
    role: str = ""
    last_boot: datetime | None = None
    last_seen: datetime | None = None
    services: dict[str, str] = Field(default_factory=dict)
    """Service name -> ``running`` | ``stopped`` | ``failed``."""


class PatchState(_Record):
    """One patch's state on one device."""

    device_id: str
    patch_id: str
    """KB number or package id, e.g. ``KB5034441``."""
    title: str = ""
    severity: str = ""
    status: Literal["pending", "installed", "failed"] = "pending"
    reboot_required: bool = False


@runtime_checkable
class RmmContract(Protocol):
    """Remote monitoring and management: inventory, patching, reboots, allowlisted scripts."""

    def list_devices(self) -> list[Device]: ...
    def patch_status(self, device_id: str) -> list[PatchState]: ...
    def apply_patches(
        self, device_id: str, patch_ids: list[str], *, reboot: bool, idempotency_key: str
    ) -> Job: ...
    def reboot(self, device_id: str, *, idempotency_key: str) -> Job: ...
    def run_script(
        self, device_id: str, script_id: str, params: dict[str, str], *, idempotency_key: str
    ) -> Job: ...
    def job_status(self, job_id: str) -> Job: ...


# --------------------------------------------------------------------------- PSA
class Ticket(_Record):
    """A PSA / ITSM ticket."""

    ticket_id: str
    number: str
    title: str
    status: str
    priority: str = ""
    description: str = ""
    client: str = ""
    escalated: bool = False
    incident_ref: str = ""
    comments: tuple[str, ...] = ()


@runtime_checkable
class PsaContract(Protocol):
    """PSA / ITSM: tickets and their link to incidents."""

    def get_ticket(self, ticket_id: str) -> Ticket: ...
    def create_ticket(
        self, title: str, description: str, *, priority: str, idempotency_key: str
    ) -> Ticket: ...
    def comment(self, ticket_id: str, text: str, *, idempotency_key: str) -> Ticket: ...
    def update_status(self, ticket_id: str, status: str, *, idempotency_key: str) -> Ticket: ...
    def escalate(self, ticket_id: str, reason: str, *, idempotency_key: str) -> Ticket: ...
    def close(self, ticket_id: str, resolution: str, *, idempotency_key: str) -> Ticket: ...


# --------------------------------------------------------------------------- SIEM
class Alert(_Record):
    """A SIEM alert / notable event."""

    alert_id: str
    title: str
    severity: str
    status: str
    rule_id: str = ""
    entity: str = ""
    fields: dict[str, Any] = Field(default_factory=dict)


class SiemRule(_Record):
    """A detection rule, with any throttle (alert suppression) set on it."""

    rule_id: str
    name: str
    enabled: bool = True
    throttled_until: datetime | None = None
    """End of the window the last throttle asked for (when it was set plus its period)."""
    suppress_fields: tuple[str, ...] = ()
    """Fields whose values group the suppression: a repeat with other values still alerts."""
    suppress_period_seconds: int = 0
    """How long each firing suppresses repeats; ``0`` when no suppression is set."""


@runtime_checkable
class SiemContract(Protocol):
    """SIEM: alerts, rule throttling/suppression with expiry, search."""

    def list_alerts(self, *, status: str | None = None) -> list[Alert]: ...
    def acknowledge(self, alert_id: str, *, idempotency_key: str) -> Alert: ...
    def get_rule(self, rule_id: str) -> SiemRule: ...
    def throttle_rule(
        self,
        rule_id: str,
        until: datetime,
        *,
        idempotency_key: str,
        fields: tuple[str, ...] = (),
    ) -> SiemRule:
        """Throttle the rule the way SIEMs do (Splunk's alert suppression).

        Suppression starts when the rule *fires*: after each alert, further alerts with the
        same values of ``fields`` are suppressed for a period (``until`` minus now); an alert
        with other values still fires. A rule that alerts per result needs ``fields`` (Splunk
        requires ``alert.suppress.fields`` when digest mode is off): without them, and with
        none set on the rule, the client refuses. The setting stays on the rule after
        ``until`` (each later firing suppresses again) until a person or a later change lifts it.
        """
        ...

    def search(self, query: str, *, limit: int = 100) -> list[dict[str, Any]]: ...


# --------------------------------------------------------------------------- identity
class IdentityUser(_Record):
    """A user or service account in the directory."""

    user_id: str
    username: str
    display_name: str = ""
    status: Literal["active", "disabled"] = "active"
    groups: tuple[str, ...] = ()
    admin: bool = False
    break_glass: bool = False
    service_account: bool = False
    sessions: int = 0
    secret_version: int = 0


class IdentityGroup(_Record):
    """A directory group."""

    group_id: str
    name: str
    members: tuple[str, ...] = ()


class SecretRotation(_Record):
    """Result of rotating a service account's secret. The secret itself never leaves."""

    user_id: str
    new_version: int
    previous_valid_until: datetime | None = None


@runtime_checkable
class IdentityContract(Protocol):
    """Identity provider: users and groups, disable/enable, revoke sessions, rotate secrets."""

    def list_users(self) -> list[IdentityUser]: ...
    def list_groups(self) -> list[IdentityGroup]: ...
    def get_user(self, user_id: str) -> IdentityUser: ...
    def disable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser: ...
    def enable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser: ...
    def revoke_sessions(self, user_id: str, *, idempotency_key: str) -> IdentityUser: ...
    def rotate_secret(
        self, user_id: str, *, overlap_minutes: int, idempotency_key: str
    ) -> SecretRotation: ...


# --------------------------------------------------------------------------- backup
class BackupJob(_Record):
    """A backup job definition and its last result."""

    job_id: str
    name: str
    protects: tuple[str, ...] = ()
    last_result: str = ""
    last_run: datetime | None = None


class RestorePoint(_Record):
    """A restore point of one protected object."""

    point_id: str
    object_name: str
    created_at: datetime
    tested_at: datetime | None = None


@runtime_checkable
class BackupContract(Protocol):
    """Backup: jobs, restore points, restores."""

    def list_jobs(self) -> list[BackupJob]: ...
    def restore_points(self, object_name: str) -> list[RestorePoint]: ...
    def start_restore(self, point_id: str, *, idempotency_key: str) -> Job: ...
    def restore_status(self, job_id: str) -> Job: ...


# --------------------------------------------------------------------------- firewall
class FirewallRule(_Record):
    """A firewall rule."""

    rule_id: str
    action: Literal["allow", "block"]
    source: str
    destination: str
    port: str = "any"
    protocol: str = "any"
    description: str = ""
    expires_at: datetime | None = None


@runtime_checkable
class FirewallContract(Protocol):
    """Firewall: list, add (with expiry) and remove rules."""

    def list_rules(self) -> list[FirewallRule]: ...
    def add_rule(self, rule: FirewallRule, *, idempotency_key: str) -> FirewallRule: ...
    def remove_rule(self, rule_id: str, *, idempotency_key: str) -> None: ...


Category = Literal["rmm", "psa", "siem", "identity", "backup", "firewall"]
"""The six integration categories; each has one contract below."""

CONTRACTS: dict[Category, type[Any]] = {
    "rmm": RmmContract,
    "psa": PsaContract,
    "siem": SiemContract,
    "identity": IdentityContract,
    "backup": BackupContract,
    "firewall": FirewallContract,
}
"""Category -> its contract Protocol: the one map every other list of categories derives from."""

CATEGORIES: tuple[Category, ...] = tuple(CONTRACTS)
"""The categories in their canonical order (RMM first, firewall last)."""


def contract_method_names(category: Category) -> tuple[str, ...]:
    """Every method the category's contract Protocol declares, in declaration order."""
    proto = CONTRACTS[category]
    return tuple(n for n, v in vars(proto).items() if not n.startswith("_") and callable(v))
