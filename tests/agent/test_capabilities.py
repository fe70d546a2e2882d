"""Every catalog capability carried out on the sim estate, read back, and rolled back."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.sim import ManualClock, SimEstate, SimTimings
from agent.execution import Adapters, CapabilityError, Observation, invoke, observe
from tests.twin.test_invariants import IN_WINDOW, rich_graph
from twin.actions import CATALOG, get_action
from twin.graph import TwinGraph
from twin.plan import Plan, rehearse


class World:
    """The rich test estate, a sim built from it with instant jobs, and the adapters."""

    def __init__(self) -> None:
        self.graph: TwinGraph = rich_graph()
        self.clock = ManualClock(IN_WINDOW)
        self.sim = SimEstate.from_twin(
            list(self.graph.entities()),
            list(self.graph.relations()),
            clock=self.clock,
            timings=SimTimings(scale=0),
        )
        self.adapters = Adapters(
            rmm=self.sim.rmm,
            psa=self.sim.psa,
            siem=self.sim.siem,
            identity=self.sim.identity,
            backup=self.sim.backup,
            firewall=self.sim.firewall,
        )
        self.n = 0

    def plan(self, action: str, targets: list[str], params: dict[str, Any] | None = None) -> Plan:
        return rehearse(self.graph, action, targets, params or {}, now=self.clock.now())

    def run(self, plan: Plan) -> list[Observation]:
        """Invoke the plan on every target, let jobs finish, observe every expectation."""
        spec = get_action(plan.action)
        started = self.clock.now()
        self.clock.advance(1)
        for t in plan.targets:
            self.n += 1
            for job in invoke(
                spec.capability,
                self.adapters,
                self.graph,
                self.graph.get(t),
                plan.params,
                idempotency_key=f"CR-{self.n}:{t}",
                now=self.clock.now(),
            ):
                assert job.state in ("queued", "running", "succeeded"), job
        self.clock.advance(5)
        self.sim.rmm.list_devices()  # lets the sim apply events that are due
        return [observe(x, self.adapters, self.graph, started_at=started) for x in plan.expected]

    def rollback(self, plan: Plan) -> Plan:
        """The rollback of a plan's first target, rehearsed as its own plan."""
        rb = plan.rollback[0]
        assert rb["action"], rb
        return self.plan(rb["action"], [rb["target"]], rb["params"])


@pytest.fixture
def w() -> World:
    return World()


def _ok(obs: list[Observation]) -> None:
    assert obs and all(o.ok for o in obs), [(o.check, o.detail) for o in obs]


def test_reboot_and_patch_with_uninstall_rollback(w: World) -> None:
    _ok(w.run(w.plan("host.reboot", ["contoso-ny-web-01"])))
    patch = w.plan("patch.apply", ["contoso-ny-web-01"])
    _ok(w.run(patch))
    undo = w.rollback(patch)
    _ok(w.run(undo))
    assert w.sim.effects("rmm", "run_script") == 1


def test_service_restart_on_every_instance(w: World) -> None:
    _ok(w.run(w.plan("service.restart", ["contoso-portal"])))
    assert w.sim.effects("rmm", "run_script") == 3


def test_script_run_allowlisted_reaches_the_rmm(w: World) -> None:
    p = w.plan(
        "script.run",
        ["contoso-ny-app-01"],
        {"script_id": "restart-service", "params": {"service": "contoso-erp-app"}},
    )
    _ok(w.run(p))
    assert w.sim.effects("rmm", "run_script") == 1


def test_identity_disable_enable_revoke(w: World) -> None:
    d = w.plan("identity.disable", ["jdoe"])
    _ok(w.run(d))
    assert w.sim.identity.get_user("u-jdoe").status == "disabled"
    _ok(w.run(w.rollback(d)))
    assert w.sim.identity.get_user("u-jdoe").status == "active"
    _ok(w.run(w.plan("identity.revoke_sessions", ["adm-anna"])))


def test_credential_rotate_updates_every_consumer(w: World) -> None:
    p = w.plan("credential.rotate", ["credential:contoso-ldap"], {"overlap_minutes": 60})
    obs = w.run(p)
    _ok(obs)
    assert obs[0].facts["version"] == 4
    assert w.sim.effects("identity", "rotate_secret") == 1
    assert w.sim.effects("rmm", "run_script") == 3  # portal on three hosts gets the new secret
    # past the overlap window the portal still works: every instance was updated
    w.clock.advance(2 * 3600)
    assert w.sim.service_health("contoso-portal").status == "running"


def test_backup_restore_picks_the_planned_point(w: World) -> None:
    p = w.plan("backup.restore", ["contoso-ny-db-01"], {"role": "primary"})
    _ok(w.run(p))
    assert w.sim.effects("backup", "start_restore") == 1
    assert w.sim.data_as_of("contoso-ny-db-01") is not None


def test_firewall_add_then_remove_by_rollback_and_re_add(w: World) -> None:
    add = w.plan(
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {"action": "block", "source": "203.0.113.9", "expires_in": "2h"},
    )
    obs = w.run(add)
    _ok(obs)
    assert obs[0].facts["expires_at"].startswith("2026-01-11T06:30")
    _ok(w.run(w.rollback(add)))
    rm = w.plan("firewall.rule.remove", ["contoso-ny-fw-01-r070"])
    _ok(w.run(rm))
    back = w.rollback(rm)
    _ok(w.run(back))
    rules = {r.rule_id: r for r in w.sim.firewall.list_rules()}
    assert rules["contoso-ny-fw-01/70"].source == "203.0.113.45/32"


def test_siem_throttle_and_ticket_actions(w: World) -> None:
    _ok(w.run(w.plan("siem.rule.throttle", ["siem_rule:noisy-logins"], {"minutes": 30})))
    _ok(w.run(w.plan("ticket.comment", ["ticket:TCK-1"], {"text": "on it"})))
    _ok(w.run(w.plan("ticket.escalate", ["ticket:TCK-1"], {"reason": "needs tier 2"})))
    _ok(w.run(w.plan("ticket.close", ["ticket:TCK-1"])))
    assert w.sim.psa.get_ticket("TCK-1").status == "closed"


def test_every_capability_in_the_catalog_is_implemented(w: World) -> None:
    for spec in CATALOG.values():
        try:
            invoke(
                spec.capability,
                Adapters(),
                w.graph,
                w.graph.get("ticket:TCK-1"),
                {},
                idempotency_key="k",
            )
        except CapabilityError as exc:
            assert "not implemented" not in str(exc), spec.kind
        except (KeyError, ValueError, AttributeError, TypeError):
            pass  # implemented, and refused the nonsense target


def test_missing_adapter_and_unknown_checks_are_clear(w: World) -> None:
    with pytest.raises(CapabilityError, match="no rmm integration"):
        invoke(
            "rmm.reboot",
            Adapters(),
            w.graph,
            w.graph.get("host:contoso-ny-web-01"),
            {},
            idempotency_key="k",
        )
    with pytest.raises(CapabilityError, match="not implemented"):
        invoke(
            "rmm.format",
            w.adapters,
            w.graph,
            w.graph.get("host:contoso-ny-web-01"),
            {},
            idempotency_key="k",
        )
    o = observe(
        {"target": "host:contoso-ny-web-01", "check": "vibes"},
        w.adapters,
        w.graph,
        started_at=IN_WINDOW,
    )
    assert not o.ok and "no way to observe" in o.detail


def test_reboot_observation_fails_when_nothing_happened(w: World) -> None:
    p = w.plan("host.reboot", ["contoso-ny-web-01"])
    o = observe(p.expected[0], w.adapters, w.graph, started_at=w.clock.now())
    assert not o.ok and o.detail == "boot time did not move"
