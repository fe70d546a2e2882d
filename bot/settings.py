"""The one typed settings object, read once by :func:`bot.bootstrap.bootstrap`.

Values come from ``OPSHAND_*`` environment variables (nested with ``__``, e.g.
``OPSHAND_SLACK__BOT_TOKEN``) and an optional settings file (``--settings FILE`` or
``OPSHAND_SETTINGS_FILE``, YAML or JSON). Unknown keys are errors, so a typo fails at start-up.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from adapters.integration_config import IntegrationsConfig
from adapters.topology.config import TopologyConfig

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEMO_ALERTMANAGER_TOKEN",
    "DEMO_SIGNAL_SECRET",
    "AutonomySettings",
    "ManagementSettings",
    "ModelSettings",
    "RoleSettings",
    "Settings",
    "SignalSettings",
    "SignalSourceSettings",
    "SlackSettings",
]

DEFAULT_DATA_DIR = Path(".opshand")
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "examples" / "policy.yaml"
DEFAULT_RUNBOOKS = Path(__file__).resolve().parent.parent / "examples" / "runbooks.yaml"
DEMO_SIGNAL_SECRET = "local-signal-secret"  # noqa: S105 (public demo credential)
"""HMAC secret of the generic webhook in local mode only (the demo's credentials)."""
DEMO_ALERTMANAGER_TOKEN = "local-alertmanager-token"  # noqa: S105 (public demo credential)
"""Bearer token of the Alertmanager webhook in local mode only (the demo's credentials)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlackSettings(_Section):
    """How to reach Slack."""

    mode: Literal["http", "socket", "local"] = "local"
    """``local`` runs the bundled Slack-compatible workspace; ``http`` and ``socket`` reach
    real Slack."""
    bot_token: SecretStr = SecretStr("xoxb-local-workspace")
    """Bot user OAuth token (``xoxb-...``)."""
    app_token: SecretStr | None = None
    """App-level token (``xapp-...``) for Socket Mode."""
    signing_secret: SecretStr = SecretStr("local-signing-secret")
    """Request signing secret from the app's Basic Information page."""
    api_url: str | None = None
    """Web API base URL; ``None`` means Slack's own (``https://slack.com/api/``)."""
    team_id: str = "T0LOCAL01"
    """The workspace id; identities are ``team_id:user_id``."""
    approvals_channel: str = "ops-approvals"
    """Where consent cards go (the request's thread gets one line linking the card)."""
    digest_channel: str = "ops-digest"
    """Where the daily digest is posted."""
    host: str = "127.0.0.1"
    port: int = 3000
    """HTTP mode listen address."""
    incident_channels: dict[str, str] = Field(default_factory=dict)
    """Client slug or entity id -> channel where that incident's changes are summarised."""
    create_incident_channels: bool = False
    """Create ``#inc-...`` channels for incidents that have none configured."""
    incident_channel: str = ""
    """Fallback channel for incident summaries."""
    display_timezone: str = "UTC"
    """IANA zone of times in channel posts many people read (consent cards, App Home, the
    digest's list); a time shown to one person is in their own Slack zone (``users.info``)."""


class DigestSettings(_Section):
    """The managers' daily digest."""

    at: time = time(8, 0)
    """Local time of day the digest is posted."""
    timezone: str = "UTC"
    channel: str = ""
    """Defaults to ``slack.digest_channel``."""
    minutes_per_action: dict[str, float] = Field(default_factory=dict)
    """Assumed minutes a person would spend per action kind (for "time saved")."""
    default_minutes: float = 15.0


class ModelSettings(_Section):
    """Which chat model the agent uses."""

    provider: Literal["offline", "openai", "anthropic", "ollama", "openai-compatible"] = "offline"
    name: str = ""
    """Model name for hosted providers, e.g. ``gpt-4o-mini``."""
    base_url: str | None = None
    """For ``openai-compatible`` / ``ollama``: the endpoint."""
    api_key: SecretStr | None = None
    """The provider's key; when unset, ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` is read."""
    fallback: str | None = None
    """``provider:name`` of a model to try when the first fails."""
    fallback_base_url: str | None = None
    """The fallback's own endpoint (``openai-compatible`` / ``ollama``)."""
    fallback_api_key: SecretStr | None = None
    """The fallback's own key; when unset, its provider's key variable is read."""
    fallback_max_seconds: float | None = None
    """Seconds one fallback request may take; default ``max_seconds``."""
    max_tool_calls: int = 8
    max_seconds: float = 60.0
    """Wall time of a whole turn: every model call, retry and Retry-After wait included."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Sampling temperature; 0 keeps answers and tool choices as repeatable as the provider
    allows."""


class RoleSettings(_Section):
    """Who may do what, by Slack user id (identity is team id + user id only)."""

    admins: list[str] = Field(default_factory=lambda: ["U0LOCAL02"])
    approvers: list[str] = Field(default_factory=lambda: ["U0LOCAL02", "U0LOCAL03"])
    requesters: list[str] = Field(default_factory=lambda: ["*"])
    """Who may request changes; ``*`` means every workspace member."""
    managers: list[str] = Field(default_factory=lambda: ["U0LOCAL04"])
    breakglass: list[str] = Field(default_factory=list)
    """Who may use break-glass (act during a freeze, with a reason, loudly audited)."""
    usergroups: dict[str, list[str]] = Field(default_factory=dict)
    """Slack user-group handles per role, e.g. ``{"approvers": ["ops-leads"]}``; members are
    read with ``usergroups.users.list`` (cached a minute; a failed lookup grants nothing)."""


class AutonomySettings(_Section):
    """Guard rails on what runs without asking."""

    max_auto_per_hour: int = 120
    """Auto-approved changes allowed per hour before the next one needs consent."""
    max_auto_per_hour_by_action: dict[str, int] = Field(default_factory=dict)
    """Per action kind, e.g. ``{"host.reboot": 10}``."""
    breaker_failures: int = 5
    """Failed changes within the window that pause autonomy (circuit breaker)."""
    breaker_window_minutes: int = 30
    agent_fallback: bool = False
    """Let the agent propose for a signal no runbook matches. Its proposal may only target the
    entity the signal names and only use ``agent_fallback_actions``; policy still decides (the
    requester is ``signal:<source>:agent``)."""
    agent_fallback_actions: list[str] = Field(default_factory=lambda: ["service.restart"])
    """Actions the agent fallback may propose for a signal."""


class InboxSettings(_Section):
    """The durable Slack event inbox (HTTP mode): events are stored before they are acked."""

    sweep_seconds: float = 30.0
    """How often each replica looks for events whose processing lease ran out."""
    lease_seconds: float = 60.0
    """How long one replica may take over an event before another replica retries it."""
    max_attempts: int = 5
    """Attempts before an event is dead-lettered (kept, logged and counted, never retried)."""

    @model_validator(mode="after")
    def _sweep_inside_lease(self) -> InboxSettings:
        # A sweep slower than the lease lets a live replica's event expire between renewals,
        # and another replica would replay an event that is still being answered.
        if self.sweep_seconds <= 0 or self.lease_seconds <= self.sweep_seconds:
            raise ValueError(
                f"inbox.sweep_seconds ({self.sweep_seconds}) must be above 0 and below "
                f"inbox.lease_seconds ({self.lease_seconds})"
            )
        if self.max_attempts < 1:
            raise ValueError("inbox.max_attempts must be at least 1")
        return self


class ManagementSettings(_Section):
    """The management listener: ``/healthz``, ``/readyz``, ``/metrics`` (``opshand serve``)."""

    host: str = "127.0.0.1"
    """Interface it listens on; keep it private (the node, the pod network)."""
    port: int = Field(default=9090, ge=0, le=65535)
    """Its port; ``0`` mounts the three routes on the public listener instead, which then
    needs ``token``."""
    token: SecretStr | None = None
    """When set, the three routes want ``Authorization: Bearer <token>``."""
    metrics_cache_seconds: float = Field(default=10.0, ge=0)
    """How long one rendered ``/metrics`` page answers every scrape."""


class SignalSourceSettings(_Section):
    """How one signal source proves who it is (``signals.sources.<name>``).

    ``alertmanager`` takes ``bearer_token`` (its ``http_config.authorization.credentials``) or
    ``username``/``password`` (its ``http_config.basic_auth``), and so do ``opsgenie``,
    ``datadog`` and ``zabbix`` (the ``Authorization`` header each is configured to send: Opsgenie
    and Datadog custom headers, the Zabbix media type's script); ``pagerduty`` takes ``secret``
    (the v3 webhook subscription's signing secret); any other name is a generic sender that
    signs with ``secret`` (HMAC-SHA256 of ``v0:<timestamp>:<body>``).
    """

    bearer_token: SecretStr | None = None
    """Alertmanager: the token it sends as ``Authorization: Bearer ...``."""
    username: str = ""
    """Alertmanager: basic-auth user name (with ``password``)."""
    password: SecretStr | None = None
    """Alertmanager: basic-auth password."""
    secret: SecretStr | None = None
    """PagerDuty or a generic sender: the HMAC-SHA256 signing secret."""
    open: bool = False
    """Accept unauthenticated requests from this source (warned at start-up and by doctor).
    Not for ``pagerduty``, whose webhooks are always signed and always verified."""
    aiops_trusted: bool = False
    """This source's AIOps labels (``aiops_cluster``, ``suspected_cause``) may reach the
    twin and policy; from any other source they stay on the incident record only."""
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    """Generic senders: how far the signed timestamp may be from now (replay window)."""


class SignalSettings(_Section):
    """Who may send signals. A source not listed here is refused (401)."""

    sources: dict[str, SignalSourceSettings] = Field(default_factory=dict)
    """Source name -> its credentials. In ``slack.mode: local`` an empty map means the
    demo's credentials (``generic``: secret ``local-signal-secret``; ``alertmanager``: bearer
    token ``local-alertmanager-token``)."""


class Settings(BaseSettings):
    """Everything opshand reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="OPSHAND_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = DEFAULT_DATA_DIR
    """Holds the SQLite database, the audit checkpoint and local state."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/opshand.db``. PostgreSQL for production."""
    policy_file: Path = DEFAULT_POLICY
    runbooks_file: Path = DEFAULT_RUNBOOKS
    """Runbooks for signals (YAML); a bad file stops start-up naming file, line and field."""
    pagerduty_secret: SecretStr | None = None
    """Signing secret of the PagerDuty v3 webhook subscription (unsigned webhooks are refused);
    the same as ``signals.sources.pagerduty.secret``."""
    sample_endpoints: int = 4200
    """Size of the sample estate generated on first start."""
    sample_topology: Literal["ground_truth", "sources"] = "sources"
    """How the sample twin gets its topology on first start: ``sources`` (the default) loads only
    what the inventories report and syncs topology from the simulated CMDB, vCenter, Proxmox,
    NetBox and telemetry with their gaps, as a real installation would (partly covered entities
    then go to consent); ``ground_truth`` loads the generator's relations (everything known, full
    coverage). The simulated estate is the ground truth either way."""
    sim_scale: float = 0.002
    """Sim durations are multiplied by this (a 10-minute reboot takes ~1 s at 0.002)."""
    sim_calls_file: Path | None = None
    """SQLite file for the simulated estate's call records. Replicas given the same file share
    one record of every call (and its idempotency keys); default: kept in memory."""
    twin_learned_ttl_hours: int = Field(default=168, ge=1)
    """How long a learned relation (from trace telemetry) lives in the twin without being seen
    again; declared and inventory relations do not age."""
    twin_coverage_window_hours: int = Field(default=720, ge=1)
    """How recent a topology source's confirmation must be for an entity's dependents to count
    as covered (older CMDB records confirm nothing)."""
    slack: SlackSettings = Field(default_factory=SlackSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    roles: RoleSettings = Field(default_factory=RoleSettings)
    autonomy: AutonomySettings = Field(default_factory=AutonomySettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    signals: SignalSettings = Field(default_factory=SignalSettings)
    management: ManagementSettings = Field(default_factory=ManagementSettings)
    integrations: IntegrationsConfig = Field(default_factory=IntegrationsConfig)
    """One integration per category (``vendor: sim`` by default); see ``integration_config``."""
    topology: TopologyConfig = Field(default_factory=TopologyConfig)
    """Real topology sources (CMDB, vCenter, Proxmox, Prometheus, NetBox, catalog files) read
    by ``opshand twin sync``; none listed means the simulated ones. See
    ``adapters.topology.config``."""
    log_format: Literal["text", "json"] = "text"
    replica_id: str = ""
    """Name of this replica in the audit and metrics (default host:pid)."""
    lease_seconds: int = 60
    """How long a worker's claim on a change lasts without a heartbeat before another replica
    takes it over."""

    def management_problem(self) -> str:
        """Why the management listener cannot start as configured ("" when it can).

        Checked by ``opshand serve`` and ``doctor`` rather than on load, since the token may come
        from a settings file that the environment alone does not show.
        """
        # Port 0 puts /metrics and /readyz on the door Slack and the webhooks use.
        if self.management.port == 0 and self.management.token is None:
            return (
                "management.port 0 serves /healthz, /readyz and /metrics on the public "
                "listener: set management.token too, or give the management listener its own port"
            )
        return ""

    @property
    def db_url(self) -> str:
        """The effective database URL."""
        return self.database_url or f"sqlite:///{self.data_dir / 'opshand.db'}"

    def signal_sources(self) -> dict[str, SignalSourceSettings]:
        """The signal sources in force: the configured ones, or the demo's in local mode."""
        sources = dict(self.signals.sources)
        if not sources and self.slack.mode == "local":
            sources = {
                "generic": SignalSourceSettings(secret=SecretStr(DEMO_SIGNAL_SECRET)),
                "alertmanager": SignalSourceSettings(
                    bearer_token=SecretStr(DEMO_ALERTMANAGER_TOKEN)
                ),
            }
        if self.pagerduty_secret is not None and "pagerduty" not in sources:
            sources["pagerduty"] = SignalSourceSettings(secret=self.pagerduty_secret)
        return sources

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments first, then the environment (files are merged by :meth:`load`)."""
        return (init_settings, env_settings, file_secret_settings)

    @classmethod
    def load(cls, file: Path | None = None, **overrides: Any) -> Settings:
        """Read the settings file (if any) under the environment and explicit overrides."""
        data: dict[str, Any] = {}
        if file is not None:
            raw = yaml.safe_load(file.read_text()) or {}
            if not isinstance(raw, dict):
                raise ValueError(f"{file}: settings file must hold a mapping")
            data.update(raw)
        env = cls()  # environment only
        merged = _deep_merge(_deep_merge(data, env.model_dump(exclude_unset=True)), overrides)
        return cls(**merged)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, section by section: one environment variable of a section must
    not wipe the rest of that section from the settings file."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
