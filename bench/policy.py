"""Benchmark: one policy decision with the example policy.

Measures ``Policy.decide`` (rules compiled once at load, input converted to CEL once per
decision, only the target fields rules read) against three baselines: the same without target
field pruning, passing a plain dict to every program (the input is converted once per rule),
and compiling every rule on every call. Prints a table of p50/p99 per input
shape and the ratios; ``--json`` prints the same figures as JSON.

    .venv/bin/python bench/policy.py [--iterations 2000] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cel

ROOT = Path(__file__).resolve().parents[1]
# bench/twin.py sits beside this file: drop bench/ from the path so it cannot shadow the package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from agent.policy import Policy, PolicyInput, load_policy

SHAPES: dict[str, dict[str, Any]] = {
    "routine dev restart": {
        "action": "service.restart",
        "targets": [{"id": f"service:web-{i}", "kind": "service", "env": "dev"} for i in range(3)],
    },
    "prod reboot, collateral": {
        "action": "host.reboot",
        "targets": [{"id": "host:db-prod-01", "kind": "host", "env": "prod"}],
        "blast_radius": {"intended": 1, "collateral": 12, "critical_collateral": 2},
        "invariants": {"warn": 1, "failed": ["backup_recent"]},
    },
    "patch 200 hosts": {
        "action": "patch.apply",
        "targets": [
            {"id": f"host:h{i}", "kind": "host", "env": "prod" if i % 4 else "dev"}
            for i in range(200)
        ],
    },
}


def _time(fn: Callable[[], object], iterations: int) -> list[float]:
    for _ in range(min(100, iterations)):
        fn()  # warm-up
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6


def _plain_dict(policy: Policy, policy_input: PolicyInput) -> None:
    data = {"input": policy_input.to_cel()}
    for rule in policy.rules:
        rule.program.execute(data)


def _compile_per_call(policy: Policy, policy_input: PolicyInput) -> None:
    data = {"input": policy_input.to_cel()}
    for rule in policy.rules:
        cel.compile(rule.when).execute(data)


def run(iterations: int) -> list[dict[str, Any]]:
    """Measure every input shape; returns one row of figures (microseconds) per shape."""
    policy = load_policy(ROOT / "examples" / "policy.yaml")
    unpruned = dataclasses.replace(policy, target_fields=None)
    rows = []
    for name, data in SHAPES.items():
        policy_input = PolicyInput.from_partial(data)
        decide = _time(lambda pi=policy_input: policy.decide(pi), iterations)
        full = _time(lambda pi=policy_input: unpruned.decide(pi), max(iterations // 4, 50))
        plain = _time(lambda pi=policy_input: _plain_dict(policy, pi), max(iterations // 4, 50))
        compiled = _time(
            lambda pi=policy_input: _compile_per_call(policy, pi), max(iterations // 10, 20)
        )
        p50 = _pct(decide, 0.5)
        rows.append(
            {
                "shape": name,
                "rules": len(policy.rules),
                "decide_p50_us": round(p50, 1),
                "decide_p99_us": round(_pct(decide, 0.99), 1),
                "decide_mean_us": round(statistics.fmean(decide) * 1e6, 1),
                "all_fields_p50_us": round(_pct(full, 0.5), 1),
                "plain_dict_p50_us": round(_pct(plain, 0.5), 1),
                "compile_per_call_p50_us": round(_pct(compiled, 0.5), 1),
                "ratio_plain_dict": round(_pct(plain, 0.5) / p50, 1),
                "ratio_compile_per_call": round(_pct(compiled, 0.5) / p50, 1),
                "budget_p50_us": 1000,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'input shape':26} {'p50 us':>8} {'p99 us':>8} {'all fields':>11} {'dict/rule':>10} "
        f"{'compile':>10} {'x dict':>7} {'x compile':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['shape']:26} {r['decide_p50_us']:8.1f} {r['decide_p99_us']:8.1f} "
            f"{r['all_fields_p50_us']:11.1f} {r['plain_dict_p50_us']:10.1f} "
            f"{r['compile_per_call_p50_us']:10.1f} "
            f"{r['ratio_plain_dict']:7.1f} {r['ratio_compile_per_call']:10.1f}"
        )
    lines.append(
        f"({rows[0]['rules']} rules; baselines are p50 us; x = baseline p50 / decide p50; "
        "budget p50 <= 1000 us per decision)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    rows = run(args.iterations)
    print(json.dumps(rows, indent=2) if args.json else _table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
