"""The digest's chart (a real PNG with alt text, uploaded in the digest's thread and shown by the
local workspace), the plain-text terminal digest, and "today" as the slash command's default."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import typer
from matplotlib.image import imread
from slack_sdk import WebClient
from typer.testing import CliRunner

from adapters.sim import SimTimings
from bot.bootstrap import Opshand, bootstrap
from bot.cli.digest import blocks_as_text, mrkdwn_to_plain, register_digest_command
from bot.digest import digest_config, digest_day, post_digest
from bot.digest_chart import OUTCOME_COLOURS, chart_alt_text, render_chart, week_over_week
from bot.localslack import LocalSlack
from bot.settings import Settings
from twin.model import utcnow

_PNG = b"\x89PNG\r\n\x1a\n"


def _history() -> list[tuple[date, dict[str, int]]]:
    start = date(2026, 11, 20)
    # last week: 2 a day; this week: 5 a day, the busiest day (9) with a failure and a denial
    runs = [2] * 7 + [5, 5, 9, 5, 5, 5, 5]
    days = []
    for i, r in enumerate(runs):
        counts = {"auto": r - 3, "consented": 1, "failed": 1, "denied": 1} if r == 9 else {}
        days.append((start + timedelta(days=i), counts or {"auto": r - 1, "consented": 1}))
    return days


@pytest.fixture
def oh(tmp_path: Path) -> Iterator[Opshand]:
    o = bootstrap(
        Settings(data_dir=tmp_path / "d", sample_endpoints=200), sim_timings=SimTimings(scale=0)
    )
    yield o
    o.close()


def test_chart_is_a_png_of_the_set_size() -> None:
    png = render_chart(_history(), title="changes")
    assert png.startswith(_PNG)
    pixels = imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (300, 800)
    # not a blank canvas: one colour per outcome that happened, none for one that did not
    colours = {tuple(round(float(c) * 255) for c in px[:3]) for row in pixels for px in row}
    for outcome in ("auto", "consented", "denied", "failed"):
        rgb = tuple(int(OUTCOME_COLOURS[outcome][i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, outcome
    assert (0x4A, 0x15, 0x4B) not in colours  # nothing was rolled back


def test_chart_of_a_quiet_fortnight_is_still_a_png() -> None:
    quiet = [(date(2026, 11, 20) + timedelta(days=i), {}) for i in range(14)]
    assert render_chart(quiet, title="changes").startswith(_PNG)
    assert "0 in all (none)" in chart_alt_text(quiet)


def test_alt_text_says_totals_by_outcome_busiest_day_and_week_over_week() -> None:
    h = _history()
    assert week_over_week(h) == (39, 14)
    alt = chart_alt_text(h)
    assert "53 in all (37 auto, 14 consented, 1 denied, 1 failed)" in alt
    assert "busiest day Sun 29 Nov with 9" in alt
    assert "39 this week, 14 the week before (up 179%)" in alt
    assert chart_alt_text([]) == "No changes in the period."


def test_posted_digest_carries_its_chart_in_the_thread(oh: Opshand) -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-d") as slack:
        client = WebClient(token="xoxb-d", base_url=slack.api_url)
        day = utcnow().date() - timedelta(days=1)
        ts = post_digest(oh, client, day)
        assert ts is not None
        thread = slack.messages("ops-digest", thread_ts=ts)
        files = [f for m in thread for f in m.get("files", [])]
        assert len(files) == 1
        f = files[0]
        assert f["mimetype"] == "image/png" and f["name"].endswith(f"{day.isoformat()}.png")
        assert f["alt_txt"].startswith("Changes per day by outcome from")
        served = httpx.get(f["url_private"])
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"
        assert served.content.startswith(_PNG)


def test_local_workspace_serves_other_files_as_attachments_only() -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-d") as slack:
        client = WebClient(token="xoxb-d", base_url=slack.api_url)
        up = client.files_upload_v2(
            channel=slack.channel_id("ops-digest"),
            content=b"<script>alert(1)</script>",
            filename="page.html",
        )
        url = up["files"][0]["url_private"]
        served = httpx.get(url)
        assert served.headers["content-type"] == "application/octet-stream"
        assert served.headers["content-disposition"] == "attachment"
        assert httpx.get(url.rsplit("/", 1)[0] + "/F0NOSUCH").status_code == 404


def test_a_chart_upload_failure_does_not_lose_the_digest(oh: Opshand) -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-d") as slack:
        client = WebClient(token="xoxb-d", base_url=slack.api_url)
        slack.rate_limit_next("files.getUploadURLExternal", retry_after=30)
        ts = post_digest(oh, client, utcnow().date() - timedelta(days=2))
        assert ts is not None
        assert len(slack.messages("ops-digest")) == 1


@pytest.mark.parametrize(
    ("mrkdwn", "plain"),
    [
        ("*Consent time:* median 4 min", "Consent time: median 4 min"),
        ("auto *3* · _denied_ `rule-x`", "auto 3 · denied rule-x"),
        ("see <https://x.example/CR-1|CR-1>", "see CR-1 (https://x.example/CR-1)"),
        ("```ran  ▁▂█```", "ran  ▁▂█"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("contoso_ny_web_01 * 2", "contoso_ny_web_01 * 2"),
    ],
)
def test_mrkdwn_becomes_plain_text(mrkdwn: str, plain: str) -> None:
    assert mrkdwn_to_plain(mrkdwn) == plain


def _app() -> typer.Typer:
    app = typer.Typer()
    register_digest_command(app)

    @app.command()
    def other() -> None:
        """A second command, so typer keeps sub-command names."""

    return app


def test_cli_prints_plain_text_and_writes_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    dd = ["--data-dir", str(tmp_path / "d")]
    printed = CliRunner().invoke(_app(), ["digest", "--date", "yesterday", *dd])
    assert printed.exit_code == 0, printed.output
    assert "Consent time" in printed.output
    assert "*Consent time" not in printed.output and "```" not in printed.output
    png = tmp_path / "chart.png"
    res = CliRunner().invoke(_app(), ["digest", "--chart", str(png), *dd])
    assert res.exit_code == 0, res.output
    assert png.read_bytes().startswith(_PNG)
    assert "Changes per day by outcome from" in res.output
    bad = CliRunner().invoke(_app(), ["digest", "--chart", str(tmp_path / "no" / "x.png"), *dd])
    assert bad.exit_code == 1 and "Cannot write" in bad.output


def test_digest_day_reads_today_yesterday_and_dates(oh: Opshand) -> None:
    today = utcnow().astimezone(digest_config(oh).tz).date()
    assert digest_day(oh, "") == today
    assert digest_day(oh, "Today") == today
    assert digest_day(oh, "yesterday") == today - timedelta(days=1)
    assert digest_day(oh, "2026-01-05") == date(2026, 1, 5)
    assert digest_day(oh, "05/01/2026") is None


def test_blocks_as_text_has_no_markup() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Failures:* none"}}]
    assert blocks_as_text(blocks) == "Failures: none"
