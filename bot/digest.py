"""The daily digest: rendered for managers, posted once a day, exactly once across replicas.

Scheduling is one small daemon thread (:class:`DigestScheduler`) rather than APScheduler: there
is a single job, and the exactly-once guarantee has to come from the database anyway (several
replicas each run the thread). Posting first claims ``digest:<date>`` in ``slack_event`` with an
insert; only the replica whose insert succeeds posts, and it releases the claim if posting fails
so the next tick (here or elsewhere) tries again. The 14-day chart is a text bar chart in a code
block: matplotlib is not a dependency, and a text chart needs no file upload scope.
"""

from __future__ import annotations

import logging
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
from bot.listeners.middleware import claim_key, prune_seen, seen_events
from twin.model import utcnow

__all__ = [
    "DEFAULT_MINUTES",
    "DigestConfig",
    "DigestScheduler",
    "default_day",
    "digest_blocks",
    "digest_config",
    "digest_for",
    "post_digest",
    "text_chart",
]

log = logging.getLogger(__name__)

DEFAULT_MINUTES = 15.0
"""Minutes a person would spend on one action when no per-kind estimate is configured."""
_BARS = " ▁▂▃▄▅▆▇█"


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
    """The digest settings: ``settings.digest`` when present, else defaults and the channel."""
    s = oh.settings
    d: Any = getattr(s, "digest", None)
    if d is None:
        return DigestConfig(channel=s.slack.digest_channel)
    at = d.at if isinstance(d.at, time) else time.fromisoformat(str(d.at))
    return DigestConfig(
        at=at,
        timezone=str(d.timezone),
        channel=str(getattr(d, "channel", "") or s.slack.digest_channel),
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
            f"{kind:<24} " + ", ".join(f"{o} {c}" for o, c in sorted(counts.items()))
            for kind, counts in n.by_kind.items()
        ]
        blocks.append(md("*By kind*\n```" + "\n".join(rows[:20]) + "```"))
    if n.consent_median is not None and n.consent_slowest is not None:
        ref, slow = n.consent_slowest
        blocks.append(
            md(f"*Consent time:* median {_dur(n.consent_median)}, slowest {_dur(slow)} ({ref})")
        )
    else:
        blocks.append(md("*Consent time:* no consent decisions that day"))
    if n.failures:
        lines = [
            f"• *{f.ref}* {f.action} {f.state.replace('_', ' ')}"
            + (f" — {f.detail}" if f.detail else "")
            for f in n.failures[:10]
        ]
        blocks.append(
            md(f"*Failures and escalations* ({n.escalations} escalated)\n" + "\n".join(lines))
        )
    else:
        blocks.append(md("*Failures and escalations:* none"))
    if n.waiting:
        ages = ", ".join(f"{k}: {v}" for k, v in n.waiting.items())
        blocks.append(md(f"*Waiting for consent at day end:* {ages}"))
    if n.rules:
        blocks.append(
            md("*Rules that decided most:* " + ", ".join(f"`{r}` {c}" for r, c in n.rules))
        )
    done = sum(n.succeeded.values())
    assumptions = ", ".join(f"{k} {v:g} min" for k, v in sorted(cfg.minutes_per_action.items()))
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
    blocks.append(md("*Last 14 days*\n```" + text_chart(n.history) + "```"))
    blocks.append(ctx(f"Days are {n.timezone} calendar days."))
    return text, limit_blocks(blocks)


def default_day(oh: Opshand) -> date:
    """Yesterday, in the digest's time zone."""
    return utcnow().astimezone(digest_config(oh).tz).date() - timedelta(days=1)


def digest_for(oh: Opshand, day: date | None = None) -> tuple[str, list[Block]]:
    """Render the digest of ``day`` (default: yesterday in the digest's time zone)."""
    cfg = digest_config(oh)
    day = day or default_day(oh)
    numbers = compute_digest(
        oh.engine,
        oh.audit,
        day,
        cfg.tz,
        minutes_per_action=cfg.minutes_per_action,
        default_minutes=cfg.default_minutes,
    )
    return digest_blocks(numbers, cfg)


def post_digest(oh: Opshand, client: WebClient, day: date) -> str | None:
    """Post ``day``'s digest once across every replica; returns the ts, or None if another
    replica (or an earlier run) already posted it."""
    key = f"digest:{day.isoformat()}"
    if not claim_key(oh.engine, key):
        return None
    try:
        text, blocks = digest_for(oh, day)
        cfg = digest_config(oh)
        resp = client.chat_postMessage(
            channel=_channel(client, cfg.channel),
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
    except Exception:
        # Release the lease so the next tick retries; the day must not be silently skipped.
        with oh.engine.begin() as conn:
            conn.execute(seen_events.delete().where(seen_events.c.event_id == key))
        raise
    log.info("posted the digest for %s", day)
    return str(resp["ts"])


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
