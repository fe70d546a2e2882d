"""One sync over every configured integration: contracts in, twin ingest batches out.

:func:`sync_all` reads each category through its contract (sim or vendor client alike) with the
mappers of :mod:`adapters.inventory` and returns one :class:`twin.ingest.IngestBatch` per
category, ready for :meth:`twin.store.TwinStore.apply`. Two contracts cannot list what they hold
(PSA tickets, SIEM rules); when the adapter offers a listing of its own (``list_tickets``,
``list_rules``) the sync uses it, otherwise it reads the tickets and rules the caller names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from adapters.contracts import Category
from adapters.errors import AdapterError
from adapters.inventory import (
    InventoryBatch,
    KnownIds,
    backup_inventory,
    firewall_inventory,
    identity_inventory,
    psa_inventory,
    rmm_inventory,
    siem_inventory,
)
from twin import IngestBatch, utcnow

__all__ = ["SYNC_ORDER", "sync_all"]

SYNC_ORDER: tuple[Category, ...] = ("rmm", "identity", "firewall", "backup", "psa", "siem")
"""The order inventories are synced in: hosts first, so later sources find them."""
"""Sync order: inventories first (hosts, people, rules), then what refers to them."""

ErrorHandler = Callable[[str, AdapterError], None]


def _adapter(adapters: Mapping[str, Any] | object, category: str) -> Any:
    if isinstance(adapters, Mapping):
        return adapters.get(category)
    return getattr(adapters, category, None)


def _listing(adapter: object, name: str) -> Callable[[], list[Any]] | None:
    method = getattr(adapter, name, None)
    return method if callable(method) else None


def _merge(source: str, batches: list[InventoryBatch], at: datetime) -> InventoryBatch:
    """One batch of several tenants/devices; the same entity id twice is a configuration error."""
    seen: set[str] = set()
    for b in batches:
        for e in b.entities:
            if e.id in seen:
                raise ValueError(
                    f"{source}: entity {e.id!r} is reported by two tenants/devices; "
                    "check that each is configured once"
                )
            seen.add(e.id)
    return InventoryBatch(
        source=source,
        entities=[e for b in batches for e in b.entities],
        relations=[r for b in batches for r in b.relations],
        observed_at=at,
    )


def _identity(adapter: Any, known: KnownIds | None, at: datetime) -> InventoryBatch:
    if not isinstance(adapter, Mapping):
        return identity_inventory(adapter, known=known, observed_at=at)
    # One IdP per client tenant (the MSP way): each tenant names its own accounts.
    parts = [
        identity_inventory(idp, client=client, known=known, observed_at=at)
        for client, idp in adapter.items()
    ]
    return _merge("identity", parts, at)


def _firewall(adapter: Any, at: datetime) -> InventoryBatch:
    if not isinstance(adapter, Mapping):
        return firewall_inventory(adapter, observed_at=at)
    parts = [firewall_inventory(fw, device=name, observed_at=at) for name, fw in adapter.items()]
    return _merge("firewall", parts, at)


def sync_all(
    adapters: Mapping[str, Any] | object,
    *,
    known: KnownIds | None = None,
    tickets: Iterable[str] = (),
    siem_rules: Iterable[str] = (),
    observed_at: datetime | None = None,
    actor: str = "sync",
    on_error: ErrorHandler | None = None,
) -> list[IngestBatch]:
    """Read every configured integration and return one ingest batch per category.

    Args:
        adapters: category -> adapter, as a mapping or an object with attributes named after the
            categories (``rmm``, ``psa`` ...); absent or ``None`` categories are skipped.
            ``identity`` may be a mapping client -> IdP (one tenant each, ids then derive as
            ``identity:<client>-<username>``); ``firewall`` a mapping device name -> device API.
        known: vendor id -> twin id index of the current twin
            (:func:`adapters.inventory.known_ids`), so records seen before keep their twin ids.
        tickets: PSA ticket ids to read when the PSA cannot list its tickets.
        siem_rules: SIEM rule ids to read besides those the SIEM lists or alerts on.
        observed_at: the observation time of every batch (default: now).
        actor: recorded as the change-set's actor.
        on_error: called with (category, error) when one integration fails; that category is
            skipped and the others still sync. Without it the first failure is raised.

    Returns:
        Batches in :data:`SYNC_ORDER`. Inventories are full syncs (what the source no longer
        reports fades after the store's grace period); PSA and SIEM batches are full syncs only
        when the integration listed everything itself.

    Raises:
        AdapterError: an integration failed and no ``on_error`` was given.
        ValueError: two tenants or devices report the same twin id.
    """
    at = observed_at or utcnow()
    named_tickets = list(tickets)
    named_rules = list(siem_rules)
    out: list[IngestBatch] = []
    for category in SYNC_ORDER:
        adapter = _adapter(adapters, category)
        if adapter is None:
            continue
        full = True
        try:
            if category == "rmm":
                batch = rmm_inventory(adapter, known=known, observed_at=at)
            elif category == "identity":
                batch = _identity(adapter, known, at)
            elif category == "firewall":
                batch = _firewall(adapter, at)
            elif category == "backup":
                batch = backup_inventory(adapter, known=known, observed_at=at)
            elif category == "psa":
                lister = _listing(adapter, "list_tickets")
                listed = lister() if lister is not None else []
                full = lister is not None
                batch = psa_inventory(adapter, named_tickets, tickets=listed, observed_at=at)
            else:
                lister = _listing(adapter, "list_rules")
                rules = lister() if lister is not None else []
                full = lister is not None
                batch = siem_inventory(
                    adapter, named_rules, rules=rules, known=known, observed_at=at
                )
        except AdapterError as exc:
            if on_error is None:
                raise
            on_error(category, exc)
            continue
        out.append(batch.to_ingest(full_sync=full, actor=actor))
    return out
