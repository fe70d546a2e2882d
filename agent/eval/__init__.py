"""The agent's scenario suite: cases, the world each runs in, and the report."""

from __future__ import annotations

from agent.eval.obedient import ObedientChatModel, instructions_in, obedient_factory
from agent.eval.paraphrase import (
    PARAPHRASE_FILE,
    ParaphraseReport,
    ParaphraseRow,
    load_paraphrases,
    run_paraphrases,
)
from agent.eval.runner import (
    CaseResult,
    EvalReport,
    Scenario,
    ScenarioError,
    load_scenarios,
    run_case,
    run_suite,
    scripted_factory,
)
from agent.eval.world import (
    DEFAULT_POLICY,
    ROLES_TEAM,
    USERS,
    EvalWorld,
    ScriptedChatModel,
    build_world,
)

__all__ = [
    "DEFAULT_POLICY",
    "PARAPHRASE_FILE",
    "ROLES_TEAM",
    "USERS",
    "CaseResult",
    "EvalReport",
    "EvalWorld",
    "ObedientChatModel",
    "ParaphraseReport",
    "ParaphraseRow",
    "Scenario",
    "ScenarioError",
    "ScriptedChatModel",
    "build_world",
    "instructions_in",
    "load_paraphrases",
    "load_scenarios",
    "obedient_factory",
    "run_case",
    "run_paraphrases",
    "run_suite",
    "scripted_factory",
]
