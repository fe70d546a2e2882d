"""RELIABILITY E1-E3, E6 and E7 over the sim, behind the same resilience policy as vendors.

The sim's fault rules stand in for a vendor's 503, 429, 401/403 and read timeout; the
:class:`adapters.resilient.Resilient` wrapper applies the retry/breaker policy vendor clients
get from ``adapters._http``. E4 (partial failure per target) is in ``test_faults.py``; E5
(malformed bodies) has no meaning for an adapter without a wire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.contracts import FirewallRule
from adapters.errors import (
    AmbiguousOutcome,
    AuthError,
    CircuitOpen,
    RateLimited,
    TransientError,
)
from adapters.resilient import Resilient
from adapters.sim import FaultRule, SimEstate
from tests.adapters.vendors import sim_harness as sh
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fakes_base import Harness
from tests.adapters.vendors.harnesses import OPTIONS

Call = Callable[[Any, dict[str, str]], Any]

# category -> (harness factory, read method + call, write method + call)
CASES: dict[str, tuple[Callable[[FakeTime], Harness], tuple[str, Call], tuple[str, Call]]] = {
    "rmm": (
        sh.sim_rmm,
        ("list_devices", lambda c, ids: c.list_devices()),
        ("reboot", lambda c, ids: c.reboot(ids["device"], idempotency_key="k")),
    ),
    "psa": (
        sh.sim_psa,
        ("get_ticket", lambda c, ids: c.get_ticket(ids["ticket"])),
        ("comment", lambda c, ids: c.comment(ids["ticket"], "n", idempotency_key="k")),
    ),
    "siem": (
        sh.sim_siem,
        ("get_rule", lambda c, ids: c.get_rule(ids["rule"])),
        ("acknowledge", lambda c, ids: c.acknowledge(ids["alert"], idempotency_key="k")),
    ),
    "identity": (
        sh.sim_identity,
        ("get_user", lambda c, ids: c.get_user(ids["active_user"])),
        ("disable_user", lambda c, ids: c.disable_user(ids["active_user"], idempotency_key="k")),
    ),
    "backup": (
        sh.sim_backup,
        ("list_jobs", lambda c, ids: c.list_jobs()),
        ("start_restore", lambda c, ids: c.start_restore(ids["point"], idempotency_key="k")),
    ),
    "firewall": (
        sh.sim_firewall,
        ("list_rules", lambda c, ids: c.list_rules()),
        (
            "add_rule",
            lambda c, ids: c.add_rule(
                FirewallRule(rule_id="", action="allow", source="10.0.0.1", destination="10.0.0.2"),
                idempotency_key="k",
            ),
        ),
    ),
}
CATEGORIES = list(CASES)


class Rig:
    """One category's sim adapter behind the resilience policy, on fake time."""

    def __init__(self, category: str, t: FakeTime | None = None, **opts: Any) -> None:
        self.t = t or FakeTime()
        self.category = category
        factory, self.read, self.write = CASES[category]
        h = factory(self.t)
        self.sim: SimEstate = h.extra["sim"]
        self.ids = h.ids
        options = OPTIONS.model_copy(update=opts) if opts else OPTIONS
        self.client = Resilient(
            h.client, integration=f"sim-{category}", options=options, hooks=self.t.hooks()
        )

    def fault(self, method: str, **rule: Any) -> None:
        self.sim.faults.add(FaultRule(category=self.category, call=method, **rule))  # type: ignore[arg-type]

    def do_read(self) -> Any:
        return self.read[1](self.client, self.ids)

    def do_write(self) -> Any:
        return self.write[1](self.client, self.ids)

    def calls(self, method: str) -> int:
        return len(self.sim.calls.filter(category=self.category, method=method))


# --------------------------------------------------------------------------- E1
@pytest.mark.parametrize("category", CATEGORIES)
def test_e1_sim_read_retries_bounded_then_transient(category: str) -> None:
    rig = Rig(category)
    rig.fault(rig.read[0], kind="error")
    with pytest.raises(TransientError) as info:
        rig.do_read()
    assert rig.calls(rig.read[0]) == OPTIONS.max_attempts
    assert len(rig.t.sleeps) == OPTIONS.max_attempts - 1
    assert all(0 <= s <= OPTIONS.backoff_max for s in rig.t.sleeps)
    assert str(info.value).startswith(f"sim-{category}.{rig.read[0]}")


@pytest.mark.parametrize("category", CATEGORIES)
def test_e1_sim_one_transient_failure_is_absorbed(category: str) -> None:
    rig = Rig(category)
    rig.fault(rig.read[0], kind="error", times=1)
    rig.do_read()
    assert rig.calls(rig.read[0]) == 2


@pytest.mark.parametrize("category", CATEGORIES)
def test_e1_sim_failed_change_is_tried_once_and_changes_nothing(category: str) -> None:
    rig = Rig(category)
    rig.fault(rig.write[0], kind="error")
    with pytest.raises(TransientError):
        rig.do_write()
    assert rig.calls(rig.write[0]) == 1
    assert rig.sim.effects(category, rig.write[0]) == 0
    assert rig.t.sleeps == []


# --------------------------------------------------------------------------- E2
@pytest.mark.parametrize("category", CATEGORIES)
def test_e2_sim_timeout_after_change_is_ambiguous_applied_once(category: str) -> None:
    rig = Rig(category)
    rig.fault(rig.write[0], kind="timeout")
    with pytest.raises(AmbiguousOutcome):
        rig.do_write()
    assert rig.calls(rig.write[0]) == 1
    assert rig.sim.effects(category, rig.write[0]) == 1  # it did apply: read back, never resend
    assert rig.t.sleeps == []


# --------------------------------------------------------------------------- E3
@pytest.mark.parametrize("category", CATEGORIES)
def test_e3_sim_retry_after_is_honoured(category: str) -> None:
    rig = Rig(category)
    rig.fault(rig.read[0], kind="rate_limit", retry_after=4.0, times=1)
    rig.do_read()
    assert rig.t.sleeps == [4.0]


@pytest.mark.parametrize("category", CATEGORIES)
def test_e3_sim_huge_retry_after_is_capped_and_surfaced(category: str) -> None:
    rig = Rig(category)
    rig.fault(rig.read[0], kind="rate_limit", retry_after=604800.0)
    with pytest.raises(RateLimited) as info:
        rig.do_read()
    assert info.value.retry_after == OPTIONS.retry_after_cap
    assert rig.t.sleeps == [OPTIONS.retry_after_cap] * (OPTIONS.max_attempts - 1)


# --------------------------------------------------------------------------- E6
@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("status", [401, 403])
def test_e6_sim_auth_error_is_not_retried(category: str, status: int) -> None:
    rig = Rig(category)
    rig.fault(rig.read[0], kind="auth", status=status)
    with pytest.raises(AuthError, match=str(status)):
        rig.do_read()
    assert rig.calls(rig.read[0]) == 1
    assert rig.t.sleeps == []
    assert rig.client.breaker.state == "closed"  # a clear "no" is not an outage


# --------------------------------------------------------------------------- E7
@pytest.mark.parametrize("category", CATEGORIES)
def test_e7_sim_one_integration_circuit_opens_others_keep_working(category: str) -> None:
    t = FakeTime()
    down = Rig(category, t, max_attempts=1)
    other = Rig(CATEGORIES[(CATEGORIES.index(category) + 1) % len(CATEGORIES)], t)
    down.fault(down.read[0], kind="error")
    for _ in range(OPTIONS.failure_threshold):
        with pytest.raises(TransientError):
            down.do_read()
    sent = down.calls(down.read[0])
    with pytest.raises(CircuitOpen):
        down.do_read()
    with pytest.raises(CircuitOpen):
        down.do_write()  # changes are held too, not sent
    assert down.calls(down.read[0]) == sent and down.calls(down.write[0]) == 0
    other.do_read()
    assert other.client.breaker.state == "closed"
    t.advance(OPTIONS.cool_down)
    down.sim.faults.clear()
    down.do_read()  # the half-open probe succeeds and closes the circuit
    assert down.client.breaker.state == "closed"


def test_resilient_wrapper_keeps_the_contract_shape() -> None:
    from adapters.contracts import PsaContract, RmmContract

    rig = Rig("rmm")
    assert isinstance(rig.client, RmmContract)
    assert not isinstance(rig.client, PsaContract)
    assert rig.client.integration == "sim-rmm"
    with pytest.raises(AttributeError):
        rig.client.no_such_method  # noqa: B018
