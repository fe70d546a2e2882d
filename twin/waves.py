"""Waves: how a change over many targets is split so that no wave takes down too much at once.

Canary first; then per maintenance-window group, waves capped at a percentage of any
service's instances and of any tier, never two members of one cluster (:func:`plan_waves`).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from twin.graph import TwinGraph
from twin.invariants.safety import in_window, next_opening
from twin.model import EdgeType, Entity, utcnow

__all__ = ["DEFAULT_HALT_THRESHOLD", "DEFAULT_WAVE_PERCENT", "plan_waves"]

DEFAULT_WAVE_PERCENT = 25
DEFAULT_HALT_THRESHOLD = 0.34
_RING = {"canary": 0, "early": 1, "broad": 2}


def _client_window(graph: TwinGraph, client: str, cache: dict[str, Any]) -> Any:
    if client not in cache:
        cid = f"client:{client}"
        cache[client] = graph.get(cid).attrs.get("maintenance_window") if cid in graph else None
    return cache[client]


def plan_waves(
    graph: TwinGraph,
    targets: list[Entity],
    percent: int = DEFAULT_WAVE_PERCENT,
    *,
    now: datetime | None = None,
    halt_threshold: float = DEFAULT_HALT_THRESHOLD,
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Split targets into waves and describe each.

    Canary first (one target of the ``canary`` patch ring when there is one, halting on any
    failure); then, per maintenance-window group (targets whose client shares a window, the
    group whose window opens first going first), waves that hold at most ``percent``% of any
    service's instances and of any tier (client, role, env) in the estate, and never two
    members of one cluster.
    """
    now = now or utcnow()
    if len(targets) <= 1:
        one = [t.id for t in targets]
        return [one], [
            {
                "index": 0,
                "size": len(one),
                "canary": False,
                "halt_threshold": halt_threshold,
                "clients": [],
                "sites": [],
                "window": None,
                "opens_at": None,
            }
        ]
    k = max(1, min(100, percent)) / 100
    g = graph.g
    pred, succ = g._pred, g._succ
    ordered = sorted(targets, key=lambda t: (_RING.get(str(t.attrs.get("patch_ring")), 3), t.id))

    def tier(e: Entity) -> tuple[str, str, str]:
        return (
            str(e.attrs.get("client", "")),
            str(e.attrs.get("role", e.kind.value)),
            str(e.attrs.get("env", "")),
        )

    wanted = {tier(t) for t in ordered}
    tier_size: Counter[tuple[str, str, str]] = Counter()
    kinds = {t.kind for t in ordered}
    for e in graph.entities():
        if e.kind in kinds and tier(e) in wanted:
            tier_size[tier(e)] += 1
    svc_of: dict[str, list[str]] = {}
    svc_cap: dict[str, int] = {}
    clusters_of: dict[str, list[str]] = {}
    for t in ordered:
        svcs = [s for s, d in pred[t.id].items() if EdgeType.RUNS_ON in d["types"]]
        svc_of[t.id] = svcs
        for s in svcs:
            if s not in svc_cap:
                n = sum(1 for d in succ[s].values() if EdgeType.RUNS_ON in d["types"])
                svc_cap[s] = max(1, math.floor(n * k))
        clusters_of[t.id] = [c for c, d in succ[t.id].items() if EdgeType.MEMBER_OF in d["types"]]
    tier_cap = {tk: max(1, math.floor(n * k)) for tk, n in tier_size.items()}
    size_cap = max(1, math.floor(len(ordered) * k))

    windows: dict[str, Any] = {}
    canary = ordered[0]
    groups: dict[str, list[Entity]] = defaultdict(list)
    for t in ordered[1:]:
        w = _client_window(graph, str(t.attrs.get("client", "")), windows)
        groups[json.dumps(w, sort_keys=True)].append(t)

    def opens(key: str) -> datetime | None:
        w = json.loads(key)
        if not isinstance(w, dict) or in_window(w, now):
            return None
        return next_opening(w, now)

    def describe(index: int, ids: list[Entity], key: str, is_canary: bool) -> dict[str, Any]:
        w = json.loads(key)
        at = opens(key)
        return {
            "index": index,
            "size": len(ids),
            "canary": is_canary,
            "halt_threshold": 0.0 if is_canary else halt_threshold,
            "clients": sorted({str(x.attrs.get("client", "")) for x in ids}),
            "sites": sorted({str(x.attrs.get("site", "")) for x in ids} - {""}),
            "window": w,
            "opens_at": at.isoformat() if at else None,
        }

    ckey = json.dumps(
        _client_window(graph, str(canary.attrs.get("client", "")), windows), sort_keys=True
    )
    waves = [[canary.id]]
    info = [describe(0, [canary], ckey, True)]
    order = sorted(groups, key=lambda key: (opens(key) or now, key))
    for key in order:
        pending = groups[key]
        while pending:
            wave: list[Entity] = []
            used_svc: Counter[str] = Counter()
            used_tier: Counter[tuple[str, str, str]] = Counter()
            used_cluster: set[str] = set()
            rest: list[Entity] = []
            for t in pending:
                tk = tier(t)
                ok = (
                    len(wave) < size_cap
                    and used_tier[tk] < tier_cap.get(tk, 1)
                    and all(used_svc[s] < svc_cap[s] for s in svc_of[t.id])
                    and not used_cluster.intersection(clusters_of[t.id])
                )
                if not ok:
                    rest.append(t)
                    continue
                wave.append(t)
                used_tier[tk] += 1
                used_svc.update(svc_of[t.id])
                used_cluster.update(clusters_of[t.id])
            waves.append([t.id for t in wave])
            info.append(describe(len(info), wave, key, False))
            pending = rest
    return waves, info
