"""The daily digest: rendered for managers, posted once a day, exactly once across replicas.

Scheduling is one small daemon thread (:class:`DigestScheduler`) rather than APScheduler: there
is a single job, and the exactly-once guarantee has to come from the database anyway (several
replicas each run the thread). Posting first leases ``digest:<date>`` in ``slack_job``
(:mod:`bot.jobs`); only the lease holder posts, then records the message ts as done. A holder
that dies mid-post loses its lease when it expires and another replica takes the day over; a
failed post releases the lease at once. A takeover first looks in the channel for the day's
digest (tagged with message metadata), because a post whose response was lost did happen: so
the day is posted once, neither skipped nor doubled. The 14-day chart is a PNG by outcome
(:mod:`bot.digest_chart`) uploaded in the digest's thread with alt text; the message itself keeps
a one-line text chart, so the digest reads whole even where images are not shown.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from agent.digest import DigestNumbers, compute_digest
from bot.blocks import Block, ctx, header, limit_blocks, md
from bot.bootstrap import Opshand
from bot.digest_chart import chart_alt_text, render_chart
from bot.home import upcoming_line
from bot.jobs import JobLease, acquire_job, finish_job, job_result, release_job
from bot.mrkdwn import esc
from bot.slack_tables import list_block
from bot.tables import prune_seen
from twin import utcnow

__all__ = [
    "DEFAULT_MINUTES",
    "DIGEST_EVENT",
    "DIGEST_LEASE",
    "DigestConfig",
    "DigestScheduler",
    "default_day",
    "digest_blocks",
    "digest_chart",
    "digest_config",
    "digest_day",
    "digest_for",
    "digest_numbers",
    "post_digest",
    "text_chart",
]

log = logging.getLogger(__name__)

DEFAULT_MINUTES = 15.0
"""Minutes a person would spend on one action when no per-kind estimate is configured."""
_BARS = " ▁▂▃▄▅▆▇█"
DIGEST_LEASE = timedelta(minutes=5)
"""How long a replica holds a day's digest: far longer than rendering and one post take, short
enough that a dead holder's day is taken over within minutes."""
DIGEST_EVENT = "opshand_digest"
"""Message metadata ``event_type`` that marks a posted digest, so a takeover can find it."""


@dataclass(frozen=True, kw_only=True)
class DigestConfig:
    """When, where and with which assumptions the digest is made."""

    at: time = time(8, 0)
    """Local time of day to post (the digest covers the previous day)."""
    timezone: str = "UTC"
    channel: str = "ops-digest"
    minutes_per_action: Mapping[str, float] = field(default_factory=dict)
    default_minutes: float = DEFAULT_MINUTES

    @property
    def tz(self) -> ZoneInfo:
        """The time zone object."""
        return ZoneInfo(self.timezone)


def digest_config(oh: Opshand) -> DigestConfig:
    """The digest settings; the channel defaults to ``slack.digest_channel``."""
    s = oh.settings
    d = s.digest
    at = d.at
    return DigestConfig(
        at=at,
        timezone=str(d.timezone),
        channel=d.channel or s.slack.digest_channel,
        minutes_per_action=dict(d.minutes_per_action),
        default_minutes=float(d.default_minutes),
    )


def text_chart(history: list[tuple[date, int, int]]) -> str:
    """Changes run per day as one line of bars, failures as a second line, dates under."""
    top = max([ran for _, ran, _ in history] + [1])
    ran = "".join(_BARS[round(r / top * (len(_BARS) - 1))] for _, r, _ in history)
    bad = "".join("x" if f else "·" for _, _, f in history)
    first, last = history[0][0], history[-1][0]
    return (
        f"ran    {ran}  (max {top}/day)\nfailed {bad}\n"
        f"       {first:%d %b}{' ' * max(1, len(history) - 12)}{last:%d %b}"
    )


def _dur(d: timedelta) -> str:
    minutes = d.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def digest_blocks(n: DigestNumbers, cfg: DigestConfig) -> tuple[str, list[Block]]:
    """The digest as (plain-text fallback, blocks)."""
    total = sum(n.outcomes.values())
    order = ("auto", "consented", "denied", "rejected", "expired", "failed", "rolled back")
    outcome_line = " · ".join(f"{k} *{n.outcomes.get(k, 0)}*" for k in order)
    text = f"opshand digest for {n.day:%a %d %b %Y}: {total} decisions and outcomes"
    blocks: list[Block] = [header(f"opshand daily digest — {n.day:%a %d %b %Y}"), md(outcome_line)]
    if n.by_kind:
        rows = [
            f"*{esc(kind)}*: " + ", ".join(f"{esc(o)} {c}" for o, c in sorted(counts.items()))
            for kind, counts in n.by_kind.items()
        ]
        blocks += list_block("By kind", rows, noun="kinds")
    if n.consent_median is not None and n.consent_slowest is not None:
        ref, slow = n.consent_slowest
        blocks.append(
            md(
                f"*Consent time:* median {_dur(n.consent_median)}, slowest {_dur(slow)} "
                f"({esc(ref)})"
            )
        )
    else:
        blocks.append(md("*Consent time:* no consent decisions that day"))
    if n.failures:
        lines = [
            f"• *{esc(f.ref)}* {esc(f.action)} {esc(f.state.replace('_', ' '))}"
            + (f" — {esc(f.detail)}" if f.detail else "")
            for f in n.failures[:10]
        ]
        blocks.append(
            md(f"*Failures and escalations* ({n.escalations} escalated)\n" + "\n".join(lines))
        )
    else:
        blocks.append(md("*Failures and escalations:* none"))
    if n.waiting:
        ages = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in n.waiting.items())
        blocks.append(md(f"*Waiting for consent at day end:* {ages}"))
    if n.rules:
        blocks.append(
            md("*Rules that decided most:* " + ", ".join(f"`{esc(r)}` {c}" for r, c in n.rules))
        )
    done = sum(n.succeeded.values())
    assumptions = ", ".join(
        f"{esc(k)} {v:g} min" for k, v in sorted(cfg.minutes_per_action.items())
    )
    blocks.append(
        md(f"*Estimated time saved:* {n.minutes_saved / 60:.1f} h on {done} reconciled change(s)")
    )
    blocks.append(
        ctx(
            f"Assumes {cfg.default_minutes:g} min of a person's time per action"
            + (f" ({assumptions})" if assumptions else "")
            + "; an estimate, not a measurement."
        )
    )
    if n.patch_cycle is not None:
        when = n.patch_cycle.at.astimezone(cfg.tz)
        summary = esc(n.patch_cycle.summary)
        blocks.append(md(f"*Last patch cycle* ({when:%a %d %b %H:%M}): {summary}"))
    if n.coming_up:
        now = n.as_of or n.coming_up[0].not_before
        soon = "\n".join(upcoming_line(u, n.timezone, now) for u in n.coming_up[:10])
        blocks.append(md(f"*Coming up* ({len(n.coming_up)} scheduled)\n{soon}"))
    blocks.append(md("*Last 14 days*\n```" + text_chart(n.history) + "```"))
    blocks.append(ctx(f"Days are {n.timezone} calendar days."))
    return text, limit_blocks(blocks)


def default_day(oh: Opshand) -> date:
    """Yesterday, in the digest's time zone."""
    return utcnow().astimezone(digest_config(oh).tz).date() - timedelta(days=1)


def digest_day(oh: Opshand, word: str) -> date | None:
    """The day a person means: "" or "today" (so far), "yesterday", or YYYY-MM-DD; else None."""
    today = utcnow().astimezone(digest_config(oh).tz).date()
    word = word.strip().lower()
    if word in ("", "today"):
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(word)
    except ValueError:
        return None


def digest_numbers(oh: Opshand, day: date | None = None) -> DigestNumbers:
    """The figures of ``day``'s digest (default: yesterday in the digest's time zone)."""
    cfg = digest_config(oh)
    return compute_digest(
        oh.engine,
        oh.audit,
        day or default_day(oh),
        cfg.tz,
        minutes_per_action=cfg.minutes_per_action,
        default_minutes=cfg.default_minutes,
        coming_up=oh.ops.coming_up(),
        as_of=oh.ops.now(),
    )


def digest_for(oh: Opshand, day: date | None = None) -> tuple[str, list[Block]]:
    """Render the digest of ``day`` (default: yesterday in the digest's time zone)."""
    return digest_blocks(digest_numbers(oh, day), digest_config(oh))


def digest_chart(n: DigestNumbers) -> tuple[bytes, str]:
    """The digest's 14-day chart as PNG bytes, with its alt text."""
    title = f"opshand: changes per day by outcome to {n.day:%a %d %b}"
    return render_chart(n.outcome_history, title=title), chart_alt_text(n.outcome_history)


def _upload_chart(client: WebClient, channel: str, ts: str, n: DigestNumbers) -> None:
    """Put the chart in the digest's thread; a failed upload never costs the day's digest."""
    try:
        png, alt = digest_chart(n)
        client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            content=png,
            filename=f"opshand-digest-{n.day.isoformat()}.png",
            title=f"Changes per day, 14 days to {n.day:%d %b}",
            alt_txt=alt,
        )
    except Exception:
        log.warning("could not upload the digest chart for %s", n.day, exc_info=True)


def post_digest(
    oh: Opshand,
    client: WebClient,
    day: date,
    *,
    owner: str | None = None,
    now: datetime | None = None,
) -> str | None:
    """Post ``day``'s digest once across every replica and crash.

    Args:
        oh: the wired opshand.
        client: the Slack Web API client.
        day: the day the digest covers.
        owner: this replica's name for the lease (default: replica id, else host:pid).
        now: the current time (tests).

    Returns:
        The message ts when this call posted it (or found its own lost post); None when the day
        is already done or another replica holds it.
    """
    key = f"digest:{day.isoformat()}"
    who = owner or oh.settings.replica_id or f"{socket.gethostname()}:{os.getpid()}"
    lease = acquire_job(oh.engine, key, who, DIGEST_LEASE, now=now)
    if lease is None:
        return None
    cfg = digest_config(oh)
    try:
        channel = _channel(client, cfg.channel)
        found = _already_posted(client, channel, day) if lease.attempt > 1 else None
        if found is not None:
            log.warning("the digest for %s was posted by an earlier attempt; recording it", day)
            return _finish(oh, lease, found, day)
        numbers = digest_numbers(oh, day)
        text, blocks = digest_blocks(numbers, cfg)
        resp = client.chat_postMessage(
            channel=channel,
            text=oh.redactor.redact_text(text),
            blocks=oh.redactor.redact(blocks),
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": DIGEST_EVENT, "event_payload": {"day": day.isoformat()}},
        )
    except Exception:
        # Give the lease back so the next tick retries; the day must not be silently skipped.
        release_job(oh.engine, lease)
        raise
    log.info("posted the digest for %s", day)
    _upload_chart(client, channel, str(resp["ts"]), numbers)
    return _finish(oh, lease, str(resp["ts"]), day)


def _finish(oh: Opshand, lease: JobLease, ts: str, day: date) -> str | None:
    if finish_job(oh.engine, lease, ts):
        return ts
    # Our lease lapsed mid-post and another replica finished first: say so loudly, since the
    # lease is meant to be far longer than a post takes.
    log.error(
        "the digest for %s was also posted by another replica (%s)",
        day,
        job_result(oh.engine, lease.key),
    )
    return None


def _already_posted(client: WebClient, channel: str, day: date) -> str | None:
    """The ts of ``day``'s digest already in ``channel`` (by its metadata), or None."""
    try:
        resp = client.conversations_history(channel=channel, limit=200, include_all_metadata=True)
    except Exception:
        # Without history access we cannot tell; posting again risks a duplicate, not posting
        # risks a missing day. A duplicate digest is the lesser harm.
        log.warning("cannot read %s to check for an earlier digest post", channel, exc_info=True)
        return None
    messages: list[dict[str, Any]] = resp.get("messages", []) or []
    for m in messages:
        meta = m.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == DIGEST_EVENT and payload.get("day") == day.isoformat():
            return str(m["ts"])
    return None


def _channel(client: WebClient, name: str) -> str:
    name = name.removeprefix("#")
    if name[:1] in ("C", "G") and name.isupper():
        return name
    chans: list[dict[str, Any]] = client.conversations_list(limit=1000).get("channels", [])
    for c in chans:
        if c["name"] == name:
            return str(c["id"])
    return name


class DigestScheduler:
    """A daemon thread that posts yesterday's digest once the configured local time passed."""

    def __init__(
        self,
        oh: Opshand,
        client: WebClient,
        *,
        tick: float = 30.0,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        """Prepare; ``start()`` runs it. ``tick`` is the seconds between checks."""
        self.oh = oh
        self.client = client
        self.tick = tick
        self.now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> date | None:
        """The day whose digest should be posted now, or None before the posting time."""
        cfg = digest_config(self.oh)
        local = self.now().astimezone(cfg.tz)
        if local.time() < cfg.at:
            return None
        return local.date() - timedelta(days=1)

    def run_once(self) -> str | None:
        """One check: post when due (and not yet posted), prune old de-duplication keys."""
        prune_seen(self.oh.engine, self.now())
        day = self.due()
        return post_digest(self.oh, self.client, day) if day else None

    def start(self) -> None:
        """Run in a background daemon thread until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except Exception:
                    log.exception("digest check failed; will retry")
                self._stop.wait(self.tick)

        self._thread = threading.Thread(target=loop, name="opshand-digest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
