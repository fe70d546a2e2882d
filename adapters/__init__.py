"""How opshand acts on and observes the estate.

One small contract per category (:mod:`adapters.contracts`), one error tree
(:mod:`adapters.errors`), real vendor clients over httpx (:mod:`adapters.vendors`), the simulated
estate (:mod:`adapters.sim`), inventory-to-twin mapping (:mod:`adapters.inventory`), one sync over
every integration (:mod:`adapters.sync`), the ``integrations`` settings section
(:mod:`adapters.integration_config`), integrations built from it (:mod:`adapters.registry`),
their health probes (:mod:`adapters.health`), the resilience policy
for non-HTTP adapters (:mod:`adapters.resilient`) and webhook signal parsers
(:mod:`adapters.signals`, :mod:`adapters.alert_webhooks`).
"""

from __future__ import annotations

from adapters._http import HttpHooks, ResilienceOptions
from adapters.alert_webhooks import parse_datadog, parse_opsgenie, parse_zabbix
from adapters.contracts import (
    BackupContract,
    FirewallContract,
    IdentityContract,
    PsaContract,
    RmmContract,
    SiemContract,
)
from adapters.errors import (
    AdapterError,
    AmbiguousOutcome,
    AuthError,
    CircuitOpen,
    IdempotencyConflict,
    InvalidResponse,
    NotFound,
    RateLimited,
    TransientError,
)
from adapters.signals import Signal, parse_alertmanager, parse_generic, parse_pagerduty

__all__ = [
    "AdapterError",
    "AmbiguousOutcome",
    "AuthError",
    "BackupContract",
    "CircuitOpen",
    "FirewallContract",
    "HttpHooks",
    "IdempotencyConflict",
    "IdentityContract",
    "InvalidResponse",
    "NotFound",
    "PsaContract",
    "RateLimited",
    "ResilienceOptions",
    "RmmContract",
    "SiemContract",
    "Signal",
    "TransientError",
    "parse_alertmanager",
    "parse_datadog",
    "parse_generic",
    "parse_opsgenie",
    "parse_pagerduty",
    "parse_zabbix",
]
