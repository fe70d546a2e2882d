"""Structured logging: one JSON object a line in production, readable lines on a terminal.

Correlation ids (Slack event id, change id, plan hash, integration call id) live in context
variables: :func:`bind` sets them for a block of code and every record logged inside carries
them. A record may also name them itself with ``extra={"change_id": ...}``. Threads do not
inherit context variables, so work handed to a pool keeps its ids only through
:class:`ContextExecutor`. Every handler gets :class:`agent.audit.redact.RedactingFilter`: no secret
registered with the redactor is ever written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any, ParamSpec, TypeVar

from slack_bolt import App, BoltRequest, BoltResponse

from agent.audit import RedactingFilter, Redactor
from bot.secrets import redactor_for
from bot.settings import Settings

__all__ = [
    "CORRELATION_IDS",
    "ContextExecutor",
    "CorrelationFilter",
    "JsonFormatter",
    "TextFormatter",
    "bind",
    "configure_cli_logging",
    "configure_logging",
    "current_ids",
    "install_log_context",
    "redactor_for",
]

P = ParamSpec("P")
T = TypeVar("T")

CORRELATION_IDS = ("event_id", "change_id", "plan_hash", "call_id")
"""The ids every record carries when known, in the order a terminal line shows them."""

_VARS: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"opshand_{name}", default=None) for name in CORRELATION_IDS
}
_MARK = "_opshand_handler"


def current_ids() -> dict[str, str]:
    """The correlation ids bound in this context (unset ones left out)."""
    return {n: v for n, var in _VARS.items() if (v := var.get()) is not None}


@contextmanager
def bind(**ids: object) -> Iterator[None]:
    """Bind correlation ids for the block: ``with bind(change_id=12, plan_hash=h): ...``.

    Raises:
        ValueError: a name that is not one of :data:`CORRELATION_IDS`.
    """
    unknown = sorted(set(ids) - set(CORRELATION_IDS))
    if unknown:
        raise ValueError(f"unknown correlation id {unknown}; use one of {CORRELATION_IDS}")
    tokens = [(_VARS[n], _VARS[n].set(None if v is None else str(v))) for n, v in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context (ids included)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn`` in the pool, inside the caller's context variables."""
        ctx = contextvars.copy_context()

        def run() -> T:
            return ctx.run(fn, *args, **kwargs)

        return super().submit(run)


class CorrelationFilter(logging.Filter):
    """Adds the bound correlation ids to each record (ids given with ``extra=`` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set ``record.<id>`` for each bound id; always keeps the record."""
        for name, value in current_ids().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _ids_of(record: logging.LogRecord) -> dict[str, str]:
    return {n: str(v) for n in CORRELATION_IDS if (v := getattr(record, n, None)) not in (None, "")}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, correlation ids, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_ids_of(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``12:00:01 INFO  agent.execution.executor: message  change_id=12 plan_hash=ab12``."""

    def __init__(self) -> None:
        """A terminal-friendly format."""
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """The line, with the correlation ids appended."""
        line = super().format(record)
        ids = _ids_of(record)
        if not ids:
            return line
        head, _, tail = line.partition("\n")
        suffix = "  " + " ".join(f"{k}={v}" for k, v in ids.items())
        return head + suffix + ("\n" + tail if tail else "")


def configure_cli_logging() -> None:
    """Warnings and errors to stderr for short CLI commands, before settings are read.

    Marked as ours, so a later :func:`configure_logging` (``serve``) replaces this handler
    instead of adding a second one that would print every line twice.
    """
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        setattr(handler, _MARK, True)


def configure_logging(
    settings: Settings,
    *,
    redactor: Redactor | None = None,
    stream: IO[str] | None = None,
    level: int = logging.INFO,
) -> logging.Handler:
    """Send the root logger to ``stream`` (stderr) in ``settings.log_format``, redacted.

    Calling again replaces the handler installed before (not other handlers).

    Args:
        settings: Chooses ``json`` or ``text``; its secrets are redacted.
        redactor: The process's redactor (``oh.redactor``) when bootstrap has made one.
        stream: Where lines go (default stderr).
        level: The root level.

    Returns:
        The handler installed.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    # Correlation first so the redactor also scrubs the ids' values.
    handler.addFilter(CorrelationFilter())
    handler.addFilter(RedactingFilter(redactor or redactor_for(settings)))
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def install_log_context(app: App) -> None:
    """Bind the Slack event id (or an interaction's trigger id) around each Bolt dispatch.

    Wraps ``app.dispatch`` rather than adding a middleware: Bolt runs listeners after the
    middleware chain has returned, so a middleware cannot scope them. Listeners run on Bolt's
    listener executor unless ``process_before_response`` is on: pass a :class:`ContextExecutor`
    as ``listener_executor`` so their records carry the id too.
    """
    dispatch = app.dispatch

    def correlated(req: BoltRequest) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        event_id = body.get("event_id") or body.get("trigger_id") or None
        with bind(event_id=event_id):
            return dispatch(req)

    setattr(app, "dispatch", correlated)  # noqa: B010  (instance attribute on purpose)
