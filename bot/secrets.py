"""The one redactor, built from the settings: every secret value the process holds, registered.

:func:`redactor_for` walks the whole settings tree (Slack tokens, the model keys, every
integration's credentials, secret files included, webhook signing secrets) and registers each
``SecretStr`` / ``SecretBytes`` value it finds, plus the provider keys read from the environment
(``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) when the settings give none. ``bootstrap()`` builds
it once; the audit log, Slack output, logs, model prompts and error texts share it. A secret
added to the settings later is covered by being a ``SecretStr``: nothing to list by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from adapters.integration_config import ConfigError, SecretFile
from agent.audit import Redactor

__all__ = ["PROVIDER_KEY_ENV", "redactor_for", "secrets_in"]

PROVIDER_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
"""Provider -> the environment variable its SDK reads for a key when the settings give none."""


def secrets_in(value: Any, where: str = "settings") -> Iterator[SecretStr | SecretBytes]:
    """Every secret in a settings tree: sections, integrations, lists, mappings, secret files.

    A secret file that cannot be read yields nothing here: building the integration reports it.
    """
    if isinstance(value, SecretStr | SecretBytes):
        yield value
    elif isinstance(value, SecretFile):
        try:
            yield value.read(where)
        except ConfigError:
            return
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from secrets_in(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, Mapping):
        for key, v in value.items():
            yield from secrets_in(v, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from secrets_in(v, f"{where}[{i}]")


def redactor_for(settings: BaseModel, environ: Mapping[str, str] | None = None) -> Redactor:
    """A redactor knowing every secret in ``settings`` and the provider keys in ``environ``.

    Args:
        settings: The settings (any pydantic model: walked field by field).
        environ: Where provider keys are read (default ``os.environ``).
    """
    env = os.environ if environ is None else environ
    r = Redactor()
    for secret in secrets_in(settings):
        r.register(secret)
    for name in PROVIDER_KEY_ENV.values():
        if env.get(name):
            r.register(env[name])
    return r
