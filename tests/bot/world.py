"""opshand + the local Slack workspace + the production HTTP app (bot.ingress.http) serving Bolt."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from adapters.sim import SimTimings
from bot.app import build_app
from bot.bootstrap import Opshand, bootstrap
from bot.cli.serve import build_inbox
from bot.ingress import HttpServer, create_http_app
from bot.localslack import DEFAULT_USERS, DemoUser, LocalSlack
from bot.settings import Settings
from tests.conftest import _drop_schema, _pg_engine

SIGNING_SECRET = "slack-world-signing-secret-01"
BOT_TOKEN = "xoxb-slack-world-0001"
ANA, BEN, CHLOE, DEVIKA = "U0LOCAL01", "U0LOCAL02", "U0LOCAL03", "U0LOCAL04"
FAKE_BEN = "U0FAKEBEN1"
"""Someone whose display name imitates Ben, the approver."""
OUTSIDER_TEAM = "T0EXTERN1"
OUTSIDER = "U0EXTERN01"
"""A Slack Connect person from another organisation, listed nowhere."""
OUTSIDER_BARE = "U0EXTERN02"
"""An outsider whose bare user id an operator wrote into the approvers (meaning one of ours)."""
OUTSIDER_LISTED = "U0EXTERN03"
"""An outsider listed as an approver by team and id (``T0EXTERN1:U0EXTERN03``)."""
OUTSIDERS = tuple(
    DemoUser(id=uid, name=f"ext{n}", real_name=f"Partner {n}", team_id=OUTSIDER_TEAM)
    for n, uid in enumerate((OUTSIDER, OUTSIDER_BARE, OUTSIDER_LISTED), 1)
)
EVENTS = ("app_mention", "app_home_opened", "message")


@dataclass
class World:
    """Everything a Slack test needs."""

    oh: Opshand
    slack: LocalSlack
    http: HttpServer

    @property
    def bot(self) -> str:
        return self.slack.bot_user_id


@contextmanager
def slack_world(
    tmp_path: Path,
    db: str = "sqlite",
    *,
    ack_timeout: float = 3.0,
    incident_channels: Mapping[str, str] | None = None,
    create_incident_channels: bool = False,
    start_worker: bool = True,
    roles: Mapping[str, Any] | None = None,
) -> Iterator[World]:
    """Start the whole stack; stop it on exit."""
    url, schema = None, ""
    if db == "postgres":
        schema = f"s_{uuid.uuid4().hex[:10]}"
        eng = _pg_engine(schema)
        url = eng.url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"
        eng.dispose()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        sample_endpoints=200,
        sample_topology="ground_truth",  # the Slack flows run on the generator's full twin
        slack={"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN},
        **({"roles": dict(roles)} if roles is not None else {}),
    )
    oh = bootstrap(settings, sim_timings=SimTimings(scale=0), start_worker=start_worker)
    fake = DemoUser(id=FAKE_BEN, name="ben.okafor", real_name="Ben Okafor")
    users = (*DEFAULT_USERS, fake, *OUTSIDERS)
    slack = LocalSlack(
        signing_secret=SIGNING_SECRET,
        bot_token=BOT_TOKEN,
        users=users,
        events=EVENTS,
        ack_timeout=ack_timeout,
        retry_delays=(0.0, 0.1, 0.2),
    )
    slack.start()
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    bolt = build_app(
        oh,
        client=client,
        incident_channels=incident_channels,
        create_incident_channels=create_incident_channels,
    )
    # the production path: events go through the durable inbox before their 200
    http = HttpServer(
        create_http_app(
            bolt,
            engine=oh.engine,
            signing_secret=SIGNING_SECRET,
            inbox=build_inbox(oh, bolt),
        )
    )
    http.start()
    slack.bot_url = http.url
    try:
        yield World(oh, slack, http)
    finally:
        http.stop()
        slack.stop()
        oh.close()
        if schema:
            _drop_schema(schema)


def all_blocks(m: dict[str, Any]) -> list[dict[str, Any]]:
    """A message's blocks, then its attachments' blocks (a consent card's body is in one)."""
    body = [b for a in m.get("attachments") or [] for b in a.get("blocks") or []]
    return [*(m.get("blocks") or []), *body]


def texts(msgs: list[dict[str, Any]]) -> str:
    """Every piece of text in messages (fallback text, blocks, attachments' blocks)."""
    out = []
    for m in msgs:
        out.append(m.get("text", ""))
        for b in all_blocks(m):
            t = b.get("text")
            if isinstance(t, dict):
                out.append(t.get("text", ""))
            for f in b.get("fields") or []:
                out.append(f.get("text", ""))
            for el in b.get("elements") or []:
                if isinstance(el, dict) and isinstance(el.get("text"), str):
                    out.append(el["text"])
    return "\n".join(out)


def wait_text(
    w: World, channel: str, needle: str, thread_ts: str | None = None, timeout: float = 20.0
) -> str:
    """Wait until ``needle`` appears in what the bot said in a channel (or thread)."""
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        said = [m for m in w.slack.messages(channel, thread_ts=thread_ts) if m.get("bot_id")]
        body = texts(said)
        if needle in body:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never appeared in {channel}; got:\n{body}")


def card_of(w: World, ref: str, channel: str = "ops-approvals") -> dict[str, Any]:
    """The consent card for ``ref`` in ``channel``."""

    def find() -> dict[str, Any] | None:
        for m in w.slack.messages(channel):
            if f"Consent needed: {ref} " in texts([m]):
                return m
        return None

    return w.slack.wait_for(find, timeout=20)


def message(w: World, channel: str, ts: str) -> dict[str, Any]:
    """The current version of one message."""
    return next(m for m in w.slack.messages(channel) if m["ts"] == ts)


def ref_in(body: str) -> str:
    """The first ``CR-n`` in ``body``."""
    found = re.search(r"CR-\d+", body)
    assert found, f"no change reference in: {body}"
    return found.group(0)
