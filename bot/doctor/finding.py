"""What one ``opshand doctor`` check ends in: a status and a sentence saying what to do."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Finding", "Status"]

Status = Literal["ok", "warn", "fail"]


class Finding(BaseModel):
    """The outcome of one check (safe to print: never holds a secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str
    status: Status
    detail: str
    """What was found."""
    fix: str = ""
    """What to do about it, in plain words (empty when nothing is needed)."""
