"""Slack mrkdwn at the edge: the one escaping function, and the only mentions and links we make.

Slack parses ``&``, ``<`` and ``>`` as control characters in every mrkdwn text object and in a
message's ``text`` fallback: ``<!channel>``, ``<!here>``, ``<@U123>``, ``<#C123>`` and
``<https://host|label>`` become live mentions and links. Slack's rule (Formatting text for app
surfaces, "Escaping text", https://api.slack.com/reference/surfaces/formatting#escaping) is to
replace exactly those three characters with ``&amp;``, ``&lt;`` and ``&gt;``, and nothing else.

Every string that reaches Slack from the twin, a tool, a ticket, an alert, a vote reason or a
model goes through :func:`esc` where it is put into a message. Live mentions and links come only
from :func:`mention` and :func:`link`, which take our own ids and URLs and refuse anything
shaped otherwise. ``plain_text`` objects (headers, buttons) are not parsed for mentions and need
no escaping.
"""

from __future__ import annotations

import re

__all__ = ["esc", "link", "mention", "person"]

_USER_ID = re.compile(r"[UWB][A-Z0-9]{2,}")
_URL = re.compile(r"(?:https://|http://(?:127\.0\.0\.1|localhost)(?::\d+)?/)[^\s<>|]+")
"""Our own links: ``https``, or plain ``http`` only on the loopback host (the local workspace)."""


def esc(value: object) -> str:
    """``value`` as text Slack shows literally: ``&``, ``<`` and ``>`` as HTML entities.

    Apply it once, where data meets markup; it is not idempotent (``&amp;`` becomes
    ``&amp;amp;``), as Slack's own rule is not.
    """
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    """A live ``<@U…>`` mention of a Slack user id we hold (from a signed payload or our tables).

    Anything that is not shaped like a Slack user id is shown escaped in code, never as markup.
    """
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return f"`{esc(user_id)}`"


def person(identity: str) -> str:
    """``team:user`` as a mention of the user; signals and system actors shown in code."""
    if identity.startswith(("signal:", "system")) or ":" not in identity:
        return f"`{esc(identity)}`"
    return mention(identity.rsplit(":", maxsplit=1)[-1])


def link(url: str, label: str) -> str:
    """A live link to one of our own ``https`` URLs (or the local workspace's), label escaped.

    A URL with whitespace, ``<``, ``>`` or ``|`` in it is not one we built; it is shown as
    escaped text instead of a link. An ``&`` (a permalink's query) is written ``&amp;``, as
    Slack's escaping rule asks for inside links too.
    """
    if not _URL.fullmatch(url):
        return esc(f"{label} ({url})")
    return f"<{url.replace('&', '&amp;')}|{esc(label)}>"
