"""``opshand serve``: connect to a real Slack workspace."""

from __future__ import annotations

import typer

from bot.cli_common import DataDir, SettingsFile, boot, err, out
from bot.cli_run import wait_for_ctrl_c

__all__ = ["register_serve_command"]


def register_serve_command(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level app."""
    app.command()(serve)


def serve(data_dir: DataDir = None, settings_file: SettingsFile = None) -> None:
    """Connect to a real Slack workspace (HTTP mode or Socket Mode, from settings)."""
    from bot.app import build_app
    from bot.localslack import BoltServer

    oh = boot(data_dir, settings_file, start_worker=True)
    app_ = build_app(oh)
    s = oh.settings.slack
    if s.mode == "socket":
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        if s.app_token is None:
            err.print("[red]Socket Mode needs OPSHAND_SLACK__APP_TOKEN (xapp-...).[/red]")
            raise typer.Exit(2)
        SocketModeHandler(app_, s.app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]
        return
    server = BoltServer(app_, host=s.host, port=s.port)
    server.start()
    out.print(f"Listening for Slack on http://{s.host}:{s.port}/slack/events")
    try:
        wait_for_ctrl_c()
    finally:
        server.stop()
        oh.close()
