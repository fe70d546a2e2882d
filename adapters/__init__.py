"""How opshand acts on and observes the estate.

One small contract per category (:mod:`adapters.contracts`), one error tree
(:mod:`adapters.errors`), real vendor clients over httpx (:mod:`adapters.vendors`), the simulated
estate (:mod:`adapters.sim`), inventory-to-twin mapping (:mod:`adapters.inventory`), one sync over
every integration (:mod:`adapters.sync`), the ``integrations`` settings section
(:mod:`adapters.integration_config`), integrations built from it (:mod:`adapters.registry`),
their health probes (:mod:`adapters.health`), the one retry and circuit-breaker layer every client
sends through (:mod:`adapters._retry`; :mod:`adapters.resilient` for non-HTTP adapters) and
webhook signal parsers
(:mod:`adapters.signals`, :mod:`adapters.alert_webhooks`).
"""

from __future__ import annotations

from adapters._breaker import CircuitBreaker
from adapters._retry import HttpHooks, ResilienceOptions, breaker_of, call_scope
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
    "CircuitBreaker",
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
    "breaker_of",
    "call_scope",
    "parse_alertmanager",
    "parse_datadog",
    "parse_generic",
    "parse_opsgenie",
    "parse_pagerduty",
    "parse_zabbix",
]
