"""The ``opshand`` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.execution import Change
from bot.blocks import state_words
from bot.cli.adapters import register_adapters_command
from bot.cli.audit import audit_app
from bot.cli.autonomy import register_autonomy_commands
from bot.cli.common import DataDir, JsonOut, SettingsFile, boot, dump, err, out, settings
from bot.cli.digest import register_digest_command
from bot.cli.doctor import register_doctor_command
from bot.cli.eval import eval_command
from bot.cli.run import register_run_commands
from bot.cli.serve import register_serve_command
from bot.cli.twin import twin_app

app = typer.Typer(
    name="opshand",
    help="Autonomous execution for IT operations, run from Slack.\n\n"
    "Ask about the estate, propose changes, rehearse them on a fork of the twin and let "
    "policy decide. Start with `opshand demo`.",
    no_args_is_help=True,
    add_completion=False,
)
policy_app = typer.Typer(help="Test and explain the operator-written policy.", no_args_is_help=True)
app.add_typer(twin_app, name="twin")
register_run_commands(app)
register_serve_command(app)
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
register_adapters_command(app)
register_autonomy_commands(app)
register_digest_command(app)
register_doctor_command(app)
app.command("eval")(eval_command)


# ---------------------------------------------------------------------- ask / plan
@app.command()
def ask(
    text: Annotated[str, typer.Argument(help='What to ask, e.g. "what depends on db-prod-01"')],
    as_user: Annotated[str, typer.Option("--as", help="Slack user id to ask as.")] = "U0LOCAL01",
    json_out: JsonOut = False,
    data_dir: DataDir = None,
    settings_file: SettingsFile = None,
) -> None:
    """One agent turn on the data folder (auto-approved changes run right after).

    Exits 1 when the model failed (the answer says what failed and whether a change was
    recorded before it did).
    """
    oh = boot(data_dir, settings_file)
    try:
        reply = oh.agent.ask(
            text, requester=f"{oh.settings.slack.team_id}:{as_user}", channel="cli", thread_ts=""
        )
        reports = oh.ops.drain()
        if json_out:
            dump(
                {
                    "answer": reply.text,
                    "tool_calls": reply.tool_calls,
                    "changes": [
                        {
                            "id": oh.ops.journal.get(c.id).ref,
                            "state": oh.ops.journal.get(c.id).state,
                            "decision": (oh.ops.journal.get(c.id).decision or {}).get("outcome"),
                        }
                        for c in reply.proposals
                    ],
                    "capped": reply.capped,
                    "error": reply.error,
                }
            )
        else:
            out.print(reply.text, markup=False)
            for c in reply.proposals:
                out.print(decision_text(oh.ops.journal.get(c.id)), markup=False)
            for r in reports:
                out.print(f"[dim]{oh.ops.journal.get(r.change_id).ref}: {r.final_state}[/dim]")
    finally:
        oh.close()
    if reply.error:
        # the model failed: a script must see it (the sentence above says what failed)
        raise typer.Exit(1)


def decision_text(change: Change) -> str:
    """A proposal's decision for a terminal, said once after the answer: "CR-7: waiting for
    consent (1 of approvers)" and policy's reasons as bullet lines."""
    dec = change.decision or {}
    head = f"{change.ref}: {state_words(change.state)}"
    if change.state == "awaiting_consent":
        head += f" ({dec.get('quorum', 1)} of {dec.get('approvers', 'the approvers')})"
    reasons = [str(r).strip().rstrip(".;") for r in (dec.get("reasons") or {}).values()]
    return "\n".join([head, *(f"  • {r}." for r in reasons if r)])


@app.command()
def plan(
    action: Annotated[str, typer.Argument(help="Action kind, e.g. host.reboot")],
    targets: Annotated[list[str], typer.Argument(help="Target names or ids")],
    param: Annotated[list[str] | None, typer.Option("--param", help="k=v (repeatable)")] = None,
    as_user: Annotated[str, typer.Option("--as", help="Slack user id.")] = "U0LOCAL01",
    json_out: JsonOut = False,
    data_dir: DataDir = None,
) -> None:
    """Rehearse a change and ask policy, without executing anything."""
    from agent.policy import PolicyInput  # noqa: F401  (keeps import errors at start)
    from agent.service import ChangeRequest
    from twin.actions import InvalidParams
    from twin.graph import UnknownEntity
    from twin.plan import rehearse

    params: dict[str, Any] = {}
    for kv in param or []:
        k, _, v = kv.partition("=")
        params[k] = json.loads(v) if v[:1] in "[{tf0123456789" and v not in ("",) else v
    oh = boot(data_dir)
    try:
        try:
            # Targets are taken as typed: a misspelling gets "did you mean", not a guess.
            targets = [oh.ops.graph.resolve(t, fuzzy=False).id for t in targets]
            p = rehearse(oh.ops.graph, action, targets, params)
        except (KeyError, UnknownEntity, InvalidParams) as exc:
            # A misspelt action or target is a usage error (exit 2); the text names the nearest.
            # str() of a KeyError is the repr of its message: quoted; print the message itself
            why = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            err.print(why, style="red", markup=False, highlight=False)
            raise typer.Exit(2) from exc
        req = ChangeRequest(
            action=action,
            targets=p.targets,
            params=params,
            reason="cli plan",
            requester=f"{oh.settings.slack.team_id}:{as_user}",
        )
        decision = oh.policy.decide(oh.ops.policy_input(req, p))
        if json_out:
            dump({"plan": p.model_dump(mode="json"), "decision": decision.model_dump(mode="json")})
            return
        from twin.render import render_text

        out.print(render_text(p), markup=False, highlight=False)
        out.print(f"Decision: [bold]{decision.outcome}[/bold] ({decision.summary()})")
        for rid, why in decision.reasons.items():
            out.print(f"  {rid}: {why}")
    finally:
        oh.close()


# ---------------------------------------------------------------------- policy
@policy_app.command("test")
def policy_test(
    file: Annotated[Path | None, typer.Argument(help="Policy file (default: configured)")] = None,
    cases: Annotated[
        Path | None, typer.Option(help="Cases file (default: <policy>_tests.yaml)")
    ] = None,
) -> None:
    """Run the test cases kept beside the policy; prints pass/fail per case."""
    from agent.policy import (
        PolicyError,
        load_policy,
        load_policy_cases,
        render_case_results,
        run_policy_tests,
    )

    s = settings(None)
    path = file or s.policy_file
    cases_path = cases or path.with_name(path.stem + "_tests" + path.suffix)
    try:
        pol = load_policy(path)
        results = run_policy_tests(pol, load_policy_cases(cases_path))
    except PolicyError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    out.print(render_case_results(results))
    if not all(r.passed for r in results):
        raise typer.Exit(1)


@policy_app.command("explain")
def policy_explain(
    change: Annotated[str, typer.Argument(help="A change id, e.g. CR-42")],
    json_out: JsonOut = False,
    data_dir: DataDir = None,
) -> None:
    """Show the policy input of a change and, rule by rule, what matched."""
    from agent.policy import PolicyInput

    oh = boot(data_dir)
    try:
        try:
            c = oh.ops.status(change)
        except (KeyError, ValueError) as exc:
            err.print(str(exc).strip("'\""))
            raise typer.Exit(1) from exc
        stored = (c.decision or {}).get("input")
        if stored is None:  # older changes kept the input only in the audit row of the decision
            for row in oh.audit.query(change_id=str(c.id), limit=50):
                if isinstance(row.body, dict) and "input" in row.body:
                    stored = row.body["input"]
        if stored is None:
            err.print(f"{c.ref} was never decided by policy (state {c.state}).")
            raise typer.Exit(1)
        explanation = oh.policy.explain(PolicyInput.from_partial(stored))
        if json_out:
            dump(explanation.model_dump(mode="json"))
            return
        decision = c.decision or {}
        out.print(
            f"[bold]{c.ref}[/bold] {c.action} — decided {decision.get('outcome')} "
            f"under policy {str(decision.get('policy_hash', ''))[:12]}; "
            f"the policy in force now is {oh.policy.hash[:12]}"
        )
        out.print("[bold]Input[/bold] (what every rule sees as `input`):")
        out.print_json(data=stored)
        out.print("[bold]Rules[/bold]")
        out.print(explanation.render())
    finally:
        oh.close()


def main() -> None:
    """Entry point of the ``opshand`` command."""
    from bot.logs import configure_cli_logging

    configure_cli_logging()
    app()


if __name__ == "__main__":
    main()
