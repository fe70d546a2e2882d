"""The demo's page text: its welcome, the "Start here" steps that walk the loop, who is who."""

from __future__ import annotations

from datetime import date

from bot.cli.demo_alert import ALERT_STEP
from bot.localslack import TryStep

__all__ = ["CAST", "DEMO_INTRO", "DEMO_STEPS", "demo_intro", "demo_steps"]


def demo_intro(endpoints: int = 4200) -> str:
    """The page's welcome text (Slack mrkdwn) for a sample estate of ``endpoints``."""
    return (
        "*Welcome to opshand.* This page stands in for Slack, so you need no account: opshand "
        f"runs on a sample estate of {endpoints:,} endpoints with simulated tools, and nothing "
        "real is touched. The *Acting as* menu (top right) switches between four demo people. "
        "Follow the steps: each picks the right person and channel and fills in the message; "
        "press *Enter* to send."
    )


DEMO_INTRO = demo_intro()
"""The page's welcome text (Slack mrkdwn)."""

DEMO_STEPS: tuple[TryStep, ...] = (
    TryStep(
        title="Ask a blast-radius question",
        say="@opshand what depends on contoso-ny-db-prod-01?",
        user="ana",
        channel="ops",
        hint="The answer comes as a reply: click “1 reply” under your message.",
    ),
    TryStep(
        title="Ask for a routine change",
        say="@opshand restart contoso-erp-app",
        user="ana",
        channel="ops",
        hint="Policy lets it run by itself: the thread shows it run and reconcile.",
    ),
    TryStep(
        title="Ask for a risky change",
        say="@opshand reboot contoso-ny-bkp-prod-01 now",
        user="ana",
        channel="ops",
        hint="A production reboot: a consent card (CR-…) goes to #ops-approvals.",
    ),
    TryStep(
        title="Approve it as someone else",
        user="ben",
        channel="ops-approvals",
        hint="You are now Ben, an approver: press Approve on the card. Ana cannot approve her "
        "own change.",
    ),
    TryStep(
        title="Read the thread summary",
        user="ana",
        channel="ops",
        open_thread="reboot",
        hint="Back as Ana: what ran, whether it reconciled, and its audit entry.",
    ),
    ALERT_STEP,
    TryStep(
        title="Ask for a change tonight",
        say="@opshand patch contoso-ny-web-prod-01 tonight",
        user="ana",
        channel="ops",
        hint="A production patch for tonight: the thread and the card say when it runs, in "
        "your time zone.",
    ),
    TryStep(
        title="Approve it for tonight",
        user="ben",
        channel="ops-approvals",
        hint="As Ben, press Approve on the patch card: it waits as scheduled until tonight "
        "(`/opshand pending` lists it, `/opshand cancel CR-…` stops it).",
    ),
    TryStep(
        title="Open the digest",
        say="@opshand what did you do today?",
        user="devika",
        channel="ops",
        hint="Devika, the manager: what ran by itself, what needed consent, what waits.",
    ),
)
"""The "try this" list: the loop from question to digest."""


def demo_steps(today: date) -> tuple[TryStep, ...]:
    """The "try this" list with the last step opening ``today``'s digest (``/opshand digest``).

    The step names the day although the command defaults to today, so the page says which day
    the digest covers.
    """
    digest = TryStep(
        title="Open the digest",
        say=f"/opshand digest {today.isoformat()}",
        user="devika",
        channel="ops",
        hint="Devika, the manager: what ran by itself, what needed consent, time saved.",
    )
    return (*DEMO_STEPS[:-1], digest)


CAST = "ana (on-call engineer), ben and chloe (approvers), devika (manager)"
