"""Experiment configs: pydantic models that refuse unknown or ill-typed keys with a message naming them."""
from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ExperimentConfig(BaseModel):
    """Fields every experiment has. Subclasses add their own; `extra="forbid"` refuses typos."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: int = Field(0, description="base seed; run r uses seed + r")
    runs: int = Field(20, ge=1, description="independent runs, vectorised as a batch")
    rounds: int = Field(3000, ge=1, description="rounds (or server updates) per run")


class ConfigError(ValueError):
    """A config override was refused; the message names the key and the fix."""


def parse_value(text: str) -> Any:
    """`--set` values: JSON where it parses (numbers, lists, true/false), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items: list[str], flag: str = "--set") -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected key=value, e.g. {flag} lam=0.3")
        out[key.strip()] = parse_value(value.strip())
    return out


def resolve(model: type[ExperimentConfig], overrides: dict[str, Any]) -> ExperimentConfig:
    """Defaults + overrides, validated; errors name each offending key, its problem, and the known keys."""
    try:
        return model.model_validate(overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(config)"
            if err["type"] == "extra_forbidden":
                lines.append(f"unknown key {key!r}; known keys: {', '.join(model.model_fields)}")
            else:
                lines.append(f"{key}: {err['msg']} (got {err.get('input')!r}){_hint(key, err)}")
        raise ConfigError("; ".join(lines)) from None


def _hint(key: str, err: dict) -> str:
    """The fix for the usual shell slip: a list written without JSON quotes."""
    got = err.get("input")
    if err["type"] != "list_type" or not isinstance(got, str):
        return ""
    items = [x.strip().strip("'\"") for x in got.strip("[]").split(",") if x.strip()]
    return f"; write lists as JSON, e.g. --set '{key}={json.dumps(items)}'"
