"""The contracts' ABI and bytecode: committed artifacts, checked against their sources, compiled when stale.

Compiling the coordinator takes a few seconds, so `contracts/build/NAME.json` is committed. Each artifact
records the hash of what determines its output: the text of every `.vy` source in the source directory (a
contract may import a sibling, so an edit to any source marks every artifact stale - conservative, never
wrong) and the vyper and snekmate versions (pinned exactly in pyproject.toml for that reason).

`artifact(name)` never writes into the package: it returns the committed artifact when its hash matches the
sources, else the artifact compiled into the cache (`$DEML_CACHE_DIR/contracts`, default
`~/.cache/deml/contracts`, one file per source hash), warning once that the committed one is stale.
`$DEML_CONTRACTS_DIR` points the build at another source directory (e.g. a mutation tool's mutated copy);
its artifacts live in the cache only. `tests/chain/test_build.py` fails while a committed artifact is stale.

    python -m contracts.build          # rewrite the stale artifacts in contracts/build (developers, in a checkout)
    python -m contracts.build --check  # exit 1 if any committed artifact is stale
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from functools import cache
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).parent
BUILD = HERE / "build"
CONTRACTS = ("reward_token", "coordinator", "board")


def source_dir() -> Path:
    """Where the .vy sources are read from: $DEML_CONTRACTS_DIR, else this package."""
    override = os.environ.get("DEML_CONTRACTS_DIR")
    return Path(override).resolve() if override else HERE


def cache_dir() -> Path:
    """$DEML_CACHE_DIR/contracts, else ~/.cache/deml/contracts (beside the equilibrium tables' cache)."""
    return Path(os.environ.get("DEML_CACHE_DIR") or Path.home() / ".cache" / "deml") / "contracts"


def source_path(name: str, directory: Path | None = None) -> Path:
    if name not in CONTRACTS:
        raise KeyError(f"unknown contract {name!r}; known: {', '.join(CONTRACTS)}")
    path = (directory or source_dir()) / f"{name}.vy"
    if not path.is_file():
        raise FileNotFoundError(f"contract source {path} is missing (DEML_CONTRACTS_DIR names the source folder)")
    return path


def source_hash(name: str, directory: Path | None = None) -> str:
    """sha256 of the contract's name, every .vy source under `directory` (relative path and text) and the compiler
    and snekmate versions."""
    directory = directory or source_dir()
    source_path(name, directory)
    digest = hashlib.sha256("\n".join([name, metadata.version("vyper"), metadata.version("snekmate")]).encode())
    for path in sorted(directory.rglob("*.vy")):
        digest.update(b"\0" + path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def compile_source(name: str, directory: Path | None = None) -> dict:
    """ABI and deployment bytecode, compiled now (no cache). The output does not depend on where the source lies."""
    from vyper.cli.vyper_compile import compile_files

    directory = directory or source_dir()
    path = source_path(name, directory)
    # sys.path stays on the search path (that is how `from snekmate... import` resolves to the installed package);
    # the source folder joins it so that a contract can import its siblings
    out = compile_files([str(path)], ("abi", "bytecode"), paths=[str(directory)])[path]
    return {"contract": name, "source_hash": source_hash(name, directory), "vyper": metadata.version("vyper"),
            "snekmate": metadata.version("snekmate"), "abi": out["abi"], "bytecode": out["bytecode"]}


def stored(name: str) -> dict | None:
    """The committed artifact of `name` (whatever its hash), or None."""
    path = BUILD / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _write(path: Path, art: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    scratch.write_text(json.dumps(art, indent=1) + "\n")
    scratch.replace(path)  # atomic: a parallel process never reads half a file


@cache
def artifact(name: str) -> dict:
    """The artifact for the current sources: the committed one if its hash matches, else a cached compilation."""
    directory = source_dir()
    want = source_hash(name, directory)
    committed = stored(name)
    if committed is not None and committed["source_hash"] == want:
        return committed
    path = cache_dir() / f"{name}-{want[:24]}.json"
    if path.exists():
        art = json.loads(path.read_text())
    else:
        art = compile_source(name, directory)
        _write(path, art)
    if directory == HERE:
        warnings.warn(f"contracts/build/{name}.json is stale (a .vy source changed): using {path}; "
                      f"run `python -m contracts.build` to update the committed artifact", stacklevel=2)
    return art


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print("usage: python -m contracts.build [--check]", file=sys.stderr)
        return 2
    if source_dir() != HERE:
        print(f"error: DEML_CONTRACTS_DIR={source_dir()}: this command writes the committed artifacts of "
              f"{HERE}; unset DEML_CONTRACTS_DIR", file=sys.stderr)
        return 2
    if not check and not (HERE.parent / "pyproject.toml").exists():
        print(f"error: {HERE} is an installed package, not a checkout: its artifacts are not rewritten "
              f"(stale ones are compiled into {cache_dir()} when used)", file=sys.stderr)
        return 2
    stale = [name for name in CONTRACTS if (stored(name) or {}).get("source_hash") != source_hash(name)]
    for name in CONTRACTS:
        if name not in stale:
            print(f"{name}: up to date")
        elif check:
            print(f"{name}: stale (run python -m contracts.build)")
        else:
            art = compile_source(name)
            _write(BUILD / f"{name}.json", art)
            print(f"{name}: rebuilt, {len(art['bytecode']) // 2 - 1} bytes, source {art['source_hash'][:12]}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
