"""``opshand twin ...`` driven like a person would (typer's runner, real bootstrap)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.estate import small_estate

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    # these read the seed's own view ("sample" observations); the sources' twin: test_topology*
    monkeypatch.setenv("OPSHAND_SAMPLE_TOPOLOGY", "ground_truth")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "data"


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def _json(*args: str) -> object:
    code, text = _run(*args, "--json")
    assert code == 0, text
    return json.loads(text)


def test_load_file_reports_rejections_and_lands_the_rest(data_dir: Path, tmp_path: Path) -> None:
    ents, rels = small_estate()
    doc = {
        "source": "cmdb",
        "entities": [e.model_dump(mode="json") for e in ents]
        + [{"id": "x:1", "kind": "spaceship", "name": "x"}],
        "relations": [r.model_dump(mode="json") for r in rels],
    }
    f = tmp_path / "estate.json"
    f.write_text(json.dumps(doc))
    out = _json("twin", "load", str(f), "--data-dir", str(data_dir))
    assert isinstance(out, dict)
    assert out["records"] == len(ents) + len(rels)
    assert out["rejected"] == ["x:1: field 'kind': unknown kind 'spaceship'"]
    assert out["serial"] == 1
    again = _json("twin", "load", str(f), "--data-dir", str(data_dir))
    assert isinstance(again, dict) and again["changed"] == 0 and again["serial"] == 1


def test_load_needs_exactly_one_input(data_dir: Path) -> None:
    code, text = _run("twin", "load", "--data-dir", str(data_dir))
    assert code == 2 and "--sample" in text


def test_load_unreadable_file_says_why(data_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text("{not json")
    code, text = _run("twin", "load", str(f), "--data-dir", str(data_dir))
    assert code == 2 and "bad.json" in text


def test_read_commands_on_the_sample_estate(data_dir: Path) -> None:
    d = str(data_dir)
    found = _json(
        "twin", "search", "--kind", "host", "--where", "role=db", "--limit", "100", "--data-dir", d
    )
    assert isinstance(found, dict) and found["total"] > 0
    db = found["items"][0]["id"]
    show = _json("twin", "show", db, "--data-dir", d)
    assert isinstance(show, dict) and show["entity"]["id"] == db
    assert show["observations"][0]["source"] == "sample"
    blast = _json("twin", "blast", db, "--data-dir", d)
    assert isinstance(blast, dict) and blast["total"] == sum(blast["by_kind"].values())
    for by_crit in blast["groups"].values():
        for items in by_crit.values():
            assert all(i["path"][-1] == db for i in items)
    deps = _json("twin", "deps", db, "--data-dir", d)
    assert isinstance(deps, dict) and deps["total"] > 0
    svc = blast["groups"]["service"]
    first = next(iter(svc.values()))[0]["id"]
    path = _json("twin", "path", first, db, "--data-dir", d)
    assert isinstance(path, dict) and path["path"][0] == first and path["path"][-1] == db
    stale = _json("twin", "stale", "--hours", "1", "--data-dir", d)
    assert isinstance(stale, dict) and stale["total"] > 0


def test_search_missing_patch_and_pending_reboot(data_dir: Path) -> None:
    d = str(data_dir)
    reboot = _json("twin", "search", "--pending-reboot", "--servers", "--data-dir", d)
    assert isinstance(reboot, dict)
    assert reboot["total"] > 0 and all(i["kind"] == "host" for i in reboot["items"])
    code, text = _run(
        "twin", "search", "--missing-patch", "KB5034441", "--client", "contoso", "--data-dir", d
    )
    assert code == 0 and "found" in text


def test_unknown_kind_and_entity_are_sentences(data_dir: Path) -> None:
    d = str(data_dir)
    code, text = _run("twin", "search", "--kind", "spaceship", "--data-dir", d)
    assert code == 2 and "Unknown kind 'spaceship'" in text
    code, text = _run("twin", "show", "contoso-nowhere-99", "--data-dir", d)
    assert code == 2 and "could not find" in text
    code, text = _run("twin", "blast", "contoso-ny-web-prdo-01", "--data-dir", d)
    assert code == 2 and "Did you mean" in text and "contoso-ny-web-prod-01" in text


def test_search_shows_whole_names_on_a_narrow_terminal(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    code, text = _run("twin", "search", "contoso-ny-web-prod", "--data-dir", str(data_dir))
    assert code == 0
    assert "contoso-ny-web-prod-01" in text


def test_sync_from_the_sim_keeps_the_seeded_view(data_dir: Path) -> None:
    d = str(data_dir)
    res = _json("twin", "sync", "--data-dir", d)
    assert isinstance(res, list) and {r["source"] for r in res} >= {"rmm", "identity"}
    assert all(r["tombstoned"] == 0 for r in res)
    host = _json("twin", "search", "--kind", "host", "--where", "role=db", "--data-dir", d)
    assert isinstance(host, dict)
    show = _json("twin", "show", host["items"][0]["id"], "--data-dir", d)
    assert isinstance(show, dict)
    # rmm's view sits beside the seed's (and the topology sources'), and what only the seed
    # knew (env, criticality) is still there
    assert show["entity"]["attrs"]["env"] and show["entity"]["attrs"]["criticality"]
    assert {o["source"] for o in show["observations"]} >= {"rmm", "sample"}


def test_sync_explain_reports_how_topology_records_matched(data_dir: Path) -> None:
    d = str(data_dir)
    res = _json("twin", "sync", "--explain", "--data-dir", d)
    assert isinstance(res, list)
    topo = {r["source"]: r["match"] for r in res if "match" in r}
    assert set(topo) == {"vcenter", "proxmox", "netbox", "cmdb", "telemetry"}
    for counts in topo.values():
        assert set(counts) >= {"matched", "new", "ambiguous", "unmatched", "matched_on"}
    assert topo["cmdb"]["matched"] > 0 and topo["cmdb"]["matched_on"]
    code, text = _run("twin", "sync", "--explain", "--data-dir", d)
    assert code == 0, text
    assert "how its records matched the twin" in text and "coverage:" in text


def test_g2_conflicts_lists_both_readings(data_dir: Path) -> None:
    d = str(data_dir)
    _json("twin", "sync", "--data-dir", d)
    res = _json("twin", "conflicts", "--data-dir", d)
    assert isinstance(res, dict)
    # the sims' CMDB misses relations telemetry sees (and the other way round)
    rel = [c for c in res["items"] if c["what"] == "relation"]
    assert rel and all(len(c["sources"]) >= 2 for c in rel)
    assert all("does not have it" in c["sources"].values() for c in rel)


def test_load_sample_estate_into_a_fresh_data_dir(data_dir: Path) -> None:
    out = _json("twin", "load", "--sample", "2000", "--data-dir", str(data_dir))
    assert isinstance(out, dict) and out["rejected"] == [] and out["serial"] == 1
    assert out["changed"] == out["records"] > 2000
    # the data dir now holds a migrated database that the rest of opshand opens as is
    found = _json("twin", "search", "--kind", "client", "--data-dir", str(data_dir))
    assert isinstance(found, dict) and found["total"] >= 3
