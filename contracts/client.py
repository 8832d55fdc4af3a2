"""The typed Python face of the deployed contracts: `deploy` and a few verbs on the `Deployment` it returns.

    d = deploy(connect())                       # reward token + coordinator, owned by the chain's first account
    d.grant(node.address, 10); d.fund(1_000)    # tokens to a node; tokens into the reward pool
    d.allow(node); d.register([node], 10)       # the node lets the coordinator take its stake, then locks it
    rid = d.open_round(tau_fx=65_536, dim=3, reward=1)
    d.commit(rid, [(node, digest)]); d.reveal(rid, [(node, report, salt)])
    out = d.finalize(rid, members=1, dim=3); d.accounts(); d.outcome(rid)

A refusal raises the typed `protocol.ledger` exception of the contract's revert reason. One transaction is
sent straight away (the EVM makes it all-or-nothing, and its reason is read from the failed execution);
several are dry-run first, so that a refusal sends none of them (`preflight` does that for one transaction
too, so that a refusal does not even use a block). Transactions are pre-signed and carry explicit gas from
`gas_limit`: nothing is estimated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

import coincurve
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from contracts.build import artifact
from contracts.chain import TX_GAS_CAP, Chain, Receipt, Reverted, Tx
from protocol.commitment import keccak
from protocol.ledger import LedgerError, ledger_error

COMMIT_TYPEHASH = keccak(b"Commit(uint256 round,bytes32 commitment)")
MAX_REPORT_BYTES = 4 * 256  # the coordinator's MAX_REPORT: reports of up to 256 int32 values
MAX_UINT = 2**256 - 1
PHASES = ("unopened", "commit", "reveal", "accepted", "rejected")


def _abi_type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return param["type"]


@dataclass(frozen=True)
class Event:
    name: str
    args: dict[str, Any]


class Contract:
    """A deployed contract: ABI encoding done once per function (eth_abi directly, not web3's Contract)."""

    def __init__(self, chain: Chain, name: str, address: str):
        self.chain, self.name, self.address = chain, name, to_checksum_address(address)
        self.abi = artifact(name)["abi"]
        self._fns, self._events = {}, {}
        for item in self.abi:
            if item["type"] == "function":
                ins = [_abi_type(p) for p in item["inputs"]]
                selector = keccak(f"{item['name']}({','.join(ins)})".encode())[:4]
                self._fns[item["name"]] = (selector, ins, [_abi_type(p) for p in item["outputs"]])
            elif item["type"] == "event":
                sig = f"{item['name']}({','.join(_abi_type(p) for p in item['inputs'])})"
                self._events[keccak(sig.encode())] = (item["name"], item["inputs"])

    def data(self, fn: str, *args) -> bytes:
        selector, ins, _ = self._fns[fn]
        return selector + abi_encode(ins, args)

    def decode(self, fn: str, output: bytes):
        values = abi_decode(self._fns[fn][2], output)
        return values[0] if len(values) == 1 else values

    def call(self, fn: str, *args, sender: str | None = None):
        """Run `fn` without a transaction; a revert raises the typed LedgerError for its reason."""
        try:
            out = self.chain.call(sender or self.chain.funded[0].address, self.address, self.data(fn, *args))
        except Reverted as exc:
            raise _typed(exc.reason, fn) from None
        return self.decode(fn, out)

    def transact(self, fn: str, *args, sender: LocalAccount, gas: int, preflight: bool = False) -> Receipt:
        return self.transact_many(fn, [(args, sender)], gas, preflight=preflight)[0]

    def transact_many(self, fn: str, calls: Sequence[tuple[tuple, LocalAccount]], gas: int, *,
                      preflight: bool = False, ordered: bool = True) -> list[Receipt]:
        """One transaction per (args, sender). A refusal raises the typed error for the contract's reason.

        With `preflight` (always, for more than one transaction) every call is dry-run first and a refusal
        sends nothing: the batch is atomic, and a refused call does not even use a block. Without it a single
        transaction is sent straight away, which is atomic too, at half the EVM work.
        """
        txs = [Tx(sender, self.address, self.data(fn, *args), gas) for args, sender in calls]
        if preflight or len(txs) > 1:
            for answer in self.chain.calls([(t.sender.address, t.to, t.data) for t in txs]):
                if isinstance(answer, Reverted):
                    raise _typed(answer.reason, fn)
        receipts = self.chain.send(txs, ordered=ordered)
        for r in receipts:
            if not r.ok:
                raise _typed(r.reason, fn)
        return receipts

    def events(self, receipt: Receipt) -> list[Event]:
        out = []
        for address, topics, data in receipt.logs:
            if address != self.address or not topics or topics[0] not in self._events:
                continue
            name, inputs = self._events[topics[0]]
            indexed = iter(topics[1:])
            plain = [p for p in inputs if not p["indexed"]]
            values = dict(zip([p["name"] for p in plain], abi_decode([_abi_type(p) for p in plain], data)))
            for p in inputs:
                if p["indexed"]:
                    values[p["name"]] = abi_decode([_abi_type(p)], next(indexed))[0]
                if p["type"] == "address":
                    values[p["name"]] = to_checksum_address(values[p["name"]])
            out.append(Event(name, values))
        return out


def _typed(reason: str, fn: str) -> LedgerError:
    return ledger_error(reason or "reverted", f"{fn} refused")


def gas_limit(fn: str, members: int = 1, dim: int = 1, items: int = 1) -> int:
    """An upper bound on the gas of one call, so that none needs estimating: the costs of its parts measured
    on fresh storage (the dearest case: the first round writes every slot from zero), plus 10-70% headroom;
    tests/chain/test_gas.py holds the bound against measurements. `members` = participants, `items` =
    messages in a batch, `dim` = report dimension."""
    words, pairs = (dim + 7) // 8, members * (members - 1) // 2
    reveal = 80_000 + 26_000 * words + 100 * dim  # hash, range checks, a stored word per 8 values, calldata
    # a payment to a node holding no tokens yet writes its balance slot from zero: 35k a member covers it
    finalize = 200_000 + 35_000 * members + 100 * pairs * dim + 1_400 * members * dim + 1_400 * pairs * words
    return {
        "open_round": 260_000,
        "commit": 90_000,
        "commit_signed": 40_000 + 55_000 * items,  # ecrecover and a stored commitment each
        "reveal": reveal,
        "reveal_many": 30_000 + reveal * items,
        "finalize": finalize,
        "reveal_and_finalize": 30_000 + reveal * items + finalize,
    }[fn]


@dataclass(frozen=True)
class Outcome:
    """A finalized round as its events record it."""

    round_id: int
    accepted: bool
    count: int
    committed: int  # bitmask over the round's members (registration order)
    revealed: int
    total: tuple[int, ...]
    lo: tuple[int, ...]
    hi: tuple[int, ...]
    paid: dict[str, int] = field(default_factory=dict)
    slashed: dict[str, int] = field(default_factory=dict)
    gas: int = 0


@dataclass
class Deployment:
    """The reward token and the coordinator, and the verbs of the protocol over them."""

    chain: Chain
    owner: LocalAccount
    token: Contract
    coordinator: Contract
    gas_cap: int = TX_GAS_CAP  # raise with the block gas limit for experiments beyond a real chain's cap
    preflight: bool = False  # dry-run single transactions too, so that a refusal does not use a block
    last_gas: int = 0  # gas used by the transactions of the last verb

    def _send(self, contract: Contract, fn: str, *args, sender: LocalAccount, gas: int) -> Receipt:
        receipt = contract.transact(fn, *args, sender=sender, gas=gas, preflight=self.preflight)
        self.last_gas = receipt.gas_used
        return receipt

    def _send_each(self, fn: str, calls: Sequence[tuple[tuple, LocalAccount]], gas: int) -> None:
        receipts = self.coordinator.transact_many(fn, calls, gas, ordered=False)
        self.last_gas = sum(r.gas_used for r in receipts)

    # ------------------------------------------------------------------------------------------ tokens
    def grant(self, address: str, amount: int) -> None:
        """The DC (the token's minter) gives `amount` tokens to `address`."""
        self._send(self.token, "mint", to_checksum_address(address), amount, sender=self.owner, gas=80_000)

    def fund(self, amount: int) -> None:
        """The DC mints `amount` tokens to itself and moves them into the reward pool."""
        self._send(self.token, "mint", self.owner.address, amount, sender=self.owner, gas=80_000)
        self._send(self.coordinator, "fund", amount, sender=self.owner, gas=100_000)

    def allow(self, node: LocalAccount) -> None:
        """The node lets the coordinator take its stake when it registers (once: an unlimited allowance, which
        only `register` and `fund` use, and only from their own caller)."""
        self._send(self.token, "approve", self.coordinator.address, MAX_UINT, sender=node, gas=60_000)

    def register(self, nodes: Sequence[LocalAccount], stake: int) -> None:
        """Each node locks `stake`, in its own transaction, in order (which is the participants' order)."""
        receipts = self.coordinator.transact_many("register", [((stake,), n) for n in nodes], gas=180_000,
                                                  preflight=self.preflight)
        self.last_gas = sum(r.gas_used for r in receipts)

    def check_register(self, nodes: Sequence[LocalAccount], stake: int) -> None:
        """Dry-run each node's registration: raises the first refusal; sends nothing."""
        for node in nodes:
            self.coordinator.call("register", stake, sender=node.address)

    def withdraw(self, node: LocalAccount) -> None:
        self._send(self.coordinator, "withdraw", sender=node, gas=100_000 + 10_000 * len(self.participants()))

    # ------------------------------------------------------------------------------------------- reads
    def participants(self) -> list[str]:
        return [to_checksum_address(a) for a in self.coordinator.call("participants")]

    def accounts(self) -> tuple[list[str], list[int], list[int], int]:
        """(registered nodes, their token balances, their stakes, the pool)."""
        tokens, stakes, pool = self.coordinator.call("accounts")
        return self.participants(), list(tokens), list(stakes), pool

    def token_balance(self, address: str) -> int:
        return self.token.call("balanceOf", to_checksum_address(address))

    def phase(self, round_id: int) -> str:
        return PHASES[self.coordinator.call("phase", round_id)]

    @cached_property
    def domain_separator(self) -> bytes:
        return self.coordinator.call("domain_separator")

    # ------------------------------------------------------------------------------------------ rounds
    def open_round(self, *, tau_fx: int, dim: int, reward: int, scale_bits: int = 16,
                   params_digest: bytes = bytes(32), quorum: int = 2, commit_blocks: int = 32,
                   reveal_blocks: int = 32) -> int:
        """The DC opens the next round for every registered node; returns its id."""
        receipt = self._send(self.coordinator, "open_round", int(tau_fx), dim, scale_bits, params_digest, reward,
                             quorum, commit_blocks, reveal_blocks, sender=self.owner, gas=gas_limit("open_round"))
        return next(e.args["round_id"] for e in self.coordinator.events(receipt) if e.name == "RoundOpened")

    def commit(self, round_id: int, commits: Sequence[tuple[LocalAccount, bytes]]) -> None:
        """Each node sends its own commit transaction."""
        if len(commits) == 1:
            (node, digest), = commits
            self._send(self.coordinator, "commit", round_id, digest, sender=node, gas=gas_limit("commit"))
        else:
            self._send_each("commit", [((round_id, c), n) for n, c in commits], gas_limit("commit"))

    def sign_commit(self, node: LocalAccount, round_id: int, commitment: bytes) -> bytes:
        """The node's EIP-712 signature of Commit(round, commitment), for a relayer to submit."""
        struct = keccak(COMMIT_TYPEHASH + round_id.to_bytes(32, "big") + commitment)
        digest = keccak(b"\x19\x01" + self.domain_separator + struct)
        sig = coincurve.PrivateKey(bytes(node.key)).sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes([sig[64] + 27])

    def check_commits(self, round_id: int, signed: Sequence[tuple[bytes, bytes]]) -> None:
        """Dry-run commit_signed: raises the typed error the commits would meet; sends nothing."""
        self.coordinator.call("commit_signed", round_id, list(signed), sender=self.owner.address)

    def commit_signed(self, round_id: int, signed: Sequence[tuple[bytes, bytes]]) -> None:
        """Submit (commitment, signature) pairs in one transaction from the DC, who relays them."""
        self._send(self.coordinator, "commit_signed", round_id, list(signed), sender=self.owner,
                   gas=self._gas("commit_signed", items=len(signed)))

    def reveal(self, round_id: int, reveals: Sequence[tuple[LocalAccount, bytes, bytes]]) -> None:
        """Each node reveals (report, salt) in its own transaction."""
        gas = self._gas("reveal", dim=max((len(r) // 4 for _, r, _ in reveals), default=1))
        if len(reveals) == 1:
            (node, report, salt), = reveals
            self._send(self.coordinator, "reveal", round_id, report, salt, sender=node, gas=gas)
        else:
            self._send_each("reveal", [((round_id, r, s), n) for n, r, s in reveals], gas)

    def check_reveals(self, round_id: int, openings: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Dry-run reveal_many: raises the typed error the openings would meet; sends nothing."""
        self.coordinator.call("reveal_many", round_id, list(openings), sender=self.owner.address)

    def reveal_many(self, round_id: int, openings: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Reveal (node, report, salt) openings in one transaction from the DC, who relays them."""
        dim = max((len(r) // 4 for _, r, _ in openings), default=1)
        self._send(self.coordinator, "reveal_many", round_id, list(openings), sender=self.owner,
                   gas=self._gas("reveal_many", dim=dim, items=len(openings)))

    def finalize(self, round_id: int, *, members: int, dim: int,
                 openings: Sequence[tuple[str, bytes, bytes]] = ()) -> Outcome:
        """Settle the round (anyone may: here the DC does), first revealing `openings` in the same
        transaction when there are any."""
        if openings:
            receipt = self._send(self.coordinator, "reveal_and_finalize", round_id, list(openings),
                                 sender=self.owner,
                                 gas=self._gas("reveal_and_finalize", members=members, dim=dim, items=len(openings)))
        else:
            receipt = self._send(self.coordinator, "finalize", round_id, sender=self.owner,
                                 gas=self._gas("finalize", members=members, dim=dim))
        return self._outcome(round_id, self.coordinator.events(receipt), receipt.gas_used)

    def outcome(self, round_id: int) -> Outcome:
        """Read a finalized round back from the chain's event logs."""
        topic = "0x" + round_id.to_bytes(32, "big").hex()
        logs = self.chain.w3.eth.get_logs({"address": self.coordinator.address, "fromBlock": 0,
                                           "toBlock": "latest", "topics": [None, topic]})
        receipt = Receipt(b"", 0, 0, True, logs=tuple((to_checksum_address(lg["address"]),
                                                       tuple(bytes(t) for t in lg["topics"]), bytes(lg["data"]))
                                                      for lg in logs))
        events = [e for e in self.coordinator.events(receipt) if e.name in ("Finalized", "Paid", "Slashed")]
        if not any(e.name == "Finalized" for e in events):
            raise ledger_error("bad round", f"round {round_id} has not been finalized")
        return self._outcome(round_id, events, 0)

    def _outcome(self, round_id: int, events: list[Event], gas: int) -> Outcome:
        fin = next(e.args for e in events if e.name == "Finalized")
        return Outcome(round_id, fin["accepted"], fin["count"], fin["committed"], fin["revealed"],
                       tuple(fin["total"]), tuple(fin["lo"]), tuple(fin["hi"]),
                       {e.args["node"]: e.args["amount"] for e in events if e.name == "Paid"},
                       {e.args["node"]: e.args["amount"] for e in events if e.name == "Slashed"}, gas)

    def _gas(self, fn: str, **shape) -> int:
        """The bound, within the per-transaction cap (a bigger batch is refused by the chain, not sent)."""
        return min(gas_limit(fn, **shape), self.gas_cap)


def deploy(chain: Chain, *, min_stake: int = 1, slash_bps: int = 5_000, owner: LocalAccount | None = None,
           gas_cap: int = TX_GAS_CAP) -> Deployment:
    """Deploy the reward token and the coordinator; the owner (the DC) approves the coordinator once, so
    that funding the pool is one transaction."""
    owner = owner or chain.funded[0]
    token = _create(chain, owner, "reward_token", b"")
    coordinator = _create(chain, owner, "coordinator",
                          abi_encode(["address", "uint256", "uint256"], [token.address, min_stake, slash_bps]))
    token.transact("approve", coordinator.address, MAX_UINT, sender=owner, gas=60_000)
    return Deployment(chain, owner, token, coordinator, gas_cap)


def attach(chain: Chain, owner: LocalAccount, token: str, coordinator: str) -> Deployment:
    """The verbs over contracts deployed earlier (e.g. by another process on the same anvil)."""
    return Deployment(chain, owner, Contract(chain, "reward_token", token), Contract(chain, "coordinator", coordinator))


def _create(chain: Chain, owner: LocalAccount, name: str, args: bytes) -> Contract:
    code = bytes.fromhex(artifact(name)["bytecode"][2:]) + args
    (receipt,) = chain.send([Tx(owner, None, code, 6_000_000)])
    if not receipt.ok:
        raise ledger_error(receipt.reason or "reverted", f"deploying {name}")
    return Contract(chain, name, receipt.contract_address)
