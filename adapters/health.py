"""Is each integration usable? One cheap read per integration, classified for an operator.

:func:`check_integration` sends one read through the integration's own client (so its timeouts,
retries and circuit breaker apply) and reports whether the credentials work, the circuit state
and what the client can do. Reads that name a probe object which does not exist are enough:
the vendor checks credentials before it looks the object up, so "not found" means "accepted".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from adapters.errors import (
    AdapterError,
    AmbiguousOutcome,
    AuthError,
    CircuitOpen,
    InvalidResponse,
    NotFound,
    TransientError,
)
from adapters.integration_config import VENDORS
from adapters.registry import Integration
from adapters.resilient import contract_methods

__all__ = [
    "PROBE_ID",
    "CheckStatus",
    "ClientState",
    "IntegrationCheck",
    "check_all",
    "check_integration",
    "classify",
    "client_states",
    "sentence",
]

_UNCHECKED = "not yet checked against a published spec"

PROBE_ID = "opshand-probe"
"""The id probes ask for; no real object has it."""

CheckStatus = Literal[
    "ok", "credentials_rejected", "unreachable", "failing", "circuit_open", "invalid_response",
    "error",
]  # fmt: skip

# One cheap read per category: a short listing, or a lookup of a probe id.
_PROBES: dict[str, tuple[str, Callable[[Any], object]]] = {
    "rmm": ("patch_status", lambda c: c.patch_status(PROBE_ID)),
    "psa": ("get_ticket", lambda c: c.get_ticket(PROBE_ID)),
    "siem": ("get_rule", lambda c: c.get_rule(PROBE_ID)),
    "identity": ("get_user", lambda c: c.get_user(PROBE_ID)),
    "backup": ("restore_status", lambda c: c.restore_status(PROBE_ID)),
    "firewall": ("list_rules", lambda c: c.list_rules()),
}

_SENTENCES: dict[CheckStatus, str] = {
    "ok": "credentials accepted",
    "credentials_rejected": "credentials rejected",
    "unreachable": "unreachable",
    "failing": "reachable but failing",
    "circuit_open": "circuit open: not called",
    "invalid_response": "answered with something that is not its API",
    "error": "refused the probe",
}


class IntegrationCheck(BaseModel):
    """The result of checking one integration (safe to print: no secrets, no vendor bodies)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str
    vendor: str
    integration: str
    base_url: str
    status: CheckStatus
    summary: str
    """One sentence for the operator (``credentials rejected`` ...)."""
    probe: str
    """The read that was sent."""
    error: str = ""
    """The error type when the probe failed (``AuthError`` ...)."""
    circuit: str
    """``closed``, ``open``, ``half_open`` after the probe, or ``none``."""
    capabilities: tuple[str, ...]
    """The contract methods the client implements."""

    @property
    def ok(self) -> bool:
        """Whether the integration answered with its credentials accepted."""
        return self.status == "ok"


def classify(exc: AdapterError) -> CheckStatus:
    """The operator's reading of a failed probe."""
    if isinstance(exc, AuthError):
        return "credentials_rejected"
    if isinstance(exc, CircuitOpen):
        return "circuit_open"
    if isinstance(exc, InvalidResponse):
        return "invalid_response"
    if isinstance(exc, TransientError) and "could not connect" in str(exc):
        return "unreachable"
    if isinstance(exc, TransientError | AmbiguousOutcome):
        return "failing"
    return "error"


def sentence(status: CheckStatus) -> str:
    """One sentence for the operator about a probe's status."""
    return _SENTENCES[status]


def check_integration(integration: Integration) -> IntegrationCheck:
    """Probe one integration with a cheap read and say what came of it."""
    probe, call = _PROBES[integration.category]
    status: CheckStatus = "ok"
    error = ""
    try:
        call(integration.client)
    except NotFound:
        pass  # the probe id does not exist: the credentials were accepted to learn that
    except AdapterError as exc:
        status = classify(exc)
        error = type(exc).__name__
    return IntegrationCheck(
        category=integration.category,
        vendor=integration.vendor,
        integration=integration.name,
        base_url=integration.base_url,
        status=status,
        # The sim has no credentials to accept; say that it answers instead.
        summary="answers (simulated, no credentials)"
        if status == "ok" and integration.vendor == "sim"
        else sentence(status),
        probe=probe,
        error=error,
        circuit=integration.circuit,
        capabilities=tuple(integration.capabilities()),
    )


def check_all(integrations: Iterable[Integration]) -> list[IntegrationCheck]:
    """Check each integration in turn; one failing never stops the others."""
    return [check_integration(i) for i in integrations]


class ClientState(BaseModel):
    """One vendor client opshand ships: whether it is configured here and how it fared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor: str
    category: str
    state: str
    """``not_configured``, or the :data:`CheckStatus` of its probe (``ok`` ...)."""
    api_checked: str
    """The vendor API version and source the client was checked against (``API_CHECKED``)."""
    operations: tuple[str, ...]
    """The contract methods the client implements."""


def client_states(results: Iterable[IntegrationCheck]) -> list[ClientState]:
    """Every vendor client in :data:`adapters.integration_config.VENDORS`, configured or not.

    ``results`` are the probes of the configured integrations; a vendor without one reads
    ``not_configured``. Ordered by category, then vendor.
    """
    probed = {r.vendor: r for r in results}
    rows = []
    for vendor, spec in sorted(VENDORS.items(), key=lambda kv: (kv[1].category, kv[0])):
        check = probed.get(vendor)
        rows.append(
            ClientState(
                vendor=vendor,
                category=spec.category,
                state=check.status if check is not None else "not_configured",
                api_checked=str(getattr(spec.cls, "API_CHECKED", "") or _UNCHECKED),
                operations=tuple(contract_methods(spec.category, spec.cls)),
            )
        )
    return rows
