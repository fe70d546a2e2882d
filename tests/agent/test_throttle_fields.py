"""``siem.rule.throttle`` carries the suppression fields Splunk needs down to the adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.sim import ManualClock, SimEstate, SimTimings
from agent.execution import Adapters, invoke
from tests.twin.test_invariants import IN_WINDOW, rich_graph
from twin.actions.network import ThrottleParams


def test_throttle_params_take_field_names_only():
    assert ThrottleParams.model_validate({"minutes": 30, "fields": ["dest", "src"]}).fields == (
        "dest",
        "src",
    )
    with pytest.raises(ValidationError, match="field name"):
        ThrottleParams.model_validate({"minutes": 30, "fields": ["dest,src=1"]})


def test_throttle_capability_sends_the_fields_to_the_siem():
    graph = rich_graph()
    clock = ManualClock(IN_WINDOW)
    sim = SimEstate.from_twin(
        list(graph.entities()), list(graph.relations()), clock=clock, timings=SimTimings(scale=0)
    )
    seen: list[dict[str, Any]] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(sim.siem, name)

        def throttle_rule(self, rule_id: str, until: datetime, **kw: Any) -> Any:
            seen.append({"rule_id": rule_id, "until": until, **kw})
            return sim.siem.throttle_rule(rule_id, until, **kw)

    target = graph.get("siem_rule:noisy-logins")
    invoke(
        "siem.throttle_rule",
        Adapters(siem=Recording()),  # type: ignore[arg-type]
        graph,
        target,
        {"minutes": 30, "fields": ("entity",)},
        idempotency_key="k-1",
        now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )
    assert seen and seen[0]["fields"] == ("entity",)
