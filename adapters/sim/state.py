"""The mutable truth of the simulated estate: plain records the adapters read and change.

These never leave the sim: adapters turn them into the frozen contract records of
:mod:`adapters.contracts` on the way out, so no caller can alter the estate by holding a
reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "AlertState",
    "BackupJobState",
    "CredentialState",
    "DeviceState",
    "GroupState",
    "JobRecord",
    "PatchRecord",
    "RestorePointState",
    "ServiceState",
    "SiemRuleState",
    "TicketState",
    "UserState",
]


@dataclass
class PatchRecord:
    """One patch known on one device."""

    patch_id: str
    title: str = ""
    severity: str = ""
    reboot_required: bool = False
    status: Literal["pending", "installed", "failed"] = "pending"


@dataclass
class DeviceState:
    """A host or hypervisor as it really is."""

    device_id: str
    hostname: str
    kind: Literal["host", "hypervisor"]
    os: str = ""
    client: str = ""
    site: str = ""
    role: str = ""
    reachable: bool = True
    """False while the agent is off the network (drift or the ``offline`` fault)."""
    rebooting_until: datetime | None = None
    last_boot: datetime | None = None
    last_seen: datetime | None = None
    pending_reboot: bool = False
    guests: list[str] = field(default_factory=list)
    """Device ids of the virtual machines this hypervisor hosts."""
    services: list[str] = field(default_factory=list)
    """Ids of the services with an instance on this device."""
    stopped: set[str] = field(default_factory=set)
    """Service ids stopped by hand on this device."""
    broken: dict[str, str] = field(default_factory=dict)
    """Service id -> patch id that broke it here (the ``bad_patch`` fault)."""
    patches: dict[str, PatchRecord] = field(default_factory=dict)

    @property
    def online(self) -> bool:
        """Reachable and not in the middle of a reboot."""
        return self.reachable and self.rebooting_until is None


@dataclass
class ServiceState:
    """A service and the secrets its instances are configured with."""

    service_id: str
    name: str
    devices: list[str] = field(default_factory=list)
    credentials: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    """User ids the service authenticates as."""
    configured: dict[tuple[str, str], int] = field(default_factory=dict)
    """(device id, credential id) -> secret version that instance is configured with."""


@dataclass
class CredentialState:
    """A service-account secret: only versions, never a value."""

    credential_id: str
    owner: str | None
    """User id of the owning identity."""
    version: int = 1
    previous_version: int | None = None
    previous_valid_until: datetime | None = None
    supports_overlap: bool = True
    rotated_at: datetime | None = None


@dataclass
class UserState:
    """A directory user or service account."""

    user_id: str
    username: str
    client: str = ""
    """The client tenant the account lives in."""
    display_name: str = ""
    status: Literal["active", "disabled"] = "active"
    groups: list[str] = field(default_factory=list)
    admin: bool = False
    break_glass: bool = False
    service_account: bool = False
    sessions: int = 0
    own_secret_version: int = 0
    """Secret version of an account that owns no modelled credential."""


@dataclass
class GroupState:
    """A directory group."""

    group_id: str
    name: str
    client: str = ""
    members: list[str] = field(default_factory=list)


@dataclass
class TicketState:
    """A PSA ticket."""

    ticket_id: str
    number: str
    title: str
    status: str = "new"
    priority: str = ""
    description: str = ""
    client: str = ""
    escalated: bool = False
    incident_ref: str = ""
    comments: list[str] = field(default_factory=list)


@dataclass
class SiemRuleState:
    """A detection rule."""

    rule_id: str
    name: str
    enabled: bool = True
    throttled_until: datetime | None = None
    """End of the window the last throttle asked for (set time plus its period)."""
    monitors: list[str] = field(default_factory=list)
    suppressed: int = 0
    """Alerts swallowed while throttled."""
    suppress_period: timedelta | None = None
    """Set by a throttle, kept afterwards (as Splunk keeps ``alert.suppress``)."""
    suppress_fields: tuple[str, ...] = ("entity",)
    """Alert fields that group suppression (the rule alerts per result, so it has some)."""
    windows: dict[tuple[str, ...], datetime] = field(default_factory=dict)
    """Suppression windows: values of ``suppress_fields`` -> when repeats alert again."""


@dataclass
class AlertState:
    """A SIEM alert."""

    alert_id: str
    title: str
    severity: str
    status: str = "new"
    """``new`` until acknowledged, then ``in_progress`` (the SIEM contract's vocabulary)."""
    rule_id: str = ""
    entity: str = ""
    fields: dict[str, object] = field(default_factory=dict)


@dataclass
class RestorePointState:
    """One restore point."""

    point_id: str
    job_id: str
    object_name: str
    created_at: datetime
    tested_at: datetime | None = None


@dataclass
class BackupJobState:
    """A backup job and its restore points (oldest first)."""

    job_id: str
    name: str
    object_name: str
    last_result: str = "success"
    last_run: datetime | None = None
    points: list[RestorePointState] = field(default_factory=list)


JobPhase = Literal["queued", "running", "succeeded", "failed"]


@dataclass
class JobRecord:
    """An asynchronous job inside the sim."""

    job_id: str
    kind: str
    target: str
    category: str
    idempotency_key: str = ""
    state: JobPhase = "queued"
    detail: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
