"""``opshand serve``: connect to a real Slack workspace, in HTTP mode or Socket Mode.

HTTP mode serves :func:`bot.ingress.http.create_http_app` with uvicorn (Slack's request URL is
``https://<host>/slack/events``); Socket Mode opens a WebSocket with the app-level token, so no
public URL is needed. Either way the executor worker, the digest scheduler and the sweeper of
the durable event inbox (:mod:`bot.ingress.inbox`) run alongside; in both modes an event is stored
in
the inbox before Slack is told it arrived (:mod:`bot.ingress.socket_mode` for Socket Mode).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import typer

from bot.cli.common import DataDir, SettingsFile, boot, err, out

if TYPE_CHECKING:
    from bot.ingress import Inbox

__all__ = [
    "build_inbox",
    "management_routes_for",
    "register_serve_command",
    "webhook_routes_for",
]

log = logging.getLogger(__name__)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_DEFAULT_ADVICE = (
    "Check OPSHAND_SLACK__APP_TOKEN: an app-level token (xapp-...) with connections:write."
)
_ADVICE = {
    "not_allowed_token_type": "OPSHAND_SLACK__APP_TOKEN must be an app-level token (xapp-...), "
    "not a bot or user token.",
    "invalid_auth": "OPSHAND_SLACK__APP_TOKEN is not a valid app-level token for this app "
    "(revoked, or from another app?).",
    "not_authed": "OPSHAND_SLACK__APP_TOKEN is empty.",
}
"""What to tell the operator for each ``apps.connections.open`` refusal."""


def register_serve_command(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level app."""
    app.command()(serve)


def webhook_routes_for(oh: Any) -> list[Any]:
    """The signal webhook routes (Alertmanager, PagerDuty, generic) feeding the signal loop.

    Every source must authenticate (``signals.sources``); each one opened on purpose is
    warned about here, once per start.
    """
    module = importlib.import_module("bot.ingress.webhooks")
    auth = importlib.import_module("bot.ingress.signal_auth")
    sources = oh.settings.signal_sources()
    for warning in auth.open_source_warnings(sources):
        log.warning(warning)
        err.print(f"[yellow]Warning: {warning}[/yellow]")
    return list(module.webhook_routes(oh.signals.handle, gate=auth.SignalGate(sources)))


def management_routes_for(oh: Any, bolt: Any) -> list[Any]:
    """``/healthz`` and ``/readyz`` for ``oh`` (database, cached Slack check, circuits)."""
    from bot.ingress.management import SlackCheck, health_routes

    check = SlackCheck(bolt.client.auth_test)
    return list(health_routes(engine=oh.engine, slack=check, circuits=oh.circuits))


def build_inbox(oh: Any, bolt: Any) -> Inbox:
    """The durable Slack event inbox of this replica (either mode), from ``oh.settings``."""
    from bot.ingress import Inbox

    st = oh.settings
    inbox = Inbox(
        oh.engine,
        bolt,
        signing_secret=st.slack.signing_secret.get_secret_value(),
        # the same name bootstrap gives this replica's executor worker
        owner=st.replica_id or f"{socket.gethostname()}:{os.getpid()}",
        lease=timedelta(seconds=st.inbox.lease_seconds),
        max_attempts=st.inbox.max_attempts,
        redact=oh.redactor.redact_text,
    )
    # Every thread taking a database connection yields to the acks in flight first.
    inbox.priority.install(oh.engine)
    return inbox


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
    if problem := oh.settings.management_problem():
        err.print(f"[red]{problem}.[/red]")
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
        import uvicorn

        from bot.ingress import HttpServer, InboxSweeper, create_http_app
        from bot.ingress.management import TokenGuard, management_app

        inbox = build_inbox(oh, bolt)
        metrics.watch_inbox(inbox)
        # Slack's door (HTTP mode) and the signal webhooks on slack.host:slack.port; health,
        # readiness and metrics on the management listener (or behind its token, port 0).
        mgmt = oh.settings.management
        manage = [*management_routes_for(oh, bolt), *metrics_routes(oh)]
        asgi: Any = create_http_app(
            bolt,
            engine=oh.engine,
            signing_secret=s.signing_secret.get_secret_value(),
            routes=[*webhook_routes_for(oh), *(manage if mgmt.port == 0 else [])],
            inbox=inbox,
            path="/slack/events" if s.mode == "http" else None,
            health=False,
        )
        management: HttpServer | None = None
        if mgmt.port == 0:
            assert mgmt.token is not None  # management_problem() refused port 0 without one
            asgi = TokenGuard(asgi, token=mgmt.token)
        else:
            management = HttpServer(
                management_app(manage, token=mgmt.token), host=mgmt.host, port=mgmt.port
            )
        # Its first pass replays what a replica that died before this one started left behind.
        sweeper = InboxSweeper(inbox, interval=oh.settings.inbox.sweep_seconds)
        client = None
        try:
            if management is not None:
                try:
                    management.start()
                except OSError as exc:
                    err.print(
                        f"[red]Cannot listen on {mgmt.host}:{mgmt.port} for health and "
                        f"metrics: {exc.strerror or exc}.[/red] Set management.port "
                        "(OPSHAND_MANAGEMENT__PORT) to a free port."
                    )
                    management = None
                    raise typer.Exit(1) from None
                out.print(f"Health, readiness and metrics on {management.base_url}")
            if s.mode == "socket":
                assert s.app_token is not None
                client = _connect_socket_mode(bolt, inbox, s.app_token.get_secret_value())
                out.print(f"Signal webhooks on http://{s.host}:{s.port}")
            else:
                out.print(f"Listening for Slack on http://{s.host}:{s.port}/slack/events")
            sweeper.start()
            # uvicorn stops on SIGTERM or SIGINT after the requests in flight, then raises the
            # signal again for the handler it found; a no-op one lets the clean-up below run.
            previous = {sig: signal.signal(sig, _stopped) for sig in _STOP_SIGNALS}
            try:
                uvicorn.run(
                    metrics.asgi(asgi),
                    host=s.host,
                    port=s.port,
                    log_level="info",
                    access_log=False,
                )
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        finally:
            if client is not None:
                client.close()
            sweeper.stop()
            inbox.close()  # the events already stored or queued are committed
            if management is not None:
                management.stop()
    finally:
        scheduler.stop()
        oh.close()


def _stopped(signum: int, frame: object) -> None:
    """The stop signal was already handled by uvicorn's graceful shutdown."""
    log.info("stopping on signal %d", signum)


def _connect_socket_mode(bolt: Any, inbox: Inbox, app_token: str) -> Any:
    """Open the Socket Mode connection; exit 2 with advice if Slack refuses or is unreachable."""
    from slack_sdk.errors import SlackApiError

    from bot.ingress import socket_mode_client

    client = socket_mode_client(bolt, inbox, app_token)
    out.print("Connecting to Slack over Socket Mode")
    try:
        client.connect()
    except SlackApiError as exc:
        # The error code only: never the token.
        code = exc.response.get("error", "unknown_error")
        hint = _ADVICE.get(code, _DEFAULT_ADVICE)
        err.print(f"[red]Slack refused the app-level token ({code}). {hint}[/red]")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]Could not reach Slack to open a Socket Mode connection: {exc}[/red]")
        raise typer.Exit(2) from None
    out.print("Connected to Slack over Socket Mode")
    return client
