"""``opshand patch-cycle`` (the staged cycle, its default): previews of any window, real runs,
the digest's last cycle, and ``--legacy`` for the old wave cycle (G4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from agent.digest import PATCH_CYCLE_KIND, compute_digest
from bot.cli import app
from tests.bot.test_cli_patch_cycle import ALWAYS_OPEN, Estate, _pending_hosts, estate

__all__ = ["estate"]  # the fixture, re-exported for pytest


def test_dry_run_at_a_time_previews_that_window_and_changes_nothing(estate: Estate) -> None:
    # Wednesday noon UTC: contoso's Sat/Sun 22:00-04:00 New York window is closed then
    plan = estate.run("--dry-run", "--at", "2026-11-25T12:00", "--client", "contoso")
    card = plan["clients"]["contoso"]
    assert plan["at"] == "2026-11-25T12:00:00+00:00"
    assert card["opens_at"] == "2026-11-28T22:00:00-05:00"
    assert card["closes_at"] == "2026-11-29T04:00:00-05:00"
    names = [s["name"] for s in card["stages"]]
    assert names[0] == "canary" and len(names) <= 8
    # inside the window, the preview starts at the given time and closes with that opening
    inside = estate.run("--staged", "--dry-run", "--at", "2026-11-29T01:30-05:00",
                        "--client", "contoso")["clients"]["contoso"]  # fmt: skip
    assert inside["opens_at"] == "2026-11-29T01:30:00-05:00"
    assert inside["closes_at"] == "2026-11-29T04:00:00-05:00"
    with estate.boot() as oh:
        assert oh.ops.journal.list() == []
    assert estate.sim_calls() == []


def test_dry_run_table_shows_the_whole_opening_time(estate: Estate) -> None:
    # The terminal table is 80 columns here: the times fold instead of being cut to "2026-…".
    args = ["patch-cycle", "--dry-run", "--at", "2026-11-25T12:00", "--client", "contoso"]
    res = CliRunner().invoke(app, [*args, "--data-dir", str(estate.data_dir)])
    assert res.exit_code == 0, res.output
    rows = [line.split("│") for line in res.output.splitlines() if line.count("│") > 5]
    opens = "".join(r[2].strip() for r in rows)
    closes = "".join(r[3].strip() for r in rows)
    assert opens == "2026-11-28T22:00:00-05:00" and closes == "2026-11-29T04:00:00-05:00"


def test_bad_at_is_refused_with_the_format(estate: Estate) -> None:
    res = CliRunner().invoke(app, ["patch-cycle", "--dry-run", "--at", "tonight-ish",
                                   "--data-dir", str(estate.data_dir)])  # fmt: skip
    assert res.exit_code == 2
    assert "--at 'tonight-ish' is not a date-time" in " ".join(res.output.split())


# The staged cycle is the production path: its real run is checked on PostgreSQL too.
@pytest.mark.parametrize(
    "estate", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_staged_run_patches_an_open_window_and_records_the_cycle(estate: Estate) -> None:
    estate.set_window("fabrikam", ALWAYS_OPEN)
    with estate.boot() as oh:
        pending = _pending_hosts(oh.ops.graph, "fabrikam")
        device = {h: str(oh.ops.graph.get(h).attrs["device_id"]) for h in pending}
    out = estate.run("--staged", "--client", "fabrikam", "--no-slack")
    rep = out["clients"]["fabrikam"]
    assert set(rep["hosts"]) == set(pending)
    outcomes = {h: r["outcome"] for h, r in rep["hosts"].items()}
    assert rep["counts"]["patched"] > len(pending) / 2 and rep["invariant_violations"] == 0
    # nobody approved the card: the production exceptions wait, counted as one request
    assert rep["consent_requests"] <= 1
    applied = {r.target for r in estate.sim_calls("apply_patches") if r.outcome == "ok"}
    assert applied == {device[h] for h, o in outcomes.items() if o == "patched"}
    with estate.boot() as oh:
        [row] = [r for r in oh.audit.iter_rows() if r.kind == PATCH_CYCLE_KIND]
        assert row.body["counts"] == rep["counts"]
        stages = [r for r in oh.audit.iter_rows() if r.kind == "patch_cycle.stage"]
        assert len(stages) == rep["stages"]
        # one row per job submitted, naming its host, job and key; the stages tally them
        calls = [r.body for r in oh.audit.iter_rows() if r.kind == "integration.call"]
        patched = {h for h, o in outcomes.items() if o == "patched"}
        assert patched <= {c["target"] for c in calls}
        assert {outcomes[c["target"]] for c in calls} <= {"patched", "failed", "escalated"}
        assert all(c["job_id"] and c["idempotency_key"] for c in calls)
        tally = sum(sum(r.body["calls"].values()) for r in stages)
        assert tally == len(calls)
        assert oh.audit.verify().ok
    res = CliRunner().invoke(app, ["audit", "verify", "--json", "--data-dir", str(estate.data_dir)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ok"] is True


def test_staged_run_outside_the_window_runs_nothing(estate: Estate) -> None:
    now = datetime.now().astimezone()
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(now.weekday() + 3) % 7]
    estate.set_window("contoso", {"days": [day], "start": "01:00", "end": "02:00", "tz": "UTC"})
    res = CliRunner().invoke(app, ["patch-cycle", "--staged", "--client", "contoso", "--json",
                                   "--data-dir", str(estate.data_dir)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["clients"] == {}
    assert "contoso: window opens" in " ".join(res.stderr.split())
    assert estate.sim_calls("apply_patches") == []


def test_staged_is_the_default_one_card_per_client_not_one_change_per_host(estate: Estate) -> None:
    for c in ("fabrikam", "northwind"):
        estate.set_window(c, ALWAYS_OPEN)
    with estate.boot() as oh:
        pending = {**_pending_hosts(oh.ops.graph, "fabrikam"),
                   **_pending_hosts(oh.ops.graph, "northwind")}  # fmt: skip
    out = estate.run("--no-slack")  # no --staged: the staged cycle is the default
    ran = out["clients"]
    assert {"fabrikam", "northwind"} <= set(ran)
    hosts = {h for c in ("fabrikam", "northwind") for h in ran[c]["hosts"]}
    assert hosts == set(pending)
    assert all(ran[c]["consent_requests"] <= 1 and ran[c]["stages"] <= 8 for c in ran)
    with estate.boot() as oh:
        # the cycle is the unit of autonomy: no journal change per host, its own audit rows
        assert oh.ops.journal.list(limit=1000) == []
        rows = [r for r in oh.audit.iter_rows() if r.kind == PATCH_CYCLE_KIND]
        assert {r.body["client"] for r in rows} == set(ran)
        assert len({r.body["run_id"] for r in rows}) == 1
        day = rows[-1].at.astimezone(UTC).date()  # the audit stamps rows with the wall clock
        numbers = compute_digest(
            oh.engine, oh.audit, day, ZoneInfo("UTC"), minutes_per_action={}, default_minutes=15
        )
    # the digest's last patch cycle is the whole run: every client's summary, not the last one
    last = numbers.patch_cycle
    assert last is not None and last.cycle_id == rows[0].body["run_id"]
    for r in rows:
        assert r.body["summary"] in last.summary


def test_legacy_runs_the_wave_cycle_and_refuses_staged_options(estate: Estate) -> None:
    estate.set_window("contoso", ALWAYS_OPEN)
    plan = estate.run("--legacy", "--dry-run", "--client", "contoso")
    assert plan["waves"] and "clients" not in plan
    for extra in ("--staged", "--approve", "--wait"):
        res = CliRunner().invoke(app, ["patch-cycle", "--legacy", extra, "--dry-run",
                                       "--data-dir", str(estate.data_dir)])  # fmt: skip
        assert res.exit_code == 2, extra
        assert "--legacy runs the old wave cycle" in " ".join(res.output.split())
