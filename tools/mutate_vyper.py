"""A small mutation tester for the Vyper contracts.

It reads contracts/*.vy as text and makes one mutant per change of these kinds, in code only (never in
comments, docstrings or strings such as revert reasons):

    compare   < <= > >= flipped at the boundary (< to <=) and in direction (< to >); == and != swapped
    bound     loop bounds off by one: range(n) to range(n - 1) and range(n + 1); range(x + 1, n) to range(x, n)
    assert    an assert dropped (replaced by pass)
    swap      the two arguments of a two-argument call swapped (not min, max, unsafe_add, unsafe_mul, which
              commute, nor a type argument, which cannot compile)
    arith     binary + and - swapped, += and -= too
    const     an integer literal plus or minus one

Each mutant is tested without touching the working tree: every worker (two by default) copies the repository
(tracked and untracked, not ignored files) to a temporary folder once, so that edits made during a long run
change nothing in it; for each mutant it writes the mutated source into that copy and runs, in one Python
process, the artifacts' build from it (`DEML_CONTRACTS_DIR`, compiled into a cache private to the worker; a
mutant that does not compile is counted apart) and then the contract's tests from pyproject's
[tool.deml.mutation.vyper], in that order, with -x, a timeout and the `mutation` Hypothesis profile (derandomized, no
database, no shrinking: a failing example is enough). The report (.mutation/vyper.{json,md}) lists every
mutant with its location, its diff, its verdict and the first test that failed on it; it is rewritten after
each mutant, so an interrupted run keeps what it finished, and `--resume` tests only the mutants it lacks.

    python -m tools.mutate_vyper --list                  # the mutants, by kind, without running them
    python -m tools.mutate_vyper --sample 20 --seed 1    # a random sample (mutate-quick)
    python -m tools.mutate_vyper                         # all of them
    python -m tools.mutate_vyper --resume                # those the last report lacks (after an interruption)
    python -m tools.mutate_vyper --match ':355:' --out /tmp/m  # the mutants of line 355 only (after a new test)
"""
from __future__ import annotations

import difflib
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import typer

from tools.mutation_score import ROOT, WORK, Mutant, judge, load_equivalents, report, selection

COMPARE = {"<": ["<=", ">"], "<=": ["<", ">="], ">": [">=", "<"], ">=": [">", "<="], "==": ["!="], "!=": ["=="]}
COMMUTATIVE = {"min", "max", "unsafe_add", "unsafe_mul"}
TYPE = re.compile(r"u?int\d+|bytes\d+|address|bool")  # convert(x, T), empty(T): a swap cannot compile
NOT_CODE = re.compile(r"^\s*(#|@|from |import |initializes:|exports:|def |event |struct |interface )")


@dataclass(frozen=True)
class Change:
    """One textual mutant: `line` (1-based) of `file` becomes `mutated`."""

    file: str
    line: int
    column: int
    kind: str
    before: str  # the changed text, e.g. "<="
    after: str
    original: str  # the whole line
    mutated: str

    @property
    def name(self) -> str:
        return f"{self.file}:{self.line}:{self.column} {self.kind} {self.before!r} -> {self.after!r}"

    def diff(self, source: list[str]) -> str:
        lo, hi = max(self.line - 3, 0), min(self.line + 2, len(source))
        new = source[lo:hi]
        new[self.line - 1 - lo] = self.mutated
        return "".join(difflib.unified_diff([s + "\n" for s in source[lo:hi]], [s + "\n" for s in new],
                                            self.file, self.file, n=2, lineterm="\n"))


def code_mask(lines: list[str]) -> list[str]:
    """The lines with comments, docstrings and string literals blanked to spaces (same columns), so that the
    mutators below see code only; declaration lines (decorators, imports, signatures, events, structs) blank."""
    out, in_doc = [], False
    for text in lines:
        if in_doc:  # inside a docstring: blank up to its end, if it ends on this line
            end = text.find('"""')
            if end < 0:
                out.append(" " * len(text))
                continue
            in_doc = False
            text = " " * (end + 3) + text[end + 3:]
        elif NOT_CODE.match(text):
            out.append(" " * len(text))
            continue
        chars, i, quote = list(text), 0, None
        while i < len(chars):
            c = chars[i]
            if quote is None and text.startswith('"""', i):
                end = text.find('"""', i + 3)
                if end < 0:  # a docstring opens here and runs on
                    chars[i:] = " " * (len(chars) - i)
                    in_doc = True
                    break
                chars[i:end + 3] = " " * (end + 3 - i)
                i = end + 3
                continue
            if quote is None and c == "#":
                chars[i:] = " " * (len(chars) - i)
                break
            if quote is None and c in "\"'":
                quote = c
                chars[i] = " "
            elif quote is not None:
                if c == quote:
                    quote = None
                chars[i] = " "
            i += 1
        out.append("".join(chars))
    return out


def top_level_args(code: str, open_at: int) -> tuple[list[tuple[int, int]], int]:
    """Spans (start, end) of the top-level arguments of the call whose '(' is at open_at, and the index of its
    closing ')' (-1 if the call does not close on this line)."""
    depth, start, spans = 0, open_at + 1, []
    for i in range(open_at, len(code)):
        c = code[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth == 0:
                spans.append((start, i))
                return [(a, b) for a, b in spans if code[a:b].strip()], i
        elif c == "," and depth == 1:
            spans.append((start, i))
            start = i + 1
    return [], -1


def strip_span(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a] == " ":
        a += 1
    while b > a and text[b - 1] == " ":
        b -= 1
    return a, b


def shifted(expr: str, by: str) -> str:
    """expr + 1 or expr - 1, parenthesised unless expr is a name, a number or a call."""
    atom = re.fullmatch(r"[\w.]+(\(.*\))?", expr)
    return f"{expr if atom else f'({expr})'} {by} 1"


def line_changes(text: str, code: str) -> list[tuple[int, str, str, str]]:
    """(column, kind, before, after) for every mutant of one line, `code` being its masked form."""
    out = []
    i = 0
    while i < len(code):  # comparisons, skipping <<, >>, ->, and the = of augmented assignments
        two = code[i:i + 2]
        if two in ("<<", ">>", "->"):
            i += 2
            continue
        op = two if two in COMPARE else code[i] if code[i] in "<>" else None
        if op is not None:
            out += [(i, "compare", op, new) for new in COMPARE[op]]
            i += len(op)
            continue
        i += 1
    for m in re.finditer(r"(?<=\S) ([+-]) (?=\S)|([+-])=", code):
        op = m.group(1) or m.group(2) + "="
        col = m.start(1) if m.group(1) else m.start(2)
        out.append((col, "arith", op, {"+": "-", "-": "+", "+=": "-=", "-=": "+="}[op]))
    for m in re.finditer(r"(?<![\w.])\d[\d_]*(?![\w.])", code):
        if code[:m.start()].endswith(("0x", "**")):
            continue
        n = int(m.group().replace("_", ""))
        out += [(m.start(), "const", m.group(), str(v)) for v in (n + 1, n - 1) if v >= 0]
    stripped = code.lstrip()
    if stripped.startswith("assert ") and code.count("(") == code.count(")"):
        out.append((len(code) - len(stripped), "assert", text.strip(), "pass"))
    for m in re.finditer(r"([A-Za-z_][\w.]*)\(", code):
        callee = m.group(1).split(".")[-1]
        spans, close = top_level_args(code, m.end() - 1)
        if close < 0:
            continue
        args = [strip_span(code, a, b) for a, b in spans]
        if callee == "range":
            positional = [(a, b) for a, b in args if "=" not in code[a:b]]
            for k, (a, b) in enumerate(positional):
                expr = text[a:b]
                first_of_two = k == 0 and len(positional) == 2
                plus_one = re.fullmatch(r"(.+) \+ 1", expr)
                options = [plus_one.group(1)] if first_of_two and plus_one else (
                    [shifted(expr, "+")] if first_of_two else [shifted(expr, "-"), shifted(expr, "+")])
                out += [(a, "bound", expr, new) for new in options]
        elif (len(args) == 2 and callee not in COMMUTATIVE
              and not any("=" in code[a:b] or TYPE.fullmatch(code[a:b]) for a, b in args)):
            (a1, b1), (a2, b2) = args
            out.append((a1, "swap", text[a1:b2], f"{text[a2:b2]}, {text[a1:b1]}"))
    return out


def mutants(path: Path) -> list[Change]:
    """Every mutant of one contract, in source order."""
    lines = path.read_text().splitlines()
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    out = []
    for n, (text, code) in enumerate(zip(lines, code_mask(lines)), start=1):
        for col, kind, before, after in line_changes(text, code):
            if kind == "assert":
                mutated = text[:col] + "pass"
            else:
                assert text[col:col + len(before)] == before, (rel, n, before)
                mutated = text[:col] + after + text[col + len(before):]
            out.append(Change(rel, n, col + 1, kind, before, after, text, mutated))
    return out


def copy_repo(dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked files, ignored ones left out) plus the artifacts."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


# One process per mutant: build the artifacts from the mutated sources (exit 99 if they do not compile), then the
# tests; `artifact` caches per process, so the tests deploy what was just built.
RUNNER = """
import sys
from contracts.build import CONTRACTS, artifact
try:
    for name in CONTRACTS:
        artifact(name)
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(99)
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""
NOT_COMPILED = 99
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


def check(copy: Path, tests: list[str], timeout: float) -> tuple[str, float, str, str]:
    """Build the contracts of `copy` and run the tests there: (status, seconds, first failing test, output tail)."""
    env = {**os.environ, "DEML_CONTRACTS_DIR": str(copy / "contracts"), "DEML_CACHE_DIR": str(copy / ".cache"),
           "DEML_TEST_ORDER": os.pathsep.join(tests)}  # pytest merges a file named twice: tests/conftest.py orders
    start = time.monotonic()
    try:
        run = subprocess.run([sys.executable, "-c", RUNNER, "-x", "-q", "-p", "no:cacheprovider", "-m", "not anvil",
                              "--hypothesis-profile=mutation", *tests], cwd=copy, env=env, capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start, "", ""
    output = run.stdout + run.stderr
    status = {0: "survived", 1: "killed", NOT_COMPILED: "not compiled"}.get(run.returncode, "suspicious")
    failed = FAILED.search(output)
    return status, time.monotonic() - start, failed.group(1) if failed else "", output[-2000:]


def run_all(changes: list[Change], tests: dict[str, list[str]], jobs: int, timeout: float | None,
            done: list[Mutant], save) -> tuple[list[Mutant], dict[str, float]]:
    """Test every change on `jobs` workers, each in its own copy of the repository; `done` are mutants already
    tested, `save(mutants, unmutated)` is called after each one. Returns the mutants (done ones included) and the
    seconds the unmutated contract's build and tests took (per contract, as the first worker measured it)."""
    todo: queue.Queue[Change] = queue.Queue()
    for c in changes:
        todo.put(c)
    results: list[Mutant] = list(done)
    total = len(done) + len(changes)
    lock = threading.Lock()
    sources = {f: (ROOT / f).read_text() for f in {c.file for c in changes}}
    failures = []
    unmutated: dict[str, float] = {}
    first = {f: threading.Lock() for f in sources}

    def worker() -> None:
        with tempfile.TemporaryDirectory(prefix="deml-vyper-mutant-") as tmp:
            copy = Path(tmp)
            copy_repo(copy)
            while not failures:
                try:
                    c = todo.get_nowait()
                except queue.Empty:
                    return
                with first[c.file]:  # the unmutated contract must pass (once: the other workers wait for it)
                    if c.file not in unmutated and not failures:
                        status, seconds, _, tail = check(copy, tests[c.file], timeout or 3600)
                        if status != "survived":
                            failures.append(f"the unmutated {c.file} does not pass its tests ({status}):\n{tail}")
                        unmutated[c.file] = round(seconds, 1)  # it also sizes the timeout
                if failures:
                    return
                target = copy / c.file
                lines = sources[c.file].splitlines()
                lines[c.line - 1] = c.mutated
                target.write_text("\n".join(lines) + "\n")
                status, seconds, failed, _ = check(copy, tests[c.file], timeout or max(120.0, 4 * unmutated[c.file]))
                target.write_text(sources[c.file])
                m = Mutant(c.file, c.name, status, c.mutated.strip(), c.diff(sources[c.file].splitlines()),
                           round(seconds, 1), killed_by=failed)
                with lock:
                    results.append(m)
                    save(results, unmutated)
                    print(f"[{len(results)}/{total}] {status:12s} {seconds:5.0f} s  {c.name}  {failed}", flush=True)

    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(failures[0])
    return results, unmutated


def previous(out: Path, changes: list[Change]) -> list[Mutant]:
    """The mutants of the last report (out/vyper.json) that are still among `changes`, with the same line."""
    path = out / "vyper.json"
    if not path.exists():
        return []
    current = {c.name: c.mutated.strip() for c in changes}
    found = [Mutant(**{**m, "equivalent": ""}) for m in json.loads(path.read_text())["mutants"]]
    return [m for m in found if current.get(m.name) == m.mutated and m.status not in ("timeout", "suspicious")]


def main(
    contract: Optional[List[str]] = typer.Option(None, "--contract", "-c", help="contract(s) of the map to mutate"),
    sample: Optional[int] = typer.Option(None, min=1, help="test only N random mutants"),
    match: Optional[List[str]] = typer.Option(None, help="test only the mutants whose name (as --list prints it) "
                                                         "matches one of these regular expressions"),
    tests: Optional[List[str]] = typer.Option(None, "--test", help="run these tests instead of the map's"),
    seed: int = typer.Option(0, help="seeds the sample"),
    jobs: int = typer.Option(2, min=1, max=2, help="mutants tested at once (each worker holds a copy)"),
    timeout: Optional[float] = typer.Option(None, min=1, help="seconds per mutant's tests (default: 4x the "
                                                                    "unmutated run, at least 120)"),
    list_only: bool = typer.Option(False, "--list", help="print the mutants and their count by kind; run nothing"),
    out: Path = typer.Option(WORK, help="folder for vyper.json and vyper.md"),
    resume: bool = typer.Option(False, help="keep the mutants of the last report in OUT that still apply; test "
                                           "only the others (timeouts and suspicious ones again)"),
):
    """Mutation-test the Vyper contracts against their chain tests and print the score."""
    mapping, chosen = selection("vyper", contract, "--contract")
    changes = [c for f in chosen for c in mutants(ROOT / f)
               if not match or any(re.search(pattern, c.name) for pattern in match)]
    if tests:
        mapping = {f: list(tests) for f in chosen}
    print(f"{len(changes)} mutants: " + ", ".join(f"{k} {n}" for k, n in sorted(Counter(c.kind for c in changes).items())))
    if list_only:
        for c in changes:
            print(c.name)
        return
    if sample is not None:
        picked = set(random.Random(seed).sample(range(len(changes)), min(sample, len(changes))))
        changes = [c for k, c in enumerate(changes) if k in picked]
    done = previous(out, changes) if resume else []
    skip = {m.name for m in done}
    order = {c.name: k for k, c in enumerate(changes)}
    command = " ".join(["python -m tools.mutate_vyper", *sys.argv[1:]])
    start = time.monotonic()

    def save(results: list[Mutant], unmutated: dict[str, float], final: bool = False) -> None:
        ran = [m for m in results if m.name not in skip]
        per_mutant = sum(m.seconds for m in ran) / max(len(ran), 1)
        judged, notes = judge(sorted(results, key=lambda m: order[m.name]), load_equivalents("vyper"))
        meta = {"command": command, "sample": sample, "jobs": jobs, "seconds": round(time.monotonic() - start, 1),
                "unmutated build and tests, seconds": unmutated,
                "seconds per mutant (build and tests, one worker)": round(per_mutant, 1)}
        if resume:
            meta["resumed with"] = len(skip)
        if not final:
            meta["partial"] = f"{len(results)} of {len(changes)} mutants"
        report("vyper", judged, notes, out, meta, quiet=not final)

    results, unmutated = run_all([c for c in changes if c.name not in skip], mapping, jobs, timeout, done, save)
    save(results, unmutated, final=True)


if __name__ == "__main__":
    typer.run(main)
