"""Approve for the next window (G4): a change the change-window check flagged is approved with
the usual checks and held until its targets' maintenance window opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from agent.schedule import window_flagged
from agent.service import ChangeRequest
from tests.agent.ops_world import ANA, BEN, CHLOE, TEAM, OpsWorld, make_world
from twin.ingest import IngestBatch

T0 = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # Tue 08:00 in New York, window closed
OPENS = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # Tue 22:00 EST
WINDOW = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "22:00"}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _window(w: OpsWorld, window: dict[str, Any] | None) -> None:
    client = w.ops.graph.get("client:contoso")
    attrs = {k: v for k, v in client.attrs.items() if k != "maintenance_window"}
    if window is not None:
        attrs["maintenance_window"] = window
    w.ops.store.apply(
        IngestBatch(source="test", entities=[{**client.model_dump(mode="json"), "attrs": attrs}])
    )


def _flagged_reboot(engine: Engine, tmp_path: Path, clock: Clock) -> tuple[OpsWorld, Any]:
    w = make_world(engine, tmp_path, now=clock)
    _window(w, {**WINDOW, "end": "04:00", "tz": "America/New_York"})
    res = w.request("host.reboot", ["host:contoso-ny-web-02"])
    assert res.status == "consent", res.message
    assert window_flagged(res.plan.model_dump(mode="json"))
    return w, res


def test_g4_approve_for_the_next_window_holds_the_change_until_it_opens(
    engine: Engine, tmp_path: Path
) -> None:
    clock = Clock(T0)
    w, res = _flagged_reboot(engine, tmp_path, clock)
    out = w.ops.approve_for_window(res.change.id, BEN, plan_hash=res.plan.hash, payload_id="p1")
    assert out.accepted, out.message
    change = w.ops.journal.get(res.change.id)
    assert change.state == "scheduled"
    assert change.not_before == OPENS
    assert w.ops.drain() == [] and w.sim.effects("rmm", "reboot") == 0
    kinds = [r.kind for r in w.audit.query(change_id=str(res.change.id), limit=50)]
    assert "change.not_before" in kinds and "change.scheduled" in kinds
    clock.at = OPENS.replace(minute=1)
    reports = w.ops.drain()
    assert [r.final_state for r in reports] == ["reconciled"], reports[0].message
    assert w.sim.effects("rmm", "reboot") == 1
    assert w.audit.verify().ok


def test_approve_for_the_next_window_keeps_the_vote_checks(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(T0)
    w, res = _flagged_reboot(engine, tmp_path, clock)
    # self-approval, a stale plan hash and a voter without the role are refused as for Approve
    own = w.ops.approve_for_window(res.change.id, ANA, plan_hash=res.plan.hash, payload_id="a")
    assert not own.accepted
    stale = w.ops.approve_for_window(res.change.id, BEN, plan_hash="0" * 64, payload_id="b")
    assert not stale.accepted
    nobody = w.ops.approve_for_window(
        res.change.id, f"{TEAM}:U0NOBODY", plan_hash=res.plan.hash, payload_id="c"
    )
    assert not nobody.accepted
    change = w.ops.journal.get(res.change.id)
    assert change.state == "awaiting_consent" and change.not_before is None
    ok = w.ops.approve_for_window(res.change.id, CHLOE, plan_hash=res.plan.hash, payload_id="d")
    assert ok.accepted and w.ops.journal.get(res.change.id).state == "scheduled"


def test_an_unknown_window_refuses_the_button(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(T0)
    w, res = _flagged_reboot(engine, tmp_path, clock)
    _window(w, None)  # the window left the twin after the card went out
    out = w.ops.approve_for_window(res.change.id, BEN, plan_hash=res.plan.hash, payload_id="p")
    assert not out.accepted
    assert "no maintenance window" in out.message and "not a safe time" in out.message
    change = w.ops.journal.get(res.change.id)
    assert change.state == "awaiting_consent" and change.not_before is None
    assert w.ops.consent.votes(w.ops.consent.for_change(str(res.change.id))[-1].id) == []


def test_a_change_not_flagged_by_the_window_check_has_no_window_approval(
    engine: Engine, tmp_path: Path
) -> None:
    clock = Clock(OPENS.replace(hour=4))  # 23:00 EST, inside the window
    w, _ = _flagged_reboot(engine, tmp_path, Clock(T0))
    w.ops.now = clock
    res = w.request("host.reboot", ["host:contoso-ny-web-03"])
    assert res.status == "consent" and not window_flagged(res.plan.model_dump(mode="json"))
    out = w.ops.approve_for_window(res.change.id, BEN, plan_hash=res.plan.hash, payload_id="p")
    assert not out.accepted and "not flagged" in out.message


def test_window_next_is_stored_as_the_opening_in_utc(engine: Engine, tmp_path: Path) -> None:
    # The opening is computed in the window's zone; SQLite keeps no offset, so it must be UTC.
    clock = Clock(T0)
    w, _ = _flagged_reboot(engine, tmp_path, clock)
    res = w.ops.propose(
        ChangeRequest(
            action="host.reboot",
            targets=["host:contoso-ny-web-03"],
            params={},
            reason="in the next window",
            requester=ANA,
            window="next",
        )
    )
    assert w.ops.journal.get(res.change.id).not_before == OPENS


def test_app_home_and_the_digest_list_what_is_coming_up(engine: Engine, tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from agent.digest import compute_digest
    from bot.digest import DigestConfig, digest_blocks
    from bot.home import home_view

    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    assert w.ops.coming_up() == []
    auto = w.ops.propose(
        ChangeRequest(
            action="service.restart",
            targets=["contoso-dev-app"],
            params={},
            reason="tonight",
            requester=ANA,
            not_before=OPENS + timedelta(hours=1),
        )
    )
    assert auto.status == "auto", auto.message
    _window(w, {**WINDOW, "end": "04:00", "tz": "America/New_York"})
    res = w.request("host.reboot", ["host:contoso-ny-web-02"])
    w.ops.approve_for_window(res.change.id, BEN, plan_hash=res.plan.hash, payload_id="p1")
    [first, second] = w.ops.coming_up()
    assert (first.ref, first.action, first.not_before) == (res.change.ref, "host.reboot", OPENS)
    assert first.targets == ("host:contoso-ny-web-02",) and first.approved_by == (BEN,)
    assert second.ref == auto.change.ref and second.approved_by == ("policy",)

    home = str(home_view(w.ops, TEAM, "U0ANA", tz="America/New_York"))
    assert "Coming up (2)" in home
    assert f"*{res.change.ref}* host.reboot on contoso-ny-web-02 — Tue 22:00 EST, in 14 h" in home
    assert "approved by <@U0BEN>" in home and "policy (no consent needed)" in home

    numbers = compute_digest(
        engine,
        w.audit,
        T0.date(),
        ZoneInfo("Europe/London"),
        minutes_per_action={},
        default_minutes=15,
        coming_up=w.ops.coming_up(),
        as_of=T0,
    )
    _, blocks = digest_blocks(numbers, DigestConfig(timezone="Europe/London"))
    body = str(blocks)
    assert "*Coming up* (2 scheduled)" in body and "Wed 03:00 GMT, in 14 h" in body
