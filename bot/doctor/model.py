"""``opshand doctor``'s model checks: the provider's package, its key, and (when asked) a call.

For the main model and the fallback: is the LangChain package of the provider installed (else
the ``pip install`` line), is there a key (settings, else ``OPENAI_API_KEY`` /
``ANTHROPIC_API_KEY``), and, with ``opshand doctor --model-call``, does a one-token request
answer within ``model.max_seconds``. The call is the only check that leaves the machine, so it
runs only when asked; its failure is the same sentence the agent would give.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Mapping

from langchain_core.messages import HumanMessage
from pydantic import SecretStr

from agent.chat import ModelSpec, ModelUnavailable, call_within, make_chat_model
from agent.chat.models import KEY_ENV, model_key, parse_model_spec
from bot.settings import Settings

__all__ = ["PACKAGES", "Finding", "model_findings"]

PACKAGES = {
    "openai": ("langchain_openai", "langchain-openai"),
    "openai-compatible": ("langchain_openai", "langchain-openai"),
    "anthropic": ("langchain_anthropic", "langchain-anthropic"),
    "ollama": ("langchain_ollama", "langchain-ollama"),
}
"""Provider -> (module, pip package) of its LangChain integration."""


class Finding(dict[str, str]):
    """One model check as the fields of :class:`bot.doctor.Finding` (check, status, detail,
    fix); :func:`bot.doctor.run_doctor` turns it into its record."""

    def __init__(self, *, check: str, status: str, detail: str, fix: str = "") -> None:
        """The check's outcome."""
        super().__init__(check=check, status=status, detail=detail, fix=fix)


def _specs(s: Settings) -> list[tuple[str, ModelSpec]]:
    m = s.model
    specs = [
        (
            "model",
            ModelSpec(
                provider=m.provider,
                name=m.name,
                base_url=m.base_url,
                api_key=m.api_key,
                timeout=m.max_seconds,
                temperature=m.temperature,
            ),
        )
    ]
    if m.fallback:
        try:
            fb = parse_model_spec(
                m.fallback,
                base_url=m.fallback_base_url,
                api_key=m.fallback_api_key,
                timeout=m.fallback_max_seconds or m.max_seconds,
            )
        except ModelUnavailable as exc:
            fb = ModelSpec(provider=f"invalid ({exc})")
        specs.append(("model fallback", fb))
    return specs


def _one(
    check: str, spec: ModelSpec, *, call: bool, environ: Mapping[str, str] | None
) -> list[Finding]:
    if spec.provider == "offline":
        return [Finding(check=check, status="ok", detail="the offline model (no provider)")]
    if spec.provider not in PACKAGES:
        return [
            Finding(
                check=check,
                status="fail",
                detail=f"unknown provider {spec.provider}",
                fix="Use offline, openai, openai-compatible, anthropic or ollama.",
            )
        ]
    module, package = PACKAGES[spec.provider]
    if importlib.util.find_spec(module) is None:
        return [
            Finding(
                check=check,
                status="fail",
                detail=f"{spec.provider} needs the package {package}, which is not installed",
                fix=f"pip install {package}",
            )
        ]
    found = [Finding(check=f"{check} package", status="ok", detail=f"{package} installed")]
    key = model_key(spec, environ)
    env = KEY_ENV.get(spec.provider)
    if env and not key:
        found.append(
            Finding(
                check=f"{check} key",
                status="fail",
                detail=f"no API key for {spec.provider}",
                fix=f"Set {'model.fallback_api_key' if 'fallback' in check else 'model.api_key'} "
                f"or {env}.",
            )
        )
        return found
    found.append(
        Finding(
            check=f"{check} key",
            status="ok",
            detail="key set" if key else f"{spec.provider} needs no key",
        )
    )
    if call:
        found.append(_call(check, spec, key, environ))
    return found


def _call(
    check: str, spec: ModelSpec, key: str | None, environ: Mapping[str, str] | None
) -> Finding:
    started = time.monotonic()
    try:
        keyed = ModelSpec(
            provider=spec.provider,
            name=spec.name,
            base_url=spec.base_url,
            api_key=SecretStr(key) if key else None,
            timeout=spec.timeout,
        )
        model = make_chat_model(keyed, environ=environ)
        # one token is enough to prove the key, the model name and the endpoint
        bound = model.bind(max_tokens=1) if spec.provider != "ollama" else model
        call_within(
            lambda: bound.invoke([HumanMessage(content="Reply with: ok")]),
            deadline=started + spec.timeout,
            provider=f"{spec.provider}:{spec.name}",
            retries=0,
        )
    except Exception as exc:
        from agent.chat import classify

        failure = classify(exc, provider=f"{spec.provider}:{spec.name}")
        return Finding(
            check=f"{check} call",
            status="fail",
            detail=failure.message,
            fix="Fix the model settings named above, then run `opshand doctor --model-call`.",
        )
    took = time.monotonic() - started
    return Finding(
        check=f"{check} call",
        status="ok",
        detail=f"{spec.provider}:{spec.name} answered in {took:.1f} s",
    )


def model_findings(
    s: Settings, *, call: bool = False, environ: Mapping[str, str] | None = None
) -> list[Finding]:
    """The model checks for the main model and the fallback (a call only when ``call``)."""
    out: list[Finding] = []
    for check, spec in _specs(s):
        out.extend(_one(check, spec, call=call, environ=environ))
    return out
