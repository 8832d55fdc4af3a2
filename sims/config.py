"""Experiment configs: pydantic models that refuse unknown or ill-typed keys with a message naming them."""
from __future__ import annotations

import json
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ExperimentConfig(BaseModel):
    """Fields every experiment has. Subclasses add their own; `extra="forbid"` refuses typos."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: int = Field(0, description="base seed; run r uses seed + r")
    runs: int = Field(20, ge=1, description="independent runs, vectorised as a batch")
    rounds: int = Field(3000, ge=1, description="rounds (or server updates) per run")


class ConfigError(ValueError):
    """Bad input from the user (a config key, a path, a missing data file): the message names what to change.
    The command line prints it as one line and exits 2; every other exception is a bug and keeps its trace."""


class Unavailable(RuntimeError):
    """A peer of a long-running process (the chain's RPC endpoint, the model store) stopped answering within
    the process's patience, or answered wrongly. The command line prints it as one line and exits 3."""


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
            elif not err["loc"]:  # a check across fields: its message names them and the fix
                lines.append(str(err["ctx"]["error"]) if "error" in err.get("ctx", {}) else err["msg"])
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


def describe(model: type[ExperimentConfig]) -> list[tuple[str, str, str, str]]:
    """(key, default, type, meaning) for every setting of a config model, as `deml sim show` prints them."""
    rows = []
    for key, f in model.model_fields.items():
        rows.append((key, json.dumps(f.default), _type_name(f.annotation), f.description or ""))
    return rows


def _type_name(annotation: Any) -> str:
    """int, float, list[float], one of a | b, ... (optional: or null)."""
    args = get_args(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + " | ".join(str(a) for a in args)
    if origin in (Union, UnionType):
        named = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(named) + (" or null" if type(None) in args else "")
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    return getattr(annotation, "__name__", str(annotation))
