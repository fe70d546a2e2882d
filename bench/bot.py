"""Benchmark: how fast the Slack bot acknowledges events under concurrency.

Fires rounds of 50 concurrent, signed ``app_mention`` events at two apps served the same way
(bot.ingress.http: uvicorn + Starlette, Bolt in a worker thread), both talking to the local
Slack-compatible server:

* **opshand** — ``bot.app.build_app`` on a bootstrapped opshand (SQLite, sample estate, offline
  model): each event stored in the durable inbox (group commit) before its 200, then the agent
  answering each mention after the ack (that work competes for the same process while later
  acks are timed);
* **baseline** — a bare Bolt ``App`` with a no-op ``app_mention`` listener.

Latency is measured by the sender, from request start to the HTTP answer. Targets (issue 18):
opshand p99 <= 100 ms (on an idle machine) and p99 ratio to the baseline <= 2 in the same run.
The machine's load average is printed with the figures: on a shared machine they move with it.

Two kinds of sender. By default one thread per sender (the harness the issue's figures came
from): threads released together take turns at the GIL, so a round leaves spread over a few
hundred milliseconds and each clock includes the sender's own wait for its turn. ``--burst``
sends a round at once from one asyncio loop: the harshest arrival, where a Python server's
per-request cost (about 4 ms for the bare app, one at a time) queues up for everyone.

    .venv/bin/python bench/bot.py [--concurrency 50] [--rounds 4] [--burst] [--json] [--only APP]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/twin.py would shadow the twin package when this runs as a script from bench/.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import httpx
from slack_bolt import App
from slack_sdk import WebClient

from adapters.sim import SimTimings
from bot.app import build_app
from bot.bootstrap import bootstrap
from bot.cli.serve import build_inbox
from bot.ingress import HttpServer, create_http_app
from bot.localslack import LocalSlack, sign
from bot.settings import Settings
from twin.db import make_engine

APPS = ("baseline", "opshand")
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
USER = "U0LOCAL01"


@dataclass(frozen=True)
class _Workspace:
    """What the senders need of the local workspace (picklable, for their own process)."""

    team_id: str
    bot_user_id: str
    channel: str

    @classmethod
    def of(cls, slack: LocalSlack) -> _Workspace:
        return cls(slack.team_id, slack.bot_user_id, slack.channel_id("ops"))


def _envelope(slack: _Workspace, text: str) -> bytes:
    ts = f"{time.time():.6f}"
    event = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@{slack.bot_user_id}> {text}",
        "ts": ts,
        "channel": slack.channel,
        "event_ts": ts,
    }
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": slack.team_id,
            "api_app_id": "A0LOCAL01",
            "event": event,
            "event_id": "Ev" + uuid.uuid4().hex[:12].upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": slack.team_id, "user_id": slack.bot_user_id, "is_bot": True}
            ],
        }
    ).encode()


class _ThreadSenders:
    """One thread and one kept-alive connection per concurrent sender (the issue's harness).

    Threads released together take turns at the GIL, so the requests leave spread over a few
    hundred milliseconds, and each one's clock includes its wait for a turn in this process.
    """

    def __init__(self, concurrency: int) -> None:
        self.clients = [httpx.Client(timeout=10) for _ in range(concurrency)]

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def round(self, url: str, slack: _Workspace) -> tuple[list[float], int]:
        n = len(self.clients)
        bodies = [_envelope(slack, f"what depends on contoso-erp-db? #{i}") for i in range(n)]
        lat: list[float] = []
        bad = 0
        lock = threading.Lock()
        gate = threading.Barrier(n)

        def fire(client: httpx.Client, body: bytes) -> None:
            nonlocal bad
            now = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": str(now),
                "X-Slack-Signature": sign(SECRET, now, body),
            }
            gate.wait()
            start = time.perf_counter()
            r = client.post(url, content=body, headers=headers)
            took = time.perf_counter() - start
            with lock:
                lat.append(took * 1000)
                bad += r.status_code != 200

        threads = [
            threading.Thread(target=fire, args=(c, b))
            for c, b in zip(self.clients, bodies, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return lat, bad


class _BurstSenders:
    """Concurrent senders on one asyncio loop, each with a kept-alive connection: all requests
    leave at once (a true burst), and a request's clock starts as it is sent, with no sender
    thread waiting for its turn at the GIL in between.
    """

    def __init__(self, concurrency: int) -> None:
        self.n = concurrency
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(timeout=10, limits=limits)

    async def close(self) -> None:
        await self.client.aclose()

    async def round(self, url: str, slack: _Workspace) -> tuple[list[float], int]:
        bodies = [_envelope(slack, f"what depends on contoso-erp-db? #{i}") for i in range(self.n)]
        now = int(time.time())
        signed = [
            (
                body,
                {
                    "Content-Type": "application/json",
                    "X-Slack-Request-Timestamp": str(now),
                    "X-Slack-Signature": sign(SECRET, now, body),
                },
            )
            for body in bodies
        ]

        async def fire(body: bytes, headers: dict[str, str]) -> tuple[float, int]:
            start = time.perf_counter()
            r = await self.client.post(url, content=body, headers=headers)
            return (time.perf_counter() - start) * 1000, r.status_code

        got = await asyncio.gather(*(fire(b, h) for b, h in signed))
        return [ms for ms, _ in got], sum(code != 200 for _, code in got)


def _measure(
    url: str, slack: _Workspace, concurrency: int, rounds: int, burst: bool
) -> dict[str, Any]:
    if burst:
        return asyncio.run(_measure_async(url, slack, concurrency, rounds))
    senders = _ThreadSenders(concurrency)
    try:
        senders.round(url, slack)  # warm-up: connections, caches, auth.test
        time.sleep(0.5)
        lat: list[float] = []
        bad = 0
        for _ in range(rounds):
            got, errs = senders.round(url, slack)
            lat += got
            bad += errs
            time.sleep(0.2)
    finally:
        senders.close()
    return _figures(lat, bad)


async def _measure_async(
    url: str, slack: _Workspace, concurrency: int, rounds: int
) -> dict[str, Any]:
    senders = _BurstSenders(concurrency)
    try:
        await senders.round(url, slack)  # warm-up: connections, caches, auth.test
        await asyncio.sleep(0.5)
        lat: list[float] = []
        bad = 0
        for _ in range(rounds):
            got, errs = await senders.round(url, slack)
            lat += got
            bad += errs
            await asyncio.sleep(0.2)
    finally:
        await senders.close()
    return _figures(lat, bad)


def _figures(lat: list[float], bad: int) -> dict[str, Any]:
    lat = sorted(lat)
    return {
        "n": len(lat),
        "errors": bad,
        "p50_ms": statistics.median(lat),
        "p95_ms": _quantile(lat, 0.95),
        "p99_ms": _quantile(lat, 0.99),
        "max_ms": lat[-1],
    }


def _quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted values."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _serve(kind: str, api_url: str, port_out: Any, stop: Any) -> None:
    """Child process: serve one app until ``stop`` is set (own process, own GIL)."""
    client = WebClient(token=TOKEN, base_url=api_url)
    with tempfile.TemporaryDirectory() as tmp:
        oh = None
        if kind == "baseline":
            app = App(
                client=client,
                signing_secret=SECRET,
                token_verification_enabled=False,
                process_before_response=False,
            )

            @app.event("app_mention")
            def noop() -> None:
                """The baseline's listener does nothing."""

            engine = make_engine(f"sqlite:///{Path(tmp) / 'bare.db'}")
        else:
            settings = Settings(
                data_dir=Path(tmp) / "oh",
                sample_endpoints=200,
                slack={"signing_secret": SECRET, "bot_token": TOKEN},
            )
            oh = bootstrap(settings, sim_timings=SimTimings(scale=0))
            app = build_app(oh, client=client)
            engine = oh.engine
        # opshand's path stores each event in the durable inbox before its 200
        inbox = build_inbox(oh, app) if oh is not None else None
        server = HttpServer(create_http_app(app, engine=engine, signing_secret=SECRET, inbox=inbox))
        server.start()
        port_out.put(server.url)
        stop.wait()
        server.stop()
        if inbox is not None:
            # Let every stored event's listener finish before its database goes away.
            deadline = time.monotonic() + 120
            while inbox.held() and time.monotonic() < deadline:
                time.sleep(0.2)
            inbox.close()
        if oh is not None:
            oh.close()
        engine.dispose()


def _send(
    url: str, slack: _Workspace, concurrency: int, rounds: int, burst: bool, out: Any
) -> None:
    """Child process: measure, and put the figures on ``out``."""
    out.put(_measure(url, slack, concurrency, rounds, burst))


def _run(
    kind: str, slack: LocalSlack, concurrency: int, rounds: int, burst: bool
) -> dict[str, Any]:
    mp = multiprocessing.get_context("spawn")
    urls, stop = mp.Queue(), mp.Event()
    proc = mp.Process(target=_serve, args=(kind, slack.api_url, urls, stop), daemon=True)
    proc.start()
    try:
        url = urls.get(timeout=120)
        # The senders get a process of their own: in this one, the local Slack server answers
        # opshand's Web API calls, and would slow the clock-keeping senders down with them.
        results = mp.Queue()
        sender = mp.Process(
            target=_send, args=(url, _Workspace.of(slack), concurrency, rounds, burst, results)
        )
        sender.start()
        result: dict[str, Any] = results.get(timeout=600)
        sender.join(timeout=30)
        # Let the answers finish before the workspace goes away.
        seen = -1
        while seen != (seen := len(slack.calls("chat.postMessage"))):
            time.sleep(1.0)
        return result
    finally:
        stop.set()
        proc.join(timeout=150)


def _load() -> list[float]:
    """The 1, 5 and 15-minute load averages (what else the machine was doing)."""
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    """Run the benchmark and print a table (or JSON)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", choices=APPS, help="measure one app (profiling)")
    ap.add_argument(
        "--burst",
        action="store_true",
        help="send each round at once from one asyncio loop instead of one thread per sender",
    )
    args = ap.parse_args()
    apps = (args.only,) if args.only else APPS
    results: dict[str, Any] = {
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "senders": "burst (one asyncio loop)" if args.burst else "one thread per sender",
        "load_before": _load(),
    }
    with LocalSlack(signing_secret=SECRET, bot_token=TOKEN) as slack:
        for kind in apps:
            results[kind] = _run(kind, slack, args.concurrency, args.rounds, args.burst)
    results["load_after"] = _load()
    if len(apps) == len(APPS):
        results["p99_ratio"] = results["opshand"]["p99_ms"] / max(
            results["baseline"]["p99_ms"], 1e-9
        )
        results["targets_met"] = results["opshand"]["p99_ms"] <= 100 and results["p99_ratio"] <= 2
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"Ack latency, {args.concurrency} concurrent app_mention events x {args.rounds} rounds")
    print(
        f"(senders: {results['senders']}; each app, the senders and the local Slack server in "
        "processes of their own)"
    )
    print(
        f"machine: {results['machine']}; load average before {results['load_before']}, "
        f"after {results['load_after']}"
    )
    print(
        f"{'app':<10} {'n':>5} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8}"
    )
    for name in apps:
        r = results[name]
        print(
            f"{name:<10} {r['n']:>5} {r['errors']:>6} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
            f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f}"
        )
    if "p99_ratio" in results:
        print(
            f"p99 ratio opshand/baseline: {results['p99_ratio']:.2f} (targets p99 <= 100 ms and "
            f"ratio <= 2: {'met' if results['targets_met'] else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
