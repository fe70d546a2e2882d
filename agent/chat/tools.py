"""The agent's tools: typed, documented, structured results, read-only but one.

Each tool is a method of :class:`ToolBox` with a pydantic argument model; the method's docstring
is what the model reads. Results are ``{"status", "data", "error"}`` (``success`` | ``error`` |
``no_data`` | ``approval_required`` | ``denied``), with long strings clipped and long lists cut
with a note, so every result stays under :data:`MAX_RESULT_TOKENS`. ``propose_change`` is the only
tool that changes anything, and it only *proposes*: the trust guard (:mod:`agent.chat.guard`)
decides whether the model may even ask, then the service rehearses and policy decides.
Execution happens later in deterministic code.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from agent.chat.proposals import ProposalTools
from agent.chat.results import estimate_tokens, tool_result
from agent.chat.tool_args import TOOL_ARGS
from twin.graph import UnknownEntity

__all__ = ["ToolBox"]


class ToolBox(ProposalTools):
    """The tools bound to one :class:`~agent.service.Operations` and one turn: the read tools
    (:class:`~agent.chat.reads.ReadTools`), the proposing ones
    (:class:`~agent.chat.proposals.ProposalTools`) and the dispatch of a tool call.

    Args:
        ops: The operations facade.
        ctx: What is trusted in this turn.
        max_targets: The most targets one proposal may hold; more is refused with the count.
        redactor: Knows the secrets; a proposal whose parameters carry one is refused.
    """

    # ------------------------------------------------------------------ dispatch
    def table(self) -> dict[str, Callable[..., dict[str, Any]]]:
        """Tool name -> bound method."""
        return {n: getattr(self, n) for n in TOOL_ARGS}

    @staticmethod
    def description(name: str) -> str:
        """What the model reads about a tool (:data:`agent.chat.tool_specs.TOOL_DOCS`)."""
        from agent.chat.tool_specs import TOOL_DOCS

        return TOOL_DOCS.get(name) or inspect.getdoc(getattr(ToolBox, name)) or name

    def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one tool call; every failure becomes a structured error for the model."""
        schema = TOOL_ARGS.get(name)
        if schema is None:
            known = ", ".join(TOOL_ARGS)
            out = tool_result("error", None, f"unknown tool '{name}'; the tools are: {known}")
        else:
            try:
                parsed = schema.model_validate(args)
                out = getattr(self, name)(**dict(parsed))
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"]) or "arguments"
                out = tool_result("error", None, f"{name}: argument '{loc}': {err['msg']}")
                if name == "propose_change":
                    self._refuse(str(args.get("action", "")), [], out["error"] or "bad arguments")
                elif name == "propose_rollback":
                    self._refuse("rollback", [], out["error"] or "bad arguments")
            except UnknownEntity as exc:
                out = tool_result(
                    "error", {"mention": exc.mention, "did_you_mean": exc.suggestions}, str(exc)
                )
            except (KeyError, ValueError, TypeError) as exc:
                out = tool_result("error", None, str(exc).strip("'\""))
        # Secrets never leave a tool, whoever reads the result (the model, a Slack table).
        out = dict(self.redactor.redact(out))
        if name != "propose_change":
            self.ctx.seen.append(json.dumps(out.get("data"), default=str, ensure_ascii=False))
        self.ctx.calls.append(
            {
                "name": name,
                "args": args,
                "status": out["status"],
                "tokens": estimate_tokens(json.dumps(out, default=str)),
            }
        )
        return out
