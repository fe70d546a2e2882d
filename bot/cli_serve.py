"""``opshand serve``: connect to a real Slack workspace, in HTTP mode or Socket Mode.

HTTP mode serves :func:`bot.http.create_http_app` with uvicorn (Slack's request URL is
``https://<host>/slack/events``); Socket Mode opens a WebSocket with the app-level token, so no
public URL is needed. Either way the executor worker and the digest scheduler run alongside;
in HTTP mode so does the sweeper of the durable event inbox (:mod:`bot.inbox`).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import typer

from bot.cli_common import DataDir, SettingsFile, boot, err, out

if TYPE_CHECKING:
    from bot.inbox import Inbox

__all__ = ["build_inbox", "register_serve_command", "webhook_routes_for"]

log = logging.getLogger(__name__)


def register_serve_command(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level app."""
    app.command()(serve)


def webhook_routes_for(oh: Any) -> list[Any]:
    """The signal webhook routes (Alertmanager, PagerDuty, generic) feeding the signal loop."""
    module = importlib.import_module("bot.webhooks")
    return list(
        module.webhook_routes(oh.signals.handle, pagerduty_secret=oh.settings.pagerduty_secret)
    )


def build_inbox(oh: Any, bolt: Any) -> Inbox:
    """The durable Slack event inbox of this replica (HTTP mode), from ``oh.settings``."""
    from bot.inbox import Inbox

    st = oh.settings
    return Inbox(
        oh.engine,
        bolt,
        signing_secret=st.slack.signing_secret.get_secret_value(),
        # the same name bootstrap gives this replica's executor worker
        owner=st.replica_id or f"{socket.gethostname()}:{os.getpid()}",
        lease=timedelta(seconds=st.inbox.lease_seconds),
        max_attempts=st.inbox.max_attempts,
        redact=oh.redactor.redact_text,
    )


def serve(data_dir: DataDir = None, settings_file: SettingsFile = None) -> None:
    """Connect to a real Slack workspace (HTTP mode or Socket Mode, from settings)."""
    from bot.app import build_app
    from bot.digest import DigestScheduler

    oh = boot(data_dir, settings_file, start_worker=True)
    from bot.logs import configure_logging, install_log_context
    from bot.metrics import install_metrics, metrics_routes

    configure_logging(oh.settings, redactor=oh.redactor)
    s = oh.settings.slack
    if s.mode == "local":
        err.print(
            "[yellow]slack.mode is 'local': use `opshand demo` for the local workspace, or set "
            "OPSHAND_SLACK__MODE=http|socket to reach Slack.[/yellow]"
        )
        oh.close()
        raise typer.Exit(2)
    if s.mode == "socket" and s.app_token is None:
        err.print("[red]Socket Mode needs OPSHAND_SLACK__APP_TOKEN (xapp-...).[/red]")
        oh.close()
        raise typer.Exit(2)
    bolt = build_app(oh)
    install_log_context(bolt)
    metrics = install_metrics(bolt, oh)
    scheduler = DigestScheduler(oh, bolt.client)
    scheduler.start()
    try:
        if s.mode == "socket":
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            assert s.app_token is not None
            out.print("Connecting to Slack over Socket Mode")
            handler = SocketModeHandler(bolt, s.app_token.get_secret_value())
            handler.start()  # type: ignore[no-untyped-call]
            return
        import uvicorn

        from bot.http import create_http_app
        from bot.inbox import InboxSweeper

        inbox = build_inbox(oh, bolt)
        metrics.watch_inbox(inbox)
        asgi = create_http_app(
            bolt,
            engine=oh.engine,
            signing_secret=s.signing_secret.get_secret_value(),
            routes=[*webhook_routes_for(oh), *metrics_routes(oh)],
            circuits=oh.circuits,
            inbox=inbox,
        )
        # Its first pass replays what a replica that died before this one started left behind.
        sweeper = InboxSweeper(inbox, interval=oh.settings.inbox.sweep_seconds)
        sweeper.start()
        out.print(f"Listening for Slack on http://{s.host}:{s.port}/slack/events")
        try:
            uvicorn.run(
                metrics.asgi(asgi), host=s.host, port=s.port, log_level="info", access_log=False
            )
        finally:
            sweeper.stop()
    finally:
        scheduler.stop()
        oh.close()
