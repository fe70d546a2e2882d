"""Channel history kept between runs: the workspace's messages in a JSON file.

A restarted demo shows what was said before, and a consent card still waiting can still be
voted on: the card is the same message (same channel, same ``ts``) the bot remembered, so a
click on it reaches the bot exactly as before the restart. Kept: messages (threads, edits,
reactions, files shared in them), uploaded files and channels the bot created. Not kept, as
in Slack: ephemeral notes, open modals and ``trigger_id``/``response_url`` targets.

The file is written while the workspace runs (at most every ``interval`` seconds, only after
a change) and when it stops, each time whole and atomically (a new file renamed over the old),
so a crash leaves the last complete copy. A file that cannot be read is set aside as
``<name>.unreadable`` and the workspace starts empty.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.localslack.state import JSON, Channel, Workspace

__all__ = ["FORMAT", "History"]

log = logging.getLogger(__name__)

FORMAT = 1
"""The file's format version; a file of another version is set aside, not misread."""


class History:
    """Loads a workspace's messages from ``path`` and keeps the file current while it runs."""

    def __init__(self, workspace: Workspace, path: Path, *, interval: float = 0.5) -> None:
        """Prepare (before any channel is created at run time); nothing is read or written
        until :meth:`load` / :meth:`start`."""
        self.ws = workspace
        self.path = path
        self.interval = interval
        self._saved_version = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self._active = False
        self._built = frozenset(workspace.channels)  # the configured ones: not kept in the file

    # -- reading ------------------------------------------------------------------------

    def load(self) -> int:
        """Put the file's messages, files and created channels into the workspace.

        Returns:
            How many messages were restored (0 when there is no file, or it was unreadable).
        """
        if not self.path.exists():
            return 0
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"not a format {FORMAT} history file")
            count = self._restore(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.warning("channel history %s is unreadable (%s); moved to %s", self.path, exc, aside)
            os.replace(self.path, aside)
            return 0
        self._saved_version = self.ws.version
        return count

    def _restore(self, data: dict[str, Any]) -> int:
        ws = self.ws
        with ws.lock:
            for raw in data.get("channels", []):
                if raw["id"] not in ws.channels and ws.channel_by_name(raw["name"]) is None:
                    ws.channels[raw["id"]] = Channel(**{**raw, "members": set(raw["members"])})
            for file_id, record in data.get("files", {}).items():
                restored = dict(record)
                if "content" in restored:
                    restored["content"] = base64.b64decode(restored["content"])
                ws.files[file_id] = restored
            count = 0
            newest = float(data.get("last_ts", 0.0))
            for channel_id, messages in data.get("messages", {}).items():
                if not isinstance(messages, list):
                    raise TypeError(f"messages of {channel_id} are not a list")
                ws.messages[channel_id] = [dict(m) for m in messages]
                count += len(messages)
                newest = max([newest, *(float(m["ts"]) for m in messages)])
            ws.advance_ts(newest)
            ws.touch()
        return count

    # -- writing ------------------------------------------------------------------------

    def _snapshot(self, built: frozenset[str]) -> tuple[int, str]:
        ws = self.ws
        with ws.lock:
            files: dict[str, JSON] = {}
            for file_id, record in ws.files.items():
                kept = dict(record)
                if isinstance(kept.get("content"), bytes):
                    kept["content"] = base64.b64encode(kept["content"]).decode()
                files[file_id] = kept
            channels = [
                {**asdict(c), "members": sorted(c.members)}
                for c in ws.channels.values()
                if c.id not in built and not c.is_im
            ]
            data = {
                "format": FORMAT,
                "last_ts": ws.last_ts,
                "channels": channels,
                "files": files,
                "messages": ws.messages,
            }
            # Serialised under the lock so the copy is of one moment.
            return ws.version, json.dumps(data, separators=(",", ":"))

    def save(self) -> None:
        """Write the file now if anything changed since the last write."""
        with self._write_lock:
            if self.ws.version == self._saved_version:
                return
            version, text = self._snapshot(self._built)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = self.path.with_name(self.path.name + ".new")
            fresh.write_text(text, encoding="utf-8")
            os.replace(fresh, self.path)
            self._saved_version = version

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Write changes in the background until :meth:`stop`."""
        if self._thread is not None:
            return
        self._active = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="localslack-history", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except OSError as exc:
                log.warning("could not write channel history %s: %s", self.path, exc)

    def stop(self) -> None:
        """Stop the background writer and write the last changes. Safe to call twice."""
        if not self._active:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.save()
