"""Benchmark: mixed load against 1 and 3 opshand replicas on PostgreSQL.

Each replica is a real ``opshand serve`` process (HTTP mode, started by
``tests/scenarios/replica_launcher.py`` and configured by ``OPSHAND_*`` variables only), all on
one PostgreSQL schema and one local Slack Web API. The sender posts signed ``app_mention`` events
at a fixed rate (open loop), round-robin across replicas: 60 % questions ("what depends on
X?"), 40 % routine requests ("restart <service>"), so auto-approved changes run while the
next events arrive. The rate doubles step by step.

For each step: ack latency measured by the sender (request start to HTTP answer), and whether
every event of the step was answered in Slack within a grace period. The sustained rate is the
highest step with ack p99 <= 100 ms and every event answered. Changes per second: a burst of
restart requests sent at once, and the rate at which the replicas execute the resulting
auto-approved changes (sim durations scaled to 0, so opshand's own cost is measured).

    OPSHAND_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/load.py [--replicas 1 3] [--seconds 5] [--rates 5 10 20 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/twin.py would shadow the twin package when this runs as a script from bench/.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import httpx
from sqlalchemy import func, select, text

from agent.execution import journal_table
from bot.localslack import LocalSlack
from tests.scenarios.replica_launcher import (
    BOT_TOKEN,
    SIGNING_SECRET,
    ClusterConfig,
    Replica,
    mention_event,
    signed_headers,
    start_replica,
    stop_replicas,
    wait_ready,
)
from twin.db import make_engine
from twin.store import TwinStore

USER = "U0LOCAL01"
ACK_TARGET_MS = 100.0


class Cluster:
    """N replica processes on a fresh schema, one local Slack, torn down by :meth:`close`."""

    def __init__(self, pg_url: str, replicas: int, tmp: Path) -> None:
        self.schema = f"bench_{uuid.uuid4().hex[:8]}"
        self.admin = make_engine(pg_url)
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self.url = f"{pg_url}?options=-csearch_path%3D{self.schema}"
        self.engine = make_engine(self.url)
        self.restarts_only = False
        self.slack = LocalSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
        self.slack.start()
        cfg = ClusterConfig(
            database_url=self.url,
            slack_api_url=self.slack.api_url,
            sim_calls_file=tmp / "calls.db",
            sim_scale=0.0,
            # The hourly auto-approval cap would turn the benchmark's changes into consent.
            env={"OPSHAND_AUTONOMY__MAX_AUTO_PER_HOUR": "1000000"},
        )
        # The replicas create the tables and seed the twin themselves (one does, under a lock).
        self.replicas: list[Replica] = []
        try:
            for i in range(replicas):
                self.replicas.append(start_replica(cfg, name=f"r{i}", workdir=tmp))
            wait_ready(self.replicas, timeout=120)
        except BaseException:
            self.close()
            raise
        self.urls = [r.url for r in self.replicas]
        graph = TwinStore(self.engine).load()
        self.services = sorted(e.name for e in graph.entities() if e.kind.value == "service")
        self.questions = self.services[:]

    def close(self) -> None:
        stop_replicas(self.replicas)
        self.slack.stop()
        self.engine.dispose()
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.admin.dispose()

    def new_event(self, i: int) -> tuple[str, bytes]:
        """A person's message stored in ``#ops`` and its ``app_mention`` envelope."""
        if i % 5 < 3 and not self.restarts_only:
            words = f"what depends on {self.questions[i % len(self.questions)]}?"
        else:
            words = f"restart {self.services[i % len(self.services)]}"
        return mention_event(self.slack, USER, "ops", f"<@{self.slack.bot_user_id}> {words}")

    def answered(self, sent: set[str]) -> int:
        """How many of ``sent`` got a reply in their thread."""
        got = {str(c.params.get("thread_ts")) for c in self.slack.calls("chat.postMessage")}
        return len(sent & got)


def step(cluster: Cluster, rate: float, seconds: float, start_index: int) -> dict[str, Any]:
    """Send ``rate`` events/s for ``seconds``; latencies from the sender's side."""
    n = int(rate * seconds)
    events = [cluster.new_event(start_index + i) for i in range(n)]
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.1
    workers = min(32, max(4, int(rate // 4)))

    def sender(k: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=10) as client:
            for i in range(k, n, workers):
                wait = t0 + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                _, body = events[i]
                headers = signed_headers(body)
                url = cluster.urls[i % len(cluster.urls)] + "/slack/events"
                start = time.perf_counter()
                try:
                    ok = client.post(url, content=body, headers=headers).status_code == 200
                except httpx.TransportError:
                    ok = False
                took = (time.perf_counter() - start) * 1000
                with lock:
                    lat.append(took)
                    errors += not ok

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    sent = {ts for ts, _ in events}
    grace = time.monotonic() + 5.0
    while cluster.answered(sent) < n and time.monotonic() < grace:
        time.sleep(0.2)
    lat.sort()
    answered = cluster.answered(sent)
    p99 = lat[min(n - 1, int(n * 0.99))] if lat else 0.0
    return {
        "rate": rate,
        "sent": n,
        "send_rate": round(n / elapsed, 1),
        "errors": errors,
        "p50_ms": round(lat[n // 2], 1) if lat else 0.0,
        "p99_ms": round(p99, 1),
        "answered": answered,
        "sustained": p99 <= ACK_TARGET_MS and answered == n and errors == 0,
    }


def change_burst(cluster: Cluster, n: int) -> dict[str, Any]:
    """Send ``n`` restart requests at once, then how fast the replicas execute the changes.

    Changes per second: reconciled changes of the burst over the span from the first one
    recorded to the last one finished (queueing included: the backlog is what is measured).
    """
    j = journal_table
    with cluster.engine.connect() as conn:
        floor = conn.execute(select(func.coalesce(func.max(j.c.id), 0))).scalar_one()
    cluster.restarts_only = True
    try:
        step(cluster, 100.0, n / 100.0, 900_000)
    finally:
        cluster.restarts_only = False
    mine = j.c.id > floor
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with cluster.engine.connect() as conn:
            busy = conn.execute(
                select(func.count())
                .select_from(j)
                .where(mine, j.c.state.in_(["approved", "auto_approved", "queued", "executing"]))
            ).scalar_one()
        if busy == 0:
            break
        time.sleep(0.2)
    with cluster.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(j).where(mine)).scalar_one()
        done, first, last = conn.execute(
            select(func.count(), func.min(j.c.created_at), func.max(j.c.updated_at)).where(
                mine, j.c.state == "reconciled"
            )
        ).one()
    span = (last - first).total_seconds() if done else 0.0
    return {
        "burst_changes": int(total),
        "executed": int(done),
        "changes_per_s": round(done / span, 2) if span > 0 else 0.0,
    }


def run(
    pg_url: str, replicas: int, rates: list[float], seconds: float, burst: int
) -> dict[str, Any]:
    """One cluster size: every rate step, then the change throughput."""
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(pg_url, replicas, Path(tmp))
        try:
            step(cluster, 2, 2, 0)  # warm-up: connections, caches, auth.test
            burst_result = change_burst(cluster, burst)  # first, on an idle cluster
            steps = []
            index = 1000
            for rate in rates:
                steps.append(step(cluster, rate, seconds, index))
                index += int(rate * seconds)
                print(json.dumps({"replicas": replicas, **steps[-1]}), file=sys.stderr)
                if not steps[-1]["sustained"]:
                    break
            ok = [s["rate"] for s in steps if s["sustained"]]
            return {
                "replicas": replicas,
                "sustained_events_per_s": max(ok) if ok else 0.0,
                "steps": steps,
                **burst_result,
            }
        finally:
            cluster.close()


def main() -> None:
    """Parse arguments, run each cluster size, print the summary."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    p.add_argument("--rates", type=float, nargs="+", default=[5, 10, 20, 40, 80])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--burst", type=int, default=120, help="restart requests sent at once")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    pg_url = os.environ.get("OPSHAND_BENCH_POSTGRES_URL") or os.environ.get(
        "OPSHAND_TEST_POSTGRES_URL"
    )
    if not pg_url:
        raise SystemExit("set OPSHAND_TEST_POSTGRES_URL (or OPSHAND_BENCH_POSTGRES_URL)")
    results = [run(pg_url, n, a.rates, a.seconds, a.burst) for n in a.replicas]
    if a.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(
            f"{r['replicas']} replica(s): {r['sustained_events_per_s']:g} events/s sustained "
            f"(ack p99 <= {ACK_TARGET_MS:g} ms, all answered); "
            f"burst of {r['burst_changes']} changes: {r['executed']} executed, "
            f"{r['changes_per_s']:g} changes/s"
        )
    if len(results) > 1 and results[0]["sustained_events_per_s"] and results[0]["changes_per_s"]:
        first, last = results[0], results[-1]
        e = last["sustained_events_per_s"] / first["sustained_events_per_s"]
        c = last["changes_per_s"] / first["changes_per_s"]
        print(
            f"scaling {first['replicas']} -> {last['replicas']}: "
            f"x{e:.2f} events/s, x{c:.2f} changes/s"
        )


if __name__ == "__main__":
    main()
