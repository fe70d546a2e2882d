"""``opshand demo`` (and ``opshand chat``): the whole loop with no accounts."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from bot.cli_common import DataDir, boot, out, settings

__all__ = ["register_run_commands", "wait_for_ctrl_c"]


def register_run_commands(app: typer.Typer) -> None:
    """Add ``demo`` to the top-level app."""
    app.command()(demo)


def wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


def demo(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="Port of the local Slack page.")] = 8765,
    reset: Annotated[bool, typer.Option(help="Start over with a fresh data folder.")] = False,
    no_browser: Annotated[bool, typer.Option(hidden=True)] = True,
) -> None:
    """Everything on embedded defaults: SQLite, sample estate, sim, offline model, and a local
    Slack workspace in your browser."""
    import shutil

    from bot.app import build_app
    from bot.localslack import BoltServer, LocalSlack

    s = settings(data_dir)
    if reset and s.data_dir.exists():
        shutil.rmtree(s.data_dir)
    oh = boot(data_dir, start_worker=True)
    secret = oh.settings.slack.signing_secret.get_secret_value()
    slack = LocalSlack(
        signing_secret=secret,
        bot_token=oh.settings.slack.bot_token.get_secret_value(),
        port=port,
        try_this=DEMO_TRY_THIS,
    )
    slack.start()
    from slack_sdk import WebClient

    client = WebClient(token=oh.settings.slack.bot_token.get_secret_value(), base_url=slack.api_url)
    bolt = BoltServer(build_app(oh, client=client))
    bolt.start()
    slack.bot_url = bolt.url
    out.print(
        f"[bold green]opshand is running.[/bold green] Open {slack.web_url} (Ctrl-C to stop)."
    )
    try:
        wait_for_ctrl_c()
    finally:
        bolt.stop()
        slack.stop()
        oh.close()
        out.print("Stopped. Your data is kept in " + str(oh.settings.data_dir))


DEMO_TRY_THIS = [
    "@opshand what depends on contoso-nyc-db-prod-01?",
    "@opshand restart contoso-erp-app",
    "@opshand reboot contoso-nyc-db-prod-01",
    "@opshand what is waiting for approval?",
    "@opshand what did you do today?",
]
