"""Compile the Vyper sources with the `vyper` package into `contracts/build/NAME.json` (ABI + bytecode).

Compiling the coordinator takes a couple of seconds, so artifacts are cached and committed: each records the
hash of what determines its output (the source, the compiler version and the snekmate version it imports),
and `artifact(name)` recompiles only when that hash changed. `tests/chain/test_build.py` fails when a
committed artifact does not match its source.

    python -m contracts.build          # (re)build every stale artifact
"""
from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).parent
BUILD = HERE / "build"
CONTRACTS = ("reward_token", "coordinator")


def source_hash(name: str) -> str:
    text = (HERE / f"{name}.vy").read_text()
    key = "\n".join([text, metadata.version("vyper"), metadata.version("snekmate")])
    return hashlib.sha256(key.encode()).hexdigest()


def compile_source(name: str) -> dict:
    """ABI and deployment bytecode, compiled now (no cache)."""
    from vyper.cli.vyper_compile import compile_files

    path = HERE / f"{name}.vy"
    # sys.path is on the search path, which is how `from snekmate... import` resolves to the installed package
    out = compile_files([str(path)], ("abi", "bytecode"))[path]
    return {"contract": name, "source_hash": source_hash(name), "vyper": metadata.version("vyper"),
            "snekmate": metadata.version("snekmate"), "abi": out["abi"], "bytecode": out["bytecode"]}


def stored(name: str) -> dict | None:
    path = BUILD / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def build(name: str) -> dict:
    """The artifact of `name`, recompiled and rewritten only if its source hash changed."""
    art = stored(name)
    if art is None or art["source_hash"] != source_hash(name):
        art = compile_source(name)
        BUILD.mkdir(exist_ok=True)
        (BUILD / f"{name}.json").write_text(json.dumps(art, indent=1) + "\n")
    return art


@cache
def artifact(name: str) -> dict:
    if name not in CONTRACTS:
        raise KeyError(f"unknown contract {name!r}; known: {', '.join(CONTRACTS)}")
    return build(name)


if __name__ == "__main__":
    for contract in CONTRACTS:
        art = build(contract)
        print(f"{contract}: {len(art['bytecode']) // 2 - 1} bytes, source {art['source_hash'][:12]}")
