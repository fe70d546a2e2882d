"""Two processes share one SQLite twin: one ingests, the other catches up by serial."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

from tests.estate import small_estate
from tests.twin.test_properties import snapshot
from twin.db import make_engine, metadata, migrate
from twin.ingest import IngestBatch, TwinEvent
from twin.model import EdgeType, Relation
from twin.store import TwinStore

HOSTS = ["host:contoso-ny-web-01", "host:contoso-ny-web-02", "host:contoso-ny-web-03"]


def _writer(url: str, go: Any, done: Any) -> None:
    """The other process: one change-set per step, announcing each serial it committed."""
    engine = make_engine(url)
    store = TwinStore(engine)
    for i, host in enumerate(HOSTS):
        go.get(timeout=30)
        res = store.set_attrs(
            host, {"pending_reboot": True, "step": i}, actor="writer", reason=f"step {i}"
        )
        done.put(res.serial)
    go.get(timeout=30)
    rel = Relation(
        src="service:contoso-dev-app", type=EdgeType.DEPENDS_ON, dst="service:contoso-dns"
    )
    store.apply(IngestBatch(source="test", relations=[rel]))
    res = store.apply_event(TwinEvent(op="remove", source="test", entity_id=HOSTS[0]))
    done.put(res.serial)
    engine.dispose()


def test_second_process_ingests_and_this_one_catches_up_by_serial(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    migrate(engine, metadata=metadata)
    store = TwinStore(engine)
    store.create()
    ents, rels = small_estate()
    store.apply(IngestBatch(source="test", entities=ents, relations=rels))
    graph = store.load()

    ctx = mp.get_context("spawn")
    go, done = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_writer, args=(url, go, done))
    proc.start()
    try:
        for i, host in enumerate(HOSTS):
            go.put("next")
            serial = done.get(timeout=60)
            assert graph.serial < serial
            applied = store.catch_up(graph)
            assert applied == 1 and graph.serial == serial
            assert graph.get(host).attrs["step"] == i
            assert graph.get(host).version == 2
        go.put("next")
        last = done.get(timeout=60)
        store.catch_up(graph)
        proc.join(timeout=60)
        assert proc.exitcode == 0
    finally:
        if proc.is_alive():
            proc.kill()
    assert graph.serial == last == store.meta()[1]
    assert graph.get(HOSTS[0]).active is False
    assert (EdgeType.DEPENDS_ON, "service:contoso-dns") in graph.out_edges(
        "service:contoso-dev-app"
    )
    # nothing was reloaded, yet the graph is the one a fresh load builds
    assert snapshot(graph) == snapshot(store.load())
    engine.dispose()
