"""The ``integrations`` settings section: one entry per category, checked when it is read.

:class:`IntegrationsConfig` holds one optional :class:`IntegrationConfig` per category; each
names a vendor from :data:`VENDORS` (or the ``sim``), where it is, its credentials and options.
:mod:`adapters.registry` builds clients from it.

Secrets come as ``SecretStr`` values or as files (``{"file": "/run/secrets/okta"}``); file
contents are read at build time, once, and never logged, printed or put in an error message.
Configuration mistakes (unknown vendor, a vendor in the wrong category, a missing credential,
an option the client does not take, an unreadable secret file) raise :class:`ConfigError` with a
sentence naming the category and field, so opshand fails at start-up rather than at 04:00.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from adapters._http import ResilienceOptions
from adapters.contracts import CATEGORIES, Category
from adapters.vendors import (
    ActiveDirectoryClient,
    ConnectWiseClient,
    DattoRmmClient,
    EntraClient,
    FortiGateClient,
    JiraServiceManagementClient,
    NinjaOneClient,
    OktaClient,
    OPNsenseClient,
    SentinelClient,
    ServiceNowClient,
    SplunkClient,
    VeeamClient,
)

__all__ = [
    "CATEGORY_NAMES",
    "VENDORS",
    "ConfigError",
    "Credential",
    "IntegrationConfig",
    "IntegrationsConfig",
    "SecretFile",
    "Vendor",
]

CATEGORY_NAMES: tuple[Category, ...] = CATEGORIES

Vendor = Literal[
    "sim",
    "ninjaone",
    "servicenow",
    "jira_sm",
    "splunk",
    "okta",
    "entra",
    "veeam",
    "opnsense",
    "fortigate",
    "datto_rmm",
    "connectwise",
    "sentinel",
    "active_directory",
]


@dataclass(frozen=True)
class _VendorSpec:
    cls: type[Any]
    category: Category
    required: tuple[str, ...]
    """Credential names that must be given."""
    optional: tuple[str, ...] = ()
    """Credential names that may be given."""
    plain: frozenset[str] = frozenset()
    """Credential names the client takes as ``str`` (identifiers, not secrets)."""
    base_url_param: str | None = "base_url"
    """Constructor parameter the configured base URL goes to (``None``: the client has none)."""
    base_url_required: bool = True
    schemes: tuple[str, ...] = ("https://", "http://")
    """URL schemes the base URL may use (LDAP clients take ``ldaps://``)."""


VENDORS: dict[str, _VendorSpec] = {
    "ninjaone": _VendorSpec(
        NinjaOneClient, "rmm", ("client_id", "client_secret"), plain=frozenset({"client_id"})
    ),
    "servicenow": _VendorSpec(
        ServiceNowClient,
        "psa",
        (),
        ("username", "password", "client_id", "client_secret", "refresh_token"),
        plain=frozenset({"username", "client_id"}),
    ),
    "jira_sm": _VendorSpec(
        JiraServiceManagementClient, "psa", ("email", "api_token"), plain=frozenset({"email"})
    ),
    "splunk": _VendorSpec(SplunkClient, "siem", ("token",)),
    "okta": _VendorSpec(OktaClient, "identity", ("api_token",)),
    "entra": _VendorSpec(
        EntraClient,
        "identity",
        ("tenant_id", "client_id", "client_secret"),
        plain=frozenset({"tenant_id", "client_id"}),
        base_url_required=False,  # Graph's global endpoint unless a national cloud is named
    ),
    "veeam": _VendorSpec(
        VeeamClient, "backup", ("username", "password"), plain=frozenset({"username"})
    ),
    "opnsense": _VendorSpec(
        OPNsenseClient, "firewall", ("api_key", "api_secret"), plain=frozenset({"api_key"})
    ),
    "fortigate": _VendorSpec(FortiGateClient, "firewall", ("api_token",)),
    "active_directory": _VendorSpec(
        ActiveDirectoryClient,
        "identity",
        ("bind_dn", "password"),
        plain=frozenset({"bind_dn"}),
        base_url_param="server_url",  # ldaps://dc01.corp.example:636
        schemes=("ldaps://", "ldap://"),
    ),
    "sentinel": _VendorSpec(
        SentinelClient,
        "siem",
        ("tenant_id", "client_id", "client_secret"),
        plain=frozenset({"tenant_id", "client_id"}),
        base_url_required=False,  # Azure Resource Manager's global endpoint by default
    ),
    "connectwise": _VendorSpec(
        ConnectWiseClient,
        "psa",
        ("company_id", "public_key", "private_key", "client_id"),
        plain=frozenset({"company_id", "public_key", "client_id"}),
    ),
    "datto_rmm": _VendorSpec(
        DattoRmmClient, "rmm", ("api_key", "api_secret"), plain=frozenset({"api_key"})
    ),
}
"""Every supported vendor: its client class, category and credential names."""

# Constructor parameters the registry fills itself; everything else is an ``option``.
_WIRED = frozenset({"self", "http_client", "options", "hooks", "secret_sink"})


class ConfigError(ValueError):
    """An integration is configured wrongly; the message names the category and the field."""


class SecretFile(BaseModel):
    """A secret kept in a file (Docker/Kubernetes secrets); read once, trailing newline dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: Path
    """Path of the file holding the secret."""

    def read(self, where: str) -> SecretStr:
        """The file's content as a secret.

        Raises:
            ConfigError: the file is missing, unreadable or empty (``where`` names the field).
        """
        try:
            text = self.file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{where}: cannot read secret file {str(self.file)!r} ({type(exc).__name__})"
            ) from exc
        if not text:
            raise ConfigError(f"{where}: secret file {str(self.file)!r} is empty")
        return SecretStr(text)


Credential = SecretStr | SecretFile


def _options_of(spec: _VendorSpec) -> tuple[set[str], set[str]]:
    """(allowed option names, option names without a default) of a vendor client."""
    params = inspect.signature(spec.cls.__init__).parameters
    own = set(_WIRED) | set(spec.required) | set(spec.optional)
    if spec.base_url_param:
        own.add(spec.base_url_param)
    allowed = {n for n in params if n not in own}
    needed = {n for n in allowed if params[n].default is inspect.Parameter.empty}
    return allowed, needed


class IntegrationConfig(BaseModel):
    """One integration: which vendor, where, with which credentials and options.

    Example (YAML)::

        vendor: okta
        base_url: https://acme.okta.com
        credentials:
          api_token: {file: /run/secrets/okta_token}
        options:
          break_glass_logins: [breakglass@acme.com]
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor: Vendor = "sim"
    """``sim`` (the simulated estate) or a vendor from :data:`VENDORS`."""
    base_url: str = ""
    """The instance's base URL (``https://...``); unused for ``sim``."""
    credentials: dict[str, Credential] = Field(default_factory=dict)
    """Credential name -> value (``SecretStr``) or ``{"file": path}``. Names per vendor: see
    :data:`VENDORS` (e.g. okta: ``api_token``; ninjaone: ``client_id``, ``client_secret``)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments of the vendor client (``project_key`` for jira_sm,
    ``break_glass_logins`` for okta, ``page_size`` ...); unknown names are refused."""
    resilience: ResilienceOptions = Field(default_factory=ResilienceOptions)
    """Timeouts, retries and circuit breaker of this integration."""
    verify_tls: bool = True
    """Verify the vendor's TLS certificate (turn off only for a lab appliance)."""

    @model_validator(mode="after")
    def _check(self) -> IntegrationConfig:
        if self.vendor == "sim":
            if self.credentials or self.options:
                raise ValueError("the sim takes no credentials or options")
            return self
        spec = VENDORS[self.vendor]
        if spec.base_url_required and not self.base_url:
            raise ValueError(f"{self.vendor} needs base_url")
        if self.base_url and not self.base_url.startswith(spec.schemes):
            raise ValueError(f"base_url must start with {spec.schemes[0]} (got {self.base_url!r})")
        known = set(spec.required) | set(spec.optional)
        unknown = sorted(set(self.credentials) - known)
        if unknown:
            raise ValueError(
                f"{self.vendor} takes no credential(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        missing = [c for c in spec.required if c not in self.credentials]
        if missing:
            raise ValueError(f"{self.vendor} needs credential(s) {', '.join(missing)}")
        if self.vendor == "servicenow":
            basic = {"username", "password"} <= set(self.credentials)
            oauth = {"client_id", "client_secret"} <= set(self.credentials)
            if not basic and not oauth:
                raise ValueError(
                    "servicenow needs username and password, or client_id and client_secret"
                )
        allowed, needed = _options_of(spec)
        bad = sorted(set(self.options) - allowed)
        if bad:
            raise ValueError(
                f"{self.vendor} takes no option(s) {', '.join(bad)}; "
                f"known: {', '.join(sorted(allowed))}"
            )
        lacking = sorted(needed - set(self.options))
        if lacking:
            raise ValueError(f"{self.vendor} needs option(s) {', '.join(lacking)}")
        return self


class IntegrationsConfig(BaseModel):
    """The settings section: one integration per category; ``None`` leaves a category out.

    The default is the simulated estate for every category (the laptop demo). With
    pydantic-settings and ``env_nested_delimiter="__"`` an entry can come from the environment,
    e.g. ``OPSHAND_INTEGRATIONS__IDENTITY__VENDOR=okta``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rmm: IntegrationConfig | None = Field(default_factory=IntegrationConfig)
    psa: IntegrationConfig | None = Field(default_factory=IntegrationConfig)
    siem: IntegrationConfig | None = Field(default_factory=IntegrationConfig)
    identity: IntegrationConfig | None = Field(default_factory=IntegrationConfig)
    backup: IntegrationConfig | None = Field(default_factory=IntegrationConfig)
    firewall: IntegrationConfig | None = Field(default_factory=IntegrationConfig)

    @model_validator(mode="after")
    def _categories_match(self) -> IntegrationsConfig:
        for category in CATEGORY_NAMES:
            entry: IntegrationConfig | None = getattr(self, category)
            if entry is None or entry.vendor == "sim":
                continue
            wants = VENDORS[entry.vendor].category
            if wants != category:
                raise ValueError(f"{category}: {entry.vendor} is an integration for {wants}")
        return self

    def entries(self) -> dict[str, IntegrationConfig]:
        """Configured categories -> their entry, in category order."""
        return {c: entry for c in CATEGORY_NAMES if (entry := getattr(self, c)) is not None}
