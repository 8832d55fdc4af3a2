"""The committed ABI + bytecode artifacts are what the vyper package makes of the committed sources."""
import pytest

from contracts import build


@pytest.mark.parametrize("name", build.CONTRACTS)
def test_committed_artifact_matches_its_source(name):
    art = build.stored(name)
    assert art is not None, f"contracts/build/{name}.json is missing: run python -m contracts.build"
    assert art["source_hash"] == build.source_hash(name), f"{name}.vy changed: run python -m contracts.build"


@pytest.mark.slow
@pytest.mark.parametrize("name", build.CONTRACTS)
def test_artifact_is_what_the_compiler_produces(name):
    fresh, art = build.compile_source(name), build.stored(name)
    assert fresh["bytecode"] == art["bytecode"] and fresh["abi"] == art["abi"]


def test_the_owner_has_no_verb_to_pay_itself_or_move_stakes():
    """Besides opening rounds, every state-changing function acts only for its caller or by the round rules."""
    abi = build.artifact("coordinator")["abi"]
    writes = {f["name"] for f in abi if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}
    assert writes == {"fund", "register", "add_stake", "withdraw", "open_round", "commit", "commit_signed", "reveal",
                      "reveal_many", "reveal_and_finalize", "finalize", "expire"}
