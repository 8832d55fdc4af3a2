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
(tracked and untracked, not ignored files) to a temporary folder once, then for each mutant writes it there,
rebuilds the artifacts (`python -m contracts.build`; a mutant that does not compile is counted apart) and runs
the contract's tests from pyproject's [tool.deml.mutation.vyper] with -x and a timeout. The report
(.mutation/vyper.{json,md}) lists every mutant with its location, its diff and its verdict.

    python -m tools.mutate_vyper --list                  # the mutants, by kind, without running them
    python -m tools.mutate_vyper --sample 20 --seed 1    # a random sample (mutate-quick)
    python -m tools.mutate_vyper                         # all of them
"""
from __future__ import annotations

import difflib
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


def check(copy: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    """Rebuild the artifacts in `copy` and run the tests there: (status, seconds, output tail)."""
    start = time.monotonic()
    build = subprocess.run([sys.executable, "-m", "contracts.build"], cwd=copy, capture_output=True, text=True,
                           timeout=600)
    if build.returncode != 0:
        return "not compiled", time.monotonic() - start, build.stderr[-2000:]
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not anvil",
                              *tests], cwd=copy, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start, ""
    status = {0: "survived", 1: "killed"}.get(run.returncode, "suspicious")
    return status, time.monotonic() - start, (run.stdout + run.stderr)[-2000:]


def run_all(changes: list[Change], tests: dict[str, list[str]], jobs: int,
            timeout: float | None) -> tuple[list[Mutant], dict[str, float]]:
    """Test every change on `jobs` workers, each in its own copy of the repository. Returns the mutants and the
    seconds the unmutated contract's build and tests took (per contract, as the first worker measured it)."""
    todo: queue.Queue[Change] = queue.Queue()
    for c in changes:
        todo.put(c)
    results: list[Mutant] = []
    lock = threading.Lock()
    sources = {f: (ROOT / f).read_text() for f in {c.file for c in changes}}
    failures = []
    unmutated: dict[str, float] = {}

    def worker() -> None:
        with tempfile.TemporaryDirectory(prefix="deml-vyper-mutant-") as tmp:
            copy = Path(tmp)
            copy_repo(copy)
            baseline: dict[str, float] = {}
            while True:
                try:
                    c = todo.get_nowait()
                except queue.Empty:
                    return
                if c.file not in baseline:  # the unmutated contract must pass: it also sizes the timeout
                    status, seconds, tail = check(copy, tests[c.file], timeout or 3600)
                    if status != "survived":
                        failures.append(f"the unmutated {c.file} does not pass its tests ({status}):\n{tail}")
                        return
                    baseline[c.file] = seconds
                    unmutated.setdefault(c.file, round(seconds, 1))
                target = copy / c.file
                lines = sources[c.file].splitlines()
                lines[c.line - 1] = c.mutated
                target.write_text("\n".join(lines) + "\n")
                status, seconds, tail = check(copy, tests[c.file], timeout or max(120.0, 4 * baseline[c.file]))
                target.write_text(sources[c.file])
                m = Mutant(c.file, c.name, status, c.mutated.strip(), c.diff(sources[c.file].splitlines()),
                           round(seconds, 1))
                with lock:
                    results.append(m)
                    print(f"[{len(results)}/{len(changes)}] {status:12s} {seconds:5.0f} s  {c.name}", flush=True)

    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(failures[0])
    order = {c.name: k for k, c in enumerate(changes)}
    return sorted(results, key=lambda m: order[m.name]), unmutated


def main(
    contract: Optional[List[str]] = typer.Option(None, "--contract", "-c", help="contract(s) of the map to mutate"),
    sample: Optional[int] = typer.Option(None, min=1, help="test only N random mutants"),
    seed: int = typer.Option(0, help="seeds the sample"),
    jobs: int = typer.Option(2, min=1, max=2, help="mutants tested at once (each worker holds a copy)"),
    timeout: Optional[float] = typer.Option(None, min=1, help="seconds per mutant's tests (default: 4x the "
                                                                    "unmutated run, at least 120)"),
    list_only: bool = typer.Option(False, "--list", help="print the mutants and their count by kind; run nothing"),
    out: Path = typer.Option(WORK, help="folder for vyper.json and vyper.md"),
):
    """Mutation-test the Vyper contracts against their chain tests and print the score."""
    mapping, chosen = selection("vyper", contract, "--contract")
    changes = [c for f in chosen for c in mutants(ROOT / f)]
    print(f"{len(changes)} mutants: " + ", ".join(f"{k} {n}" for k, n in sorted(Counter(c.kind for c in changes).items())))
    if list_only:
        for c in changes:
            print(c.name)
        return
    if sample is not None:
        picked = set(random.Random(seed).sample(range(len(changes)), min(sample, len(changes))))
        changes = [c for k, c in enumerate(changes) if k in picked]
    start = time.monotonic()
    results, unmutated = run_all(changes, mapping, jobs, timeout)
    seconds = time.monotonic() - start
    judged, notes = judge(results, load_equivalents("vyper"))
    per_mutant = sum(m.seconds for m in results) / max(len(results), 1)
    report("vyper", judged, notes, out, {"command": " ".join(["python -m tools.mutate_vyper", *sys.argv[1:]]),
                                         "sample": sample, "jobs": jobs, "seconds": round(seconds, 1),
                                         "unmutated build and tests, seconds": unmutated,
                                         "seconds per mutant (build and tests, one worker)": round(per_mutant, 1)})



if __name__ == "__main__":
    typer.run(main)
