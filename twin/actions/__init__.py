"""The action catalog: every kind of change opshand can make, declared as data.

Importing the package registers every kind in :data:`CATALOG`. See :class:`ActionSpec` for what
each declares; ``examples/scripts.yaml`` is the allowlist ``script.run`` draws from.
"""

from __future__ import annotations

from twin.actions import access, compute, data, network, tickets
from twin.actions._base import (
    CATALOG,
    ActionContext,
    ActionSpec,
    Expectation,
    InvalidParams,
    Params,
    Rollback,
    get_action,
    parse_duration,
)

__all__ = [
    "CATALOG",
    "ActionContext",
    "ActionSpec",
    "Expectation",
    "InvalidParams",
    "Params",
    "Rollback",
    "access",
    "compute",
    "data",
    "get_action",
    "network",
    "parse_duration",
    "tickets",
]
