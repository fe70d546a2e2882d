"""Real topology sources from the settings reach ``twin sync``, ``adapters check`` and doctor.

The HTTP sources answer through the fakes of tests/adapters/topology (their specs are cited
there); the catalog source reads the example file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adapters.sim import SimTimings
from adapters.topology import BuiltTopologySource, build_topology_sources
from bot.bootstrap import bootstrap
from bot.cli import app
from bot.cli.adapters import register_adapters_command
from bot.cli.topology import topology_sync
from bot.doctor import run_doctor
from bot.settings import Settings
from tests.adapters.topology.test_config import CATALOG, fakes, sources, transport

runner = CliRunner()


def test_configured_sources_replace_the_sims_and_a_failing_one_is_reported(
    tmp_path: Path,
) -> None:
    s = Settings(
        data_dir=tmp_path / "data",
        sample_endpoints=200,
        topology={  # type: ignore[arg-type]
            "sources": [
                sources()[0],  # vcenter
                {"vendor": "catalog", "options": {"paths": [str(CATALOG)]}},
                {"vendor": "catalog", "options": {"paths": [str(tmp_path / "gone.yaml")]}},
            ]
        },
    )
    oh = bootstrap(s, sim_timings=SimTimings(scale=0))
    try:
        out = topology_sync(oh, transport=transport(fakes()))
    finally:
        oh.close()
    assert [r.source for r in out.reports] == ["vcenter", "catalog"]  # no simulated CMDB
    assert [f[0] for f in out.failed] == ["catalog"] and "gone.yaml" in out.failed[0][1]


def test_without_configured_sources_the_sims_are_read(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data", sample_endpoints=200)
    oh = bootstrap(s, sim_timings=SimTimings(scale=0))
    try:
        out = topology_sync(oh)
    finally:
        oh.close()
    assert {r.source for r in out.reports} == {"vcenter", "proxmox", "netbox", "cmdb", "telemetry"}


def test_twin_sync_says_which_topology_source_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    monkeypatch.setenv(
        "OPSHAND_TOPOLOGY",
        json.dumps({"sources": [{"vendor": "catalog", "options": {"paths": ["/nope.yaml"]}}]}),
    )
    res = runner.invoke(app, ["twin", "sync", "--data-dir", str(tmp_path / "data")])
    assert res.exit_code == 0, res.output
    assert "topology source catalog failed" in res.output and "/nope.yaml" in res.output


def test_adapters_check_lists_topology_sources(tmp_path: Path) -> None:
    wrong = sources(
        netbox={
            "vendor": "netbox",
            "base_url": "https://netbox.contoso.example",
            "credentials": {"token": "nb-wrong"},
        }
    )

    @contextmanager
    def no_integrations(_d: Path | None, _s: Path | None) -> Iterator[dict[str, object]]:
        yield {}

    @contextmanager
    def topo(_d: Path | None, _s: Path | None) -> Iterator[list[BuiltTopologySource]]:
        config = Settings(topology={"sources": wrong}).topology  # type: ignore[arg-type]
        built = build_topology_sources(config, transport=transport(fakes()))
        yield built
        for b in built:
            b.close()

    cli = typer.Typer()

    @cli.callback()
    def root() -> None:
        """test root."""

    register_adapters_command(cli, load=no_integrations, load_topology=topo)  # type: ignore[arg-type]
    res = runner.invoke(cli, ["adapters", "check", "--json"])
    assert res.exit_code == 1, res.output  # netbox's token is refused
    rows = {r["vendor"]: r for r in json.loads(res.output)}
    assert {r["category"] for r in rows.values()} == {"topology"}
    assert rows["netbox"]["status"] == "credentials_rejected"
    assert rows["vcenter"]["status"] == "ok" and rows["catalog"]["status"] == "ok"
    assert "nb-wrong" not in res.output


def test_adapters_check_bad_topology_entry_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    monkeypatch.setenv(
        "OPSHAND_TOPOLOGY",
        json.dumps(
            {"sources": [{"vendor": "proxmox", "base_url": "https://p.example",
                          "credentials": {"token_id": "no-realm-token", "secret": "s-0123"}}]}
        ),
    )  # fmt: skip
    res = runner.invoke(app, ["adapters", "check", "--data-dir", str(tmp_path / "data")])
    assert res.exit_code == 2
    assert "topology.sources[0] (proxmox)" in res.output


def test_doctor_reads_each_topology_source(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "data"),
                "topology": {
                    "sources": [
                        {"vendor": "catalog", "options": {"paths": [str(CATALOG)]}},
                        {"vendor": "catalog", "options": {"paths": ["/nope.yaml"]}},
                    ]
                },
            }
        )
    )
    topo = [f for f in run_doctor(settings) if f.check == "topology catalog"]
    assert [f.status for f in topo] == ["ok", "fail"]
    assert "records" in topo[0].detail and "/nope.yaml" in topo[1].detail
    settings.write_text(json.dumps({"data_dir": str(tmp_path / "data")}))
    found = {f.check: f for f in run_doctor(settings)}
    assert found["topology"].status == "warn" and "simulated" in found["topology"].detail
