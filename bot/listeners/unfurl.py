"""Link and media unfurling off on every path that posts.

An unfurl makes Slack fetch the linked page and show its preview: a URL from an alert, a ticket
or a model's answer would be fetched from Slack's side and could show a stranger's content under
the bot's name. So every message opshand posts says ``unfurl_links: false`` and
``unfurl_media: false``, whichever way it is sent:

- the Web API (``chat.postMessage``, ``chat.postEphemeral``, ``chat.update``,
  ``chat.scheduleMessage``) through :func:`quiet_links`, applied to the app's client and to each
  request's client;
- ``say()`` and ``respond()`` (``response_url``) in listeners through the middleware installed by
  :func:`register_quiet_links`.

A caller that passes the flags explicitly keeps its own value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_sdk import WebClient

__all__ = ["POSTING_METHODS", "QUIET", "quiet_links", "register_quiet_links"]

QUIET: dict[str, bool] = {"unfurl_links": False, "unfurl_media": False}
POSTING_METHODS = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "chat.update", "chat.scheduleMessage"}
)
_MARK = "_opshand_quiet_links"


def quiet_links(client: WebClient) -> WebClient:
    """Make ``client`` post with unfurling off (idempotent; returns the same client)."""
    if getattr(client, _MARK, False):
        return client
    api_call = client.api_call

    def call(api_method: str, **kwargs: Any) -> Any:
        if api_method in POSTING_METHODS:
            for key in ("json", "params", "data"):
                if isinstance(kwargs.get(key), dict):
                    for flag, value in QUIET.items():
                        kwargs[key].setdefault(flag, value)
                    break
            else:
                kwargs["json"] = dict(QUIET)
        return api_call(api_method, **kwargs)

    client.api_call = call  # type: ignore[method-assign]  # one instance, on purpose
    setattr(client, _MARK, True)
    return client


class _Quiet:
    """``say``/``respond`` with unfurling off unless the caller says otherwise."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self._inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for flag, value in QUIET.items():
            kwargs.setdefault(flag, value)
        return self._inner(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def register_quiet_links(app: App) -> None:
    """Install the middleware (first, so every listener sees the quiet ``say``/``respond``)."""
    quiet_links(app.client)

    @app.middleware
    def quiet(context: BoltContext, next: Callable[[], BoltResponse]) -> Any:
        """Unfurling off for this request's ``say``, ``respond`` and client."""
        client = context.get("client")
        if isinstance(client, WebClient):
            quiet_links(client)
        # Bolt makes say/respond on first use; make them now, and wrap them.
        if not isinstance(context.get("say"), _Quiet):
            context["say"] = _Quiet(context.say)
        if context.response_url and not isinstance(context.get("respond"), _Quiet):
            context["respond"] = _Quiet(context.respond)  # type: ignore[arg-type]
        return next()
