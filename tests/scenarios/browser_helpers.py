"""What the browser walks share: Debian's Chromium under Playwright, screenshots, thread reading.

Used by ``test_demo_browser.py`` and ``test_cards_browser.py``. With ``CI=true`` a missing
Chromium or Playwright fails the test instead of skipping it (``.ci/install-browser`` installs
Chromium).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "ANA",
    "BEN",
    "CHLOE",
    "CHROMIUM_FLAGS",
    "DEVIKA",
    "SCREENSHOTS",
    "STEP_WAIT_MS",
    "browser_page",
    "chromium",
    "open_thread",
    "screenshots_folder",
    "shot",
    "sync_api",
    "thread_has",
]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = os.environ.get("OPSHAND_SCREENSHOTS", "")
"""Read at import: the autouse fixture in tests/conftest.py hides OPSHAND_* from tests."""
ANA = "U0LOCAL01"
BEN = "U0LOCAL02"
CHLOE = "U0LOCAL03"
DEVIKA = "U0LOCAL04"
STEP_WAIT_MS = 30_000
VIEWPORT = {"width": 1280, "height": 800}


def chromium() -> str:
    """Debian's Chromium, or skip (fail under CI)."""
    found = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    found = found or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Debian chromium is not installed (run .ci/install-browser)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def sync_api() -> Any:
    """``playwright.sync_api``, or skip (fail under CI)."""
    try:
        import playwright.sync_api as api
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright (python) is not installed")
        pytest.skip("playwright (python) is not installed")
    return api


@contextmanager
def browser_page(folder: Path) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page in headless Chromium and the list its script errors go to.

    When the block fails, the page as it was is saved as ``failed.png`` in ``folder``.
    """
    path = chromium()
    api = sync_api()
    with api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            try:
                yield page, errors
            except Exception:
                shot(page, folder, "failed")  # what the page showed when a step failed
                raise
        finally:
            browser.close()


def screenshots_folder(tmp_path: Path) -> Path:
    """Where the screenshots go: ``$OPSHAND_SCREENSHOTS``, or the test's temporary folder."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shot(page: Any, folder: Path, name: str) -> None:
    """Save what the page shows as ``name.png``."""
    page.screenshot(path=str(folder / f"{name}.png"))


def open_thread(page: Any, says: str) -> None:
    """Open the thread under the newest top-level message containing ``says``."""
    message = page.locator("#messages article", has_text=says).last
    replies = message.locator(".link-button", has_text=re.compile(r"^\d+ repl"))
    replies.wait_for(timeout=STEP_WAIT_MS)
    replies.click()


def thread_has(page: Any, pattern: str) -> str:
    """Wait until the open thread's text matches ``pattern`` (regex); return the text."""
    page.wait_for_function(
        "p => new RegExp(p, 'i').test(document.querySelector('#thread-messages').innerText)",
        arg=pattern,
        timeout=STEP_WAIT_MS,
    )
    return str(page.inner_text("#thread-messages"))
