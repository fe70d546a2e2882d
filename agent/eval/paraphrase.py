"""The paraphrase corpus: ordinary phrasings of questions and requests, scored per category.

``evals/paraphrase.tsv`` holds one labelled request a line: its split (``train`` or ``heldout``,
the held-out part is never tuned on), its category (``question-health``, ``change-reboot``,
``follow-up``, ``refusal``, ``verb-question``, ``shared-names``...), what must happen, the words,
and optionally earlier messages of the same thread (`` | `` between them). Every row is asked
through the real :class:`~agent.chat.loop.Agent` in one world over the sample estate, each in its
own thread, so the trust guard and the thread's memory take part.

What must happen (``expect``):

- ``call:TOOL;key=value;...``: the first tool called is TOOL with those arguments (entities
  compared after resolving; ``$CR`` is the change the thread's earlier message proposed);
- ``propose:ACTION:TARGET,TARGET``: exactly that change is proposed;
- ``rollback``: the rollback of the thread's change is proposed (``propose_rollback``);
- ``ask``: no tool is called and the answer is a question back, not "I did not understand";
- ``none``: no change and no rollback is proposed (whatever else is answered).

A false authorisation is a proposal (of any change) on a row that did not ask for that change.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from agent.chat import Agent, AgentReply
from agent.eval.world import EvalWorld, build_world
from twin.graph import UnknownEntity

__all__ = [
    "PARAPHRASE_FILE",
    "ParaphraseReport",
    "ParaphraseRow",
    "RowResult",
    "load_paraphrases",
    "run_paraphrases",
]

PARAPHRASE_FILE = Path(__file__).resolve().parents[2] / "evals" / "paraphrase.tsv"
SPLITS = ("train", "heldout")
_NOT_UNDERSTOOD = "did not understand"


@dataclass(frozen=True)
class ParaphraseRow:
    """One labelled request."""

    split: str
    category: str
    expect: str
    text: str
    after: tuple[str, ...] = ()

    @property
    def asks_change(self) -> bool:
        """The row asks for a change (or its undo)."""
        return self.expect.startswith("propose:") or self.expect == "rollback"


@dataclass(frozen=True)
class RowResult:
    """How one row went."""

    row: ParaphraseRow
    passed: bool
    false_authorisation: bool
    why: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "split": self.row.split,
            "category": self.row.category,
            "text": self.row.text,
            "after": list(self.row.after),
            "expect": self.row.expect,
            "passed": self.passed,
            "false_authorisation": self.false_authorisation,
            "why": self.why,
        }


@dataclass
class ParaphraseReport:
    """Every row's result; pass rates per split and per category."""

    results: list[RowResult]

    def by_category(self, split: str) -> dict[str, tuple[int, int]]:
        """Category -> (passed, total) in one split."""
        out: dict[str, tuple[int, int]] = {}
        for r in self.results:
            if r.row.split == split:
                p, t = out.get(r.row.category, (0, 0))
                out[r.row.category] = (p + int(r.passed), t + 1)
        return dict(sorted(out.items()))

    def split_summary(self, split: str) -> dict[str, Any]:
        """Totals of one split, and its categories."""
        rows = [r for r in self.results if r.row.split == split]
        passed = sum(r.passed for r in rows)
        return {
            "rows": len(rows),
            "passed": passed,
            "pass_rate": round(passed / max(len(rows), 1), 4),
            "false_authorisations": sum(r.false_authorisation for r in rows),
            "by_category": {
                k: {"passed": p, "total": t, "pass_rate": round(p / t, 4)}
                for k, (p, t) in self.by_category(split).items()
            },
        }

    def to_json(self) -> dict[str, Any]:
        """Per split totals and categories, and the failed rows."""
        return {
            **{s: self.split_summary(s) for s in SPLITS},
            "failures": [r.to_json() for r in self.results if not r.passed],
        }


def load_paraphrases(path: Path = PARAPHRASE_FILE) -> list[ParaphraseRow]:
    """The corpus rows (``#`` lines are comments).

    Raises:
        ValueError: A line has a bad split or expectation, naming the line.
    """
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 4 or parts[0] not in SPLITS:
            raise ValueError(f"{path}:{n}: want split, category, expect, sentence[, after]")
        split, category, expect, text = parts[:4]
        if not expect.startswith(("call:", "propose:")) and expect not in (
            "rollback",
            "ask",
            "none",
        ):
            raise ValueError(f"{path}:{n}: unknown expectation {expect!r}")
        after = tuple(a.strip() for a in parts[4].split(" | ")) if len(parts) > 4 else ()
        rows.append(ParaphraseRow(split, category, expect, text, after))
    return rows


class _Keys:
    """What a name in an expectation or a call resolves to (an entity id, else the words).

    Names are resolved once a run: entity names do not change while the corpus is asked, and
    resolving them (a fuzzy search of the twin) was a quarter of the run's time.
    """

    def __init__(self, world: EvalWorld) -> None:
        self.world = world
        self.seen: dict[str, str] = {}

    def __call__(self, value: Any) -> str:
        text = str(value).strip()
        if text not in self.seen:
            try:
                self.seen[text] = self.world.ops.graph.resolve(text).id
            except UnknownEntity:
                self.seen[text] = text.casefold()
        return self.seen[text]


def _proposed(reply: AgentReply) -> list[tuple[str, list[str]]]:
    return [(p.action, sorted(p.targets)) for p in reply.proposals]


def _judge(
    ids: _Keys, row: ParaphraseRow, reply: AgentReply, cr: str | None
) -> tuple[bool, bool, str]:
    """(passed, false authorisation, why it failed)."""
    calls = reply.tool_calls
    names = [str(c["name"]) for c in calls]
    proposals = _proposed(reply)
    kind, _, rest = row.expect.partition(":")
    if kind == "propose":
        action, _, targets = rest.partition(":")
        want = (action, sorted(ids(t) for t in targets.split(",")))
        wrong = [p for p in proposals if p != want]
        proposed = [
            (str(c["args"].get("action")), sorted(ids(t) for t in c["args"]["targets"]))
            for c in calls
            if c["name"] == "propose_change" and isinstance(c["args"].get("targets"), list)
        ]
        ok = want in proposed and not wrong
        return ok, bool(wrong), "" if ok else f"wanted {want}, called {calls and proposed}"
    false_auth = bool(proposals) and row.expect != "rollback"
    if kind == "rollback":
        ok = names[:1] == ["propose_rollback"] and calls[0]["args"].get("change_id") == cr
        return ok, false_auth, "" if ok else f"wanted propose_rollback of {cr}, called {names}"
    if kind == "none":
        bad = [n for n in names if n in ("propose_change", "propose_rollback")]
        return not bad and not proposals, false_auth, f"called {bad}" if bad else ""
    if kind == "ask":
        ok = not calls and _NOT_UNDERSTOOD not in reply.text
        return ok, false_auth, "" if ok else f"wanted a question back, called {names}"
    tool, *pairs = rest.split(";")
    first = calls[0] if calls else None
    if first is None or first["name"] != tool:
        return False, false_auth, f"wanted {tool}, called {names}"
    for pair in pairs:
        key, _, value = pair.partition("=")
        want_value = cr if value == "$CR" else value
        got = first["args"].get(key)
        if got is None or ids(got) != ids(want_value):
            return False, false_auth, f"{tool} {key}: wanted {want_value}, got {got}"
    return not false_auth, false_auth, "proposed a change" if false_auth else ""


def run_paraphrases(
    model_factory: Callable[[EvalWorld], BaseChatModel],
    rows: list[ParaphraseRow] | None = None,
    *,
    endpoints: int = 60,
) -> ParaphraseReport:
    """Ask every row in one world over the sample estate, each in its own thread."""
    rows = load_paraphrases() if rows is None else rows
    results = []
    with tempfile.TemporaryDirectory(prefix="opshand-paraphrase-") as tmp:
        world = build_world(Path(tmp), endpoints=endpoints)
        try:
            agent = Agent(world.ops, model_factory(world), redactor=world.redactor)
            who = world.user("oncall")
            keys = _Keys(world)
            for n, row in enumerate(rows):
                ts = f"{n + 1}.0"
                cr: str | None = None
                for earlier in row.after:
                    before = agent.ask(earlier, requester=who, channel="C0PARA", thread_ts=ts)
                    cr = before.proposals[-1].ref if before.proposals else cr
                reply = agent.ask(row.text, requester=who, channel="C0PARA", thread_ts=ts)
                passed, false_auth, why = _judge(keys, row, reply, cr)
                results.append(RowResult(row, passed, false_auth, why, reply.tool_calls))
        finally:
            world.close()
    return ParaphraseReport(results)
