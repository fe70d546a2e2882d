"""``opshand demo`` and ``opshand chat``: the whole loop with no accounts.

Both start the same stack (:func:`start_stack`): opshand on embedded defaults, the local Slack
workspace, and the real Bolt app served over HTTP, which LocalSlack delivers signed requests to.
``demo`` serves the web page; ``chat`` is a terminal client of the same workspace.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.engine import make_url

from bot.cli.common import DataDir, boot, err, out, settings
from bot.localslack import DEFAULT_EVENTS, BoltServer, LocalSlack, TryStep

if TYPE_CHECKING:
    from bot.bootstrap import Opshand
    from bot.settings import Settings

__all__ = [
    "DEMO_INTRO",
    "DEMO_STEPS",
    "DemoStack",
    "demo_intro",
    "demo_refusals",
    "demo_steps",
    "register_run_commands",
    "start_stack",
    "wait_for_ctrl_c",
]

DEFAULT_PORT = 8765
"""Where the demo's page listens unless ``--port`` says otherwise."""


def demo_intro(endpoints: int = 4200) -> str:
    """The page's welcome text (Slack mrkdwn) for a sample estate of ``endpoints``."""
    return (
        "*Welcome to opshand.* This page stands in for Slack, so you need no account: opshand "
        f"runs on a sample estate of {endpoints:,} endpoints with simulated tools, and nothing "
        "real is touched. The *Acting as* menu (top right) switches between four demo people. "
        "Follow the steps: each picks the right person and channel and fills in the message; "
        "press *Enter* to send."
    )


DEMO_INTRO = demo_intro()
"""The page's welcome text (Slack mrkdwn)."""

DEMO_STEPS: tuple[TryStep, ...] = (
    TryStep(
        title="Ask a blast-radius question",
        say="@opshand what depends on contoso-ny-db-prod-01?",
        user="ana",
        channel="ops",
        hint="The answer comes as a reply: click “1 reply” under your message.",
    ),
    TryStep(
        title="Ask for a routine change",
        say="@opshand restart contoso-erp-app",
        user="ana",
        channel="ops",
        hint="Policy lets it run by itself: the thread shows it run and reconcile.",
    ),
    TryStep(
        title="Ask for a risky change",
        say="@opshand reboot contoso-ny-bkp-prod-01",
        user="ana",
        channel="ops",
        hint="A production reboot: a consent card (CR-…) goes to #ops-approvals.",
    ),
    TryStep(
        title="Approve it as someone else",
        user="ben",
        channel="ops-approvals",
        hint="You are now Ben, an approver: press Approve on the card. Ana cannot approve her "
        "own change.",
    ),
    TryStep(
        title="Read the thread summary",
        user="ana",
        channel="ops",
        open_thread="reboot",
        hint="Back as Ana: what ran, whether it reconciled, and its audit entry.",
    ),
    TryStep(
        title="Ask for a change tonight",
        say="@opshand patch contoso-ny-web-prod-01 tonight",
        user="ana",
        channel="ops",
        hint="A production patch for tonight: the thread and the card say when it runs, in "
        "your time zone.",
    ),
    TryStep(
        title="Approve it for tonight",
        user="ben",
        channel="ops-approvals",
        hint="As Ben, press Approve on the patch card: it waits as scheduled until tonight "
        "(`/opshand pending` lists it, `/opshand cancel CR-…` stops it).",
    ),
    TryStep(
        title="Open the digest",
        say="@opshand what did you do today?",
        user="devika",
        channel="ops",
        hint="Devika, the manager: what ran by itself, what needed consent, what waits.",
    ),
)
"""The "try this" list: the loop from question to digest."""


def demo_steps(today: date) -> tuple[TryStep, ...]:
    """The "try this" list with the last step opening ``today``'s digest (``/opshand digest``).

    The digest command shows yesterday by default, which is empty on a first run.
    """
    digest = TryStep(
        title="Open the digest",
        say=f"/opshand digest {today.isoformat()}",
        user="devika",
        channel="ops",
        hint="Devika, the manager: what ran by itself, what needed consent, time saved.",
    )
    return (*DEMO_STEPS[:-1], digest)


CAST = "ana (on-call engineer), ben and chloe (approvers), devika (manager)"


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

    def close(self) -> None:
        """Stop the bot, then the workspace, then opshand (waits for their threads)."""
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
) -> DemoStack:
    """Start LocalSlack on ``host:port`` and the Bolt app, and connect them.

    Args:
        oh: A bootstrapped opshand (its slack settings give the token and signing secret).
        port: The page's port; 0 picks a free one.
        host: Interface to listen on.
        steps: The page's "try this" list.
        intro: The page's welcome text.

    Raises:
        OSError: if the port is taken.
    """
    from slack_sdk import WebClient

    from bot.app import build_app

    token = oh.settings.slack.bot_token.get_secret_value()
    slack = LocalSlack(
        signing_secret=oh.settings.slack.signing_secret.get_secret_value(),
        bot_token=token,
        host=host,
        port=port,
        try_this=steps,
        intro=intro,
        # thread follow-ups and DMs reach the bot as `message` events
        events=DEFAULT_EVENTS | {"message"},
    )
    slack.start()
    try:
        client = WebClient(token=token, base_url=slack.api_url)
        bolt = BoltServer(build_app(oh, client=client), host=host)
        bolt.start()
    except BaseException:
        slack.stop()
        raise
    slack.bot_url = bolt.url
    return DemoStack(oh=oh, slack=slack, bolt=bolt)


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
        elif step.open_thread:
            what = f"{who}read the summary printed under “{step.open_thread}”"
        else:
            what = f"{who}press the number shown next to Approve"
        lines.append(f"  {n}. {step.title} — {what}")
    return lines


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
    out.print("  Terminal: opshand chat runs the same loop without a browser\n")
    out.print("Press Ctrl-C to stop.")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        wait_for_ctrl_c()
    finally:
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
    allow_real: Annotated[
        bool,
        typer.Option(help="Start even against a non-local database or real integrations."),
    ] = False,
) -> None:
    """Talk to opshand in the terminal, through the same bot and local workspace as ``demo``.

    Block Kit is shown as text, buttons as numbered choices; /as NAME switches person.
    """
    from bot.chat import ChatSession

    stack = _boot_stack(data_dir, reset, port, allow_real)
    try:
        try:
            session = ChatSession(stack.slack, out, user=as_user)
        except ValueError as exc:
            err.print(f"[red]--as {as_user}:[/red] {exc}")
            raise typer.Exit(2) from exc
        out.print(f"People: {CAST}. The same workspace is at {stack.slack.web_url}")
        out.print("Try this:", highlight=False)
        for line in _steps_as_text(tuple(stack.slack.try_this), as_user):
            out.print(line, highlight=False, markup=False)
        try:
            if sys.stdin.isatty():
                session.run(follow=True)
            else:  # piped: echo each line after its prompt so the output reads as a chat
                session.run((line.rstrip("\n") for line in sys.stdin), follow=False)
        except KeyboardInterrupt:
            out.print()
    finally:
        stack.close()
        out.print(f"[dim]Stopped. Your data is kept in {stack.oh.settings.data_dir}[/dim]")
