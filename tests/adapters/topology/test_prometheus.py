"""The trace service graph client against a fake Prometheus HTTP API.

Response shapes follow the Prometheus HTTP API documentation
(https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries: ``GET
/api/v1/query``, ``{"status": "success", "data": {"resultType": "vector", "result": [{"metric":
{...}, "value": [<unix time>, "<value as string>"]}]}}``, errors ``{"status": "error",
"errorType": ..., "error": ...}``) and the metric the servicegraph connector emits
(https://pkg.go.dev/github.com/open-telemetry/opentelemetry-collector-contrib/connector/servicegraphconnector:
``traces_service_graph_request_total`` with ``client`` and ``server`` labels). Values are ours.
"""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from adapters.errors import InvalidResponse, RequestRejected
from adapters.topology.prometheus import PrometheusServiceGraph
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor
from twin.model import EdgeType


def _sample(client: str, server: str, value: str) -> dict[str, object]:
    return {"metric": {"client": client, "server": server}, "value": [1764763200.123, value]}


class FakePrometheus(FakeVendor):
    def register(self) -> None:
        self.result = [
            _sample("contoso-portal", "contoso-erp-app", "12.5"),
            _sample("contoso-erp-app", "contoso-erp-db", "40.25"),
            _sample("user", "contoso-portal", "3"),  # requests from outside
            _sample("contoso-intranet", "contoso-erp-db", "0"),  # no call in the window
            _sample(INJECTED, "contoso-erp-db", "0.01"),
        ]
        self.route("GET", r"/api/v1/query", self.query)

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == "Bearer prom-token"

    def error(self, status: int, message: str) -> httpx.Response:
        return httpx.Response(
            status, json={"status": "error", "errorType": "bad_data", "error": message}
        )

    def query(self, request: httpx.Request) -> httpx.Response:
        if "traces_service_graph_request_total" not in request.url.params.get("query", ""):
            return self.error(400, "unknown metric")
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": self.result}}
        )


def _client(fake: FakePrometheus, **kw: object) -> PrometheusServiceGraph:
    return PrometheusServiceGraph(
        "https://prom.example",
        http_client=fake.client(),
        token=SecretStr("prom-token"),
        hooks=fake.time.hooks(),
        **kw,  # type: ignore[arg-type]
    )


def test_prometheus_call_paths_become_learned_dependencies_with_their_rate() -> None:
    fake = FakePrometheus(FakeTime())
    report = _client(fake, window="15m").read_topology()
    assert report.source == "telemetry"
    assert [(x.src, x.type, x.dst, x.attrs["rate"]) for x in report.links] == [
        ("contoso-portal", EdgeType.DEPENDS_ON, "contoso-erp-app", 12.5),
        ("contoso-erp-app", EdgeType.DEPENDS_ON, "contoso-erp-db", 40.25),
        (INJECTED, EdgeType.DEPENDS_ON, "contoso-erp-db", 0.01),  # a name, kept as data
    ]
    assert "user" not in {r.name for r in report.records}
    q = fake.api_requests()[0].url.params["query"]
    assert q == "sum by (client, server) (rate(traces_service_graph_request_total[15m]))"


def test_prometheus_errors_name_the_call() -> None:
    fake = FakePrometheus(FakeTime())
    fake.result = [{"metric": {"client": "a"}, "value": [1.0, "1"]}]  # no server label
    with pytest.raises(InvalidResponse, match="query_service_graph"):
        _client(fake).read_topology()
    fake = FakePrometheus(FakeTime())
    with pytest.raises(RequestRejected):
        _client(fake, metric="nope_total").read_topology()
    with pytest.raises(ValueError, match="PromQL duration"):
        _client(FakePrometheus(FakeTime()), window="an hour")
