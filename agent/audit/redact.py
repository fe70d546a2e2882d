"""Secret redaction for everything that leaves the process: logs, audit rows, Slack, model prompts.

Three nets, applied together in one pass:

* **known values** registered at start-up from the settings' ``SecretStr`` fields
  (``redactor.register(settings.slack_bot_token)``), in raw, URL-encoded and JSON-escaped forms;
* **key names** that look secret (``password``, ``client_secret``, ``apiKey``, ``Authorization``):
  the value under such a key is replaced whatever it looks like;
* **patterns** for credentials whose shape gives them away (Slack tokens and webhooks, bearer and
  basic auth headers, AWS access key ids, PEM private keys, JWTs, ``scheme://user:pass@`` URLs,
  ``password=...`` pairs in free text).

Everything secret becomes :data:`REDACTED`. Redaction is idempotent, so layers may apply it twice.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import quote
from uuid import UUID

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "RedactingFilter", "Redactor", "is_secret_key"]

REDACTED = "«redacted»"
"""What every secret is replaced with."""

MIN_SECRET_LENGTH = 4
"""Shorter registered values would shred ordinary text, so registering them is refused."""

# Key names are normalised (camelCase split, lower-cased, '-'/' '/'.' -> '_') before matching.
# Suffix match, so ``db_password`` and ``slack_bot_token`` hit while ``total_tokens``,
# ``token_count`` and ``credential_id`` (a twin entity reference) do not.
_SECRET_KEY = re.compile(
    r"(?:^|_)(?:password|passwd|passphrase|pwd|secret|secrets|token|api_?key|apikey"
    r"|access_?key|secret_?key|private_?key|signing_?key|client_?secret|authorization"
    r"|ssh_?key|encryption_?key|auth|cookie|session_?id|sessionid|credentials|bearer"
    r"|webhook_?url|dsn|connection_?string)$"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# One alternation, one pass. Named groups decide what survives: ``keep`` is text before the
# secret that is worth keeping (the header scheme, the URL user, the key name).
_PATTERNS = [
    r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]{0,40}PRIVATE KEY-----|\Z)",
    r"\bxox[abeoprs](?:\.xox[abeoprs])?-[A-Za-z0-9-]{8,}",
    r"\bxapp-\d+-[A-Za-z0-9-]{8,}",
    r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
    r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{30,}\b",
    r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    r"\bAIza[0-9A-Za-z_-]{35}\b",
    r"(?P<keep1>(?i:\bauthorization\b[\"']?\s*[:=]\s*[\"']?"
    r"(?>(?:(?:basic|bearer|digest|token)\s+)?)))"
    r"(?!«redacted»)[^\s\"',;]+",
    r"(?P<keep4>(?i:\bbearer\s+))(?!«redacted»)[A-Za-z0-9\-._~+/]{16,}=*",
    r"(?P<keep2>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@?#]+:)[^\s/@]+(?=@)",
    r"(?P<keep3>(?i:\b(?:[a-z0-9_]*_)?(?:password|passwd|pwd|secret|token|api[_-]?key"
    r"|access[_-]?key|client[_-]?secret)\b[\"']?\s*[=:]\s*[\"']?))(?!«redacted»)[^\s\"'&,;}]+",
]
_KEEP_GROUPS = ("keep1", "keep2", "keep3", "keep4")


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Whether a mapping key or header name suggests its value is a secret.

    Args:
        name: The key, e.g. ``"client_secret"``, ``"apiKey"``, ``"X-Api-Key"``.

    Returns:
        True for names such as ``password``, ``db_password``, ``accessToken``, ``Authorization``.
    """
    normal = _CAMEL.sub("_", name).lower()
    normal = re.sub(r"[-\s.]+", "_", normal).strip("_")
    return bool(_SECRET_KEY.search(normal))


class Redactor:
    """Removes secrets from strings and JSON-like values.

    Thread-safe: registration may happen while other threads redact. One instance is built in
    ``bootstrap()`` and shared by logging, the audit log, Slack rendering and the model client.

    Example:
        >>> r = Redactor()
        >>> r.register("hunter2-longer")
        >>> r.redact({"note": "pw is hunter2-longer", "password": "x"})
        {'note': 'pw is «redacted»', 'password': '«redacted»'}
    """

    def __init__(self, secrets: Iterable[str | SecretStr | None] = ()) -> None:
        """Create a redactor, optionally registering ``secrets`` at once."""
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._regex = self._compile()
        for secret in secrets:
            self.register(secret)

    def register(self, secret: str | SecretStr | SecretBytes | None) -> None:
        """Add a known secret value; every later occurrence is redacted.

        Empty or missing values (an integration that is not configured) are ignored.

        Args:
            secret: The secret, plain or wrapped in a pydantic ``SecretStr``/``SecretBytes``.

        Raises:
            ValueError: The value is shorter than :data:`MIN_SECRET_LENGTH` characters, which
                would redact ordinary words; fix the configuration instead.
        """
        if secret is None:
            return
        if isinstance(secret, SecretStr):
            value = secret.get_secret_value()
        elif isinstance(secret, SecretBytes):
            value = secret.get_secret_value().decode("utf-8", errors="replace")
        else:
            value = secret
        if not value:
            return
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"a registered secret must be at least {MIN_SECRET_LENGTH} characters long; "
                f"got one of {len(value)}, too short to redact without mangling other text"
            )
        # The same secret often travels encoded: in a query string or inside a JSON document.
        forms = {
            value,
            quote(value, safe=""),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            # as Slack mrkdwn shows it, escaped (bot.mrkdwn.esc) before it is posted
            value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        }
        with self._lock:
            if forms <= self._known:
                return
            self._known |= forms
            self._regex = self._compile()

    def _compile(self) -> re.Pattern[str]:
        # Longest first, so a secret that contains another is removed whole.
        literals = sorted(self._known, key=len, reverse=True)
        alternatives = [re.escape(lit) for lit in literals] + _PATTERNS
        return re.compile("|".join(f"(?:{alt})" for alt in alternatives))

    def redact_text(self, text: str) -> str:
        """Return ``text`` with every known secret and secret-shaped token replaced."""
        if len(text) < MIN_SECRET_LENGTH:
            return text
        return self._regex.sub(_replacement, text)

    def redact(self, value: Any) -> Any:
        """Return a redacted copy of a JSON-like value (or a string).

        Mappings, lists, tuples and sets are walked; values under secret-looking keys are
        replaced whole; keys themselves are scrubbed too (a secret used as a key is still a
        secret). ``SecretStr``/``SecretBytes`` become :data:`REDACTED`; pydantic models are
        dumped to JSON-mode dicts first. Numbers, booleans, ``None``, dates, UUIDs and
        decimals pass through. Any other object is turned into its scrubbed ``str()``, because
        its text is what would be logged.

        Args:
            value: Anything that is about to be logged, audited, posted or sent to a model.

        Returns:
            A new value with the same shape (tuples and sets come back as lists).
        """
        return self._walk(value, None)

    def redact_json(self, value: Any, path: str = "value") -> Any:
        """Like :meth:`redact`, but the result holds only JSON types, ready to be hashed.

        Datetimes become ISO 8601 text (aware ones in UTC), UUIDs and decimals text, sets
        sorted lists, enum members their values, lone surrogates ``?``.

        Args:
            value: The value for an audit body, a Slack payload or a model prompt.
            path: How to name the value in error messages (``"body"``).

        Raises:
            ValueError: Something in it has no JSON form (an arbitrary object, NaN, a key
                that is not text or a number); the message names where it is.
        """
        return self._walk(value, path)

    def _walk(self, value: Any, path: str | None) -> Any:
        # ``path`` is None in plain mode, else the JSON path used in error messages.
        if isinstance(value, Enum):
            return self._walk(value.value, path)
        if isinstance(value, str):
            if path is not None and not _utf8_ok(value):
                value = value.encode("utf-8", errors="replace").decode("utf-8")
            return self.redact_text(str(value))
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            if path is not None and not math.isfinite(value):
                raise ValueError(f"{path} is {value}, which JSON cannot carry")
            return value
        if isinstance(value, SecretStr | SecretBytes):
            return REDACTED
        if isinstance(value, datetime | date | time | Decimal | UUID):
            if path is None:
                return value
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(UTC)
            return value.isoformat() if isinstance(value, datetime | date | time) else str(value)
        if isinstance(value, Mapping):
            return self._walk_mapping(value, path)
        if isinstance(value, list | tuple):
            return [self._walk(item, _at(path, i)) for i, item in enumerate(value)]
        if isinstance(value, set | frozenset):
            items = [self._walk(item, _at(path, "")) for item in value]
            # Sorted so the same set always encodes (and hashes) the same way.
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
        if isinstance(value, BaseModel):
            return self._walk(value.model_dump(mode="json"), path)
        if isinstance(value, bytes | bytearray):
            return self.redact_text(bytes(value).decode("utf-8", errors="replace"))
        if path is not None:
            raise ValueError(f"{path} is a {type(value).__name__}, which has no JSON form")
        return self.redact_text(str(value))

    def _walk_mapping(self, mapping: Mapping[Any, Any], path: str | None) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, item in mapping.items():
            if path is not None:
                if isinstance(key, Enum):
                    key = key.value  # noqa: PLW2901 - the member's value is the JSON key
                if not isinstance(key, str | int | float | bool):
                    raise ValueError(f"{path} has a key of type {type(key).__name__}")
                key = str(key)  # noqa: PLW2901 - JSON keys are text
            new_key = self.redact_text(key) if isinstance(key, str) else key
            if new_key in out:
                # Two keys that were different secrets collapse to the same text; keep both.
                n = 2
                while f"{new_key}#{n}" in out:
                    n += 1
                new_key = f"{new_key}#{n}"
            if isinstance(key, str) and is_secret_key(key) and _hides(item):
                out[new_key] = REDACTED
            else:
                # The scrubbed key names the path: error messages must not carry secrets either.
                out[new_key] = self._walk(item, _at(path, new_key))
        return out


def _at(path: str | None, step: object) -> str | None:
    if path is None:
        return None
    return f"{path}[{step}]" if isinstance(step, int) else f"{path}.{step}"


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hides(value: Any) -> bool:
    """Whether a value under a secret-looking key must go (flags like ``has_password`` stay)."""
    if value is None or isinstance(value, bool):
        return False
    # An empty string or container under "password" tells nothing; keep the shape visible.
    return not (isinstance(value, str | list | dict) and len(value) == 0)


def _replacement(match: re.Match[str]) -> str:
    groups = match.groupdict()
    for name in _KEEP_GROUPS:
        kept = groups.get(name)
        if kept is not None:
            return kept + REDACTED
    return REDACTED


class RedactingFilter(logging.Filter):
    """A ``logging.Filter`` that scrubs each record before any handler formats it.

    Attach it to *handlers* (``handler.addFilter(RedactingFilter(redactor))``): filters on a
    logger do not see records propagated from child loggers. The message is formatted with its
    arguments and scrubbed, the traceback text is pre-rendered and scrubbed, and string
    attributes passed through ``extra=`` are scrubbed. The filter never drops a record.
    """

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def __init__(self, redactor: Redactor) -> None:
        """Scrub records with ``redactor``."""
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always returns True (keep the record)."""
        r = self._redactor
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not crash the caller that logged it
            message = f"{record.msg!s} (unformattable arguments dropped)"
        record.msg = r.redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters reuse exc_text when it is set, so the scrubbed text is what is printed.
            record.exc_text = r.redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = r.redact_text(record.stack_info)
        for name, value in list(vars(record).items()):
            if name in self._STANDARD:
                continue
            if isinstance(value, str):
                setattr(record, name, r.redact_text(value))
            elif isinstance(value, Mapping | list | tuple):
                setattr(record, name, r.redact(value))
        return True
