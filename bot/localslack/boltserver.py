"""Serve a sync Bolt ``App`` over HTTP on localhost, in a background thread.

Slack's HTTP mode needs the app reachable at a request URL. Bolt's own development server
cannot be stopped from another thread, so this serves the app through the one threaded-server
helper (:class:`bot.ingress.threaded.ThreadedServer`): it starts on a free port and stops
cleanly (tests, the offline demo). Bodies stop at :data:`MAX_BODY` while they stream, and each
request is dispatched to Bolt in a worker thread, so a slow listener does not hold up Slack's
retry.
"""

from __future__ import annotations

from types import TracebackType

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.ingress.limits import BodyLimit, BodyTooLarge, read_body
from bot.ingress.threaded import ThreadedServer

__all__ = ["MAX_BODY", "BoltServer"]

MAX_BODY = 1_000_000
"""Largest request body passed to Bolt (bytes); a larger one is answered 413."""


def _bolt_app(app: App, path: str) -> Starlette:
    """An ASGI app handing ``POST path`` to the sync Bolt app in a worker thread."""

    async def slack_events(request: Request) -> Response:
        try:
            body = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return Response(f"body larger than {MAX_BODY} bytes", status_code=413)
        try:
            bolt_request = to_bolt_request(request, body)
        except UnicodeDecodeError:
            return Response("body is not UTF-8", status_code=400)
        return to_starlette_response(await run_in_threadpool(app.dispatch, bolt_request))

    return Starlette(
        routes=[Route(path, slack_events, methods=["POST"])],
        middleware=[Middleware(BodyLimit, limit=MAX_BODY)],
    )


class BoltServer:
    """A Bolt app listening on ``http://host:port/slack/events``."""

    def __init__(
        self, app: App, *, host: str = "127.0.0.1", port: int = 0, path: str = "/slack/events"
    ) -> None:
        """Prepare the server; ``start()`` binds the port.

        Args:
            app: The sync Bolt app to serve.
            host: Interface to listen on.
            port: Port; 0 picks a free one.
            path: The request URL's path.
        """
        self._host = host
        self._path = path
        self._serving = ThreadedServer(_bolt_app(app, path), host=host, port=port, name="bolt-http")

    def start(self) -> None:
        """Bind and serve in a background thread."""
        if self._serving.started:
            raise RuntimeError("BoltServer is already started")
        self._serving.start()

    @property
    def url(self) -> str:
        """The request URL to give Slack (``LocalSlack(bot_url=...)``)."""
        if not self._serving.started:
            raise RuntimeError("BoltServer is not started")
        return f"http://{self._host}:{self._serving.port}{self._path}"

    def stop(self) -> None:
        """Stop serving, let in-flight requests finish and close the socket."""
        self._serving.stop()

    def __enter__(self) -> BoltServer:
        """Start on entry."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on exit."""
        self.stop()
