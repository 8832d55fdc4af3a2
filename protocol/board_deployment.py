"""The report board's deployment file: what a FAR-SIGN node or data collector process needs to attach to a board
deployed earlier, and to trust it. The sibling of protocol/deployment.py's record (the round coordinator's), read
and checked by the same `load` and `check`: another chain id, no contract or other code at an address, or another
build of contracts/board.vy are each refused with one line.

    {"kind": "board", "version": 1, "chain_id": 31337, "rpc": "http://127.0.0.1:8545", "deploy_block": 1,
     "owner": "0x..", "token": "0x..", "board": "0x..",
     "code": {"reward_token": "0x<keccak256 of the runtime code>", "board": "0x.."}, "artifacts": {...},
     "params": {"min_stake": .., "fee": .., "window_blocks": .., "max_posts": .., "max_staleness": ..},
     "stake": .., "store": "http://127.0.0.1:PORT"}

`params` are the board's immutables (protocol.board.BoardParams); `stake` is what each node locks when it
registers; `store` is the data collector's model store, where the deployer knows it already (a node's --store
overrides it).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.board import BoardParams

CONTRACTS = ("reward_token", "board")


class BoardRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    CONTRACTS: ClassVar[tuple[str, ...]] = CONTRACTS
    WRITER: ClassVar[str] = "`deml swarm run --mode farsign`"

    kind: Literal["board"] = "board"
    version: Literal[1] = 1
    chain_id: int
    rpc: str
    deploy_block: int = Field(ge=0)
    owner: str
    token: str
    board: str
    code: dict[str, str]
    artifacts: dict[str, str]
    params: dict[str, int]
    stake: int = Field(gt=0)
    store: Optional[str] = None

    @model_validator(mode="after")
    def _consistent(self):
        for name in ("code", "artifacts"):
            if set(getattr(self, name)) != set(CONTRACTS):
                raise ValueError(f"{name}: expected hashes for {', '.join(CONTRACTS)}")
        fields = set(asdict(BoardParams()))
        if set(self.params) != fields:
            raise ValueError(f"params: expected {', '.join(sorted(fields))}")
        if self.stake < self.params["min_stake"]:
            raise ValueError(f"stake {self.stake} is below min_stake {self.params['min_stake']}")
        return self

    @property
    def board_params(self) -> BoardParams:
        return BoardParams(**self.params)

    def address(self, name: str) -> str:
        return self.token if name == "reward_token" else self.board
