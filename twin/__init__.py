"""The twin: a live model of the estate, and rehearsal on a fork of it.

Entities and relations (:mod:`twin.model`) live in the database (:class:`TwinStore`, with a
change log and a serial) and in memory as a networkx graph (:class:`TwinGraph`) that answers
questions and blast radii. Records come in through :func:`validate_batch` (a bad record is
rejected, the batch goes on). :func:`rehearse` runs an action from the catalog
(:mod:`twin.actions`) on a fork and returns a :class:`Plan` with its waves, invariants and
rollback; :func:`stale_entities` says what changed since. The database engine and migrations
are :mod:`twin.db`.
"""

from __future__ import annotations

from twin.db import make_engine, metadata, migrate
from twin.graph import Match, TwinGraph, UnknownEntity
from twin.ingest import IngestBatch, Rejection, ValidatedBatch, validate_batch
from twin.model import Criticality, EdgeType, Entity, NodeKind, Relation, utcnow
from twin.plan import AffectedEntity, Plan, PlanDiff, diff_plans, rehearse, stale_entities
from twin.store import ApplyResult, TwinStore

__all__ = [
    "AffectedEntity",
    "ApplyResult",
    "Criticality",
    "EdgeType",
    "Entity",
    "IngestBatch",
    "Match",
    "NodeKind",
    "Plan",
    "PlanDiff",
    "Rejection",
    "Relation",
    "TwinGraph",
    "TwinStore",
    "UnknownEntity",
    "ValidatedBatch",
    "diff_plans",
    "make_engine",
    "metadata",
    "migrate",
    "rehearse",
    "stale_entities",
    "utcnow",
    "validate_batch",
]
