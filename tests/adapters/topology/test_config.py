"""Topology sources configured from settings, built and read over the vendor fakes.

The fakes are the ones each client is tested against (their sources are cited in their
modules); one transport routes each request to the fake of the host it names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from adapters.integration_config import ConfigError
from adapters.topology import (
    TopologyConfig,
    build_topology_sources,
    check_topology_source,
)
from bot.settings import Settings
from tests.adapters.topology.fake_cmdb import FakeCmdb
from tests.adapters.topology.test_netbox import FakeNetBox
from tests.adapters.topology.test_prometheus import FakePrometheus
from tests.adapters.topology.test_proxmox import FakeProxmox
from tests.adapters.topology.test_vcenter import FakeVcenter
from tests.adapters.vendors._fakes import FakeTime

CATALOG = Path(__file__).resolve().parents[3] / "examples" / "catalog-info.yaml"


def fakes() -> dict[str, Any]:
    t = FakeTime()
    return {
        "acme.service-now.com": FakeCmdb(t),
        "vcenter.contoso.local": FakeVcenter(t),
        "pve1.fabrikam.example": FakeProxmox(t),
        "prom.example": FakePrometheus(t),
        "netbox.contoso.example": FakeNetBox(t),
    }


def transport(by_host: dict[str, Any]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda r: by_host[r.url.host](r))


def sources(**over: Any) -> list[dict[str, Any]]:
    """Every vendor, with the credentials its fake accepts (``over`` replaces by vendor)."""
    rows: dict[str, dict[str, Any]] = {
        "vcenter": {
            "vendor": "vcenter",
            "base_url": "https://vcenter.contoso.local",
            "credentials": {"username": "svc-opshand@vsphere.local", "password": "vc-pass"},
        },
        "proxmox": {
            "vendor": "proxmox",
            "base_url": "https://pve1.fabrikam.example:8006",
            "credentials": {
                "token_id": "opshand@pve!topology",
                "secret": "5f0c1a2b-0000-4000-8000-000000000001",
            },
        },
        "netbox": {
            "vendor": "netbox",
            "base_url": "https://netbox.contoso.example",
            "credentials": {"token": "nb-token-0123"},
            "options": {"page_size": 1},
        },
        "servicenow_cmdb": {
            "vendor": "servicenow_cmdb",
            "base_url": "https://acme.service-now.com",
            "credentials": {"username": "opshand", "password": "sn-pass"},
            "options": {"page_size": 2},
        },
        "prometheus": {
            "vendor": "prometheus",
            "base_url": "https://prom.example",
            "credentials": {"token": "prom-token"},
            "options": {"window": "15m"},
        },
        "catalog": {"vendor": "catalog", "options": {"paths": [str(CATALOG)]}},
    }
    rows.update(over)
    return list(rows.values())


def test_settings_build_all_six_sources_and_each_reads_through_its_fake() -> None:
    s = Settings(topology={"sources": sources()})  # type: ignore[arg-type]
    built = build_topology_sources(s.topology, transport=transport(fakes()))
    try:
        checks = [check_topology_source(b) for b in built]
        assert [c.vendor for c in checks] == [
            "vcenter", "proxmox", "netbox", "servicenow_cmdb", "prometheus", "catalog",
        ]  # fmt: skip
        assert all(c.ok for c in checks), [(c.vendor, c.summary, c.error) for c in checks]
        assert {b.client.read_topology().source for b in built} == {
            "vcenter", "proxmox", "netbox", "cmdb", "telemetry", "catalog",
        }  # fmt: skip
        assert all("records" in c.summary and c.category == "topology" for c in checks)
    finally:
        for b in built:
            b.close()


def test_rejected_credentials_are_said_and_the_secret_is_not() -> None:
    bad = sources(
        netbox={
            "vendor": "netbox",
            "base_url": "https://netbox.contoso.example",
            "credentials": {"token": "nb-wrong-SECRET"},
        }
    )
    config = TopologyConfig.model_validate({"sources": bad})
    assert "nb-wrong-SECRET" not in repr(config) and "nb-wrong-SECRET" not in str(config)
    built = build_topology_sources(config, transport=transport(fakes()))
    try:
        check = {c.vendor: c for c in map(check_topology_source, built)}["netbox"]
    finally:
        for b in built:
            b.close()
    assert check.status == "credentials_rejected" and check.error == "AuthError"
    assert "nb-wrong-SECRET" not in check.model_dump_json()


def test_a_credential_can_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "nb").write_text("nb-token-0123\n", encoding="utf-8")
    config = TopologyConfig.model_validate(
        {
            "sources": [
                {
                    "vendor": "netbox",
                    "base_url": "https://netbox.contoso.example",
                    "credentials": {"token": {"file": str(tmp_path / "nb")}},
                }
            ]
        }
    )
    [built] = build_topology_sources(config, transport=transport(fakes()))
    assert check_topology_source(built).ok
    built.close()
    missing = TopologyConfig.model_validate(
        {"sources": [{**config.sources[0].model_dump(), "credentials": {"token": {"file": "/x"}}}]}
    )
    with pytest.raises(ConfigError, match=r"topology.sources\[0\] \(netbox\).credentials.token"):
        build_topology_sources(missing)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"vendor": "cmdbx", "base_url": "https://a.example"}, "vendor"),
        ({"vendor": "vcenter", "base_url": "https://v.example"}, "needs credential"),
        (
            {"vendor": "netbox", "base_url": "ftp://n.example", "credentials": {"token": "t"}},
            "base_url starting with https://",
        ),
        (
            {"vendor": "netbox", "base_url": "https://n", "credentials": {"token": "t", "pw": "x"}},
            "takes no credential",
        ),
        (
            {
                "vendor": "netbox",
                "base_url": "https://n",
                "credentials": {"token": "t"},
                "options": {"pagesize": 5},
            },
            "takes no option",
        ),
        (
            {
                "vendor": "servicenow_cmdb",
                "base_url": "https://s",
                "credentials": {"username": "u"},
            },
            "username and password, or oauth_token",
        ),
        ({"vendor": "catalog"}, "needs option"),
        ({"vendor": "catalog", "options": {"paths": []}}, "non-empty list"),
        (
            {"vendor": "catalog", "base_url": "https://x", "options": {"paths": ["a"]}},
            "no base_url",
        ),
    ],
)
def test_bad_entries_are_refused_naming_the_field(entry: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(topology={"sources": [entry]})  # type: ignore[arg-type]


def test_a_client_refusing_its_arguments_is_a_config_error() -> None:
    config = TopologyConfig.model_validate(
        {
            "sources": [
                {
                    "vendor": "proxmox",
                    "base_url": "https://pve1.example:8006",
                    "credentials": {"token_id": "no-realm", "secret": "s"},
                }
            ]
        }
    )
    with pytest.raises(ConfigError, match=r"topology.sources\[0\] \(proxmox\).*user@realm!name"):
        build_topology_sources(config)


def test_environment_variables_reach_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OPSHAND_TOPOLOGY",
        '{"sources": [{"vendor": "netbox", "base_url": "https://n.example",'
        ' "credentials": {"token": "t"}}]}',
    )
    assert Settings().topology.sources[0].vendor == "netbox"
