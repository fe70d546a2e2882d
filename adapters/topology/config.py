"""Real topology sources from settings: the ``topology:`` section and the clients it builds.

Like ``integrations`` (:mod:`adapters.integration_config`), each source names a vendor, where
it is and its credentials (``SecretStr`` or ``{file: path}``); unknown names are refused with
the field.
With no source listed, ``opshand twin sync`` uses the simulated sources (the demo). Example::

    topology:
      sources:
        - vendor: vcenter
          base_url: https://vcenter.corp.example
          credentials: {username: svc-opshand@vsphere.local, password: {file: /run/secrets/vc}}
        - vendor: servicenow_cmdb
          base_url: https://acme.service-now.com
          credentials: {oauth_token: {file: /run/secrets/sn_token}}
        - vendor: catalog
          options: {paths: [/srv/catalog/catalog-info.yaml]}

Hardware first is best (see :mod:`adapters.topology.sync`): sources are read in list order.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from adapters._http import HttpHooks, ResilienceOptions
from adapters.errors import AdapterError
from adapters.health import CheckStatus, IntegrationCheck, classify, sentence
from adapters.integration_config import ConfigError, Credential, SecretFile
from adapters.topology.catalog import CatalogError, CatalogFile
from adapters.topology.contract import TopologySource
from adapters.topology.netbox import NetBoxTopology
from adapters.topology.prometheus import PrometheusServiceGraph
from adapters.topology.proxmox import ProxmoxTopology
from adapters.topology.servicenow_cmdb import ServiceNowCmdb
from adapters.topology.vcenter import VcenterTopology

__all__ = [
    "TOPOLOGY_VENDORS",
    "BuiltTopologySource",
    "TopologyConfig",
    "TopologySourceConfig",
    "build_topology_sources",
    "check_topology_source",
]

TopologyVendor = Literal["servicenow_cmdb", "vcenter", "proxmox", "prometheus", "netbox", "catalog"]


@dataclass(frozen=True)
class _Spec:
    cls: type[Any]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    plain: frozenset[str] = frozenset()
    """Credentials that are identifiers, passed as text."""


TOPOLOGY_VENDORS: dict[str, _Spec] = {
    "servicenow_cmdb": _Spec(
        ServiceNowCmdb, (), ("username", "password", "oauth_token"), frozenset({"username"})
    ),
    "vcenter": _Spec(VcenterTopology, ("username", "password"), plain=frozenset({"username"})),
    "proxmox": _Spec(ProxmoxTopology, ("token_id", "secret"), plain=frozenset({"token_id"})),
    "prometheus": _Spec(PrometheusServiceGraph, (), ("token",)),
    "netbox": _Spec(NetBoxTopology, ("token",)),
    "catalog": _Spec(CatalogFile),
}
"""Every topology vendor: its client class and credential names."""

# Filled by the builder, never options (``classes`` needs NodeKind values, not settings text).
_WIRED = frozenset({"self", "base_url", "http_client", "options", "hooks", "clock", "classes"})


def _allowed_options(spec: _Spec) -> tuple[set[str], set[str]]:
    if spec.cls is CatalogFile:
        return {"paths"}, {"paths"}
    params = inspect.signature(spec.cls.__init__).parameters
    own = _WIRED | set(spec.required) | set(spec.optional)
    allowed = {n for n in params if n not in own}
    return allowed, {n for n in allowed if params[n].default is inspect.Parameter.empty}


class TopologySourceConfig(BaseModel):
    """One topology source: vendor, where, credentials, options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor: TopologyVendor
    """``servicenow_cmdb``, ``vcenter``, ``proxmox``, ``prometheus``, ``netbox`` or ``catalog``
    (Backstage ``catalog-info.yaml`` files, ``options.paths``)."""
    base_url: str = ""
    """The instance (``https://...``); none for ``catalog``."""
    credentials: dict[str, Credential] = Field(default_factory=dict)
    """servicenow_cmdb: ``username`` + ``password`` or ``oauth_token``; vcenter: ``username``,
    ``password``; proxmox: ``token_id``, ``secret``; prometheus: ``token`` (optional); netbox:
    ``token``."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Client keyword arguments (``page_size``, ``window``, ``metric``, ``guest_identity``;
    ``paths`` for catalog); unknown names are refused."""
    resilience: ResilienceOptions = Field(default_factory=ResilienceOptions)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _check(self) -> TopologySourceConfig:
        v = self.vendor
        spec = TOPOLOGY_VENDORS[v]
        if v == "catalog":
            if self.base_url or self.credentials:
                raise ValueError("catalog reads files: it takes options.paths, no base_url")
        elif not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"{v} needs base_url starting with https:// (got {self.base_url!r})")
        known = set(spec.required) | set(spec.optional)
        unknown = sorted(set(self.credentials) - known)
        if unknown:
            raise ValueError(
                f"{v} takes no credential(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known)) or 'none'}"
            )
        missing = [c for c in spec.required if c not in self.credentials]
        if missing:
            raise ValueError(f"{v} needs credential(s) {', '.join(missing)}")
        if v == "servicenow_cmdb":
            basic = {"username", "password"} <= set(self.credentials)
            if not basic and "oauth_token" not in self.credentials:
                raise ValueError("servicenow_cmdb needs username and password, or oauth_token")
        allowed, needed = _allowed_options(spec)
        bad = sorted(set(self.options) - allowed)
        if bad:
            raise ValueError(
                f"{v} takes no option(s) {', '.join(bad)}; known: {', '.join(sorted(allowed))}"
            )
        lacking = sorted(needed - set(self.options))
        if lacking:
            raise ValueError(f"{v} needs option(s) {', '.join(lacking)}")
        if v == "catalog":
            paths = self.options["paths"]
            if (
                not isinstance(paths, list)
                or not paths
                or not all(isinstance(p, str) for p in paths)
            ):
                raise ValueError("catalog options.paths must be a non-empty list of file paths")
        return self


class TopologyConfig(BaseModel):
    """The ``topology`` settings section; no sources means the simulated ones (the demo)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: list[TopologySourceConfig] = Field(default_factory=list)
    """Read in this order on every ``opshand twin sync`` (hardware first is best)."""


@dataclass(frozen=True)
class BuiltTopologySource:
    """One built source: the client and what the operator needs to know of it."""

    vendor: str
    client: TopologySource
    base_url: str = ""
    http_client: httpx.Client | None = field(default=None, repr=False)

    def close(self) -> None:
        """Close its HTTP connections (no-op for catalog files)."""
        if self.http_client is not None:
            self.http_client.close()


def _build(
    cfg: TopologySourceConfig,
    where: str,
    transport: httpx.BaseTransport | None,
    hooks: HttpHooks | None,
) -> BuiltTopologySource:
    if cfg.vendor == "catalog":
        paths = [Path(p) for p in cfg.options["paths"]]
        return BuiltTopologySource("catalog", CatalogFile(*paths), ", ".join(map(str, paths)))
    spec = TOPOLOGY_VENDORS[cfg.vendor]
    kwargs: dict[str, Any] = dict(cfg.options)
    for name, value in cfg.credentials.items():
        secret: SecretStr = (
            value.read(f"{where}.credentials.{name}") if isinstance(value, SecretFile) else value
        )
        kwargs[name] = secret.get_secret_value() if name in spec.plain else secret
    http_client = httpx.Client(transport=transport, verify=cfg.verify_tls, follow_redirects=False)
    try:
        client = spec.cls(
            cfg.base_url, http_client=http_client, options=cfg.resilience, hooks=hooks, **kwargs
        )
    except (TypeError, ValueError) as exc:
        http_client.close()
        raise ConfigError(f"{where}: cannot build the {cfg.vendor} client ({exc})") from exc
    return BuiltTopologySource(cfg.vendor, client, cfg.base_url.rstrip("/"), http_client)


def build_topology_sources(
    config: TopologyConfig,
    *,
    transport: httpx.BaseTransport | None = None,
    hooks: HttpHooks | None = None,
) -> list[BuiltTopologySource]:
    """Build every configured source, in order.

    Raises:
        ConfigError: a source cannot be built (named ``topology.sources[i]``); nothing is left
            open.
    """
    built: list[BuiltTopologySource] = []
    try:
        for i, cfg in enumerate(config.sources):
            built.append(_build(cfg, f"topology.sources[{i}] ({cfg.vendor})", transport, hooks))
    except ConfigError:
        for b in built:
            b.close()
        raise
    return built


def check_topology_source(source: BuiltTopologySource) -> IntegrationCheck:
    """Probe one source with a full read (sources have no cheaper common call)."""
    http = getattr(source.client, "http", None)
    status: CheckStatus = "ok"
    error = ""
    summary = ""
    try:
        report = source.client.read_topology()
        summary = f"read {len(report.records)} records, {len(report.links)} links"
    except AdapterError as exc:
        status = classify(exc)
        error = type(exc).__name__
    except CatalogError as exc:
        status, error, summary = "error", "CatalogError", str(exc)
    return IntegrationCheck(
        category="topology",
        vendor=source.vendor,
        integration=str(getattr(source.client, "integration", source.vendor)),
        base_url=source.base_url,
        status=status,
        summary=summary or sentence(status),
        probe="read_topology",
        error=error,
        circuit=str(getattr(getattr(http, "breaker", None), "state", "none")),
        capabilities=("read_topology",),
    )
