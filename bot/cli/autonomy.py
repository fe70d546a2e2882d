"""``opshand runbook test`` and ``opshand patch-cycle``: autonomy from the command line.

Wire them with ``register_autonomy_commands(app)`` in ``bot/cli.py``. A real (not ``--dry-run``)
patch cycle with Slack configured posts its progress to a thread in ``--slack-channel`` (default
``#ops``) through :class:`CycleThread`; the daily digest shows the last cycle's summary.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.common import DataDir, JsonOut, SettingsFile, boot, dump, err, out
from bot.cli.twin_view import check_scope
from bot.mrkdwn import esc

__all__ = ["CycleThread", "load_signal_file", "register_autonomy_commands", "runbook_app"]

DEFAULT_RUNBOOKS = Path("examples/runbooks.yaml")
runbook_app = typer.Typer(help="Write and test runbooks for signals.", no_args_is_help=True)


def load_signal_file(path: Path) -> list[Any]:
    """Parse one example signal file (Alertmanager, PagerDuty or generic JSON, by shape).

    PagerDuty examples are unsigned files, so they are signed here with a throwaway key before
    the normal (verifying) parser reads them.
    """
    from adapters.signals import parse_alertmanager, parse_generic, parse_pagerduty

    body = path.read_bytes()
    data = json.loads(body)
    if isinstance(data, dict) and "alerts" in data and "version" in data:
        return list(parse_alertmanager(body))
    if isinstance(data, dict) and isinstance(data.get("event"), dict):
        key = SecretStr("runbook-test")
        sig = "v1=" + hmac.new(b"runbook-test", body, hashlib.sha256).hexdigest()
        return [parse_pagerduty(body, signature=sig, secret=key)]
    return [parse_generic(body, source=str(data.get("source", "generic")))]


@runbook_app.command("test")
def runbook_test(
    file: Annotated[Path, typer.Argument(help="Runbook file.")] = DEFAULT_RUNBOOKS,
    signals: Annotated[
        Path, typer.Option("--signals", help="Folder of example signal JSON files.")
    ] = Path("examples/signals"),
    data_dir: DataDir = None,
    settings_file: SettingsFile = None,
    as_json: JsonOut = False,
) -> None:
    """Show what each example signal would propose and what policy would decide (dry run)."""
    from adapters.errors import SignalError
    from agent.signals import RunbookError, load_runbooks, preview

    try:
        rbs = load_runbooks(file)
    except (OSError, RunbookError) as exc:
        err.print(f"[red]Runbook error:[/red] {exc}")
        raise typer.Exit(2) from exc
    files = sorted(signals.glob("*.json")) if signals.is_dir() else [signals]
    if not files:
        err.print(f"[red]No signal files in {signals}[/red]")
        raise typer.Exit(2)
    oh = boot(data_dir, settings_file)
    rows: list[dict[str, Any]] = []
    try:
        for f in files:
            try:
                parsed = load_signal_file(f)
            except (SignalError, ValueError) as exc:
                rows.append({"file": f.name, "error": str(exc)})
                continue
            for sig in parsed:
                p = preview(oh.ops, rbs, sig)
                rows.append({"file": f.name, "signal": sig.title[:60], "runbook": p.runbook,
                             "action": p.action, "target": p.target, "params": p.params,
                             "decision": p.outcome, "reasons": list(p.reasons)})  # fmt: skip
    finally:
        oh.close()
    if as_json:
        dump(rows)
        return
    t = Table(title=f"{file}: {len(rbs)} runbook(s), {len(files)} signal file(s)")
    for col in ("file", "runbook", "proposes", "decision", "why"):
        t.add_column(col, overflow="fold")
    for r in rows:
        if "error" in r:
            t.add_row(r["file"], "-", "-", "[red]bad signal[/red]", r["error"])
            continue
        proposes = f"{r['action']} {r['target'] or ''}".strip() if r["action"] else "-"
        colour = {"auto": "green", "consent": "yellow"}.get(r["decision"], "red")
        t.add_row(r["file"], r["runbook"] or "-", proposes,
                  f"[{colour}]{r['decision']}[/{colour}]", "; ".join(r["reasons"]))  # fmt: skip
    out.print(t)
    if any("error" in r for r in rows):
        raise typer.Exit(1)


class CycleThread:
    """A patch cycle's progress in one Slack thread: a head, a reply per wave, the summary.

    Slack trouble never stops the cycle: the first failed post is reported on stderr and the
    thread stops posting, the cycle runs on.

    Args:
        client: A Slack ``WebClient`` (or anything with ``chat_postMessage`` and
            ``conversations_list``).
        channel: Channel name or id, e.g. ``ops``.
    """

    def __init__(self, client: Any, channel: str) -> None:
        self.client = client
        self.channel = channel
        self.ts: str | None = None
        self._broken = False

    def _post(self, text: str) -> str | None:
        from slack_sdk.errors import SlackApiError

        if self._broken:
            return None
        try:
            chan = self._channel_id()
            kw: dict[str, Any] = {
                "channel": chan,
                "text": text,
                "unfurl_links": False,
                "unfurl_media": False,
            }
            if self.ts is not None:
                kw["thread_ts"] = self.ts
            resp = self.client.chat_postMessage(**kw)
        except (SlackApiError, OSError) as exc:
            self._broken = True
            err.print(f"[yellow]Slack post to #{self.channel} failed, continuing:[/yellow] {exc}")
            return None
        self.channel = chan  # resolve the name once
        return str(resp["ts"])

    def _channel_id(self) -> str:
        # chat.postMessage wants an id; names are looked up once (then self.channel is the id).
        name = self.channel.removeprefix("#")
        if name[:1] in ("C", "G") and name.isupper():
            return name
        resp = self.client.conversations_list(limit=1000, exclude_archived=True)
        for c in resp.get("channels", []):
            if c.get("name") == name:
                return str(c["id"])
        return name

    def start(self, cycle_id: str, waves: int, hosts: int, unit: str = "wave") -> None:
        """Post the thread head."""
        self.ts = self._post(
            f":wrench: Patch cycle {cycle_id} starting: {hosts} host(s) in {waves} {unit}(s). "
            "Progress in this thread."
        )

    def on_event(self, e: Any) -> None:
        """Reply with one progress event (a :class:`agent.patching.report.CycleEvent`)."""
        if self.ts is None and e.kind == "start" and "card" in e.data:
            c = e.data["card"]  # the staged cycle: one thread per run, headed by the first card
            self.start(c["cycle_id"], len(c["stages"]), c["hosts"], unit="stage")
            return
        if self.ts is None:
            return
        d = e.data
        if e.kind == "stage_done":
            counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(d["counts"].items()))
            self._post(f"{d['client']}: stage {d['number']} done. So far: {counts}.")
        elif e.kind == "done" and "client" in d:
            self._post(d["report"].summary())
        elif e.kind == "wave_done":
            counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(d["counts"].items()))
            self._post(f"Wave {d['number']} done. So far: {esc(counts) or 'nothing yet'}.")
        elif e.kind == "quarantined":
            self._post(f":warning: Quarantined {esc(d['patch'])}: it broke a service on "
                       f"{esc(', '.join(d['hosts'][:5]))}; rolling it back.")  # fmt: skip
        elif e.kind == "halted":
            self._post(f":octagonal_sign: Halted: {esc(d['reason'])}")

    def finish(self, summary: str) -> None:
        """Reply with the final report summary."""
        if self.ts is not None:
            self._post(esc(summary))


def _slack_thread(oh: Any, channel: str) -> CycleThread | None:
    # Slack counts as configured when it is not the built-in local mode without an API URL:
    # the default local token would otherwise be sent to slack.com.
    s = oh.settings.slack
    if s.api_url is None and s.mode == "local":
        return None
    from slack_sdk import WebClient

    token = s.bot_token.get_secret_value()
    return CycleThread(WebClient(token=token, base_url=s.api_url or WebClient.BASE_URL), channel)


def patch_cycle(
    client: Annotated[str | None, typer.Option("--client", help="Only this client.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing.")] = False,
    workers: Annotated[int, typer.Option(help="With --legacy: threads executing changes.")] = 4,
    slack_channel: Annotated[
        str, typer.Option("--slack-channel", help="Channel for the progress thread.")
    ] = "ops",
    no_slack: Annotated[bool, typer.Option("--no-slack", help="Do not post to Slack.")] = False,
    staged: Annotated[
        bool, typer.Option("--staged", help="The staged cycle (the default; kept for scripts).")
    ] = False,
    legacy: Annotated[
        bool,
        typer.Option("--legacy", help="The old wave-by-wave cycle (kept for one release)."),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Plan as of this time (ISO, e.g. 2026-11-28T22:30-05:00)."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for closed windows to open.")] = False,
    approve: Annotated[bool, typer.Option("--approve", help="Approve each client's card.")] = False,
    data_dir: DataDir = None,
    settings_file: SettingsFile = None,
    as_json: JsonOut = False,
) -> None:
    """Patch every host with pending patches: canary, soak and growing stages per window.

    ``--dry-run --at TIME`` previews the plan any window would run. ``--legacy`` runs the old
    wave-by-wave cycle (one change per host through the journal) for one more release.
    """
    from agent.patching import CycleEvent, PatchCycle, PatchCycleSettings, plan_cycle
    from bot.cli.staged import parse_at, run_staged

    if legacy and (staged or wait or approve):
        err.print("[red]--legacy runs the old wave cycle:[/red] it takes no --staged, --wait "
                  "or --approve.")  # fmt: skip
        raise typer.Exit(2)
    oh = boot(data_dir, settings_file)
    try:
        # A mistyped client would otherwise plan nothing and exit as if all were patched.
        check_scope(oh.ops.graph, client, sites=False)
        if not legacy:
            thread = None if no_slack or dry_run else _slack_thread(oh, slack_channel)
            run_staged(oh, client=client, dry_run=dry_run, at_text=at, wait=wait,
                       as_json=as_json, approve=approve,
                       progress=thread.on_event if thread is not None else None)  # fmt: skip
            return
        plan = plan_cycle(oh.ops.graph, now=parse_at(at, oh.ops.now()), client=client)
        if dry_run or not plan.waves:
            _show_plan(plan, as_json)
            return
        adapters = oh.ops.executor.adapters
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("patch cycle", total=len(plan.hosts))
            thread = None if no_slack else _slack_thread(oh, slack_channel)

            def show(e: CycleEvent) -> None:
                if thread is not None:
                    thread.on_event(e)
                d = e.data
                if e.kind == "wave":
                    bar.update(task, description=f"wave {d['number']} ({d['ring']}, "
                               f"{d['size']} hosts)")  # fmt: skip
                elif e.kind == "wave_done":
                    bar.update(task, completed=sum(d["counts"].values()))
                elif e.kind == "quarantined":
                    err.print(f"[red]quarantined {d['patch']}[/red]: broke a service on "
                              f"{', '.join(d['hosts'][:5])}; rolling back")  # fmt: skip
                elif e.kind == "halted":
                    err.print(f"[red]halted:[/red] {d['reason']}")

            cycle = PatchCycle(
                oh.ops,
                rmm=adapters.need("rmm"),
                psa=adapters.psa,
                settings=PatchCycleSettings(workers=workers),
                progress=show,
            )
            if thread is not None:
                thread.start(cycle.cycle_id, len(plan.waves), len(plan.hosts))
            report = cycle.run(plan)
            if thread is not None:
                thread.finish(report.summary())
            bar.update(task, completed=len(report.results))
    finally:
        oh.close()
    if as_json:
        dump(report.to_dict())
        return
    out.print(report.summary())


def _show_plan(plan: Any, as_json: bool) -> None:
    if as_json:
        dump({
            "waves": [{"number": w.number, "ring": w.ring, "hosts": [h.name for h in w.hosts]}
                      for w in plan.waves],
            "deferred": {h: r.detail for h, r in plan.deferred.items()},
            "windows": plan.windows,
        })  # fmt: skip
        return
    t = Table(title=f"Patch cycle plan: {len(plan.hosts)} hosts, {len(plan.waves)} waves")
    for col in ("wave", "ring", "hosts", "first hosts"):
        t.add_column(col)
    for w in plan.waves:
        t.add_row(str(w.number), w.ring, str(len(w.hosts)),
                  ", ".join(h.name for h in w.hosts[:3]))  # fmt: skip
    out.print(t)
    for c, state in sorted(plan.windows.items()):
        out.print(f"  {c}: maintenance window {state}")
    if plan.deferred:
        out.print(f"  {len(plan.deferred)} host(s) deferred until their window opens")


def register_autonomy_commands(app: typer.Typer) -> None:
    """Add ``runbook`` (with ``test``) and ``patch-cycle`` to the ``opshand`` command."""
    app.add_typer(runbook_app, name="runbook")
    app.command("patch-cycle")(patch_cycle)
