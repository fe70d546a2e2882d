"""Start real ``opshand serve`` processes (replicas) for scenario tests and benchmarks.

A replica is the production command, ``python -m bot.cli serve`` (what the ``opshand`` console
script runs), configured only through ``OPSHAND_*`` environment variables: no test hooks. Every
replica of a cluster shares one database, one local Slack Web API and one SQLite file for the
simulated estate's call records, so "reached the sim once" can be counted across processes.
The inherited environment's ``OPSHAND_*`` variables are dropped, so a developer's own settings
never leak into a replica.

Used by ``tests/scenarios/test_replicas.py`` and ``bench/load.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from bot.localslack import LocalSlack

__all__ = [
    "BOT_TOKEN",
    "SIGNING_SECRET",
    "ClusterConfig",
    "Replica",
    "free_port",
    "mention_event",
    "replica_env",
    "serve_command",
    "signed_headers",
    "start_replica",
    "stop_replicas",
    "wait_ready",
]

SIGNING_SECRET = "replica-signing-secret-0001"
"""The Slack signing secret every replica (and the local Slack) uses."""
BOT_TOKEN = "xoxb-replica-0001"
"""The bot token every replica presents to the local Slack Web API."""
ROOT = Path(__file__).resolve().parents[2]


def serve_command() -> list[str]:
    """``opshand serve`` as a command line for this interpreter.

    ``python -m bot.cli`` runs ``bot.cli:main``, the function the ``opshand`` console script
    (``[project.scripts]`` in pyproject) calls; using the running interpreter avoids depending
    on where the venv put its scripts.
    """
    return [sys.executable, "-m", "bot.cli", "serve"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """What every replica of one cluster shares."""

    database_url: str
    """The shared database (PostgreSQL, a schema of its own)."""
    slack_api_url: str
    """The local Slack's Web API base URL."""
    sim_calls_file: Path
    """The SQLite file holding the simulated estate's call records, shared by the replicas."""
    sim_scale: float = 0.05
    """Sim durations multiplier (0.05 makes a service restart take ~1.75 s)."""
    lease_seconds: int = 60
    """Executor claim lease: how soon a dead replica's change is taken over."""
    sample_endpoints: int = 200
    """Size of the sample estate the first replica seeds."""
    env: Mapping[str, str] = field(default_factory=dict)
    """More ``OPSHAND_*`` variables (e.g. the inbox sweep, the digest time)."""


def replica_env(cfg: ClusterConfig, *, name: str, port: int, data_dir: Path) -> dict[str, str]:
    """The environment of one replica: the parent's, minus its ``OPSHAND_*``, plus the cluster's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSHAND_")}
    env.update(
        {
            "OPSHAND_DATA_DIR": str(data_dir),
            "OPSHAND_DATABASE_URL": cfg.database_url,
            "OPSHAND_REPLICA_ID": name,
            "OPSHAND_LEASE_SECONDS": str(cfg.lease_seconds),
            "OPSHAND_SAMPLE_ENDPOINTS": str(cfg.sample_endpoints),
            "OPSHAND_SIM_SCALE": str(cfg.sim_scale),
            "OPSHAND_SIM_CALLS_FILE": str(cfg.sim_calls_file),
            "OPSHAND_LOG_FORMAT": "json",
            "OPSHAND_SLACK__MODE": "http",
            "OPSHAND_SLACK__BOT_TOKEN": BOT_TOKEN,
            "OPSHAND_SLACK__SIGNING_SECRET": SIGNING_SECRET,
            "OPSHAND_SLACK__API_URL": cfg.slack_api_url,
            "OPSHAND_SLACK__HOST": "127.0.0.1",
            "OPSHAND_SLACK__PORT": str(port),
            # the one signal source the cluster takes, with the token its Alertmanager sends
            "OPSHAND_SIGNALS__SOURCES": json.dumps(
                {"alertmanager": {"bearer_token": ALERTMANAGER_TOKEN}}
            ),
        }
    )
    env.update(cfg.env)
    return env


ALERTMANAGER_TOKEN = "replica-alertmanager-token"
"""Bearer token the cluster's Alertmanager source is configured with."""


@dataclass
class Replica:
    """One ``opshand serve`` process and where it listens."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    management_port: int = 0
    """Where it answers ``/healthz``, ``/readyz`` and ``/metrics``."""
    dead: bool = False
    """Set when the replica was killed or stopped answering (the balancer skips it)."""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def tail(self, chars: int = 3000) -> str:
        """The end of the replica's log (stdout and stderr)."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def ready(self) -> bool:
        """Whether ``/readyz`` says ready; raises when the process has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"replica {self.name} exited ({self.proc.returncode}):\n{self.tail()}"
            )
        try:
            manage = f"http://127.0.0.1:{self.management_port}"
            return httpx.get(manage + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, claims and leases are left behind."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.dead = True


def start_replica(cfg: ClusterConfig, *, name: str, workdir: Path) -> Replica:
    """Start ``opshand serve`` named ``name``; its data folder and log go under ``workdir``."""
    port = free_port()
    log = workdir / f"{name}.log"
    env = replica_env(cfg, name=name, port=port, data_dir=workdir / name)
    management_port = free_port()
    env["OPSHAND_MANAGEMENT__PORT"] = str(management_port)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            serve_command(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Replica(name, port, proc, log, management_port)


def wait_ready(replicas: Iterable[Replica], timeout: float = 90.0) -> None:
    """Wait until every replica answers ``/readyz`` (the first seeds, the others wait on it)."""
    deadline = time.monotonic() + timeout
    for r in replicas:
        while not r.ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {r.name} not ready in {timeout:g} s:\n{r.tail()}")
            time.sleep(0.1)


def stop_replicas(replicas: Iterable[Replica], timeout: float = 15.0) -> None:
    """SIGTERM every live replica (uvicorn shuts down, ``serve`` closes opshand), then wait."""
    live = [r for r in replicas if r.proc.poll() is None]
    for r in live:
        r.proc.send_signal(signal.SIGTERM)
    for r in live:
        try:
            r.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            r.proc.kill()
            r.proc.wait(timeout=5)


# ---------------------------------------------------------------- events sent to one replica
def mention_event(slack: LocalSlack, user: str, channel: str, text: str) -> tuple[str, bytes]:
    """A person's message stored in the local Slack and its ``app_mention`` envelope.

    For sending to one chosen replica (``LocalSlack`` delivers to its single request URL).
    Returns the message ts (the thread the answer goes to) and the JSON body.
    """
    from bot.localslack import payloads

    ws = slack.workspace
    channel_id = slack.channel_id(channel)
    with ws.lock:
        ts = ws.next_ts()
        ws.add_message(
            channel_id,
            payloads.user_message(
                user_id=user, text=text, ts=ts, thread_ts=None, parent_user_id=None
            ),
        )
    event = {"type": "app_mention", "user": user, "text": text, "ts": ts}
    event |= {"channel": channel_id, "event_ts": ts}
    body = {
        "type": "event_callback",
        "team_id": slack.team_id,
        "api_app_id": "A0LOCAL01",
        "event": event,
        "event_id": "Ev" + uuid.uuid4().hex[:12].upper(),
        "event_time": int(time.time()),
    }
    return ts, json.dumps(body).encode()


def signed_headers(body: bytes) -> dict[str, str]:
    """Slack's request headers for ``body``, signed now with :data:`SIGNING_SECRET`."""
    from bot.localslack import sign

    now = int(time.time())
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(now),
        "X-Slack-Signature": sign(SIGNING_SECRET, now, body),
    }
