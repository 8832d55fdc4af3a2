"""The mutation tools' own logic, without running any mutant: what the Vyper mutator changes (code only, one
change per mutant) and how survivors, equivalents and scores are counted."""
from tools import mutate_vyper
from tools.mutation_score import ROOT, Mutant, judge, load_equivalents, scores

SNIPPET = '''# pragma version ~=0.4.3
"""
@notice a docstring: x < y, range(n), assert a, f(a, b), 1 + 2
"""
LIMIT: constant(uint256) = 64


@external
def f(n: uint256, x: uint256) -> uint256:
    """@notice one line: x <= 3"""
    assert x < LIMIT, "x <= 64 # not code"  # nor this: y >= 1
    t: uint256 = unsafe_sub(x, n) << 2
    for i: uint256 in range(x + 1, n, bound=8):
        t += i
    return t
'''


def test_vyper_mutants_touch_code_only(tmp_path):
    path = tmp_path / "snippet.vy"
    path.write_text(SNIPPET)
    found = {(c.line, c.kind, c.before, c.after) for c in mutate_vyper.mutants(path)}
    assert found == {
        (5, "const", "64", "65"), (5, "const", "64", "63"),
        (11, "compare", "<", "<="), (11, "compare", "<", ">"),
        (11, "assert", 'assert x < LIMIT, "x <= 64 # not code"  # nor this: y >= 1', "pass"),
        (12, "swap", "x, n", "n, x"),
        (12, "const", "2", "3"), (12, "const", "2", "1"),  # << is a shift, not a comparison
        (13, "bound", "x + 1", "x"), (13, "bound", "n", "n - 1"), (13, "bound", "n", "n + 1"),
        (13, "arith", "+", "-"), (13, "const", "1", "2"), (13, "const", "1", "0"),
        (13, "const", "8", "9"), (13, "const", "8", "7"),
        (14, "arith", "+=", "-="),
    }


def test_each_vyper_mutant_changes_one_line_of_the_contract():
    source = (ROOT / "contracts" / "coordinator.vy").read_text().splitlines()
    found = mutate_vyper.mutants(ROOT / "contracts" / "coordinator.vy")
    assert len(found) > 200 and {c.kind for c in found} == {"compare", "bound", "assert", "swap", "arith", "const"}
    for c in found:
        assert source[c.line - 1] == c.original and c.mutated != c.original
        diff = c.diff(source)
        assert f"-{c.original}\n" in diff and f"+{c.mutated}\n" in diff
    assert len({(c.line, c.column, c.after) for c in found}) == len(found)


def test_equivalents_count_apart_and_stale_entries_are_reported():
    run = [Mutant("m.py", "a", "killed"), Mutant("m.py", "b", "survived", "x = 1"),
           Mutant("m.py", "c", "survived", "y = 2"), Mutant("m.py", "d", "survived", "z = 3"),
           Mutant("m.py", "e", "not checked"), Mutant("n.py", "f", "timeout")]
    listed = {"b": ("x = 1", "same value"), "c": ("y = 3", "was so"), "a": ("", "wrong")}
    judged, notes = judge(run, listed)
    assert [m.verdict for m in judged] == ["killed", "equivalent", "survived", "survived", "not checked", "timeout"]
    assert notes == ["listed as equivalent but killed: a",
                     "stale equivalent entry c: listed as 'y = 3', now 'y = 2'"]
    rows = {r["module"]: r for r in scores(judged)}
    assert rows["m.py"]["score"] == 33.3  # 1 killed of 3 scored: b is equivalent, e unchecked
    assert rows["n.py"]["score"] == 100.0 and rows["total"]["score"] == 50.0


def test_the_equivalent_list_parses_and_every_entry_has_a_reason():
    python = load_equivalents("python")
    assert python and all(reason and mutated for mutated, reason in python.values())
