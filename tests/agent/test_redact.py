"""Tests for agent.audit.redact: known values, secret-looking keys, secret-shaped patterns,
logging."""

from __future__ import annotations

import io
import json
import logging
import math
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import quote
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from agent.audit import REDACTED, RedactingFilter, Redactor, is_secret_key

CANARY = "canary-7f3a9c1e-d00d"


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.register(SecretStr(CANARY))
    return r


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("posting with xoxb-1234567890-0987654321-AbCdEfGhIjKl now", "xoxb-1234567890"),
        ("app token xapp-1-A0123ABCD-1234567890-abcdef0123", "xapp-1-A0123ABCD"),
        ("hook https://hooks.slack.com/services/T000/B000/XXXXYYYYZZZZ", "XXXXYYYYZZZZ"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnop"),
        ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
        ('{"authorization": "token ghx123456789"}', "ghx123456789"),
        ("curl -H 'bearer eyJhbGciOiJIUzI1NiJ9xyz0123456789'", "eyJhbGciOiJIUzI1NiJ9"),
        ("key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "MIIEpAIBAAKCAQEA",
        ),
        ("truncated -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg", "MIIEvQIBADANBg"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3In0.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
        ("db at postgresql://app:Sup3r-S3cret@db.internal:5432/x", "Sup3r-S3cret"),
        ("login with password=hunter2hunter and go", "hunter2hunter"),
        ("config db_password: 'opensesame'", "opensesame"),
        ("openai sk-proj-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOp"),
        ("gh ghp_0123456789abcdefghijABCDEFGHIJ0123", "ghp_0123456789"),
    ],
)
def test_redact_text_removes_secret_shaped_tokens(text: str, secret: str) -> None:
    out = Redactor().redact_text(text)
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "the token rotation ran at 04:00, basic configuration unchanged",
        "http://host:8080/path@foo",
        "max_tokens=512 token_count=7",
        "reboot web-01 then web-02; blast radius 3 services",
        "bearer instrument",
    ],
)
def test_redact_text_keeps_ordinary_text(text: str) -> None:
    assert Redactor().redact_text(text) == text


def test_redact_text_keeps_context_around_secrets() -> None:
    r = Redactor()
    assert r.redact_text("Authorization: Bearer abcdefghijklmnopqrstuvwxyz") == (
        f"Authorization: Bearer {REDACTED}"
    )
    assert (
        r.redact_text("https://admin:pw1234@h.example/") == f"https://admin:{REDACTED}@h.example/"
    )
    assert r.redact_text("password=hunter2hunter") == f"password={REDACTED}"


def test_registered_secret_removed_in_raw_url_and_json_forms() -> None:
    secret = 'p@ss w"rd/42'
    r = Redactor([secret])
    assert secret not in r.redact_text(f"value {secret} end")
    assert quote(secret, safe="") not in r.redact_text(f"?q={quote(secret, safe='')}&x=1")
    escaped = json.dumps({"note": f"the {secret} here"})
    assert json.dumps(secret)[1:-1] not in r.redact_text(escaped)


def test_register_ignores_empty_and_rejects_too_short() -> None:
    r = Redactor()
    r.register(None)
    r.register("")
    r.register(SecretStr(""))
    with pytest.raises(ValueError, match="at least 4 characters"):
        r.register("abc")
    assert r.redact_text("abc abc") == "abc abc"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("accessToken", True),
        ("Authorization", True),
        ("X-Api-Key", True),
        ("apiKey", True),
        ("client_secret", True),
        ("private_key", True),
        ("slack_bot_token", True),
        ("total_tokens", False),
        ("token_count", False),
        ("credential_id", False),
        ("plan_hash", False),
        ("idempotency_key", False),
        ("secretary", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_redact_walks_nested_values_keys_and_models(redactor: Redactor) -> None:
    class Creds(BaseModel):
        user: str
        password: SecretStr

    body = {
        "outer": {"list": ["fine", f"has {CANARY} inside", ("tuple", CANARY)]},
        CANARY: "a secret used as a key",
        f"{CANARY}-2": "another",
        "clientSecret": 12345,
        "has_password": True,
        "password": None,
        "creds": Creds(user="svc", password=SecretStr("whatever-it-is")),
        "token_count": 5,
    }
    out = redactor.redact(body)
    assert CANARY not in json.dumps(out)
    assert out["clientSecret"] == REDACTED
    assert out["has_password"] is True
    assert out["password"] is None
    assert out["token_count"] == 5
    assert out["creds"] == {"user": "svc", "password": REDACTED}
    # Both secret keys survive as distinct keys instead of overwriting each other.
    assert len([k for k in out if k.startswith(REDACTED)]) == 2


def test_redact_json_converts_and_names_bad_paths(redactor: Redactor) -> None:
    class Colour(StrEnum):
        RED = "red"

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    out = redactor.redact_json(
        {"at": at, "id": UUID(int=1), "tags": {"b", "a"}, "c": Colour.RED, 3: "int key"},
        "body",
    )
    assert out == {
        "at": "2026-01-02T03:04:05+00:00",
        "id": str(UUID(int=1)),
        "tags": ["a", "b"],
        "c": "red",
        "3": "int key",
    }
    with pytest.raises(ValueError, match=r"body\.x\[1\] is nan"):
        redactor.redact_json({"x": [1, math.nan]}, "body")
    with pytest.raises(ValueError, match=r"body\.obj is a object"):
        redactor.redact_json({"obj": object()}, "body")


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=40), after=st.text(max_size=40))
def test_redaction_is_idempotent_and_removes_canary_anywhere(before: str, after: str) -> None:
    r = Redactor([CANARY])
    once = r.redact_text(before + CANARY + after)
    assert CANARY not in once
    assert r.redact_text(once) == once


def test_logging_filter_redacts_message_args_extra_and_traceback(redactor: Redactor) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(detail)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("opshand.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError(f"boom with {CANARY}")
        except RuntimeError:
            logger.exception("calling %s with %s", "vendor", CANARY, extra={"detail": CANARY})
        logger.warning("bad format %d", "not-a-number", extra={"detail": "x"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    assert CANARY not in text
    assert "calling vendor with" in text
    assert "RuntimeError: boom with" in text
    assert "unformattable arguments dropped" in text
