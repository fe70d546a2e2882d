"""Chat models by name: ``offline``, ``openai:gpt-4o-mini``, ``anthropic:...``, ``ollama:...``.

One factory builds any supported LangChain chat model from a provider, a model name and optional
endpoint and key, so the bot's settings, ``opshand eval --model PROVIDER:NAME`` and tests share it.
Providers whose LangChain package is not installed fail with a sentence saying what to install
(a configuration mistake found at start-up, never mid-conversation).

Keys: the spec's key, else the provider's own variable (``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``), read when the model is built. The SDKs' own retries are off
(``max_retries=0``): the agent loop retries within the turn's budget
(:func:`agent.chat.provider.call_within`), so a ``Retry-After`` never sleeps past it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from agent.chat.offline import OfflineChatModel, TwinNameResolver
from twin.graph import TwinGraph
from twin.model import utcnow

__all__ = [
    "KEY_ENV",
    "PROVIDERS",
    "ModelSpec",
    "ModelUnavailable",
    "make_chat_model",
    "model_key",
    "offline_model",
    "parse_model_spec",
]

PROVIDERS = ("offline", "openai", "openai-compatible", "anthropic", "ollama")
"""Providers :func:`make_chat_model` knows."""

_OLLAMA_URL = "http://localhost:11434"
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
"""Provider -> the environment variable read for its key when the spec gives none."""


class ModelUnavailable(ValueError):
    """The chosen model cannot be built (unknown provider, missing package, missing setting)."""


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Which model to use."""

    provider: str
    name: str = ""
    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout: float = 60.0
    """Seconds one request may take (the turn's own budget bounds the whole turn)."""
    temperature: float = 0.0


def parse_model_spec(
    text: str,
    *,
    base_url: str | None = None,
    api_key: str | SecretStr | None = None,
    timeout: float = 60.0,
    temperature: float = 0.0,
) -> ModelSpec:
    """Read ``PROVIDER:NAME`` (``offline`` needs no name).

    Raises:
        ModelUnavailable: The provider is unknown or the name is missing.
    """
    provider, _, name = text.strip().partition(":")
    provider = provider.strip().lower()
    if provider not in PROVIDERS:
        raise ModelUnavailable(
            f"unknown model provider '{provider}'; use one of {', '.join(PROVIDERS)} "
            "as PROVIDER:NAME, e.g. openai:gpt-4o-mini"
        )
    if provider != "offline" and not name.strip():
        raise ModelUnavailable(f"'{text}' names no model: write {provider}:MODEL_NAME")
    return ModelSpec(
        provider=provider,
        name=name.strip(),
        base_url=base_url,
        api_key=SecretStr(api_key)
        if isinstance(api_key, str) and api_key
        else (api_key if isinstance(api_key, SecretStr) else None),
        timeout=timeout,
        temperature=temperature,
    )


def offline_model(
    graph: Callable[[], TwinGraph], clock: Callable[[], datetime] = utcnow
) -> OfflineChatModel:
    """The deterministic offline model, resolving names against the current twin; its answers
    count ages ("last seen 5 min ago") from ``clock``."""
    cache: dict[int, TwinNameResolver] = {}

    def resolver() -> TwinNameResolver:
        g = graph()
        if g.serial not in cache:
            cache.clear()
            cache[g.serial] = TwinNameResolver(
                ((e.id, e.kind.value, e.name, e.attrs) for e in g.entities() if e.active),
                needs=lambda i: [d for _, d in g.out_edges(i)],
            )
        return cache[g.serial]

    return OfflineChatModel(resolver_factory=resolver, clock=clock)


def _import(module: str, cls: str, package: str, provider: str) -> Any:
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise ModelUnavailable(
            f"model provider '{provider}' needs the package {package}: "
            f"pip install {package} (or use openai-compatible with the provider's endpoint)"
        ) from exc


def model_key(spec: ModelSpec, environ: Mapping[str, str] | None = None) -> str | None:
    """The key for ``spec``: its own, else the provider's environment variable, else None."""
    if spec.api_key is not None and spec.api_key.get_secret_value():
        return spec.api_key.get_secret_value()
    env = os.environ if environ is None else environ
    name = KEY_ENV.get(spec.provider)
    return (env.get(name) or None) if name else None


def make_chat_model(
    spec: ModelSpec,
    graph: Callable[[], TwinGraph] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> BaseChatModel:
    """Build the chat model ``spec`` names.

    Args:
        spec: Provider, model name, endpoint, key, timeout and temperature.
        graph: The twin, needed by the offline model only.
        environ: Where provider keys are read when the spec has none (default the process's).

    Raises:
        ModelUnavailable: Unknown provider, a missing package or a missing setting.
    """
    key = model_key(spec, environ)
    if spec.provider == "offline":
        if graph is None:
            raise ModelUnavailable("the offline model needs the twin to resolve names")
        return offline_model(graph)
    if spec.provider in ("openai", "openai-compatible"):
        if spec.provider == "openai-compatible" and not spec.base_url:
            raise ModelUnavailable("openai-compatible needs base_url (e.g. http://host:8000/v1)")
        chat_openai = _import("langchain_openai", "ChatOpenAI", "langchain-openai", spec.provider)
        if spec.provider == "openai" and not key:
            raise ModelUnavailable("openai needs an API key: set model.api_key or OPENAI_API_KEY")
        model: BaseChatModel = chat_openai(
            model=spec.name,
            base_url=spec.base_url,
            # Local servers (vLLM, llama.cpp) ignore the key but the client insists on one.
            api_key=SecretStr(key or "not-needed"),
            timeout=spec.timeout,
            max_retries=0,
            temperature=spec.temperature,
        )
        return model
    if spec.provider == "anthropic":
        chat_anthropic = _import(
            "langchain_anthropic", "ChatAnthropic", "langchain-anthropic", "anthropic"
        )
        kwargs: dict[str, Any] = {
            "model": spec.name,
            "timeout": spec.timeout,
            "max_retries": 0,
            "temperature": spec.temperature,
        }
        if not key:
            raise ModelUnavailable(
                "anthropic needs an API key: set model.api_key or ANTHROPIC_API_KEY"
            )
        kwargs["api_key"] = SecretStr(key)
        if spec.base_url:
            kwargs["base_url"] = spec.base_url
        built: BaseChatModel = chat_anthropic(**kwargs)
        return built
    chat_ollama = _import("langchain_ollama", "ChatOllama", "langchain-ollama", "ollama")
    made: BaseChatModel = chat_ollama(
        model=spec.name,
        base_url=spec.base_url or _OLLAMA_URL,
        temperature=spec.temperature,
        # ollama's client has no timeout by default; the turn's budget bounds the wait anyway
        client_kwargs={"timeout": spec.timeout},
    )
    return made
