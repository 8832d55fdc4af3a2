"""The committed ABI + bytecode artifacts are what the vyper package makes of the committed sources; a stale or
redirected source is compiled into the cache, never into the package."""
import shutil
import warnings

import pytest

from contracts import build

# appended to a copy of a source: a new view function, so the compiled ABI shows which source was compiled
MUTANT = "\n\n@external\n@view\ndef mutant_probe() -> uint256:\n    return 7\n"


def tree(path):
    """{relative path: bytes} of every file under path."""
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty cache, no source override, and artifact() forgetting what earlier tests loaded."""
    monkeypatch.setenv("DEML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DEML_CONTRACTS_DIR", raising=False)
    build.artifact.cache_clear()
    yield tmp_path
    build.artifact.cache_clear()


@pytest.fixture
def checkout(fresh, monkeypatch):
    """A copy of the contracts package inside a checkout (a pyproject.toml beside it), standing in for HERE."""
    root = fresh / "checkout"
    here = root / "contracts"
    shutil.copytree(build.HERE, here, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    (root / "pyproject.toml").write_text("")
    monkeypatch.setattr(build, "HERE", here)
    monkeypatch.setattr(build, "BUILD", here / "build")
    return here


@pytest.mark.parametrize("name", build.CONTRACTS)
def test_committed_artifact_matches_its_source(name):
    art = build.stored(name)
    assert art is not None, f"contracts/build/{name}.json is missing: run python -m contracts.build"
    assert art["source_hash"] == build.source_hash(name, build.HERE), f"{name}.vy changed: run python -m contracts.build"


@pytest.mark.slow
@pytest.mark.parametrize("name", build.CONTRACTS)
def test_artifact_is_what_the_compiler_produces(name):
    fresh, art = build.compile_source(name, build.HERE), build.stored(name)
    assert fresh["bytecode"] == art["bytecode"] and fresh["abi"] == art["abi"]


def test_current_sources_load_the_committed_artifact_without_compiling(fresh, monkeypatch):
    monkeypatch.setattr(build, "compile_source", lambda *a: pytest.fail("compiled although the artifact is current"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build.artifact("coordinator") == build.stored("coordinator")
    assert not (fresh / "cache").exists()


def test_contracts_dir_compiles_another_source_into_the_cache_only(fresh, monkeypatch):
    mutated = fresh / "mutated"
    shutil.copytree(build.HERE, mutated, ignore=shutil.ignore_patterns("build", "__pycache__", "*.py"))
    with open(mutated / "reward_token.vy", "a") as f:
        f.write(MUTANT)
    monkeypatch.setenv("DEML_CONTRACTS_DIR", str(mutated))
    package = tree(build.HERE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deliberate override is not a stale checkout: no warning
        art = build.artifact("reward_token")
    assert "mutant_probe" in {f.get("name") for f in art["abi"]}
    assert art["source_hash"] == build.source_hash("reward_token", mutated) != build.stored("reward_token")["source_hash"]
    assert [p.name for p in (fresh / "cache" / "contracts").iterdir()] == [f"reward_token-{art['source_hash'][:24]}.json"]
    assert tree(build.HERE) == package  # nothing written into the package
    assert tree(mutated).keys() == {p.relative_to(mutated) for p in mutated.rglob("*.vy")}  # nor beside the sources

    build.artifact.cache_clear()  # another process: the cache answers, no second compilation
    monkeypatch.setattr(build, "compile_source", lambda *a: pytest.fail("compiled although the cache holds it"))
    assert build.artifact("reward_token") == art


def test_any_source_change_marks_every_artifact_stale(checkout):
    before = {name: build.source_hash(name) for name in build.CONTRACTS}
    (checkout / "library.vy").write_text("# a module a contract could import\n")
    assert all(build.source_hash(name) != before[name] for name in build.CONTRACTS)
    assert build.source_hash("reward_token") != build.source_hash("coordinator")


def test_an_edited_checkout_warns_compiles_into_the_cache_and_keeps_the_committed_file(checkout):
    committed = tree(checkout / "build")
    with open(checkout / "reward_token.vy", "a") as f:
        f.write(MUTANT)
    with pytest.warns(UserWarning, match=r"reward_token\.json is stale.*python -m contracts\.build"):
        art = build.artifact("reward_token")
    assert "mutant_probe" in {f.get("name") for f in art["abi"]}
    assert tree(checkout / "build") == committed
    assert build.main(["--check"]) == 1


@pytest.mark.slow  # compiles both contracts
def test_the_build_command_rewrites_stale_artifacts_in_a_checkout_only(checkout, monkeypatch, capsys):
    with open(checkout / "reward_token.vy", "a") as f:
        f.write(MUTANT)
    monkeypatch.setenv("DEML_CONTRACTS_DIR", str(checkout.parent))
    assert build.main([]) == 2 and "unset DEML_CONTRACTS_DIR" in capsys.readouterr().err
    monkeypatch.delenv("DEML_CONTRACTS_DIR")
    (checkout.parent / "pyproject.toml").unlink()
    assert build.main([]) == 2 and "installed package" in capsys.readouterr().err
    (checkout.parent / "pyproject.toml").write_text("")

    assert build.main([]) == 0
    # every artifact depends on every source, so both were rebuilt
    assert all(build.stored(name)["source_hash"] == build.source_hash(name) for name in build.CONTRACTS)
    assert "mutant_probe" in {f.get("name") for f in build.stored("reward_token")["abi"]}
    assert build.main(["--check"]) == 0


def test_the_owner_has_no_verb_to_pay_itself_or_move_stakes():
    """Besides opening rounds, every state-changing function acts only for its caller or by the round rules."""
    abi = build.artifact("coordinator")["abi"]
    writes = {f["name"] for f in abi if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}
    assert writes == {"fund", "register", "add_stake", "withdraw", "open_round", "commit", "commit_signed", "reveal",
                      "reveal_many", "reveal_and_finalize", "finalize", "expire", "reveal_seed", "confirm", "release",
                      "prove_mismatch"}
