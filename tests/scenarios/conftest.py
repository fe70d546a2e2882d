"""A whole opshand wired to a local Slack workspace, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from slack_sdk import WebClient

from adapters.sim import SimTimings
from bot.app import build_app
from bot.bootstrap import Opshand, bootstrap
from bot.localslack import BoltServer, LocalSlack
from bot.settings import Settings
from tests.conftest import _drop_schema, _pg_engine

SIGNING_SECRET = "scenario-signing-secret-0001"
BOT_TOKEN = "xoxb-scenario-0001"


@dataclass
class World:
    """opshand + the local Slack workspace + the Bolt app serving it."""

    oh: Opshand
    slack: LocalSlack
    bolt: BoltServer

    @property
    def bot(self) -> str:
        return self.slack.bot_user_id


def _settings(tmp_path: Path, db: str, url: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        sample_endpoints=200,
        # the Slack flows are tested on the generator's full twin (the demo's own twin, built
        # through the topology sources, is tested in test_topology_from_sources and test_chat)
        sample_topology="ground_truth",
        slack={"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN},
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = None
    schema = ""
    if request.param == "postgres":
        schema = f"s_{uuid.uuid4().hex[:10]}"
        eng = _pg_engine(schema)
        url = eng.url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"
        eng.dispose()
    oh = bootstrap(
        _settings(tmp_path, request.param, url), sim_timings=SimTimings(scale=0), start_worker=True
    )
    slack = LocalSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    slack.start()
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    bolt = BoltServer(build_app(oh, client=client))
    bolt.start()
    slack.bot_url = bolt.url
    try:
        yield World(oh, slack, bolt)
    finally:
        bolt.stop()
        slack.stop()
        oh.close()
        if schema:
            _drop_schema(schema)
