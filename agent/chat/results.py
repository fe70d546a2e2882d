"""What a tool hands back to the model: ``{"status", "data", "error"}``, long strings clipped and
long lists cut with a note, so every result stays under :data:`MAX_RESULT_TOKENS`."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_RESULT_CHARS", "MAX_RESULT_TOKENS", "estimate_tokens", "tool_result"]

MAX_RESULT_TOKENS = 2000
MAX_RESULT_CHARS = 6000
"""At a conservative 3 characters per token, 6,000 characters stay under 2,000 tokens."""
_MAX_STR = 300  # a single string value (a ticket body, a description) is clipped to this
_MAX_ERR = 600


def estimate_tokens(text: str) -> int:
    """A conservative token estimate of text sent to a model: 3 characters per token.

    Tool results go out as ASCII-escaped JSON, where common tokenizers average about 4."""
    return math.ceil(len(text) / 3)


def _clip(value: Any, depth: int = 0) -> Any:
    """Clip long strings and deep nesting: untrusted text must not flood the model."""
    if isinstance(value, str):
        return value if len(value) <= _MAX_STR else value[:_MAX_STR] + " …(cut)"
    if depth > 6:
        return "…(nested too deep)"
    if isinstance(value, dict):
        return {str(k)[:80]: _clip(v, depth + 1) for k, v in list(value.items())[:60]}
    if isinstance(value, list | tuple):
        # Top-level lists are shrunk later with a note; nested ones are clipped here, noted.
        keep = list(value) if depth <= 1 else list(value)[:100]
        extra = [f"…({len(value) - len(keep)} more)"] if len(keep) < len(value) else []
        return [_clip(v, depth + 1) for v in keep] + extra
    return value


def _size(out: dict[str, Any]) -> int:
    return len(json.dumps(out, default=str))


def tool_result(status: str, data: Any = None, error: str | None = None) -> dict[str, Any]:
    """A structured result, clipped and cut to :data:`MAX_RESULT_CHARS` with a note."""
    err = error if error is None or len(error) <= _MAX_ERR else error[:_MAX_ERR] + " …(cut)"
    out: dict[str, Any] = {"status": status, "data": _clip(data), "error": err}
    if _size(out) <= MAX_RESULT_CHARS:
        return out
    data = out["data"]
    if isinstance(data, dict):
        # Shrink every list in the payload (items first) until the whole result fits.
        data = dict(data)
        lists = sorted(
            (k for k, v in data.items() if isinstance(v, list)), key=lambda k: k != "items"
        )
        for key in lists:
            full = len(data[key])
            items = data[key]
            while items and _size({**out, "data": data}) > MAX_RESULT_CHARS:
                items = items[: len(items) * 2 // 3]
                data[key] = items
                data["truncated"] = True
                data[f"{key}_note"] = f"showing {len(items)} of {full}"
        out["data"] = data
        if _size(out) <= MAX_RESULT_CHARS:
            return out
    raw = json.dumps(out["data"], default=str)
    keep = MAX_RESULT_CHARS - 800
    while True:  # escaping can grow the text again, so measure the result as sent
        cut = {"status": status, "data": raw[:keep] + " …(cut)", "error": err}
        if _size(cut) <= MAX_RESULT_CHARS:
            return cut
        keep = keep * 3 // 4
