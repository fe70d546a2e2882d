"""Integrations from settings: one config entry per category -> a ready contract client.

The settings section is :class:`~adapters.integration_config.IntegrationsConfig` (checked when it
is read). :func:`build_integrations` turns it into :class:`Integration` objects holding a vendor
client (over its own ``httpx.Client``) or a sim adapter behind the same resilience policy. Secret
files are read here, at build time, once; a secret never reaches a log or an error message.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from adapters._http import BreakerState, CircuitBreaker, HttpHooks
from adapters.integration_config import (
    CATEGORY_NAMES,
    VENDORS,
    ConfigError,
    IntegrationConfig,
    IntegrationsConfig,
    SecretFile,
)
from adapters.resilient import CONTRACT_METHODS, Resilient, contract_methods
from adapters.sim import SimEstate
from adapters.vendors import SecretSink

__all__ = ["Integration", "SimSource", "build_integration", "build_integrations"]


@dataclass(frozen=True)
class Integration:
    """One built integration: the contract client and what the operator needs to know of it."""

    category: str
    vendor: str
    client: Any
    """Implements the category's contract (a vendor client or a wrapped sim adapter)."""
    base_url: str = ""
    http_client: httpx.Client | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The integration's name in errors and logs (``okta``, ``sim-rmm`` ...)."""
        return str(getattr(self.client, "integration", self.vendor))

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The integration's circuit breaker."""
        found = getattr(self.client, "breaker", None)
        if found is None:
            found = getattr(getattr(self.client, "http", None), "breaker", None)
        return found if isinstance(found, CircuitBreaker) else None

    @property
    def circuit(self) -> BreakerState | Literal["none"]:
        """The breaker's state, ``none`` when the client has no breaker."""
        breaker = self.breaker
        return breaker.state if breaker is not None else "none"

    def capabilities(self) -> list[str]:
        """The contract methods the client implements, in contract order."""
        return contract_methods(self.category, self.client)

    def close(self) -> None:
        """Close the integration's HTTP connections (no-op for the sim)."""
        if self.http_client is not None:
            self.http_client.close()


SimSource = SimEstate | Callable[[], SimEstate]


def build_integration(
    category: str,
    config: IntegrationConfig,
    *,
    sim: SimSource | None = None,
    transport: httpx.BaseTransport | None = None,
    hooks: HttpHooks | None = None,
    secret_sink: SecretSink | None = None,
) -> Integration:
    """Build one category's client from its config entry.

    Args:
        category: ``rmm``, ``psa``, ``siem``, ``identity``, ``backup`` or ``firewall``.
        config: the entry.
        sim: the simulated estate (or a factory), needed when ``vendor`` is ``sim``.
        transport: an httpx transport for every vendor client (``MockTransport`` in tests).
        hooks: sleep/clock/randomness for retries (fakes in tests).
        secret_sink: where identity clients hand rotated secrets.

    Raises:
        ConfigError: the entry cannot be built (the message names the field, never a secret).
    """
    if category not in CONTRACT_METHODS:
        raise ConfigError(
            f"unknown integration category {category!r}; expected one of "
            f"{', '.join(CATEGORY_NAMES)}"
        )
    if config.vendor == "sim":
        if sim is None:
            raise ConfigError(f"{category}: vendor 'sim' needs the simulated estate")
        estate = sim if isinstance(sim, SimEstate) else sim()
        client = Resilient(
            getattr(estate, category),
            integration=f"sim-{category}",
            options=config.resilience,
            hooks=hooks,
        )
        return Integration(category, "sim", client)
    spec = VENDORS[config.vendor]
    if spec.category != category:
        raise ConfigError(f"{category}: {config.vendor} is an integration for {spec.category}")
    kwargs: dict[str, Any] = dict(config.options)
    for name, value in config.credentials.items():
        secret = (
            value.read(f"{category}.credentials.{name}") if isinstance(value, SecretFile) else value
        )
        # Identifiers go in as text; secrets stay SecretStr all the way to the request.
        kwargs[name] = secret.get_secret_value() if name in spec.plain else secret
    if spec.base_url_param and config.base_url:
        kwargs[spec.base_url_param] = config.base_url
    if secret_sink is not None and "secret_sink" in inspect.signature(spec.cls.__init__).parameters:
        kwargs["secret_sink"] = secret_sink
    http_client = httpx.Client(
        transport=transport, verify=config.verify_tls, follow_redirects=False
    )
    try:
        client = spec.cls(http_client=http_client, options=config.resilience, hooks=hooks, **kwargs)
    except (TypeError, ValueError) as exc:
        http_client.close()
        raise ConfigError(f"{category}: cannot build the {config.vendor} client ({exc})") from exc
    # A vendor with a default endpoint (Graph) shows where it really goes.
    where = config.base_url or str(getattr(getattr(client, "http", None), "base_url", ""))
    return Integration(category, config.vendor, client, where.rstrip("/"), http_client)


def build_integrations(
    config: IntegrationsConfig | Mapping[str, IntegrationConfig],
    *,
    sim: SimSource | None = None,
    transport: httpx.BaseTransport | None = None,
    hooks: HttpHooks | None = None,
    secret_sink: SecretSink | None = None,
) -> dict[str, Integration]:
    """Build every configured integration (category -> :class:`Integration`, category order).

    ``sim`` may be a factory: it is called once, and only if some category uses the sim.
    Pass ``{c: i.client for c, i in result.items()}`` to :func:`adapters.sync.sync_all` or to
    the agent's ``Adapters``.

    Raises:
        ConfigError: an entry cannot be built; nothing is left open.
    """
    entries = config.entries() if isinstance(config, IntegrationsConfig) else dict(config)
    cache: list[SimEstate] = []

    def estate() -> SimEstate:
        if not cache:
            if sim is None:
                raise ConfigError("vendor 'sim' needs the simulated estate")
            cache.append(sim if isinstance(sim, SimEstate) else sim())
        return cache[0]

    built: dict[str, Integration] = {}
    try:
        for category, entry in entries.items():
            built[category] = build_integration(
                category,
                entry,
                sim=estate if entry.vendor == "sim" else None,
                transport=transport,
                hooks=hooks,
                secret_sink=secret_sink,
            )
    except ConfigError:
        for done in built.values():
            done.close()
        raise
    return built
