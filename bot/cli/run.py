"""``opshand demo`` and ``opshand chat``: the whole loop with no accounts.

Both start the same stack (:func:`start_stack`): opshand on embedded defaults, the local Slack
workspace, and the real Bolt app served over HTTP, which LocalSlack delivers signed requests to.
``demo`` serves the web page; ``chat`` is a terminal client of the same workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.engine import make_url

from bot.cli.common import DataDir, boot, err, out, settings
from bot.cli.demo_alert import FIRE_ALERT, INCIDENTS_CHANNEL, curl_example, fire_alert
from bot.cli.demo_steps import CAST, DEMO_INTRO, DEMO_STEPS, demo_intro, demo_steps
from bot.localslack import DEFAULT_CHANNELS, DEFAULT_EVENTS, BoltServer, LocalSlack, TryStep

if TYPE_CHECKING:
    from bot.bootstrap import Opshand
    from bot.digest import DigestScheduler
    from bot.localslack.remote import RemoteSlack
    from bot.settings import Settings

__all__ = [
    "DemoStack",
    "demo_refusals",
    "register_run_commands",
    "running_demo",
    "start_stack",
    "wait_for_ctrl_c",
]

DEFAULT_PORT = 8765
"""Where the demo's page listens unless ``--port`` says otherwise."""
HISTORY_FILE = "workspace.json"
"""The local workspace's channel history, in the data folder (kept between runs)."""
RUNNING_FILE = "demo.json"
"""Written in the data folder while a demo runs: its page's address, for ``opshand chat``."""


def register_run_commands(app: typer.Typer) -> None:
    """Add ``demo`` and ``chat`` to the top-level app."""
    app.command()(demo)
    app.command()(chat)


@dataclass
class DemoStack:
    """opshand, the local workspace and the Bolt app serving it, started together."""

    oh: Opshand
    """The wired opshand."""
    slack: LocalSlack
    """The local Slack workspace (page at ``slack.web_url``)."""
    bolt: BoltServer
    """The Bolt app's HTTP server; ``slack`` delivers to ``bolt.url``."""
    digest: DigestScheduler | None = None
    """Posts each day's digest to ``#ops-digest`` at the configured local time, as ``serve``."""

    def close(self) -> None:
        """Stop the digest and the bot, then the workspace, then opshand (waits for threads)."""
        if self.digest is not None:
            self.digest.stop()
        self.bolt.stop()
        self.slack.stop()
        self.oh.close()


def start_stack(
    oh: Opshand,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    steps: tuple[TryStep, ...] = DEMO_STEPS,
    intro: str = DEMO_INTRO,
    digest_tick: float | None = 30.0,
    history: Path | None = None,
) -> DemoStack:
    """Start LocalSlack on ``host:port`` and the Bolt app, and connect them.

    The same port serves the signal webhooks (``/signals/*``, with the credentials of
    ``signals.sources``) and the ``fire-alert`` step action; incident threads go to
    ``#incidents``.

    Args:
        oh: A bootstrapped opshand (its slack settings give the token and signing secret).
        port: The page's port; 0 picks a free one.
        host: Interface to listen on.
        steps: The page's "try this" list.
        intro: The page's welcome text.
        digest_tick: Seconds between the digest scheduler's checks; None runs no scheduler.
        history: Where the channels' messages are kept between runs (``None``: nowhere).

    Raises:
        OSError: if the port is taken.
    """
    from slack_sdk import WebClient

    from bot.app import build_app
    from bot.cli.serve import webhook_routes_for

    token = oh.settings.slack.bot_token.get_secret_value()
    alertmanager = oh.settings.signal_sources().get("alertmanager")
    slack = LocalSlack(
        signing_secret=oh.settings.slack.signing_secret.get_secret_value(),
        bot_token=token,
        host=host,
        port=port,
        try_this=steps,
        intro=intro,
        # thread follow-ups and DMs reach the bot as `message` events
        events=DEFAULT_EVENTS | {"message"},
        channels=(*DEFAULT_CHANNELS, INCIDENTS_CHANNEL),
        routes=webhook_routes_for(oh),
        step_actions={FIRE_ALERT: lambda: fire_alert(slack.base_url, alertmanager)},
        history=history,
    )
    slack.start()
    try:
        client = WebClient(token=token, base_url=slack.api_url)
        app = build_app(
            oh, client=client, incident_channel=INCIDENTS_CHANNEL.name, incident_notes=True
        )
        bolt = BoltServer(app, host=host)
        bolt.start()
    except BaseException:
        slack.stop()
        raise
    slack.bot_url = bolt.url
    digest = None
    if digest_tick is not None:
        from bot.digest import DigestScheduler

        digest = DigestScheduler(oh, client, tick=digest_tick)
        digest.start()
    return DemoStack(oh=oh, slack=slack, bolt=bolt, digest=digest)


def wait_for_ctrl_c() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM; later presses are ignored while shutting down."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


def _reset(data_dir: Path) -> None:
    """Delete an opshand data folder, refusing anything that does not look like one."""
    if not data_dir.exists():
        return
    if not (data_dir / "opshand.db").exists() and any(data_dir.iterdir()):
        err.print(
            f"[red]Not resetting {data_dir}:[/red] it holds files but no opshand.db, so it does "
            "not look like an opshand data folder."
        )
        raise typer.Exit(2)
    shutil.rmtree(data_dir)


_LOCAL_DB_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})


def demo_refusals(s: Settings) -> list[str]:
    """Why these settings are not a demo's: a database elsewhere, real Slack or integrations.

    The demo lets anyone at the page act as any person, approvers included; pointed at a real
    database or real tools, that page would change real things.
    """
    why: list[str] = []
    url = make_url(s.db_url)
    if not url.drivername.startswith("sqlite") and (url.host or "") not in _LOCAL_DB_HOSTS:
        why.append(f"the database is on {url.host} (OPSHAND_DATABASE_URL), not on this machine")
    if s.slack.mode != "local":
        why.append(f"slack.mode is {s.slack.mode!r} (OPSHAND_SLACK__MODE): a real workspace")
    real = sorted(c for c, e in s.integrations.entries().items() if e.vendor != "sim")
    if real:
        why.append(f"real integrations are configured: {', '.join(real)}")
    return why


def _boot_stack(
    data_dir: Path | None, reset: bool, port: int, allow_real: bool = False
) -> DemoStack:
    # bot.app registers its tables (slack_event, slack_card) on the shared metadata when it is
    # imported; it must be imported before bootstrap() creates the schema.
    import bot.app  # noqa: F401

    s = settings(data_dir)
    refusals = demo_refusals(s)
    if refusals and not allow_real:
        err.print("[red]Not starting the demo:[/red] " + "; ".join(refusals) + ".")
        err.print(
            "The demo page lets anyone act as any person, approvers included. Unset those "
            "settings, or pass --allow-real if you really mean it."
        )
        raise typer.Exit(2)
    for why in refusals:
        err.print(f"[yellow]Warning (--allow-real): {why}[/yellow]")
    if reset:
        _reset(s.data_dir)
    try:
        oh = boot(data_dir, start_worker=True)
    except KeyboardInterrupt:
        # Seeding is one transaction: an interrupted first start simply seeds again next time.
        err.print("Interrupted while starting; nothing was left half-done.")
        raise typer.Exit(130) from None
    try:
        from bot.digest import default_day

        return start_stack(
            oh,
            port=port,
            steps=demo_steps(default_day(oh) + timedelta(days=1)),
            intro=demo_intro(oh.settings.sample_endpoints),
            history=oh.settings.data_dir / HISTORY_FILE,
        )
    except OSError as exc:
        oh.close()
        err.print(f"[red]Cannot listen on port {port}:[/red] {exc.strerror or exc}.")
        err.print("Is another opshand running? Stop it, or pick another port with --port.")
        raise typer.Exit(1) from exc
    except BaseException:
        oh.close()
        raise


def _steps_as_text(steps: tuple[TryStep, ...], first_user: str) -> list[str]:
    """The "try this" list for the terminal: what to type, and as whom."""
    lines = []
    current = first_user
    for n, step in enumerate(steps, 1):
        who = f"/as {step.user}, then " if step.user and step.user != current else ""
        current = step.user or current
        if step.say:
            what = f"{who}type: {step.say.removeprefix('@opshand ')}"
        elif step.run:
            what = f"{who}type: /run {step.run}"
        elif step.open_thread:
            what = f"{who}read the summary printed under “{step.open_thread}”"
        else:
            what = f"{who}press the number shown next to Approve"
        lines.append(f"  {n}. {step.title} — {what}")
    return lines


def running_demo(data_dir: Path) -> str | None:
    """The page of the demo running on ``data_dir``, if its address file is there."""
    try:
        found = json.loads((data_dir / RUNNING_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = found.get("url") if isinstance(found, dict) else None
    return url if isinstance(url, str) and url.startswith("http://") else None


def demo(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="Port of the local Slack page.")] = DEFAULT_PORT,
    reset: Annotated[bool, typer.Option(help="Start over with a fresh data folder.")] = False,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in your web browser.")
    ] = False,
    allow_real: Annotated[
        bool,
        typer.Option(help="Start even against a non-local database or real integrations."),
    ] = False,
) -> None:
    """Run everything on embedded defaults and serve a local Slack workspace in your browser.

    SQLite in the data folder, the sample 4,200-endpoint estate, simulated integrations, the
    offline model and the bot; no accounts needed. Data is kept between runs.
    """
    stack = _boot_stack(data_dir, reset, port, allow_real)
    url = stack.slack.web_url
    out.print(f"\n[bold green]opshand is running:[/bold green] open [bold]{url}[/bold]\n")
    out.print(f"  People:   {CAST}")
    out.print("  Start:    follow the numbered steps at the top of the page")
    out.print(f"  Data:     {stack.oh.settings.data_dir} (kept between runs; --reset starts over)")
    out.print("  Terminal: opshand chat joins this workspace from another terminal")
    alertmanager = stack.oh.settings.signal_sources().get("alertmanager")
    out.print("  Signals:  " + curl_example(url, alertmanager) + "\n", markup=False, soft_wrap=True)
    out.print("Press Ctrl-C to stop.")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    running = stack.oh.settings.data_dir / RUNNING_FILE
    running.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    try:
        wait_for_ctrl_c()
    finally:
        running.unlink(missing_ok=True)
        out.print("Stopping…")
        stack.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        out.print(f"Stopped. Your data is kept in {stack.oh.settings.data_dir}")


def chat(
    data_dir: DataDir = None,
    reset: Annotated[bool, typer.Option(help="Start over with a fresh data folder.")] = False,
    port: Annotated[
        int, typer.Option(help="Also serve the web page on this port (0: any free port).")
    ] = 0,
    as_user: Annotated[str, typer.Option("--as", help="Who you are at first.")] = "ana",
    join: Annotated[
        str | None,
        typer.Option(
            help="The page of a running demo to join (default: the demo running on this data "
            "folder, if one is)."
        ),
    ] = None,
    allow_real: Annotated[
        bool,
        typer.Option(help="Start even against a non-local database or real integrations."),
    ] = False,
) -> None:
    """Talk to opshand in the terminal, through the same bot and local workspace as ``demo``.

    Beside a running ``opshand demo`` it joins that demo's workspace (the browser shows what
    you do here, and the other way round); otherwise it starts its own. Block Kit is shown as
    text, buttons as numbered choices; /as NAME switches person.
    """
    from bot.localslack.remote import RemoteSlack, RemoteUnavailable

    url = join or running_demo(settings(data_dir).data_dir)
    if url is not None:
        try:
            remote = RemoteSlack(url)
        except RemoteUnavailable as exc:
            if join is not None:
                err.print(f"[red]Cannot join {join}:[/red] {exc}.")
                raise typer.Exit(1) from exc
        else:
            if reset:
                remote.close()
                err.print(f"[red]A demo is running at {url}:[/red] stop it before --reset.")
                raise typer.Exit(2)
            try:
                out.print(f"Joined the running demo at {remote.web_url}")
                _talk(remote, as_user)
            finally:
                remote.close()
            return
    stack = _boot_stack(data_dir, reset, port, allow_real)
    try:
        _talk(stack.slack, as_user)
    finally:
        stack.close()
        out.print(f"[dim]Stopped. Your data is kept in {stack.oh.settings.data_dir}[/dim]")


def _talk(slack: LocalSlack | RemoteSlack, as_user: str) -> None:
    """Run a terminal session on ``slack`` until /quit, end of input or Ctrl-C."""
    from bot.chat import ChatSession

    try:
        session = ChatSession(slack, out, user=as_user)
    except ValueError as exc:
        err.print(f"[red]--as {as_user}:[/red] {exc}")
        raise typer.Exit(2) from exc
    out.print(f"People: {CAST}. The same workspace is at {slack.web_url}")
    out.print("Try this:", highlight=False)
    for line in _steps_as_text(tuple(slack.try_this), as_user):
        out.print(line, highlight=False, markup=False)
    try:
        if sys.stdin.isatty():
            session.run(follow=True)
        else:  # piped: echo each line after its prompt so the output reads as a chat
            session.run((line.rstrip("\n") for line in sys.stdin), follow=False)
    except KeyboardInterrupt:
        out.print()
