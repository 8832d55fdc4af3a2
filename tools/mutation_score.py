"""What the Python (mutmut) and Vyper mutation runs share: the mutant record, the list of surviving mutants judged
equivalent (tests/mutation/equivalent.toml), the score per module and the JSON + Markdown report.

score = (killed + timeout) / (mutants run - equivalent): mutants that do not compile, or that a sampled run left
unchecked, are counted apart and score nothing either way.
"""
from __future__ import annotations

import json
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import typer

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "tests" / "mutation" / "equivalent.toml"
WORK = ROOT / ".mutation"

KILLED = ("killed", "timeout")
UNSCORED = ("not compiled", "not checked", "skipped")


@dataclass(frozen=True)
class Mutant:
    module: str  # source file, relative to the repo: "protocol/codec.py", "contracts/coordinator.vy"
    name: str  # mutmut's key, or file:line:column and operator for a Vyper mutant
    status: str  # killed | timeout | survived | no tests | suspicious | not compiled | not checked | skipped
    mutated: str = ""  # the mutated line(s), stripped: with `name`, what an equivalent entry matches
    diff: str = ""
    seconds: float = 0.0
    equivalent: str = ""  # the reason, where the list judges this survivor equivalent
    killed_by: str = ""  # the first test that failed on it, where the tool knows

    @property
    def verdict(self) -> str:
        return "equivalent" if self.equivalent else self.status


def selection(kind: str, chosen: list[str] | None, option: str) -> tuple[dict[str, list[str]], list[str]]:
    """pyproject's [tool.deml.mutation.KIND] map (source -> its tests) and the sources chosen from it (all by
    default); an unknown one is refused in one line naming the option, exit status 2."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["deml"]["mutation"][kind]
    unknown = [c for c in chosen or [] if c not in mapping]
    if unknown:
        typer.echo(f"{option}: {', '.join(unknown)} not in [tool.deml.mutation.{kind}] of pyproject.toml; "
                   f"known: {', '.join(mapping)}", err=True)
        raise typer.Exit(2)
    return mapping, chosen or list(mapping)


def load_equivalents(kind: str, path: Path = EQUIVALENT) -> dict[str, tuple[str, str]]:
    """name -> (mutated line, reason) for the `kind` ("python" or "vyper") entries of the list."""
    entries = tomllib.loads(path.read_text()).get(kind, []) if path.exists() else []
    return {e["name"]: (e["mutated"], e["reason"]) for e in entries}


def judge(mutants: list[Mutant], equivalents: dict[str, tuple[str, str]]) -> tuple[list[Mutant], list[str]]:
    """Survivors marked equivalent where the list names them with the same mutated line, and notes on entries
    that no longer match (the source moved on: the entry must be checked again) or whose mutant was killed."""
    out, notes = [], []
    for m in mutants:
        mutated, reason = equivalents.get(m.name, ("", ""))
        if reason and m.status in KILLED:
            notes.append(f"listed as equivalent but killed: {m.name}")
            reason = ""
        elif reason and mutated != m.mutated:
            notes.append(f"stale equivalent entry {m.name}: listed as {mutated!r}, now {m.mutated!r}")
            reason = ""
        out.append(replace(m, equivalent=reason if m.status not in UNSCORED else ""))
    return out, notes


def scores(mutants: list[Mutant]) -> list[dict]:
    """One row per module (and a total): counts per status and the score over non-equivalent mutants run."""
    rows = []
    modules = sorted({m.module for m in mutants})
    for module in [*modules, "total"]:
        counts = Counter(m.verdict for m in mutants if module in (m.module, "total"))
        run = sum(counts.values()) - sum(counts[s] for s in UNSCORED) - counts["equivalent"]
        killed = sum(counts[s] for s in KILLED)
        rows.append({"module": module, "mutants": sum(counts.values()), **dict(sorted(counts.items())),
                     "score": round(100 * killed / run, 1) if run else None})
    return rows


def report(kind: str, mutants: list[Mutant], notes: list[str], out: Path, meta: dict, quiet: bool = False) -> Path:
    """Write out/KIND.json and out/KIND.md (the score table, the tests that killed mutants first, and every
    surviving mutant with its diff); print the table unless `quiet`. Returns the Markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    rows = scores(mutants)
    _write(out / f"{kind}.json", json.dumps(
        {"meta": meta, "scores": rows, "notes": notes, "mutants": [asdict(m) for m in mutants]}, indent=1) + "\n")
    columns = ["module", "mutants", "killed", "timeout", "survived", "no tests", "suspicious", "equivalent",
               "not compiled", "not checked", "score"]
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(str(r.get(c, 0) if r.get(c, 0) is not None else "-") for c in columns) + " |"
              for r in rows]
    lines = [f"# {kind} mutation report", "", *(f"- {k}: {v}" for k, v in meta.items()), "", *table, ""]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    first = Counter(m.killed_by for m in mutants if m.killed_by and m.status in KILLED)
    if first:
        lines += ["## First failing test", "", *(f"- {n} {t}" for t, n in first.most_common()), ""]
    lines += ["## Surviving mutants", ""]
    for m in mutants:
        if m.verdict in ("survived", "no tests", "suspicious"):
            lines += [f"### {m.name} ({m.status})", "", "```diff", m.diff.strip(), "```", ""]
    lines += ["## Judged equivalent", "", *(f"- {m.name}: {m.equivalent}" for m in mutants if m.equivalent), ""]
    path = out / f"{kind}.md"
    _write(path, "\n".join(lines))
    if quiet:
        return path
    print("\n".join(table))
    for n in notes:
        print(f"note: {n}")
    print(f"report: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def _write(path: Path, text: str) -> None:
    """Atomically: a run interrupted while it rewrites its report keeps the previous one whole."""
    scratch = path.with_suffix(path.suffix + ".tmp")
    scratch.write_text(text)
    scratch.replace(path)


def main(
    results: Path = typer.Argument(..., help="a python.json or vyper.json report"),
    out: Optional[Path] = typer.Option(None, help="folder for the re-judged report (default: beside RESULTS)"),
):
    """Score a finished run again against the current equivalent list, without running any mutant."""
    data = json.loads(results.read_text())
    kind = results.stem
    mutants = [Mutant(**{**m, "equivalent": ""}) for m in data["mutants"]]
    judged, notes = judge(mutants, load_equivalents(kind))
    report(kind, judged, notes, out or results.parent, {**data["meta"], "rescored": True})


if __name__ == "__main__":
    typer.run(main)
