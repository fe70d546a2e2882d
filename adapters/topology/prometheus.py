"""Service-to-service calls from traces, read through the Prometheus HTTP API.

The OpenTelemetry collector's ``servicegraph`` connector (and Tempo's metrics generator) turn
client/server span pairs into ``traces_service_graph_request_total{client, server}``. One
instant query, ``sum by (client, server) (rate(...[window]))``, gives every call path seen in
the window with its request rate, kept as the edge's weight (``rate``). A path with no calls
in the window is not reported: learned relations then age out unless seen again. Services are
named by their ``service.name``, which matching compares with twin names.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, ResilienceOptions, ResilientHttp
from adapters.topology.contract import TopoLink, TopologyReport, TopoRecord
from adapters.vendors._auth import HeaderToken
from adapters.vendors._parse import Malformed, as_dict, as_list, parsing, req_str
from twin import EdgeType, NodeKind, utcnow

__all__ = ["METRIC", "PrometheusServiceGraph"]

METRIC = "traces_service_graph_request_total"
_OUTSIDE = frozenset({"", "user", "unknown"})
"""Client or server labels that name no service (requests from outside, unresolved peers)."""


class PrometheusServiceGraph:
    """:class:`adapters.topology.contract.TopologySource` over the trace service graph.

    Args:
        base_url: Prometheus (or a compatible API: Mimir, Thanos, VictoriaMetrics).
        http_client: Injected sync client.
        token: A bearer token, if the API needs one.
        window: The rate window, a PromQL duration (``1h``, ``15m``).
        metric: The request counter's name (prefixes differ between deployments).
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        clock: The observation time of a read.
    """

    source = "telemetry"
    integration = "prometheus"

    def __init__(
        self,
        base_url: str,
        *,
        http_client: httpx.Client,
        token: SecretStr | None = None,
        window: str = "1h",
        metric: str = METRIC,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not window or window[-1] not in "smhdw" or not window[:-1].isdigit():
            raise ValueError(f"window must be a PromQL duration like 1h or 15m, got {window!r}")
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=HeaderToken(token) if token is not None else None,
            hooks=hooks,
        )
        self.query = f"sum by (client, server) (rate({metric}[{window}]))"
        self.clock = clock

    def __repr__(self) -> str:
        return f"PrometheusServiceGraph(base_url={str(self.http.base_url)!r})"

    def read_topology(self) -> TopologyReport:
        """Every call path seen in the window, as ``client depends_on server`` with its rate."""
        call = "query_service_graph"
        at = self.clock()
        page = self.http.get("/api/v1/query", call=call, params={"query": self.query})
        records: dict[str, TopoRecord] = {}
        links = []
        with parsing(self.integration, call):
            body = as_dict(page.body, "body")
            if body.get("status") != "success":
                raise Malformed(f"status is {body.get('status')!r}")
            data = as_dict(body["data"], "data")
            if data.get("resultType") != "vector":
                raise Malformed(f"resultType is {data.get('resultType')!r}, not vector")
            for raw in as_list(data["result"], "result"):
                sample = as_dict(raw, "sample")
                labels = as_dict(sample["metric"], "metric")
                client, server = req_str(labels, "client"), req_str(labels, "server")
                value = as_list(sample["value"], "value")
                rate = float(req_str({"v": value[1]}, "v"))
                if client in _OUTSIDE or server in _OUTSIDE or client == server or rate <= 0:
                    continue
                for name in (client, server):
                    records.setdefault(name, TopoRecord(ref=name, kind=NodeKind.SERVICE, name=name))
                links.append(
                    TopoLink(
                        src=client,
                        type=EdgeType.DEPENDS_ON,
                        dst=server,
                        attrs={"rate": round(rate, 4)},
                    )
                )
        return TopologyReport(
            source=self.source, records=list(records.values()), links=links, observed_at=at
        )
