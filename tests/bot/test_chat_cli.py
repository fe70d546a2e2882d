"""The run commands from the command line: ``opshand chat`` with piped input, ``demo`` refusals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _run(args: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "opshand"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSHAND_")}
    env.update(OPSHAND_SAMPLE_ENDPOINTS="200", OPSHAND_SIM_SCALE="0", COLUMNS="200")
    return subprocess.run(
        [*cmd, *args],
        check=False,
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=150,
    )


def test_chat_reads_piped_lines_through_the_bot(tmp_path: Path) -> None:
    lines = [
        "what depends on contoso-ny-db-prod-01?",
        "restart contoso-erp-app",
        "/wait reconciled",
        "/as ben",
        "/quit",
        "what is never sent",
    ]
    done = _run(["chat", "--data-dir", str(tmp_path / "d")], tmp_path, "\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Try this:" in out
    assert "ana in #ops > what depends on contoso-ny-db-prod-01?" in out
    assert "contoso-erp-db" in out
    assert "reconciled" in out
    assert "You are now Ben Okafor" in out
    assert "what is never sent" not in out.split("ben in #ops > /quit", 1)[1]
    assert "Stopped. Your data is kept in" in out
    assert "Traceback" not in out + done.stderr
    assert (tmp_path / "d" / "opshand.db").exists()


def test_chat_unknown_person_is_a_clear_error(tmp_path: Path) -> None:
    done = _run(["chat", "--data-dir", str(tmp_path / "d"), "--as", "zed"], tmp_path, "/quit\n")
    assert done.returncode == 2
    assert "--as zed" in done.stderr and "zed" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_reset_refuses_a_folder_that_is_not_opshand_data(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    done = _run(["demo", "--data-dir", str(folder), "--reset"], tmp_path)
    assert done.returncode == 2
    assert "does not look like an opshand data folder" in done.stderr
    assert (folder / "notes.txt").read_text() == "keep me"


def test_demo_port_in_use_says_so_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run(["demo", "--data-dir", str(tmp_path / "d"), "--port", str(port)], tmp_path)
    assert done.returncode == 1
    assert f"Cannot listen on port {port}" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
