"""Deterministic sample estate: an MSP's clients, sites, hosts, services, people and backlog.

``generate_estate()`` builds the "4,200-endpoint estate" the demo, the simulated integrations and
the tests share; ``generate_estate(target_nodes=100_000)`` builds a bigger one of about that many
nodes (about four edges each) for scale work. Ids, names and attributes follow
``docs/SAMPLE_ESTATE.md``. The same arguments always give identical output: one seeded RNG, no
iteration over sets or hashes, and every timestamp is an offset from ``now``.

Example:
    >>> estate = generate_estate(endpoints=300, seed=1)
    >>> estate.summary()["client"]
    3
"""

from __future__ import annotations

import gc
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from twin._sample_apps import AppBuilder
from twin._sample_core import Builder, ClientPlan, SitePlan
from twin._sample_data import (
    CITIES,
    CLIENTS,
    COMPANY_FORMS,
    FIREWALL_VENDORS,
    NAME_PREFIXES,
    NAME_SUFFIXES,
    SAAS,
)
from twin._sample_infra import InfraBuilder
from twin._sample_ops import OpsBuilder
from twin.model import Entity, NodeKind, Relation

__all__ = [
    "DEFAULT_ENDPOINTS",
    "DEFAULT_SEED",
    "REFERENCE_NOW",
    "SampleEstate",
    "generate_estate",
    "summary_table",
]

DEFAULT_ENDPOINTS = 4200
"""Workstation/laptop hosts in the default estate."""
REFERENCE_NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
"""The clock the estate is generated against when no ``now`` is given (keeps output stable)."""
DEFAULT_SEED = 7
"""The seed of the shared demo estate."""

MAX_ENDPOINTS = 500_000
"""Above this the per-client address plan (one /16 per client) runs out."""
MIN_TARGET_NODES = 2_000
"""Below this the three-client minimum dominates and ``target_nodes`` cannot be met."""

_ENDPOINTS_PER_CLIENT = 600
_MAX_CLIENTS = 250  # one 10.<client>.0.0/16 each
# Size model, fitted to the generator's output: nodes ~= per endpoint (the host, its patches,
# its user) + per client (servers, services, groups ...). test_sample checks targets land
# within 10%, so a generator change that breaks the fit fails there.
_NODES_PER_ENDPOINT = 2.95
_NODES_PER_CLIENT = 118.0
_IDP_FLAVORS = (("ad", 0.3), ("entra", 0.5), ("okta", 0.2))


@dataclass(frozen=True, kw_only=True, slots=True)
class SampleEstate:
    """A generated estate: entities and relations ready to load into the twin.

    The lists are plain lists (not validated again on access) because the 100k-node estate is
    built for speed; every record was validated by pydantic when it was created.
    """

    entities: list[Entity]
    relations: list[Relation]
    seed: int
    now: datetime
    """The reference time every timestamp in the estate is relative to."""
    endpoints: int
    """Workstation/laptop hosts (``role == "endpoint"``)."""

    def summary(self) -> dict[str, int]:
        """Entity counts by kind (kind value -> count), in :class:`NodeKind` order."""
        counts = Counter(e.kind for e in self.entities)
        return {k.value: counts[k] for k in NodeKind if counts[k]}


def summary_table(estate: SampleEstate) -> list[tuple[str, int]]:
    """Rows for the CLI: one per kind, then endpoint hosts and the entity/relation totals."""
    rows = list(estate.summary().items())
    rows += [
        ("endpoint hosts", estate.endpoints),
        ("entities (total)", len(estate.entities)),
        ("relations (total)", len(estate.relations)),
    ]
    return rows


def generate_estate(
    *,
    endpoints: int = DEFAULT_ENDPOINTS,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    target_nodes: int | None = None,
) -> SampleEstate:
    """Generate the sample MSP estate.

    Args:
        endpoints: Workstation/laptop hosts to spread over the clients; servers, identities,
            patches and the rest come on top in proportion. Ignored when ``target_nodes`` is set.
        seed: RNG seed; the same arguments always give the same estate.
        now: Reference time for every timestamp (timezone-aware); defaults to
            :data:`REFERENCE_NOW` so output does not depend on the wall clock.
        target_nodes: Build an estate of about this many entities instead (within ~10%),
            scaling clients, sites and endpoints to reach it.

    Returns:
        The estate.

    Raises:
        ValueError: a size is out of range or ``now`` is naive.
    """
    if target_nodes is not None:
        if isinstance(target_nodes, bool) or not isinstance(target_nodes, int):
            raise ValueError(f"target_nodes must be an int, got {target_nodes!r}")
        if target_nodes < MIN_TARGET_NODES:
            raise ValueError(
                f"target_nodes must be at least {MIN_TARGET_NODES}, got {target_nodes}"
            )
        endpoints = _endpoints_for(target_nodes)
        if endpoints > MAX_ENDPOINTS:
            raise ValueError(
                f"target_nodes {target_nodes} is too large: the sample address plan stops at "
                f"{MAX_ENDPOINTS} endpoints (about {_estimated_nodes(MAX_ENDPOINTS)} nodes)"
            )
    if isinstance(endpoints, bool) or not isinstance(endpoints, int):
        raise ValueError(f"endpoints must be an int, got {endpoints!r}")
    if not 1 <= endpoints <= MAX_ENDPOINTS:
        raise ValueError(f"endpoints must be between 1 and {MAX_ENDPOINTS}, got {endpoints}")
    if now is None:
        now = REFERENCE_NOW
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (use twin.model.utcnow())")
    # Hundreds of thousands of acyclic records and no garbage: the cyclic collector would only
    # rescan the growing lists (it doubled the run time on 100k nodes), so pause it meanwhile.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _generate(endpoints=endpoints, seed=seed, now=now)
    finally:
        if paused:
            gc.enable()


def _generate(*, endpoints: int, seed: int, now: datetime) -> SampleEstate:
    b = Builder(seed=seed, now=now)
    plans = _plan_clients(endpoints, b.rng)
    for saas in SAAS:
        b.add(
            NodeKind.SAAS,
            saas.slug,
            saas.name,
            {"vendor": saas.vendor, "criticality": saas.criticality, "env": "prod"},
            first_seen_days=1000,
        )
    ticket_seq = 1001
    for plan in plans:
        parts = InfraBuilder(b, plan).build()
        AppBuilder(b, parts).build()
        ticket_seq = OpsBuilder(b, parts, ticket_seq).build()
    return SampleEstate(
        entities=b.entities, relations=b.relations, seed=seed, now=now, endpoints=endpoints
    )


def _client_count(endpoints: int) -> int:
    return min(_MAX_CLIENTS, max(min(3, endpoints), round(endpoints / _ENDPOINTS_PER_CLIENT)))


def _estimated_nodes(endpoints: int) -> int:
    return round(_NODES_PER_ENDPOINT * endpoints + _NODES_PER_CLIENT * _client_count(endpoints))


def _endpoints_for(target_nodes: int) -> int:
    """Endpoints whose estate has about ``target_nodes`` nodes (fixed point of the size model)."""
    endpoints = round(
        target_nodes / (_NODES_PER_ENDPOINT + _NODES_PER_CLIENT / _ENDPOINTS_PER_CLIENT)
    )
    for _ in range(4):
        clients = _client_count(endpoints)
        endpoints = max(
            1, round((target_nodes - _NODES_PER_CLIENT * clients) / _NODES_PER_ENDPOINT)
        )
    return endpoints


def _apportion(total: int, weights: list[float], minimum: int) -> list[int]:
    """Split ``total`` in proportion to ``weights``, each share at least ``minimum``.

    Largest-remainder rounding, ties broken by position, so the split is exact and stable.
    """
    n = len(weights)
    base = min(minimum, total // n) if n else 0
    rest = total - base * n
    wsum = sum(weights)
    raw = [rest * w / wsum for w in weights]
    shares = [int(r) for r in raw]
    order = sorted(range(n), key=lambda i: (-(raw[i] - shares[i]), i))
    for i in order[: rest - sum(shares)]:
        shares[i] += 1
    return [base + s for s in shares]


def _client_names(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """The well-known fictitious companies first, then composed names ("ironbrook")."""
    names = list(CLIENTS[:n])
    if n > len(CLIENTS):
        pairs = [(p, s) for p in NAME_PREFIXES for s in NAME_SUFFIXES]
        rng.shuffle(pairs)
        known = {slug for slug, _ in CLIENTS}
        for prefix, suffix in pairs:
            slug = prefix + suffix
            if slug in known:
                continue
            names.append((slug, f"{slug.title()} {rng.choice(COMPANY_FORMS)}"))
            if len(names) == n:
                break
    return names


def _site_count(endpoints: int, rng: random.Random) -> int:
    if endpoints < 150:
        return 1
    if endpoints < 600:
        return rng.choice((1, 2))
    if endpoints < 1500:
        return rng.choice((2, 3))
    return rng.choice((3, 4))


def _plan_clients(endpoints: int, rng: random.Random) -> list[ClientPlan]:
    """Decide the clients, their sizes and their sites before anything is built."""
    n = _client_count(endpoints)
    # Client sizes vary like a real MSP's book: a few large accounts, many small ones.
    weights = [rng.lognormvariate(0.0, 0.6) for _ in range(n)]
    # The first client (contoso) is the largest, so demos always find it well populated.
    top = max(range(n), key=weights.__getitem__)
    weights[0], weights[top] = weights[top], weights[0]
    sizes = _apportion(endpoints, weights, minimum=1)
    plans: list[ClientPlan] = []
    for index, ((slug, display), size) in enumerate(zip(_client_names(n, rng), sizes, strict=True)):
        k = _site_count(size, rng)
        cities = rng.sample(CITIES[1:], k - 1) if index == 0 else rng.sample(CITIES, k)
        if index == 0:
            cities.insert(0, CITIES[0])  # contoso-ny, the head office the docs refer to
        hq_share = rng.uniform(0.45, 0.65) if k > 1 else 1.0
        site_weights = [hq_share] + [(1 - hq_share) / max(1, k - 1)] * (k - 1)
        site_sizes = _apportion(size, site_weights, minimum=0)
        sites = tuple(
            SitePlan(
                slug=f"{slug}-{city.code}",
                index=j,
                city=city.name,
                tz=city.tz,
                endpoints=site_sizes[j],
                hq=j == 0,
            )
            for j, city in enumerate(cities)
        )
        r, acc, flavor = rng.random(), 0.0, _IDP_FLAVORS[-1][0]
        for name, weight in _IDP_FLAVORS:
            acc += weight
            if r < acc:
                flavor = name
                break
        plans.append(
            ClientPlan(
                slug=slug,
                display_name=display,
                index=index,
                endpoints=size,
                sites=sites,
                idp_flavor=flavor,
                firewall_vendor=rng.choice(FIREWALL_VENDORS),
            )
        )
    return plans
