"""The package layering of docs/README.md, read from the sources' import statements (function-level imports
included): `protocol/` is all the data collector and the nodes share, `coordinator/` never imports `nodes/`,
no lower package imports `sims/`, and `economics/` and `protocol/` stand on their own."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "economics", "coordinator", "nodes", "contracts", "sims")

# package -> the first-party packages it may import
ALLOWED = {
    "protocol": set(),
    "economics": set(),
    "coordinator": {"protocol", "economics", "contracts"},  # contracts/: the chain's client, no protocol logic
    "nodes": {"protocol", "economics", "contracts"},  # a node sends its own transactions through the same client
    "contracts": {"protocol"},
    "sims": set(PACKAGES),
}


def first_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES}
    return found


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "sims"])
def test_each_package_imports_only_the_layers_below_it(package):
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        extra = first_party_imports(path) - ALLOWED[package] - {package}
        if extra:
            bad[str(path.relative_to(ROOT))] = sorted(extra)
    assert not bad, f"imports across the layering: {bad}"


def test_the_checker_sees_an_upward_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from sims.demo import run_demo\n    import nodes.swarm as s\n")
    assert first_party_imports(source) == {"sims", "nodes"}
