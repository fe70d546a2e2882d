"""Idempotency keys carry the installation, so two installations (or a restored database)
sharing one vendor tenant never send the vendor the same key for different work."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from adapters.signals import parse_alertmanager
from agent.execution import idempotency_key, target_table
from tests.agent.autonomy.world import ROOT, TEAM, make_auto_world


def test_key_names_installation_change_and_target_and_is_fresh_each_time() -> None:
    a = idempotency_key("T0ONE.abcd1234", 42, "host:db-01")
    b = idempotency_key("T0ONE.abcd1234", 42, "host:db-01")
    assert a.startswith("T0ONE.abcd1234:CR-42:") and a.endswith(":host:db-01")
    # the same change number again (a restored database) makes a different key
    assert a != b
    assert idempotency_key("T0TWO.ffff0000", 42, "host:db-01").startswith("T0TWO.ffff0000:")
    long = idempotency_key("T0ONE.abcd1234", 7, "service:" + "x" * 300)
    assert len(long) <= 128 and long.startswith("T0ONE.abcd1234:CR-7:")


def test_executed_change_keys_carry_this_installation(engine: Engine, tmp_path: Path) -> None:
    w = make_auto_world(engine, tmp_path)
    [sig] = parse_alertmanager(
        (ROOT / "examples/signals/alertmanager_portal_down.json").read_bytes()
    )
    out = w.loop.handle(sig)
    assert out.proposal is not None and out.proposal.status == "auto"
    w.ops.drain()
    lineage, _ = w.ops.store.meta()
    with engine.connect() as conn:
        keys = [r[0] for r in conn.execute(select(target_table.c.idempotency_key))]
    assert keys and all(k.startswith(f"{TEAM}.{lineage[:8]}:CR-") for k in keys)
