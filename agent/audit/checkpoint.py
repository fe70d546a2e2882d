"""External checkpoints of the audit chain: its head recorded where the database cannot reach.

Removing the tail of the chain, or rewriting all of it consistently, leaves a chain that verifies
on its own; a head recorded outside the database catches both. :class:`Checkpoint` is the
contract; :class:`FileCheckpoint` keeps the heads as fsynced JSON lines.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from agent.audit.chain import iso_utc

__all__ = ["Checkpoint", "CheckpointEntry", "CheckpointError", "FileCheckpoint"]


class CheckpointError(Exception):
    """The checkpoint store cannot be read or written; verification must not pass silently."""


class CheckpointEntry(BaseModel):
    """One recorded head of the chain."""

    model_config = ConfigDict(frozen=True)

    seq: int
    """The head's seq when recorded."""
    hash: str
    """The head's hash when recorded."""
    at: datetime
    """The head row's ``at``."""


class Checkpoint(Protocol):
    """Somewhere outside the database to keep the chain's heads (a file, a SIEM, object lock).

    Entries are only ever added; ``verify`` checks every one of them against the chain.
    """

    def record(self, entry: CheckpointEntry) -> None:
        """Durably add ``entry``; raise :class:`CheckpointError` if that is impossible."""
        ...

    def entries(self) -> list[CheckpointEntry]:
        """Every entry recorded so far; raise :class:`CheckpointError` if any is unreadable."""
        ...


class FileCheckpoint:
    """Checkpoints as JSON lines appended to a file, fsynced, one ``write`` per line.

    Keep the file where the database's writers cannot reach it (another host, a WORM mount,
    shipped to the SIEM): a checkpoint that an attacker can edit with the table proves nothing.
    Several processes may append to the same file; lines need not be in seq order.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Use the file at ``path`` (created, with its folder, on the first record)."""
        self.path = Path(path)

    def record(self, entry: CheckpointEntry) -> None:
        """Append ``entry`` as one line and fsync it."""
        line = json.dumps({"seq": entry.seq, "hash": entry.hash, "at": iso_utc(entry.at)}) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode("ascii"))  # O_APPEND + one write: no torn lines
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint file {self.path}: {exc}") from exc

    def entries(self) -> list[CheckpointEntry]:
        """Parse every line; a missing file means no checkpoint was taken yet."""
        try:
            text_ = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"cannot read checkpoint file {self.path}: {exc}") from exc
        out: list[CheckpointEntry] = []
        for lineno, line in enumerate(text_.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                entry = CheckpointEntry(
                    seq=data["seq"], hash=data["hash"], at=datetime.fromisoformat(data["at"])
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointError(f"{self.path}:{lineno} is not a checkpoint: {exc}") from exc
            out.append(entry)
        return out
