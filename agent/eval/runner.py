"""The agent's evaluation suite: scenario files in, pass rate and figures out.

A scenario (one YAML file under ``evals/``) holds a request, who asks, optional set-up (twin facts
planted with injected text, extra entities, earlier proposals, earlier turns in the thread) and
what must happen: tool calls, facts in the answer, the decision, and targets no plan may hold.
Each case runs in a fresh world (sample estate, sim adapters, example policy, SQLite) through the
real :class:`~agent.chat.loop.Agent`, with any chat model: the offline model,
:class:`ScriptedChatModel`
(the loop's mechanics; injection cases script the model to obey the injection), or a real one.
"""

from __future__ import annotations

import atexit
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.chat import Agent, AgentReply
from agent.eval.world import EvalWorld, ScriptedChatModel, build_world
from twin.graph import UnknownEntity

__all__ = [
    "CaseResult",
    "EvalReport",
    "Scenario",
    "ScenarioError",
    "load_scenarios",
    "run_case",
    "run_suite",
    "scripted_factory",
]

Decision = Literal["auto", "consent", "deny", "refused", "error", "none"]


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and the field."""


class _F(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Plant(_F):
    """Attributes merged into an existing twin entity (where injected text lives)."""

    entity: str
    attrs: dict[str, Any]


class NewEntity(_F):
    """An extra entity (a ticket with an injected body, an identity an attacker targets)."""

    id: str
    kind: str
    name: str
    attrs: dict[str, Any] = Field(default_factory=dict)


class Proposal(_F):
    """A change proposed before the turn (for status, why and pending questions)."""

    action: str
    targets: list[str]
    params: dict[str, Any] = Field(default_factory=dict)
    requester: str = "approver"


class Setup(_F):
    plant: list[Plant] = Field(default_factory=list)
    add: list[NewEntity] = Field(default_factory=list)
    proposals: list[Proposal] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list)
    """Earlier messages of the same person in the same thread, asked first."""


class Call(_F):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Expect(_F):
    tools: list[str] = Field(default_factory=list)
    """Tool names that must be called, in this order (other calls may come between)."""
    args: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per tool: arguments its first call must have (entities compared after resolving)."""
    answer_contains: list[str] = Field(default_factory=list)
    answer_excludes: list[str] = Field(default_factory=list)
    decision: Decision | None = None
    forbidden_targets: list[str] = Field(default_factory=list)
    """Entity ids no change (proposed, refused by policy or run) may hold."""
    capped: str | None = None


class Scenario(_F):
    """One evaluation case (see the module docstring)."""

    id: str
    category: str
    request: str
    requester: Literal["oncall", "approver", "admin", "stranger"] = "oncall"
    setup: Setup = Field(default_factory=Setup)
    expect: Expect
    scripted: list[Call] | None = None
    """The calls a scripted model makes (default: the expected tools with ``expect.args``).
    Injection cases script a model that obeys the planted text."""
    scripted_decision: Decision | None = None
    """The decision with the scripted model, when it differs (an obeyed injection: refused)."""
    scripted_capped: str | None = None
    """The cap a scripted model hits (its script loops on tools)."""
    max_tool_calls: int = 8
    offline_gap: str | None = None
    """A form the offline model is known not to handle yet, and why (shown, never hidden)."""


def load_scenarios(folder: Path) -> list[Scenario]:
    """Every ``*.yaml`` scenario under ``folder``, sorted by id.

    Raises:
        ScenarioError: A file is not a valid scenario, or two share an id.
    """
    out: dict[str, Scenario] = {}
    for path in sorted(folder.rglob("*.yaml")):
        try:
            sc = Scenario.model_validate(yaml.safe_load(path.read_text()))
        except (ValidationError, yaml.YAMLError) as exc:
            raise ScenarioError(f"{path}: {exc}") from exc
        if sc.id in out:
            raise ScenarioError(f"{path}: duplicate scenario id '{sc.id}'")
        out[sc.id] = sc
    return [out[k] for k in sorted(out)]


@dataclass
class CaseResult:
    """How one scenario went."""

    id: str
    category: str
    passed: bool
    failures: list[str]
    tool_calls: int
    tokens: int
    seconds: float
    max_result_tokens: int
    decision: Decision
    answer: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass
class EvalReport:
    """The suite's results and figures."""

    model: str
    cases: list[CaseResult]

    @property
    def passed(self) -> int:
        """Cases that passed."""
        return sum(c.passed for c in self.cases)

    def by_category(self) -> dict[str, tuple[int, int]]:
        """Category -> (passed, total)."""
        out: dict[str, tuple[int, int]] = {}
        for c in self.cases:
            p, t = out.get(c.category, (0, 0))
            out[c.category] = (p + int(c.passed), t + 1)
        return dict(sorted(out.items()))

    def summary(self) -> dict[str, Any]:
        """Totals: pass rate, median tool calls, tokens, latency, largest tool result."""
        n = len(self.cases) or 1
        return {
            "model": self.model,
            "cases": len(self.cases),
            "passed": self.passed,
            "pass_rate": round(self.passed / n, 4),
            "median_tool_calls": statistics.median([c.tool_calls for c in self.cases] or [0]),
            "total_tool_calls": sum(c.tool_calls for c in self.cases),
            "total_tokens": sum(c.tokens for c in self.cases),
            "mean_seconds": round(sum(c.seconds for c in self.cases) / n, 4),
            "max_result_tokens": max([c.max_result_tokens for c in self.cases] or [0]),
            "by_category": {
                k: {"passed": p, "total": t} for k, (p, t) in self.by_category().items()
            },
        }

    def to_json(self) -> dict[str, Any]:
        """Summary and every case."""
        return {"summary": self.summary(), "cases": [c.to_json() for c in self.cases]}


ModelFactory = Callable[[EvalWorld, Scenario], BaseChatModel]


def scripted_factory(world: EvalWorld, sc: Scenario) -> BaseChatModel:
    """A scripted model that makes the scenario's calls, then answers with the results' statuses."""
    calls = sc.scripted
    if calls is None:
        calls = [Call(name=t, args=sc.expect.args.get(t, {})) for t in sc.expect.tools]
    steps: list[Any] = [[c.model_dump()] for c in calls]
    steps.append(ScriptedChatModel.SUMMARY)
    return ScriptedChatModel(script=steps)


def _decision(reply: AgentReply) -> Decision:
    if reply.proposals:
        state = reply.proposals[-1].state
        if state == "awaiting_consent":
            return "consent"
        if state == "denied":
            return "deny" if reply.proposals[-1].decision else "error"
        return "auto"
    statuses = [c["status"] for c in reply.tool_calls if c["name"] == "propose_change"]
    if "denied" in statuses:
        return "refused"
    return "error" if "error" in statuses else "none"


def _same(world: EvalWorld, want: Any, got: Any) -> bool:
    """Argument equality, with entity names and ids compared by what they resolve to."""
    if isinstance(want, list) and isinstance(got, list):
        return sorted(_key(world, w) for w in want) == sorted(_key(world, g) for g in got)
    if isinstance(want, dict) and isinstance(got, dict):
        return all(k in got and _same(world, v, got[k]) for k, v in want.items())
    return _key(world, want) == _key(world, got)


def _key(world: EvalWorld, value: Any) -> str:
    text = str(value).strip()
    if isinstance(value, str):
        try:
            return world.ops.graph.resolve(text).id
        except UnknownEntity:
            return text.casefold()
    return text


def _check(world: EvalWorld, sc: Scenario, reply: AgentReply, scripted: bool) -> list[str]:
    fails: list[str] = []
    ex = sc.expect
    want_decision = (sc.scripted_decision or ex.decision) if scripted else ex.decision
    names = [c["name"] for c in reply.tool_calls]
    it = iter(names)
    if not all(any(n == want for n in it) for want in ex.tools):
        fails.append(f"tools: wanted {ex.tools} in order, got {names}")
    for tool, want in ex.args.items():
        first = next((c for c in reply.tool_calls if c["name"] == tool), None)
        if first is None or not _same(world, want, first["args"]):
            fails.append(f"args of {tool}: wanted {want}, got {first and first['args']}")
    decision = _decision(reply)
    if want_decision is not None and decision != want_decision:
        fails.append(f"decision: wanted {want_decision}, got {decision}")
    want_cap = (sc.scripted_capped or ex.capped) if scripted else ex.capped
    if want_cap != reply.capped:
        fails.append(f"capped: wanted {want_cap}, got {reply.capped}")
    forbidden = set(ex.forbidden_targets)
    for ch in world.ops.journal.list(limit=500):
        held = forbidden & set(ch.targets)
        if held:
            fails.append(f"{ch.ref} ({ch.action}, {ch.state}) holds forbidden {sorted(held)}")
    if not scripted:  # a scripted model's answer is canned; a real model's is checked
        low = reply.text.casefold()
        fails += [f"answer lacks {s!r}" for s in ex.answer_contains if s.casefold() not in low]
        fails += [f"answer has {s!r}" for s in ex.answer_excludes if s.casefold() in low]
    return fails


# A RAM disk where there is one: each case copies a seeded database and drops it after.
_RAM = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 (our own mkdtemp)
_TEMPLATES: dict[str, Path] = {}


def _template(setup: Setup, endpoints: int) -> Path:
    """A seeded world folder per distinct set-up (plants and extra entities), built once."""
    key = json.dumps([setup.model_dump(include={"plant", "add"}), endpoints], sort_keys=True)
    if key not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="opshand-eval-template-", dir=_RAM))
        atexit.register(shutil.rmtree, folder, True)
        world = build_world(
            folder,
            plants=[(p.entity, p.attrs) for p in setup.plant],
            extra=[e.model_dump() for e in setup.add],
            endpoints=endpoints,
        )
        world.close()
        _TEMPLATES[key] = folder
    return _TEMPLATES[key]


def run_case(
    sc: Scenario, model_factory: ModelFactory, *, scripted: bool = False, endpoints: int = 60
) -> CaseResult:
    """Run one scenario in a fresh world and check it (``scripted``: the answer is not checked
    and :attr:`Scenario.scripted_decision` applies)."""
    with tempfile.TemporaryDirectory(prefix="opshand-eval-", dir=_RAM) as tmp:
        shutil.copytree(_template(sc.setup, endpoints), tmp, dirs_exist_ok=True)
        world = build_world(Path(tmp), endpoints=endpoints)
        try:
            for p in sc.setup.proposals:
                world.propose(p.action, p.targets, p.params, who=p.requester)
            agent = Agent(
                world.ops,
                model_factory(world, sc),
                redactor=world.redactor,
                max_tool_calls=sc.max_tool_calls,
            )
            who = world.user(sc.requester)
            # Earlier turns build the thread's memory; a scripted model only acknowledges them.
            before = Agent(
                world.ops,
                ScriptedChatModel(script=["Noted."]) if scripted else model_factory(world, sc),
                redactor=world.redactor,
            )
            for earlier in sc.setup.history:
                before.ask(earlier, requester=who, channel="C0EVAL", thread_ts="1.0")
            started = time.perf_counter()
            reply = agent.ask(sc.request, requester=who, channel="C0EVAL", thread_ts="1.0")
            seconds = time.perf_counter() - started
            world.ops.drain()  # auto-approved work runs, so injected targets would show here
            fails = _check(world, sc, reply, scripted)
        finally:
            world.close()
    return CaseResult(
        id=sc.id,
        category=sc.category,
        passed=not fails,
        failures=fails,
        tool_calls=len(reply.tool_calls),
        tokens=reply.tokens,
        seconds=round(seconds, 4),
        max_result_tokens=max([int(c.get("tokens", 0)) for c in reply.tool_calls] or [0]),
        decision=_decision(reply),
        answer=reply.text,
        calls=reply.tool_calls,
    )


def run_suite(
    scenarios: Sequence[Scenario],
    model_factory: ModelFactory,
    *,
    model_name: str,
    scripted: bool = False,
    on_case: Callable[[CaseResult], None] | None = None,
) -> EvalReport:
    """Run every scenario; ``on_case`` sees each result as it finishes (progress output)."""
    results = []
    for sc in scenarios:
        res = run_case(sc, model_factory, scripted=scripted)
        results.append(res)
        if on_case is not None:
            on_case(res)
    return EvalReport(model=model_name, cases=results)
