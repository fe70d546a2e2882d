"""Idempotency keys: same key and arguments act once; other arguments are a conflict (D3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.contracts import FirewallRule
from adapters.errors import IdempotencyConflict
from adapters.sim import ManualClock, SimEstate
from tests.adapters.sim.conftest import START, WEB1, WEB2


def test_idempotency_same_key_same_args_acts_once(sim: SimEstate, clock: ManualClock) -> None:
    first = sim.rmm.reboot(WEB1, idempotency_key="k1")
    clock.advance(500)
    second = sim.rmm.reboot(WEB1, idempotency_key="k1")
    assert second == first  # the original answer, not a new job
    assert sim.effects("rmm", "reboot", WEB1) == 1
    assert [c.outcome for c in sim.calls.filter(method="reboot")] == ["ok", "replayed"]
    boots = [e for e in sim.events() if e["type"] == "boot"]
    assert len(boots) == 1


def test_d3_same_key_different_args_conflicts_and_does_nothing(sim: SimEstate) -> None:
    sim.rmm.reboot(WEB1, idempotency_key="k1")
    with pytest.raises(IdempotencyConflict, match="k1"):
        sim.rmm.reboot(WEB2, idempotency_key="k1")
    assert sim.effects("rmm", "reboot", WEB2) == 0
    with pytest.raises(IdempotencyConflict):
        sim.rmm.apply_patches(WEB1, ["KB5034129"], reboot=False, idempotency_key="k1")
    assert sim.effects("rmm", "apply_patches") == 0


def test_idempotency_keys_are_per_category(instant: SimEstate) -> None:
    instant.identity.disable_user("u-bob", idempotency_key="same")
    instant.psa.comment("tk-1001", "hello", idempotency_key="same")
    assert instant.effects("identity", "disable_user") == 1
    assert instant.effects("psa", "comment") == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda s, k, x: s.identity.rotate_secret("u-svc-web", overlap_minutes=x, idempotency_key=k),
        lambda s, k, x: s.psa.comment("tk-1001", f"note {x}", idempotency_key=k),
        lambda s, k, x: s.siem.throttle_rule(
            "r-brute", START + timedelta(hours=1 + x), idempotency_key=k
        ),
        lambda s, k, x: s.firewall.add_rule(
            FirewallRule(rule_id="tmp", action="block", source=f"10.9.9.{x}", destination="any"),
            idempotency_key=k,
        ),
    ],
)
def test_idempotency_holds_for_every_category(instant: SimEstate, call) -> None:  # type: ignore[no-untyped-def]
    before = len(instant.calls)
    a = call(instant, "key", 1)
    b = call(instant, "key", 1)
    assert a == b
    with pytest.raises(IdempotencyConflict):
        call(instant, "key", 2)
    outcomes = [c.outcome for c in list(instant.calls)[before:]]
    assert outcomes == ["ok", "replayed", "IdempotencyConflict"]


def test_idempotency_empty_key_refused(sim: SimEstate) -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        sim.rmm.reboot(WEB1, idempotency_key="")


def test_idempotency_failed_validation_does_not_burn_the_key(sim: SimEstate) -> None:
    with pytest.raises(Exception, match="not known"):
        sim.rmm.apply_patches(WEB1, ["KB1"], reboot=False, idempotency_key="k")
    sim.rmm.apply_patches(WEB1, ["KB5034129"], reboot=False, idempotency_key="k")
    assert sim.effects("rmm", "apply_patches", WEB1) == 1
