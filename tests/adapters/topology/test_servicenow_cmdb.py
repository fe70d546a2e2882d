"""The ServiceNow CMDB topology client against a fake built from the Table API docs."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from adapters.errors import AuthError, InvalidResponse
from adapters.topology.servicenow_cmdb import ServiceNowCmdb, env_of
from tests.adapters.topology.fake_cmdb import FakeCmdb
from tests.adapters.vendors._fakes import FakeTime
from twin.model import EdgeType, NodeKind


def _client(fake: FakeCmdb, *, password: str = "sn-pass", page_size: int = 2) -> ServiceNowCmdb:
    return ServiceNowCmdb(
        "https://acme.service-now.com",
        http_client=fake.client(),
        username="opshand",
        password=SecretStr(password),
        page_size=page_size,
        hooks=fake.time.hooks(),
    )


def test_cmdb_reads_cis_and_relations_over_pages() -> None:
    fake = FakeCmdb(FakeTime())
    report = _client(fake).read_topology()
    assert report.source == "cmdb"
    by_ref = {r.ref: r for r in report.records}
    assert set(by_ref) == {"c1", "c2", "c3", "c4", "c5"}  # the printer class is not read
    assert by_ref["c1"].kind == NodeKind.SERVICE and by_ref["c1"].env == "prod"
    assert by_ref["c2"].env == "staging"  # from used_for
    server = by_ref["c3"]
    assert server.kind == NodeKind.HOST and server.fqdn == "contoso-ny-db-01.contoso.local"
    assert server.ips == ("10.0.32.40",) and server.serial == "VMware-42 1a"
    assert by_ref["c4"].kind == NodeKind.HYPERVISOR
    assert by_ref["c5"].verified_at is not None and by_ref["c5"].verified_at.year == 2024
    assert {(link.src, link.type, link.dst) for link in report.links} == {
        ("c2", EdgeType.DEPENDS_ON, "c1"),
        ("c1", EdgeType.RUNS_ON, "c3"),
        ("c3", EdgeType.HOSTED_ON, "c4"),
        ("c3", EdgeType.MEMBER_OF, "c5"),  # Members::Member of reads from the child
    }
    # 5 CIs of the classes asked for at 2 a page (a short page ends it), then 6 relations
    offsets = [r.url.params["sysparm_offset"] for r in fake.api_requests()]
    assert offsets == ["0", "2", "4", "0", "2", "4", "6"]
    rel_req = fake.api_requests()[-1]
    assert rel_req.url.params["sysparm_display_value"] == "all"


def test_cmdb_unmapped_relation_types_are_counted_not_guessed() -> None:
    fake = FakeCmdb(FakeTime())
    client = _client(fake, page_size=100)
    client.read_topology()
    assert client.skipped_types == {"Managed by::Manages": 1}


def test_cmdb_errors_map_to_the_error_tree() -> None:
    with pytest.raises(AuthError):
        _client(FakeCmdb(FakeTime()), password="wrong").read_topology()
    fake = FakeCmdb(FakeTime())
    fake.rels.append({"parent": {"value": ""}, "child": {"value": "c1"}, "type": {}})
    with pytest.raises(InvalidResponse, match="read_relations"):
        _client(fake, page_size=100).read_topology()
    fake = FakeCmdb(FakeTime())
    fake.faults.append((lambda r: True, lambda r: httpx.Response(200, json={"result": "x"})))
    with pytest.raises(InvalidResponse, match="read_cis"):
        _client(fake).read_topology()


def test_cmdb_environment_names() -> None:
    assert env_of("", "Production") == "prod"
    assert env_of("Disaster recovery") == "prod"
    assert env_of("Development") == "dev" and env_of("", "") == ""
    assert env_of("Lab") == "lab"  # kept as said; policy reads only what it knows
