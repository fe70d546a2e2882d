"""Fixtures: a started LocalSlack and a real sync Bolt app served over HTTP against it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.localslack import BoltServer, LocalSlack

SECRET = "test-signing-secret"
TOKEN = "xoxb-local"
ANA = "U0LOCAL01"
BEN = "U0LOCAL02"


@pytest.fixture
def slack() -> Iterator[LocalSlack]:
    """A LocalSlack with no bot attached yet (Web API only)."""
    with LocalSlack(signing_secret=SECRET, retry_delays=(0.0, 0.0, 0.0)) as local:
        yield local


@pytest.fixture
def client(slack: LocalSlack) -> WebClient:
    """A WebClient pointed at the local Web API."""
    return WebClient(token=TOKEN, base_url=slack.api_url)


BoltFactory = Callable[..., App]


def make_app(slack: LocalSlack, **kwargs: Any) -> App:
    """A real sync Bolt App whose WebClient talks to ``slack``."""
    return App(
        token=TOKEN,
        signing_secret=kwargs.pop("signing_secret", SECRET),
        client=WebClient(token=TOKEN, base_url=slack.api_url),
        logger=logging.getLogger("test-bolt"),
        **kwargs,
    )


@pytest.fixture
def bolt(slack: LocalSlack) -> Iterator[BoltFactory]:
    """Build a Bolt App talking to LocalSlack and serve it; LocalSlack delivers to it.

    Call it (optionally with App keyword arguments), register listeners on the returned app.
    """
    with ExitStack() as stack:

        def make(**kwargs: Any) -> App:
            app = make_app(slack, **kwargs)
            server = stack.enter_context(BoltServer(app))
            slack.bot_url = server.url
            return app

        yield make
