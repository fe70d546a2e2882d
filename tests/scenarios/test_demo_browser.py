"""``opshand demo`` as a first-time visitor sees it: Debian's Chromium walks the "try this" list.

The demo runs as the real command in a subprocess (small estate, instant sim), Playwright drives
the page through the steps (a question, a routine change, a change needing consent approved in
the browser, the thread's outcome, an alert fired at the demo's own signal webhook and its
incident thread, a change for tonight approved to wait as scheduled, the digest), checks what
the page shows after each, and saves a PNG per step in ``$OPSHAND_SCREENSHOTS`` (default: the
test's temporary folder; ``docs/screenshots/`` holds a set made by running it with
``OPSHAND_SCREENSHOTS=docs/screenshots``). Then Ctrl-C must stop it cleanly.
With ``CI=true`` a missing Chromium or Playwright fails the test instead of skipping it
(``.ci/install-browser`` installs Chromium); ``browser_helpers`` holds what it shares with
``test_cards_browser.py``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.scenarios.browser_helpers import (
    ANA,
    BEN,
    DEVIKA,
    STEP_WAIT_MS,
    browser_page,
    open_thread,
    screenshots_folder,
    shot,
    thread_has,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _opshand() -> list[str]:
    script = Path(sys.executable).parent / "opshand"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


class Demo:
    """A running ``opshand demo`` subprocess."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, data: Path, logs: Path) -> None:
        self.proc, self.url, self.data, self.logs = proc, url, data, logs

    def output(self) -> str:
        return (self.logs / "stdout.txt").read_text() + (self.logs / "stderr.txt").read_text()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = _free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSHAND_") and k != "COLUMNS"}
    env.update(OPSHAND_SAMPLE_ENDPOINTS="200", OPSHAND_SIM_SCALE="0", COLUMNS="200")
    with (
        (tmp_path / "stdout.txt").open("wb") as out,
        (tmp_path / "stderr.txt").open("wb") as err,
    ):
        proc = subprocess.Popen(
            [*_opshand(), "demo", "--data-dir", str(data), "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=err,
        )
        url = f"http://127.0.0.1:{port}/"
        running = Demo(proc, url, data, tmp_path)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, f"opshand demo exited early:\n{running.output()}"
                try:
                    if httpx.get(url + "ui/state", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "opshand demo did not come up in 120 s"
                time.sleep(0.2)
            yield running
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshots_folder(tmp_path)


def _step(page: Any, number: int) -> None:
    page.click(f"#try-this .chip[data-step='{number}']")


def test_demo_page_walks_the_loop_and_stops_cleanly(demo: Demo, shots: Path) -> None:
    with browser_page(shots) as (page, errors):
        page.goto(demo.url)

        # The intro says who is who and lists eight numbered steps.
        page.wait_for_selector("#try-this .step")
        assert "Welcome to opshand" in page.inner_text("#intro")
        cast = page.inner_text("#cast")
        for who in ("Ana", "Ben", "Chloe", "Devika", "approver", "manager"):
            assert who.lower() in cast.lower()
        assert page.locator("#try-this .step").count() == 9
        assert page.input_value("#user-select") == ANA
        shot(page, shots, "00-welcome")

        # 1. A blast-radius question, answered in the thread.
        _step(page, 1)
        assert "what depends on contoso-ny-db-prod-01" in page.input_value("#message-input")
        page.press("#message-input", "Enter")
        open_thread(page, "what depends on")
        body = thread_has(page, "depend")
        assert "contoso-erp-db" in body
        shot(page, shots, "01-blast-radius")

        # 2. A routine change runs by itself and reconciles.
        _step(page, 2)
        page.press("#message-input", "Enter")
        open_thread(page, "restart contoso-erp-app")
        body = thread_has(page, "reconciled")
        assert "CR-" in body
        assert page.locator("#thread button:has-text('Approve')").count() == 0
        shot(page, shots, "02-routine-change")

        # 3. A risky change waits for consent, with Approve / Reject on its card.
        _step(page, 3)
        page.press("#message-input", "Enter")
        open_thread(page, "reboot contoso-ny-bkp-prod-01 now")
        body = thread_has(page, "consent")
        found = re.search(r"CR-\d+", body)
        assert found, body
        ref = found.group(0)
        assert "reconciled" not in body.lower()
        shot(page, shots, "03-consent-needed")

        # 4. Ben, an approver, approves the card in #ops-approvals.
        _step(page, 4)
        assert page.input_value("#user-select") == BEN
        assert page.inner_text("#channel-title") == "# ops-approvals"
        card = page.locator("#messages article", has_text=ref).last
        # by its action id: a card outside the window also has "Approve for the next
        # window"
        card.locator("button[data-action-id='consent_approve']").click()
        page.wait_for_function(
            """ref => [...document.querySelectorAll('#messages article')]
                .filter(a => a.innerText.includes(ref))
                .some(a => !a.querySelector('[data-action-id]')
                           && /reconciled/i.test(a.innerText))""",
            arg=ref,
            timeout=STEP_WAIT_MS,
        )
        shot(page, shots, "04-approved")

        # 5. Back as Ana, the thread summary says it reconciled, with its audit entry.
        _step(page, 5)
        assert page.input_value("#user-select") == ANA
        body = thread_has(page, "reconciled")
        assert ref in body
        assert "audit" in body.lower()
        shot(page, shots, "05-thread-summary")

        # 6. An alert fired at the demo's own /signals/alertmanager (with the demo's
        # credentials) opens an incident thread in #incidents that ends reconciled.
        _step(page, 6)
        assert page.inner_text("#channel-title") == "# incidents"
        page.wait_for_function(
            "() => /HTTP 202/.test(document.querySelector('#toast').innerText)",
            timeout=STEP_WAIT_MS,
        )
        shot(page, shots, "06-alert-fired")
        open_thread(page, "CR-")
        body = thread_has(page, "INC-\\d+: CR-\\d+ reconciled")
        assert "service.restart" in body
        assert "critical alert from alertmanager" in body
        assert "runbook restart-down-service" in body
        shot(page, shots, "07-incident-thread")

        # 7. A change for tonight waits for consent (the card says when it runs).
        _step(page, 7)
        assert "tonight" in page.input_value("#message-input")
        page.press("#message-input", "Enter")
        open_thread(page, "patch contoso-ny-web-prod-01 tonight")
        body = thread_has(page, "CR-\\d+ is waiting for consent")
        found = re.search(r"CR-\d+", body)
        assert found, body
        tonight = found.group(0)
        shot(page, shots, "08-tonight")

        # 8. Ben approves it: it waits as scheduled, and the card says until when.
        _step(page, 8)
        assert page.input_value("#user-select") == BEN
        card = page.locator("#messages article", has_text=tonight).last
        assert "Runs not before" in card.inner_text()
        card.locator("button[data-action-id='consent_approve']").click()
        page.wait_for_function(
            """ref => [...document.querySelectorAll('#messages article')]
                .filter(a => a.innerText.includes(ref))
                .some(a => !a.querySelector('[data-action-id]')
                           && /Scheduled:/.test(a.innerText) && /runs /i.test(a.innerText))""",
            arg=tonight,
            timeout=STEP_WAIT_MS,
        )
        shot(page, shots, "09-scheduled")

        # 9. Devika, the manager, opens today's digest (answered only to her).
        _step(page, 9)
        assert page.input_value("#user-select") == DEVIKA
        command = page.input_value("#message-input")
        assert command.startswith("/opshand digest ")
        page.press("#message-input", "Enter")
        digest = page.locator("#messages article.ephemeral", has_text="digest").last
        digest.wait_for(timeout=STEP_WAIT_MS)
        assert "Only visible to you" in digest.inner_text()
        assert "reconciled" in digest.inner_text().lower()
        shot(page, shots, "10-digest")

        # Every step is ticked off.
        assert page.locator("#try-this .step.done").count() == 9
        assert errors == []

    # The demo printed how to send an alert yourself, with its own credentials; without them
    # its signal webhook refuses.
    assert "/signals/alertmanager -H 'Authorization: Bearer local-alertmanager-token'" in (
        demo.output()
    )
    assert httpx.post(demo.url + "signals/alertmanager", content=b"{}").status_code == 401

    # While it runs, its address is in the data folder for `opshand chat` to join.
    running = json.loads((demo.data / "demo.json").read_text())
    assert running["url"] == demo.url

    # Ctrl-C stops it cleanly and keeps the data.
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(timeout=30) == 0, demo.output()
    output = demo.output()
    assert "Traceback" not in output
    assert "Stopped. Your data is kept in" in output
    assert (demo.data / "opshand.db").exists()
    # the channel history is kept for the next start; the address file is gone
    assert "CR-" in (demo.data / "workspace.json").read_text()
    assert not (demo.data / "demo.json").exists()
