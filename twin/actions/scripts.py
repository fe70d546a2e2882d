"""The operator-maintained script allowlist: script ids with typed parameter schemas.

``script.run`` only runs scripts named here. The file is YAML (``examples/scripts.yaml``)::

    version: 1
    scripts:
      collect-logs:
        summary: Collect event logs
        disruption: none          # none | service | host (what is down while it runs)
        destructive: false        # true: needs a recent, tested backup first
        params:
          since_hours: {type: integer, min: 1, max: 168, default: 24}

Parameter types are ``string`` (``pattern``, ``max_length``, ``choices``), ``integer`` (``min``,
``max``) and ``boolean``; ``required`` defaults to true unless a ``default`` is given. Values may
arrive as strings (from chat) and are converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "DEFAULT_SCRIPTS_PATH",
    "ParamSchema",
    "ScriptAllowlist",
    "ScriptSpec",
    "default_allowlist",
    "load_allowlist",
    "set_default_allowlist",
]

DEFAULT_SCRIPTS_PATH = Path(__file__).resolve().parents[2] / "examples" / "scripts.yaml"
_TYPES = ("string", "integer", "boolean")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ParamSchema:
    """One typed script parameter."""

    name: str
    type: Literal["string", "integer", "boolean"]
    required: bool = True
    default: Any = None
    pattern: str | None = None
    max_length: int = 256
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None

    def coerce(self, script_id: str, raw: Any) -> Any:
        """The value converted to the declared type; ``ValueError`` names script and field."""
        where = f"script '{script_id}' parameter '{self.name}'"
        if self.type == "boolean":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "yes", "1"):
                return True
            if str(raw).lower() in ("false", "no", "0"):
                return False
            raise ValueError(f"{where}: expected true or false, got {raw!r}")
        if self.type == "integer":
            if isinstance(raw, bool):
                raise ValueError(f"{where}: expected an integer, got {raw!r}")
            try:
                val = int(str(raw).strip())
            except ValueError:
                raise ValueError(f"{where}: expected an integer, got {raw!r}") from None
            if self.min is not None and val < self.min:
                raise ValueError(f"{where}: {val} is below the minimum {self.min}")
            if self.max is not None and val > self.max:
                raise ValueError(f"{where}: {val} is above the maximum {self.max}")
            return val
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            raise ValueError(f"{where}: expected text, got {raw!r}")
        text = str(raw)
        if len(text) > self.max_length:
            raise ValueError(f"{where}: longer than {self.max_length} characters")
        if self.choices and text not in self.choices:
            raise ValueError(f"{where}: {text!r} is not one of {', '.join(self.choices)}")
        if self.pattern and not re.fullmatch(self.pattern, text):
            raise ValueError(f"{where}: {text!r} does not match {self.pattern}")
        return text


@dataclass(frozen=True)
class ScriptSpec:
    """One allowlisted script."""

    script_id: str
    summary: str
    params: tuple[ParamSchema, ...] = ()
    disruption: Literal["none", "service", "host"] = "none"
    destructive: bool = False
    idempotent: bool = True

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Typed parameters; unknown, missing or badly typed ones raise ``ValueError``."""
        known = {p.name for p in self.params}
        unknown = sorted(set(raw) - known)
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            raise ValueError(
                f"script '{self.script_id}' has no parameter(s) {', '.join(unknown)} "
                f"(allowed: {allowed})"
            )
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in raw:
                out[p.name] = p.coerce(self.script_id, raw[p.name])
            elif p.required:
                raise ValueError(f"script '{self.script_id}' needs parameter '{p.name}'")
            elif p.default is not None:
                out[p.name] = p.default
        return out


@dataclass(frozen=True)
class ScriptAllowlist:
    """Every script ``script.run`` may run, by id."""

    scripts: dict[str, ScriptSpec] = field(default_factory=dict)
    source: str = ""

    def get(self, script_id: str) -> ScriptSpec:
        """The script; ``ValueError`` names the id and the allowlisted ones."""
        spec = self.scripts.get(script_id)
        if spec is None:
            known = ", ".join(sorted(self.scripts)) or "none"
            raise ValueError(f"script '{script_id}' is not on the allowlist (allowed: {known})")
        return spec


def _param(script_id: str, name: str, raw: Any) -> ParamSchema:
    where = f"{script_id}.{name}"
    if not isinstance(raw, dict):
        raise ValueError(f"script allowlist: {where} must be a mapping")
    extra = set(raw) - {
        "type",
        "required",
        "default",
        "pattern",
        "max_length",
        "choices",
        "min",
        "max",
        "description",
    }
    if extra:
        raise ValueError(f"script allowlist: {where} has unknown key(s) {', '.join(sorted(extra))}")
    kind = raw.get("type")
    if kind not in _TYPES:
        raise ValueError(f"script allowlist: {where}.type must be one of {', '.join(_TYPES)}")
    if raw.get("pattern") is not None:
        re.compile(str(raw["pattern"]))
    p = ParamSchema(
        name=name,
        type=kind,
        required=bool(raw.get("required", "default" not in raw)),
        default=raw.get("default"),
        pattern=raw.get("pattern"),
        max_length=int(raw.get("max_length", 256)),
        choices=tuple(str(c) for c in raw.get("choices", ())),
        min=raw.get("min"),
        max=raw.get("max"),
    )
    if p.default is not None:
        p.coerce(script_id, p.default)  # a default that breaks its own schema is a config bug
    return p


def load_allowlist(path: Path | str) -> ScriptAllowlist:
    """Read and check an allowlist file; ``ValueError`` names what is wrong."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise ValueError(f"script allowlist {path}: needs 'version: 1'")
    raw = doc.get("scripts")
    if not isinstance(raw, dict):
        raise ValueError(f"script allowlist {path}: 'scripts' must be a mapping of id -> script")
    out: dict[str, ScriptSpec] = {}
    for sid, body in raw.items():
        if not isinstance(sid, str) or not _ID.match(sid) or not isinstance(body, dict):
            raise ValueError(f"script allowlist {path}: bad script entry {sid!r}")
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError(f"script allowlist {path}: {sid}.params must be a mapping")
        disruption = body.get("disruption", "none")
        if disruption not in ("none", "service", "host"):
            raise ValueError(f"script allowlist {path}: {sid}.disruption must be none|service|host")
        out[sid] = ScriptSpec(
            script_id=sid,
            summary=str(body.get("summary", "")),
            params=tuple(_param(sid, n, v) for n, v in params.items()),
            disruption=disruption,
            destructive=bool(body.get("destructive", False)),
            idempotent=bool(body.get("idempotent", True)),
        )
    return ScriptAllowlist(out, str(path))


_default: list[ScriptAllowlist] = []


def default_allowlist() -> ScriptAllowlist:
    """The allowlist in use: set by :func:`set_default_allowlist`, else the example file."""
    if not _default:
        _default.append(load_allowlist(DEFAULT_SCRIPTS_PATH))
    return _default[0]


def set_default_allowlist(allowlist: ScriptAllowlist) -> None:
    """Use ``allowlist`` for every later ``script.run`` rehearsal (called from bootstrap)."""
    _default[:] = [allowlist]
