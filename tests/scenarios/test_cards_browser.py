"""A consent card's life as approvers see it in the local workspace, walked in Debian's Chromium.

The demo's stack runs in-process (small estate, a fast sim so a reboot takes a few seconds and
the card is seen running). One service behind ``contoso-ny-web-prod-01`` is marked critical, so
rebooting that host needs two approvals and asks before approving. The walk: the requester's
thread gets one "waiting for consent" line whose link leads to the card; the card waits
(amber, "Consent needed"); "View plan" opens the whole plan; Approve asks first (critical
collateral), Back leaves it waiting; Ben then Chloe approve and the card turns approved,
running, done (green) with who and when; a second change rejected with a reason turns red;
the Home tab lists what happened. A PNG per step goes to ``$OPSHAND_SCREENSHOTS``
(see ``browser_helpers``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bot.app  # noqa: F401  - registers the bot's tables before bootstrap creates the schema
from adapters.sim import SimTimings
from bot.bootstrap import bootstrap
from bot.cli.run import DemoStack, start_stack
from bot.plan_view import VIEW_PLAN
from bot.settings import Settings
from tests.scenarios.browser_helpers import (
    ANA,
    BEN,
    CHLOE,
    STEP_WAIT_MS,
    browser_page,
    open_thread,
    screenshots_folder,
    shot,
    thread_has,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

HOST = "contoso-ny-web-prod-01"
CRITICAL = "service:contoso-portal"
AMBER, GREEN, RED = "rgb(236, 178, 46)", "rgb(46, 182, 125)", "rgb(224, 30, 90)"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DemoStack]:
    settings = Settings(data_dir=tmp_path / "data", sample_endpoints=200)
    # Reboots take ~7.5 s, so the page (polling every 0.8 s) sees the card running before it is
    # done even on a loaded CI machine: at ~3.6 s one full-suite run missed the running state.
    timings = SimTimings(scale=0.03, reboot_seconds=250)
    oh = bootstrap(settings, sim_timings=timings, start_worker=True)
    oh.store.set_attrs(CRITICAL, {"criticality": "critical"}, actor="test", reason="walk")
    running = start_stack(oh, digest_tick=None)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshots_folder(tmp_path)


def _act_as(page: Any, user: str) -> None:
    page.select_option("#user-select", user)


def _ask(page: Any, text: str) -> str:
    """Ana asks in #ops; the change's ref once its thread says it waits for consent."""
    _act_as(page, ANA)
    page.click("#channel-list button:has-text('ops'):not(:has-text('-'))")
    page.fill("#message-input", f"@opshand {text}")
    page.press("#message-input", "Enter")
    open_thread(page, text)
    found = re.search(r"(CR-\d+) is waiting for consent", thread_has(page, "waiting for consent"))
    assert found
    return found.group(1)


def _card(page: Any, ref: str) -> Any:
    return page.locator("#messages article", has_text=re.compile(rf"{ref}\b")).last


def _card_is(page: Any, ref: str, pattern: str) -> str:
    """Wait until the card's text matches ``pattern`` (regex); return the text."""
    page.wait_for_function(
        """([ref, p]) => [...document.querySelectorAll('#messages article')]
            .filter(a => a.querySelector('.attachment') && a.innerText.includes(ref))
            .some(a => new RegExp(p).test(a.innerText))""",
        arg=[ref, pattern],
        timeout=STEP_WAIT_MS,
    )
    return str(_card(page, ref).inner_text())


def _bar(page: Any, ref: str) -> str:
    """The colour of the card's bar, as the browser draws it."""
    bar = _card(page, ref).locator(".attachment").first
    return str(bar.evaluate("el => getComputedStyle(el).borderLeftColor"))


def _click_on_card(page: Any, ref: str, action_id: str, *, answer: bool | None = None) -> str:
    """Click a button on the card; answer its confirm dialog, if any; return the dialog text."""
    said: list[str] = []

    def on_dialog(dialog: Any) -> None:
        said.append(str(dialog.message))
        dialog.accept() if answer else dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        _card(page, ref).locator(f"button[data-action-id='{action_id}']").click()
    finally:
        page.remove_listener("dialog", on_dialog)
    return said[0] if said else ""


def test_a_consent_card_lives_its_life_in_the_browser(stack: DemoStack, shots: Path) -> None:
    with browser_page(shots) as (page, errors):
        page.goto(stack.slack.web_url)
        page.wait_for_selector("#try-this .step")
        page.click("#guide-toggle")  # the guide folded: more room for the cards

        # 1. The requester's thread gets one line: waiting, from whom, and a link to the card.
        ref = _ask(page, f"reboot {HOST} now")
        thread = page.inner_text("#thread-messages")
        # one waiting line with the link (the agent's own answer still restates it: issue 22)
        assert thread.count("is waiting for consent from") == 1
        assert thread.count("see the card") == 1
        assert "2 approvals needed" in thread
        assert page.locator("#thread button[data-action-id]").count() == 0  # no second card
        shot(page, shots, "11-thread-waiting")

        # 2. The link leads to the card in #ops-approvals: amber, "Consent needed".
        link = page.locator("#thread-messages a", has_text="see the card")
        href = str(link.get_attribute("href"))
        assert "/archives/" in href
        page.goto(href)
        page.wait_for_function(
            "() => document.querySelector('#channel-title').innerText === '# ops-approvals'"
        )
        card = _card_is(page, ref, f"Consent needed: {ref} host.reboot")
        assert "Quorum 0/2" in card
        assert "the request thread" in card
        assert _bar(page, ref) == AMBER
        shot(page, shots, "12-card-waiting")

        # 3. "View plan" opens the whole plan: blast radius, waves, invariants, rollback.
        _act_as(page, BEN)
        _click_on_card(page, ref, VIEW_PLAN)
        page.wait_for_selector("#modal-overlay:not(.hidden)", timeout=STEP_WAIT_MS)
        plan = page.inner_text("#modal")
        for part in ("Waves", "Invariants", "Rollback", "contoso-portal"):
            assert re.search(part, plan, re.IGNORECASE), (part, plan)
        shot(page, shots, "13-view-plan")
        page.click("#modal .modal-actions button:not(.btn-primary)")
        page.wait_for_selector("#modal-overlay", state="hidden")

        # 4. Approve asks first: a critical system is collateral. Back leaves it waiting.
        asked = _click_on_card(page, ref, "consent_approve", answer=False)
        assert "Critical systems affected" in asked
        assert "contoso-portal" in asked
        page.wait_for_timeout(1000)  # two polls: nothing may change
        assert "Quorum 0/2" in _card(page, ref).inner_text()

        # 5. Ben approves anyway: one of two, the quorum line says so and the card waits.
        assert "contoso-portal" in _click_on_card(page, ref, "consent_approve", answer=True)
        card = _card_is(page, ref, "Quorum 1/2")
        assert "Ben" in card or "ben" in card
        assert _bar(page, ref) == AMBER
        shot(page, shots, "14-quorum-one-of-two")

        # 6. Chloe approves: approved, then running, then done (green), with who and when.
        _act_as(page, CHLOE)
        _click_on_card(page, ref, "consent_approve", answer=True)
        card = _card_is(page, ref, f"Running: {ref}")
        assert (
            page.locator(f"#messages article:has-text('{ref}') button[data-action-id]").count() == 0
        )
        shot(page, shots, "15-card-running")
        card = _card_is(page, ref, f"Done: {ref}")
        assert re.search(r"Approved by .+ · ", card), card
        assert "Quorum 2/2" in card
        assert _bar(page, ref) == GREEN
        shot(page, shots, "16-card-done")

        # 7. A second change, rejected with a reason: the card turns red and shows it.
        other = _ask(page, "reboot contoso-ny-bkp-prod-01 now")
        page.goto(
            str(
                page.locator("#thread-messages a", has_text="see the card").last.get_attribute(
                    "href"
                )
            )
        )
        _card_is(page, other, f"Consent needed: {other}")
        _act_as(page, BEN)
        reject = _card(page, other).locator("button[data-action-id='consent_reject']")
        assert "danger" in str(reject.get_attribute("class"))
        reject.click()
        page.wait_for_selector("#modal-overlay:not(.hidden)", timeout=STEP_WAIT_MS)
        assert "Why?" in page.inner_text("#modal")
        page.fill("#modal textarea", "backups are running until 23:00")
        shot(page, shots, "17-reject-reason")
        page.click("#modal button.btn-primary")
        card = _card_is(page, other, f"Rejected: {other}")
        assert "backups are running until 23:00" in card
        assert re.search(r"Rejected by .+ · ", card), card
        assert _bar(page, other) == RED
        shot(page, shots, "18-card-rejected")

        # 8. Ben's Home tab lists what happened.
        page.click("#home-link")
        page.wait_for_function(
            "r => document.querySelector('#messages').innerText.includes(r)",
            arg=other,
            timeout=STEP_WAIT_MS,
        )
        home = page.inner_text("#messages")
        assert re.search(rf"{ref} host.reboot on {HOST} — reconciled", home), home
        assert re.search(rf"{other} host.reboot on contoso-ny-bkp-prod-01 — rejected", home), home
        shot(page, shots, "19-home")
        assert errors == []
