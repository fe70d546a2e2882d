"""A worker process for the crash and race tests: ``python -m tests.agent.execution.worker_main``.

It builds the opshand core over an existing database (never seeding it), acts either on an
estate served by the test process (``--estate``) or on its own sim sharing a SQLite call store
(``--store``), and runs production's worker loop (``Operations.worker``) until nothing is queued
or executing. ``--crash-at STEP`` makes it
SIGKILL itself at that executor step boundary (the ``--nth`` time it is reached).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from adapters.sim import SqliteCallStore
from agent.execution import STEPS
from tests.agent.execution.harness import build, connect_estate, sim_for
from tests.estate import small_estate
from twin.db import make_engine
from twin.model import utcnow


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--schema", default="")
    p.add_argument("--tmp", required=True)
    p.add_argument("--estate", default="")
    p.add_argument("--authkey", default="")
    p.add_argument("--store", default="")
    p.add_argument("--crash-at", default="", choices=["", *STEPS])
    p.add_argument("--nth", type=int, default=1)
    p.add_argument("--worker-id", default="w")
    p.add_argument("--lease", type=float, default=60.0)
    p.add_argument("--deadline", type=float, default=60.0)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--skew", type=float, default=0.0, help="seconds added to the clock")
    a = p.parse_args(argv)
    kw = {"connect_args": {"options": f"-csearch_path={a.schema}"}} if a.schema else {}
    engine = make_engine(a.db, **kw)
    seen: Counter[str] = Counter()

    def hook(step: str) -> None:
        seen[step] += 1
        if step == a.crash_at and seen[step] == a.nth:
            os.kill(os.getpid(), signal.SIGKILL)

    sim = None
    adapters = None
    if a.estate:
        host, port = a.estate.rsplit(":", 1)
        adapters = connect_estate((host, int(port)), bytes.fromhex(a.authkey))
    else:
        ents, rels = small_estate()
        sim = sim_for(ents, rels, store=SqliteCallStore(a.store))
    w = build(
        engine,
        Path(a.tmp),
        adapters=adapters,
        sim=sim,
        seed=False,
        worker_id=a.worker_id,
        step_hook=hook,
        lease=timedelta(seconds=a.lease),
        sleep=time.sleep,
        checkpoint_every=0,
        now=lambda: utcnow() + timedelta(seconds=a.skew),
    )
    # Production's loop (Operations.worker: consent expiry, undecided changes, the breaker,
    # announcements and replanning around the executor), not a test double of it.
    stats = w.ops.worker(batch=a.batch, idle_sleep=0.05).run(
        until_idle=True, deadline=time.monotonic() + a.deadline
    )
    print(
        json.dumps(
            {
                "runs": stats.runs,
                "lost": stats.lost_leases,
                "errors": stats.errors,
                "steps": dict(seen),
            }
        )
    )
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
