"""The deployment file: what later commands need to find, and trust, contracts deployed earlier.

`deml deploy` writes it; `deml coordinator run`, `deml node run` and `deml swarm run --deployment` read it and
refuse, with one line, a file that does not describe the chain they reach: another chain id, no contract or
other code at an address, or contracts built from other sources than this checkout's.

    {"version": 1, "chain_id": 31337, "rpc": "http://127.0.0.1:8545", "deploy_block": 1,
     "owner": "0x..", "token": "0x..", "coordinator": "0x..",
     "code": {"reward_token": "0x<keccak256 of the runtime code at its address>", "coordinator": "0x.."},
     "artifacts": {"reward_token": "0x<keccak256 of the build's creation bytecode>", "coordinator": "0x.."},
     "min_stake": ..., "slash_bps": 5000, "stake": ..., "reward": ...}

`min_stake` and `slash_bps` are the coordinator's immutables; `stake` is what each node locks when it registers
and `reward` what the DC pays each revealer of an accepted round (at most the smallest slash).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONTRACTS = ("reward_token", "coordinator")
EMPTY_CODE = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"  # keccak256(b""): no contract


class DeploymentError(ValueError):
    """A deployment file that cannot be read, or that does not match the chain: the message says which field
    and what to do."""


class DeploymentRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    CONTRACTS: ClassVar[tuple[str, ...]] = CONTRACTS  # what `check` holds against the chain
    WRITER: ClassVar[str] = "`deml deploy`"  # the command that writes such a file, for the refusals' hint

    version: Literal[1] = 1
    chain_id: int
    rpc: str = Field(description="the URL the contracts were deployed through; commands use it unless told another")
    deploy_block: int = Field(ge=0, description="the block of the first deployment transaction")
    owner: str
    token: str
    coordinator: str
    code: dict[str, str]
    artifacts: dict[str, str]
    min_stake: int = Field(gt=0)
    slash_bps: int = Field(gt=0, le=10_000)
    stake: int = Field(gt=0)
    reward: int = Field(gt=0)

    @model_validator(mode="after")
    def _consistent(self):
        for name in ("code", "artifacts"):
            if set(getattr(self, name)) != set(CONTRACTS):
                raise ValueError(f"{name}: expected hashes for {', '.join(CONTRACTS)}")
        if self.stake < self.min_stake:
            raise ValueError(f"stake {self.stake} is below min_stake {self.min_stake}")
        if self.reward > self.min_stake * self.slash_bps // 10_000:
            raise ValueError(f"reward {self.reward} exceeds the smallest slash {self.min_stake * self.slash_bps // 10_000}")
        return self

    def address(self, name: str) -> str:
        return self.token if name == "reward_token" else self.coordinator


Record = TypeVar("Record", bound=BaseModel)


def load(path: Path, kind: type[Record] = DeploymentRecord) -> Record:
    """The record of `kind` (the round coordinator's, or protocol.board_deployment's for the report board)."""
    try:
        return kind.model_validate_json(Path(path).read_text())
    except OSError as exc:
        raise DeploymentError(f"--deployment {path}: cannot read it ({exc.strerror}); give the file {kind.WRITER} "
                              f"wrote") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        raise DeploymentError(f"--deployment {path}: not a deployment file of this kind ({where}: {err['msg']}); "
                              f"give the file {kind.WRITER} wrote") from None


def save(record: BaseModel, path: Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(record.model_dump(), indent=2) + "\n")
    return path


def check(record, path: Path, chain_id: int, code: dict[str, str], artifacts: dict[str, str]) -> None:
    """Refuse (DeploymentError) a record that does not describe this chain: `code` maps each contract to the
    keccak256 of the code now at its address (hex; that of b"" where none), `artifacts` to this checkout's build."""
    if chain_id != record.chain_id:
        raise DeploymentError(f"--deployment {path}: made on chain id {record.chain_id}, but the chain reached has "
                              f"chain id {chain_id}; give that chain's deployment file, or deploy afresh")
    for name in record.CONTRACTS:
        if code[name] != record.code[name]:
            what = "no contract" if code[name] == EMPTY_CODE else "other code"
            raise DeploymentError(f"--deployment {path}: {what} at the {name} address {record.address(name)} on this "
                                  f"chain; the file belongs to another chain (or one since reset): deploy afresh")
        if artifacts[name] != record.artifacts[name]:
            raise DeploymentError(f"--deployment {path}: its {name} was built from other sources than this "
                                  f"checkout's contracts/build/{name}.json; deploy afresh")

