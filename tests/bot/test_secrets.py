"""One redactor from the settings: integration and webhook secrets never leave the process.

The redactor ``bootstrap()`` builds walks every ``SecretStr`` of the settings. A person pastes an
integration's credential and the PagerDuty webhook secret into a request; neither reaches the
model prompt, the audit, a Slack post (text, blocks, Home view, ``respond``) or the log.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from sqlalchemy import text

from adapters.sim import SimTimings
from agent.chat.offline import OfflineChatModel
from bot.blocks import md
from bot.bootstrap import bootstrap
from bot.listeners._shared import SlackOut
from bot.listeners.conversations import converse
from bot.logs import configure_logging
from bot.secrets import redactor_for
from bot.settings import Settings

OKTA = "okta-canary-token-7d1e9f00aa"
FILE_SECRET = "opnsense-canary-from-a-file-31ab"
PD = "pd-canary-webhook-secret-5566778899"
MODEL_KEY = "model-canary-key-abcdef123456"
ENV_KEY = "sk-env-canary-0000111122223333aaaa"


def _settings(tmp_path: Path) -> Settings:
    secret_file = tmp_path / "opnsense.secret"
    secret_file.write_text(FILE_SECRET + "\n")
    return Settings(
        data_dir=tmp_path / "data",
        sample_endpoints=60,
        pagerduty_secret=PD,
        model={"api_key": MODEL_KEY},
        integrations={
            "identity": {
                "vendor": "okta",
                "base_url": "https://acme.okta.example",
                "credentials": {"api_token": OKTA},
            },
            "firewall": {
                "vendor": "opnsense",
                "base_url": "https://fw.example",
                "credentials": {"api_key": "key-id", "api_secret": {"file": str(secret_file)}},
            },
        },
    )


def test_redactor_for_registers_every_secret_in_the_settings_and_provider_env(
    tmp_path: Path,
) -> None:
    r = redactor_for(_settings(tmp_path), environ={"OPENAI_API_KEY": ENV_KEY})
    said = r.redact_text(f"{OKTA} {FILE_SECRET} {PD} {MODEL_KEY} {ENV_KEY} local-signing-secret")
    for secret in (OKTA, FILE_SECRET, PD, MODEL_KEY, ENV_KEY, "local-signing-secret"):
        assert secret not in said


PROMPTS: list[list[BaseMessage]] = []


class _Recording(OfflineChatModel):
    """The offline model, keeping every prompt it is sent."""

    def _generate(self, messages: list[BaseMessage], *a: Any, **kw: Any) -> Any:
        PROMPTS.append(list(messages))
        return super()._generate(messages, *a, **kw)


class _Slack:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def chat_postMessage(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(kw)
        return {"ts": f"1.{len(self.calls)}"}

    def chat_update(self, **kw: Any) -> None:
        self.calls.append(kw)

    def chat_postEphemeral(self, **kw: Any) -> None:
        self.calls.append(kw)


def test_integration_and_webhook_secrets_reach_no_prompt_audit_slack_or_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    oh = bootstrap(_settings(tmp_path), sim_timings=SimTimings(scale=0))
    try:
        base: Any = oh.agent.model
        oh.agent.model = _Recording(resolver_factory=base.resolver_factory)
        slack = _Slack()
        out = SlackOut(oh, slack)  # type: ignore[arg-type]
        pasted = f"what depends on web-01? okta token {OKTA}, pd {PD}, fw {FILE_SECRET}"
        converse(out, pasted, "T0LOCAL01:U0LOCAL01", "C0OPS", "9.1", "Ev1")
        out.post("C0OPS", f"echo {OKTA}", [md(f"{PD} {FILE_SECRET}")])
        out.ephemeral("C0OPS", "U0LOCAL01", f"{OKTA}")
        out.update("C0OPS", "1.1", f"{PD}", [md(OKTA)])
        with oh.engine.begin() as conn:
            oh.audit.append(conn, kind="test.note", actor="test", body={"note": pasted})

        stream = io.StringIO()
        configure_logging(oh.settings, redactor=oh.redactor, stream=stream)
        logging.getLogger("opshand.test").warning("pasted: %s", pasted)

        prompts = "\n".join(str(m.content) for p in PROMPTS for m in p)
        with oh.engine.connect() as conn:
            audit = "\n".join(str(r) for r in conn.execute(text("SELECT * FROM audit_log")))
        places = {
            "model prompt": prompts,
            "audit": audit,
            "slack": repr(slack.calls),
            "log": stream.getvalue(),
        }
        assert PROMPTS and len(slack.calls) >= 4 and "test.note" in audit
        for where, said in places.items():
            for secret in (OKTA, PD, FILE_SECRET):
                assert secret not in said, f"{secret} reached the {where}"
    finally:
        logging.getLogger().handlers.clear()
        oh.close()
