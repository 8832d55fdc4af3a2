"""mutmut, one module at a time, against only the tests mapped to that module.

pyproject.toml holds mutmut's own settings (`[tool.mutmut]`, which a bare `mutmut run` in the repo root uses
as they stand) and the map `[tool.deml.mutation.python]`: module glob -> the tests that cover it. For each
module this makes a work folder .mutation/python/SLUG/ that links the packages and tests and carries a
pyproject.toml with mutmut's settings narrowed to that module and those tests, runs `mutmut run` there (two
workers, from scratch: mutmut would keep a survivor's verdict after the tests change) and reads the results
back. mutmut itself then runs, for each mutant, only those of the mapped tests that call the mutated function,
in the map's order (DEML_TEST_ORDER, which tests/conftest.py reads: put the fast, strong tests first), under the
`mutation` Hypothesis profile (tests/conftest.py: derandomized, no database, no shrinking).

    python -m tools.mutate_python                          # every mapped module
    python -m tools.mutate_python -m protocol/codec.py     # one (repeat -m for more)
    python -m tools.mutate_python --sample 10              # 10 random mutants per module (mutate-quick)
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import tomllib
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from tools.mutation_score import ROOT, WORK, Mutant, judge, load_equivalents, report, selection

LINKED = ("protocol", "coordinator", "economics", "nodes", "sims", "contracts", "tests")
MUTMUT = Path(sys.executable).parent / "mutmut"


def toml_table(name: str, values: dict) -> str:
    """A TOML table of strings, numbers, booleans and lists of them (JSON spells those as TOML does)."""
    return "\n".join([f"[{name}]", *(f"{k} = {json.dumps(v)}" for k, v in values.items())]) + "\n"


def workdir(module: str, tests: list[str], base: dict) -> Path:
    """.mutation/python/SLUG with the packages and tests linked, and a pyproject.toml for this module only."""
    work = WORK / "python" / module.replace("/", "-").replace("*", "all").removesuffix(".py")
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = work / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    package = module.split("/")[0]  # mutmut mutates only under source_paths: a package it copies as is joins them
    narrowed = {**base, "source_paths": sorted({*base["source_paths"], package}),
                "also_copy": [p for p in base.get("also_copy", []) if p != package], "only_mutate": [module],
                "pytest_add_cli_args": [*base.get("pytest_add_cli_args", []), "--hypothesis-profile=mutation"],
                "pytest_add_cli_args_test_selection": tests, "use_git_change_detection": False}
    (work / "pyproject.toml").write_text(toml_table("tool.pytest.ini_options", pytest_ini) + "\n"
                                         + toml_table("tool.mutmut", narrowed))
    return work


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    """mutmut's library reads its settings and its mutants/ folder from the working directory."""
    here = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(here)


def sources(module: str) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(module) if p.suffix == ".py")


def mutant_names(work: Path, module: str) -> list[str]:
    """Every mutant mutmut makes of the module's files, by name, without running anything."""
    with inside(work):
        from mutmut.mutation.file_mutation import mutate_file_contents
        from mutmut.utils.format_utils import get_mutant_name

        return [get_mutant_name(Path(f), n) for f in sources(module)
                for n in mutate_file_contents(f, Path(f).read_text()).mutant_names]


def results(work: Path, module: str) -> list[Mutant]:
    """The module's mutants with mutmut's verdicts, and the diff and mutated line of each one not killed."""
    with inside(work):
        from mutmut.mutation.diff_apply import get_diff_for_mutant
        from mutmut.stats import status_by_exit_code

        out = []
        for f in sources(module):
            meta = json.loads((Path("mutants") / f"{f}.meta").read_text())
            for name, code in meta["exit_code_by_key"].items():
                status = status_by_exit_code[code]
                diff = "" if status == "killed" else get_diff_for_mutant(name, path=f)
                mutated = " ".join(line[1:].strip() for line in diff.splitlines()
                                   if line.startswith("+") and not line.startswith("+++"))
                seconds = meta.get("durations_by_key", {}).get(name, 0.0)
                out.append(Mutant(f, name, status, mutated, diff, round(seconds, 2)))
        return out


def run_module(module: str, tests: list[str], base: dict, sample: int | None, seed: int) -> tuple[list[Mutant], float]:
    work = workdir(module, tests, base)
    # mutmut keeps a verdict until the mutated function changes, not when the tests do: start afresh
    shutil.rmtree(work / "mutants", ignore_errors=True)
    names = []
    if sample is not None:
        every = mutant_names(work, module)
        names = sorted(random.Random(f"{seed}-{module}").sample(every, min(sample, len(every))))
    log = work / "mutmut.log"
    start = time.monotonic()
    with open(log, "w") as f:
        code = subprocess.run([str(MUTMUT), "run", "--max-children", "2", *names], cwd=work, stdout=f,
                              stderr=subprocess.STDOUT, env={**os.environ, "DEML_TEST_ORDER": os.pathsep.join(tests)}
                              ).returncode
    seconds = time.monotonic() - start
    if code != 0:
        tail = log.read_text().splitlines()[-15:]
        raise SystemExit(f"mutmut failed on {module} (exit {code}); its log {log}:\n" + "\n".join(tail))
    print(f"{module}: {seconds:.0f} s against {', '.join(tests)}")
    return results(work, module), seconds


def main(
    module: Optional[List[str]] = typer.Option(None, "--module", "-m", help="module glob(s) of the map to run"),
    sample: Optional[int] = typer.Option(None, min=1, help="test only N random mutants per module"),
    seed: int = typer.Option(0, help="seeds the sample"),
    out: Path = typer.Option(WORK, help="folder for python.json and python.md"),
):
    """Mutation-test the mapped Python modules with mutmut and print the score per module."""
    mapping, chosen = selection("python", module, "--module")
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    mutants, timing = [], {}
    for m in chosen:
        found, seconds = run_module(m, mapping[m], base, sample, seed)
        mutants += found
        timing[m] = round(seconds, 1)
    judged, notes = judge(mutants, load_equivalents("python"))
    report("python", judged, notes, out, {"command": " ".join(["python -m tools.mutate_python", *sys.argv[1:]]),
                                          "sample": sample, "seconds per module": timing})


if __name__ == "__main__":
    typer.run(main)
