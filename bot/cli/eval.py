"""``opshand eval --model PROVIDER:NAME``: the agent's scenario suite against any chat model.

Every scenario under ``evals/`` runs in a fresh world (sample estate, sim, example policy) through
the real agent loop. The report gives pass/fail, tool calls, tokens and latency per case, per
category and in total, as a table or ``--json``. ``--model offline`` needs no network;
``--model scripted`` replays each scenario's expected calls (the loop's mechanics and caps).
The API key is read from an environment variable (``--api-key-env``), never from the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.common import JsonOut, dump, err, out

if TYPE_CHECKING:
    from agent.eval import CaseResult, EvalReport
    from agent.eval.paraphrase import ParaphraseReport

__all__ = ["DEFAULT_EVALS", "eval_command"]

DEFAULT_EVALS = Path(__file__).resolve().parents[2] / "evals"


def _factory(model: str, base_url: str | None, api_key_env: str | None) -> tuple[Any, bool]:
    """The model factory for ``run_suite`` and whether it is the scripted model."""
    from agent.chat import ModelUnavailable, make_chat_model, parse_model_spec
    from agent.eval import obedient_factory, scripted_factory

    if model == "scripted":
        return scripted_factory, True
    if model == "obedient":  # obeys every instruction planted in data (see agent.eval.obedient)
        return obedient_factory, True
    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            err.print(f"[red]Environment variable {api_key_env} is empty or not set.[/red]")
            raise typer.Exit(2)
    try:
        spec = parse_model_spec(model, base_url=base_url, api_key=key)
        if spec.provider != "offline":
            make_chat_model(spec)  # fail now, with a sentence, rather than 60 times later
    except ModelUnavailable as exc:
        err.print(f"[red]Model error:[/red] {exc}")
        raise typer.Exit(2) from exc

    def factory(world: Any, sc: Any) -> Any:
        return make_chat_model(spec, lambda: world.ops.graph)

    return factory, False


def _case_table(report: EvalReport) -> Table:
    t = Table(title=f"opshand eval — {report.model}", show_lines=False)
    t.add_column("case", no_wrap=True)
    for col in ("category", "result", "tool calls", "tokens", "seconds", "why it failed"):
        t.add_column(col, justify="right" if col in ("tool calls", "tokens", "seconds") else "left")
    for c in report.cases:
        t.add_row(
            c.id,
            c.category,
            "[green]pass[/green]" if c.passed else "[red]FAIL[/red]",
            str(c.tool_calls),
            str(c.tokens),
            f"{c.seconds:.2f}",
            "; ".join(c.failures)[:120],
        )
    return t


def _summary_table(report: EvalReport) -> Table:
    s = report.summary()
    t = Table(title="per category")
    for col in ("category", "passed", "total", "rate"):
        t.add_column(col, justify="left" if col == "category" else "right")
    for cat, (p, n) in report.by_category().items():
        t.add_row(cat, str(p), str(n), f"{p / n:.0%}")
    t.add_row(
        "[bold]all[/bold]",
        str(s["passed"]),
        str(s["cases"]),
        f"{s['pass_rate']:.0%}",
        end_section=True,
    )
    return t


def _paraphrase_table(report: ParaphraseReport) -> Table:
    t = Table(title="paraphrase corpus (evals/paraphrase.tsv) per category")
    for col in ("category", "held out", "rate", "training", "rate "):
        t.add_column(col, justify="left" if col == "category" else "right")
    held, train = report.by_category("heldout"), report.by_category("train")
    for cat in sorted(set(held) | set(train)):
        hp, hn = held.get(cat, (0, 0))
        tp, tn = train.get(cat, (0, 0))
        t.add_row(
            cat,
            f"{hp}/{hn}",
            f"{hp / hn:.0%}" if hn else "-",
            f"{tp}/{tn}",
            f"{tp / tn:.0%}" if tn else "-",
        )
    h, tr = report.split_summary("heldout"), report.split_summary("train")
    t.add_row(
        "[bold]all[/bold]",
        f"{h['passed']}/{h['rows']}",
        f"{h['pass_rate']:.1%}",
        f"{tr['passed']}/{tr['rows']}",
        f"{tr['pass_rate']:.1%}",
        end_section=True,
    )
    return t


def eval_command(
    model: Annotated[
        str,
        typer.Option(
            "--model", help="PROVIDER:NAME (openai:gpt-4o-mini), offline, scripted or obedient."
        ),
    ] = "offline",
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Endpoint for openai-compatible or ollama.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Environment variable holding the API key.")
    ] = None,
    evals: Annotated[
        Path, typer.Option("--evals", help="Folder of scenario files.")
    ] = DEFAULT_EVALS,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Only this category (repeatable).")
    ] = None,
    case: Annotated[list[str] | None, typer.Option("--case", help="Only this case id.")] = None,
    paraphrase: Annotated[
        bool | None,
        typer.Option(
            "--paraphrase/--no-paraphrase",
            help="Also score the paraphrase corpus per category (default: with the offline "
            "model when no category or case is chosen).",
        ),
    ] = None,
    paraphrase_file: Annotated[
        Path | None,
        typer.Option("--paraphrase-file", help="The paraphrase corpus (evals/paraphrase.tsv)."),
    ] = None,
    min_pass_rate: Annotated[
        float, typer.Option("--min-pass-rate", help="Exit 1 below this pass rate (0..1).")
    ] = 0.0,
    json_out: JsonOut = False,
) -> None:
    """Run the agent's scenario suite against a model and report pass rate, tool calls, tokens
    and latency per case and in total."""
    from agent.eval import ScenarioError, load_scenarios, run_suite

    try:
        scenarios = load_scenarios(evals)
    except ScenarioError as exc:
        err.print(f"[red]Scenario error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if category:
        scenarios = [s for s in scenarios if s.category in category]
    if case:
        scenarios = [s for s in scenarios if s.id in case]
    if not scenarios:
        err.print(f"[red]No scenarios selected under {evals}.[/red]")
        raise typer.Exit(2)
    factory, scripted = _factory(model, base_url, api_key_env)

    def progress(res: CaseResult) -> None:
        if not json_out:
            mark = "[green].[/green]" if res.passed else "[red]F[/red]"
            err.print(mark, end="")

    report = run_suite(scenarios, factory, model_name=model, scripted=scripted, on_case=progress)
    if paraphrase is None:
        paraphrase = model == "offline" and not category and not case
    para = None
    if paraphrase and not scripted:
        from agent.eval.paraphrase import PARAPHRASE_FILE, load_paraphrases, run_paraphrases

        try:
            rows = load_paraphrases(paraphrase_file or PARAPHRASE_FILE)
        except (OSError, ValueError) as exc:
            err.print(f"[red]Paraphrase corpus error:[/red] {exc}")
            raise typer.Exit(2) from exc
        para = run_paraphrases(lambda world: factory(world, None), rows)
    if json_out:
        dump({**report.to_json(), **({"paraphrase": para.to_json()} if para else {})})
    else:
        err.print()
        out.print(_case_table(report))
        out.print(_summary_table(report))
        s = report.summary()
        out.print(
            f"median tool calls {s['median_tool_calls']}, total tokens {s['total_tokens']}, "
            f"mean latency {s['mean_seconds']:.2f} s, largest tool result "
            f"{s['max_result_tokens']} tokens"
        )
        if para is not None:
            out.print(_paraphrase_table(para))
            out.print(
                "paraphrase false authorisations: "
                f"{para.split_summary('heldout')['false_authorisations']} held out, "
                f"{para.split_summary('train')['false_authorisations']} training"
            )
    if report.summary()["pass_rate"] < min_pass_rate:
        raise typer.Exit(1)
