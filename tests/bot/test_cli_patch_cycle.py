"""``opshand patch-cycle --legacy`` end to end: the old wave cycle (kept for one release), the
real command, a fresh data dir, the sim estate. The staged default is in
``test_cli_patch_cycle_staged.py``.

Whether the cycle finds waves depends on the wall clock being inside each client's maintenance
window, so every test first sets the window it needs in the twin (through the store, as an
operator's CMDB sync would) instead of touching any clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from adapters.sim import SqliteCallStore
from agent.digest import PATCH_CYCLE_KIND, compute_digest
from bot.bootstrap import Opshand, bootstrap
from bot.cli import app
from bot.localslack import LocalSlack
from bot.settings import Settings
from tests.conftest import _drop_schema, _pg_engine
from twin.graph import TwinGraph
from twin.model import EdgeType, NodeKind

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policy_autonomy.yaml"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS_OPEN = {"days": list(DAYS), "start": "00:00", "end": "00:00", "tz": "UTC"}
TOKEN = "xoxb-patch-cycle-cli-0001"


class Estate:
    """A seeded data dir for the command, with the twin and sim call log to inspect."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "data"
        self.calls_file = root / "sim-calls.db"

    @contextmanager
    def boot(self) -> Iterator[Opshand]:
        """A separate opshand on the same data dir (the command's own is gone when it returns)."""
        oh = bootstrap(Settings.load(None, data_dir=self.data_dir))
        try:
            yield oh
        finally:
            oh.close()

    def set_window(self, client: str, window: dict[str, Any]) -> None:
        """Give ``client`` this maintenance window in the twin."""
        with self.boot() as oh:
            oh.store.set_attrs(
                f"client:{client}",
                {"maintenance_window": window},
                actor="test",
                reason="maintenance window for the test",
            )

    def run(self, *args: str) -> dict[str, Any]:
        """``opshand patch-cycle ARGS --json`` on this data dir; the parsed output."""
        res = CliRunner().invoke(
            app, ["patch-cycle", *args, "--json", "--data-dir", str(self.data_dir)]
        )
        assert res.exit_code == 0, res.output
        data: dict[str, Any] = json.loads(res.stdout)
        return data

    def sim_calls(self, method: str | None = None) -> list[Any]:
        """Calls the command made to the sim estate (all, or one method's)."""
        recs = SqliteCallStore(self.calls_file).records()
        return [r for r in recs if method is None or r.method == method]


@pytest.fixture
def estate(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Estate]:
    """A seeded data dir; SQLite unless a test asks for ``postgres`` (indirect parameter)."""
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    # the cycle's accounting on the generator's full twin (the sources' gaps send hosts whose
    # dependents no source covers to consent: tests/scenarios/test_topology_from_sources.py)
    monkeypatch.setenv("OPSHAND_SAMPLE_TOPOLOGY", "ground_truth")
    monkeypatch.setenv("OPSHAND_SIM_SCALE", "0")
    # The unattended policy: routine hosts patch themselves, production databases and
    # anything the rehearsal flags ask a person.
    monkeypatch.setenv("OPSHAND_POLICY_FILE", str(POLICY))
    monkeypatch.setenv("OPSHAND_SIM_CALLS_FILE", str(tmp_path / "sim-calls.db"))
    schema = ""
    if getattr(request, "param", "sqlite") == "postgres":
        schema = f"s_{uuid.uuid4().hex[:10]}"
        eng = _pg_engine(schema)
        url = eng.url.render_as_string(hide_password=False)
        eng.dispose()
        monkeypatch.setenv("OPSHAND_DATABASE_URL", f"{url}?options=-csearch_path%3D{schema}")
    est = Estate(tmp_path)
    with est.boot():  # seeds the twin
        pass
    try:
        yield est
    finally:
        if schema:
            _drop_schema(schema)


def _pending_hosts(graph: TwinGraph, client: str) -> dict[str, set[str]]:
    """Host id -> pending patch ids, for one client's active hosts, read straight off the twin."""
    out: dict[str, set[str]] = {}
    for host in graph.entities():
        if host.kind is not NodeKind.HOST or not host.active or host.attrs["client"] != client:
            continue
        kbs = {
            str(graph.get(s).attrs["patch_id"])
            for t, s in graph.in_edges(host.id)
            if t is EdgeType.PENDING_ON
            and graph.get(s).active
            and graph.get(s).attrs.get("status", "pending") == "pending"
        }
        if kbs:
            out[host.id] = kbs
    return out


def _rule_ids(decision: str) -> set[str]:
    rules = yaml.safe_load(POLICY.read_text())["rules"]
    return {r["id"] for r in rules if r["decision"] == decision}


def test_dry_run_lists_ring_ordered_waves_and_changes_nothing(estate: Estate) -> None:
    estate.set_window("contoso", ALWAYS_OPEN)
    with estate.boot() as oh:
        pending = _pending_hosts(oh.ops.graph, "contoso")
    plan = estate.run("--legacy", "--dry-run", "--client", "contoso")

    assert plan["windows"] == {"contoso": "open"} and plan["deferred"] == {}
    rings = [w["ring"] for w in plan["waves"]]
    assert set(rings) == {"canary", "early", "broad"}
    assert rings == sorted(rings, key=["canary", "early", "broad"].index)
    assert [w["number"] for w in plan["waves"]] == list(range(1, len(rings) + 1))
    names = [h for w in plan["waves"] for h in w["hosts"]]
    assert len(names) == len(set(names))  # no host twice
    assert {f"host:{n}" for n in names} == set(pending)
    # a dry run proposes, executes and records nothing, and never calls the estate
    with estate.boot() as oh:
        assert oh.ops.journal.list() == []
        assert not [r for r in oh.audit.iter_rows() if r.kind == PATCH_CYCLE_KIND]
    assert estate.sim_calls() == []


@pytest.mark.parametrize(
    "estate", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_real_run_accounts_for_every_host_and_asks_only_where_policy_does(estate: Estate) -> None:
    estate.set_window("fabrikam", ALWAYS_OPEN)
    with estate.boot() as oh:
        graph = oh.ops.graph
        pending = _pending_hosts(graph, "fabrikam")
        role = {h: graph.get(h).attrs["role"] for h in pending}
        device = {h: str(graph.get(h).attrs["device_id"]) for h in pending}
    report = estate.run("--legacy", "--client", "fabrikam", "--no-slack")

    # every fabrikam host with pending patches, once, and nothing else
    assert set(report["hosts"]) == set(pending)
    assert report["planned"] == len(pending) == sum(report["counts"].values())
    assert report["invariant_violations"] == 0 and report["halted"] == ""
    outcomes = {h: r["outcome"] for h, r in report["hosts"].items()}
    for h, r in report["hosts"].items():
        assert set(r["patches"]) == pending[h], h
    assert report["counts"]["patched"] > len(pending) / 2, report["counts"]

    consent_rules, auto_rules = _rule_ids("consent"), _rule_ids("auto")
    waiting = [h for h, o in outcomes.items() if o == "awaiting_consent"]
    assert report["consent_requests"] == len(waiting) > 0
    with estate.boot() as oh:
        changes = {c.id: c for c in oh.ops.journal.list(limit=1000)}
        assert all(c.targets[0] in pending for c in changes.values())  # fabrikam only
        for h, r in report["hosts"].items():
            [ref] = r["changes"]  # the sim injects no faults: one change per host
            change = changes[int(ref.removeprefix("CR-"))]
            matched = set(change.decision["matched"])  # type: ignore[index]
            if outcomes[h] == "patched":
                # ran by itself: an auto rule matched and no consent or deny rule did
                assert change.state == "reconciled" and matched & auto_rules, (h, matched)
                assert not matched - auto_rules, (h, matched)
            elif outcomes[h] == "awaiting_consent":
                assert change.state == "awaiting_consent" and matched & consent_rules, h
            else:
                assert outcomes[h] == "denied" and change.state == "denied", (h, outcomes[h])
        [row] = [r for r in oh.audit.iter_rows() if r.kind == PATCH_CYCLE_KIND]
        day = row.at.astimezone(UTC).date()  # the audit stamps rows with the wall clock
        numbers = compute_digest(
            oh.engine, oh.audit, day, ZoneInfo("UTC"), minutes_per_action={}, default_minutes=15
        )
    # production database servers are never patched unattended
    dbs = [h for h in pending if role[h] == "db"]
    assert dbs and all(outcomes[h] in ("awaiting_consent", "denied") for h in dbs)
    # the sim estate patched exactly the hosts reported patched
    applied = {r.target for r in estate.sim_calls("apply_patches") if r.outcome == "ok"}
    assert applied == {device[h] for h, o in outcomes.items() if o == "patched"}
    # the summary reaches the daily digest
    assert row.body["counts"] == report["counts"]
    assert numbers.patch_cycle is not None and numbers.patch_cycle.summary == row.body["summary"]


def test_closed_window_defers_every_host_and_names_the_next_opening(estate: Estate) -> None:
    # A one-hour window two days from now (UTC): closed whenever the test runs.
    opening = datetime.combine(datetime.now(UTC).date() + timedelta(days=2), time(1), UTC)
    day = DAYS[opening.weekday()]
    estate.set_window("contoso", {"days": [day], "start": "01:00", "end": "02:00", "tz": "UTC"})
    with estate.boot() as oh:
        pending = _pending_hosts(oh.ops.graph, "contoso")
    out = estate.run("--legacy", "--client", "contoso", "--no-slack")

    assert out["windows"] == {"contoso": f"opens {opening.isoformat()}"}
    assert out["waves"] == []
    assert set(out["deferred"]) == set(pending)
    assert set(out["deferred"].values()) == {f"maintenance window opens {opening.isoformat()}"}
    with estate.boot() as oh:
        assert oh.ops.journal.list() == []
    assert estate.sim_calls("apply_patches") == []


def test_real_run_posts_progress_and_summary_to_a_slack_thread(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate.set_window("northwind", ALWAYS_OPEN)
    with LocalSlack(signing_secret="patch-cycle-cli-secret", bot_token=TOKEN) as slack:
        monkeypatch.setenv("OPSHAND_SLACK__API_URL", slack.api_url)
        monkeypatch.setenv("OPSHAND_SLACK__BOT_TOKEN", TOKEN)
        plan_waves = len(estate.run("--legacy", "--dry-run", "--client", "northwind")["waves"])
        report = estate.run("--legacy", "--client", "northwind")
        [head] = slack.messages("ops")
        thread = [m["text"] for m in slack.messages("ops", thread_ts=head["ts"])]
    n = report["planned"]
    start = f"Patch cycle {report['cycle_id']} starting: {n} host(s) in {plan_waves} wave(s)"
    assert start in head["text"]
    waves = [t for t in thread[1:] if t.startswith("Wave ")]
    assert [t.split(" done.")[0] for t in waves] == [f"Wave {i}" for i in range(1, plan_waves + 1)]
    summary = thread[-1]
    assert summary.startswith(f"Patch cycle {report['cycle_id']}: {n} of {n} hosts: ")
    for outcome, count in report["counts"].items():
        assert f"{count} {outcome.replace('_', ' ')}" in summary
    with estate.boot() as oh:
        [row] = [r for r in oh.audit.iter_rows() if r.kind == PATCH_CYCLE_KIND]
    assert row.body["summary"] == summary


def test_unknown_client_is_refused_not_silently_skipped(estate: Estate) -> None:
    res = CliRunner().invoke(
        app, ["patch-cycle", "--client", "contso", "--data-dir", str(estate.data_dir)]
    )
    assert res.exit_code == 2
    flat = " ".join(res.output.split())
    assert "Unknown client 'contso'" in flat and "contoso, fabrikam, northwind" in flat
    with estate.boot() as oh:
        assert oh.ops.journal.list() == []
