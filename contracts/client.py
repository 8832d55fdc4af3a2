"""The typed Python face of the deployed contracts: `deploy` and a few verbs on the `Deployment` it returns.

    d = deploy(connect())                       # reward token + coordinator, owned by the chain's first account
    d.grant(a.address, 10); d.fund(1_000)       # tokens to a node; tokens into the reward pool
    d.allow(a); d.register([a, b], 10)          # each node lets the coordinator take its stake, then locks it
    rid = d.open_round(members=[a.address, b.address], tau_fx=65_536, dim=3, reward=1).args["round_id"]
    d.commit(rid, [(a, commit_a), (b, commit_b)]); d.reveal(rid, [(a, report_a, salt_a), ...], members=2)
    d.finalize(rid, members=2); d.outcome(rid); d.accounts([a.address, b.address])

A refusal raises the typed `protocol.ledger` exception of the contract's revert reason. One transaction is
sent straight away (the EVM makes it all-or-nothing, and its reason is read from the failed execution);
several are dry-run first, so that a refusal sends none of them (`preflight` does that for one transaction
too, so that a refusal does not even use a block). Transactions are pre-signed and carry explicit gas from
`gas_limit`: nothing is estimated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, Sequence

import coincurve
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from contracts.build import artifact
from contracts.chain import TX_GAS_CAP, Chain, LogEntry, Receipt, Reverted, Tx
from protocol.commitment import keccak
from protocol.deployment import CONTRACTS, DeploymentRecord, check
from protocol.ledger import MAX_DIM, MAX_MEMBERS, LedgerError, ledger_error

COMMIT_TYPEHASH = keccak(b"Commit(uint256 round,bytes32 commitment)")
MAX_REPORT_BYTES = 8 * MAX_DIM  # the coordinator's MAX_REPORT: 256 int32 report values, or 256 int64 sketch values
MAX_UINT = 2**256 - 1
PHASES = ("unopened", "commit", "reveal", "accepted", "rejected", "confirming")


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
        return self.decode_logs(receipt.logs)

    def decode_logs(self, logs) -> list[Event]:
        """This contract's events among raw logs (address, topics, data), in their order."""
        out = []
        for address, topics, data in logs:
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
                elif p["type"] == "address[]":
                    values[p["name"]] = tuple(to_checksum_address(a) for a in values[p["name"]])
            out.append(Event(name, values))
        return out

    def topic(self, event: str) -> bytes:
        return next(t for t, (name, _) in self._events.items() if name == event)


def _typed(reason: str, fn: str) -> LedgerError:
    return ledger_error(reason or "reverted", f"{fn} refused")


def gas_limit(fn: str, members: int = 2, dim: int = 1, items: int = 1) -> int:
    """An upper bound on the gas of one call, so that none needs estimating: the costs of its parts measured on
    fresh storage (the dearest case: the first round writes every slot from zero, and the last reveal of a round
    reads every earlier report cold), plus headroom; tests/chain/test_gas.py holds the bound against
    measurements. `members` = the round's members (or candidates), `items` = messages in a batch, `dim` = report
    dimension. Every call of a round the contract accepts fits the per-transaction cap on its own (reveal at 64
    members x 256 values: about 7M)."""
    words = (dim + 7) // 8
    # hash and store the words, then compare with up to members - 1 earlier reports: cold reads and the arithmetic
    reveal = 110_000 + 24_000 * words + 100 * dim + (members - 1) * (3_000 + 4_000 * words)
    # read the round, then pay each revealer (a fresh balance slot) or slash a stake, with their events
    finalize = 110_000 + 33_000 * members
    return {
        "open_round": 300_000 + 52_000 * members,
        "commit": 90_000,
        "commit_signed": 45_000 + 60_000 * items,  # ecrecover and a stored commitment each
        "reveal": reveal,
        "reveal_many": 30_000 + reveal * items,
        "finalize": finalize,
        "reveal_and_finalize": 30_000 + reveal * items + finalize,
        "expire": 60_000,
        "reveal_seed": 80_000,
        "confirm": 90_000 + 33_000 * members,  # a payment (fresh balance slot) and its event per payee
        # the full report's calldata (EIP-7623 floor: up to 40 gas a byte), its hash, and one row of S y
        "prove_mismatch": 300_000 + 230 * dim,
    }[fn]


@dataclass(frozen=True)
class Outcome:
    """A settled round as the chain's events record it: RoundOpened, SeedRevealed, Revealed, Finalized (or Expired),
    Confirmed, Disproved, Paid, Slashed."""

    round_id: int
    members: tuple[str, ...]  # admitted, in the round's member order
    accepted: bool
    count: int
    committed: int  # bitmask over the members
    revealed: int
    max_sq: int
    reports: dict[str, bytes] = field(default_factory=dict)  # revealed packed reports, by node
    farthest: dict[str, tuple[int, str]] = field(default_factory=dict)  # revealer -> (sq, earlier node)
    paid: dict[str, int] = field(default_factory=dict)
    slashed: dict[str, int] = field(default_factory=dict)
    expired: bool = False
    gas: int = 0
    dim: int = 0
    full_dim: int = 0
    seed: bytes | None = None  # a sketched round's projection seed, once revealed
    digests: dict[str, bytes] = field(default_factory=dict)  # the full reports' digests, by revealer
    confirmed: int | None = None  # an accepted sketched round: the bitmask paid (None while it awaits confirmation)
    disproved: dict[str, int] = field(default_factory=dict)  # proven liars -> the stake they lost

    @property
    def sketched(self) -> bool:
        return self.full_dim > self.dim


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

    def _send_each(self, fn: str, calls: Sequence[tuple[tuple, LocalAccount]], gas: int) -> list[Receipt]:
        receipts = self.coordinator.transact_many(fn, calls, gas, ordered=False)
        self.last_gas = sum(r.gas_used for r in receipts)
        return receipts

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
        only `register`, `add_stake` and `fund` use, and only from their own caller)."""
        self._send(self.token, "approve", self.coordinator.address, MAX_UINT, sender=node, gas=60_000)

    def register(self, nodes: Sequence[LocalAccount], stake: int) -> None:
        """Each node locks `stake`, in its own transaction."""
        receipts = self.coordinator.transact_many("register", [((stake,), n) for n in nodes], gas=180_000,
                                                  preflight=self.preflight)
        self.last_gas = sum(r.gas_used for r in receipts)

    def check_register(self, nodes: Sequence[LocalAccount], stake: int) -> None:
        """Dry-run each node's registration: raises the first refusal; sends nothing."""
        for node in nodes:
            self.coordinator.call("register", stake, sender=node.address)

    def add_stake(self, node: LocalAccount, amount: int) -> None:
        self._send(self.coordinator, "add_stake", amount, sender=node, gas=120_000)

    def withdraw(self, node: LocalAccount) -> None:
        self._send(self.coordinator, "withdraw", sender=node, gas=120_000)

    # ------------------------------------------------------------------------------------------- reads
    def accounts(self, nodes: Sequence[str]) -> tuple[list[int], list[int], int]:
        """(token balances, stakes) of the given nodes, and the pool."""
        tokens, stakes, pool = [], [], self.coordinator.call("pool")
        for lo in range(0, len(nodes), MAX_MEMBERS):
            t, s, pool = self.coordinator.call("accounts", [to_checksum_address(a) for a in nodes[lo:lo + MAX_MEMBERS]])
            tokens += t
            stakes += s
        return tokens, stakes, pool

    def registered(self, address: str) -> bool:
        return self.coordinator.call("registered", to_checksum_address(address))

    def token_balance(self, address: str) -> int:
        return self.token.call("balanceOf", to_checksum_address(address))

    def phase(self, round_id: int) -> str:
        return PHASES[self.coordinator.call("phase", round_id)]

    @cached_property
    def domain_separator(self) -> bytes:
        return self.coordinator.call("domain_separator")

    # ------------------------------------------------------------------------------------------ rounds
    def open_round(self, *, members: Sequence[str], tau_fx: int, dim: int, reward: int, scale_bits: int = 16,
                   params_digest: bytes = bytes(32), quorum: int = 2, commit_blocks: int = 32,
                   reveal_blocks: int = 32, full_dim: int | None = None, seed_hash: bytes = bytes(32)) -> Event:
        """The DC opens the next round for the candidates `members`; returns its RoundOpened event (round id,
        deadlines, and the admitted members). A model of `full_dim` > `dim` values is checked through sketches
        under the projection whose seed hashes to `seed_hash`."""
        if len(members) > MAX_MEMBERS:
            raise ledger_error("too many members", f"{len(members)} candidates, at most {MAX_MEMBERS}")
        candidates = [to_checksum_address(a) for a in members]
        receipt = self._send(self.coordinator, "open_round", candidates, int(tau_fx), dim,
                             dim if full_dim is None else full_dim, scale_bits, params_digest, seed_hash, reward,
                             quorum, commit_blocks, reveal_blocks, sender=self.owner,
                             gas=self._gas("open_round", members=len(candidates)))
        opened = next(e for e in self.coordinator.events(receipt) if e.name == "RoundOpened")
        return Event(opened.name, {**opened.args, "block": receipt.block})

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

    def reveal_seed(self, round_id: int, seed: bytes) -> None:
        """The DC reveals the sketch projection's seed once the commit phase is over."""
        self._send(self.coordinator, "reveal_seed", round_id, seed, sender=self.owner, gas=gas_limit("reveal_seed"))

    def reveal(self, round_id: int, reveals: Sequence[tuple], *, members: int) -> None:
        """Each node reveals in its own transaction: (node, report, salt), or in a sketched round (node, sketch,
        salt, digest of the full report)."""
        openings = [Opening(*r) for r in reveals]
        gas = self._gas("reveal", members=members, dim=_dim(o.report for o in openings))
        calls = [((round_id, o.report, o.digest, o.salt), o.node) for o in openings]
        if len(calls) == 1:
            self._send(self.coordinator, "reveal", *calls[0][0], sender=calls[0][1], gas=gas)
        else:
            self._send_each("reveal", calls, gas)

    def check_reveals(self, round_id: int, openings: Sequence[tuple]) -> None:
        """Dry-run reveal_many: raises the typed error the openings would meet; sends nothing."""
        self.coordinator.call("reveal_many", round_id, _abi(openings), sender=self.owner.address)

    def reveal_many(self, round_id: int, openings: Sequence[tuple], *, members: int) -> None:
        """Reveal (node, report, salt[, digest]) openings from the DC, who relays them: in as many transactions as
        the per-transaction cap needs."""
        gas = 0
        for chunk in self._chunks(openings, members, spare=0):
            self._send(self.coordinator, "reveal_many", round_id, _abi(chunk), sender=self.owner,
                       gas=self._gas("reveal_many", members=members, dim=_dim(o[1] for o in chunk), items=len(chunk)))
            gas += self.last_gas
        self.last_gas = gas

    def finalize(self, round_id: int, *, members: int, openings: Sequence[tuple] = ()) -> Receipt:
        """Settle the round (anyone may: here the DC does), first revealing `openings`: the last of them in
        the settling transaction, the others before it in as many as the per-transaction cap needs."""
        if not openings:
            receipt = self._send(self.coordinator, "finalize", round_id, sender=self.owner,
                                 gas=self._gas("finalize", members=members))
            return receipt
        *before, last = self._chunks(openings, members, spare=gas_limit("finalize", members=members))
        gas = 0
        if before:
            self.reveal_many(round_id, [o for chunk in before for o in chunk], members=members)
            gas = self.last_gas
        receipt = self._send(self.coordinator, "reveal_and_finalize", round_id, _abi(last), sender=self.owner,
                             gas=self._gas("reveal_and_finalize", members=members, dim=_dim(o[1] for o in last),
                                           items=len(last)))
        self.last_gas += gas
        return receipt

    def expire(self, round_id: int, sender: LocalAccount | None = None) -> None:
        """Close a round nobody settled in time (anyone may)."""
        self._send(self.coordinator, "expire", round_id, sender=sender or self.owner, gas=gas_limit("expire"))

    def confirm(self, round_id: int, confirmed: int, *, members: int) -> None:
        """The DC pays the revealers (a bitmask over the members) of an accepted sketched round whose full reports
        it received and checked."""
        self._send(self.coordinator, "confirm", round_id, confirmed, sender=self.owner,
                   gas=self._gas("confirm", members=members))

    def release(self, round_id: int, *, members: int, sender: LocalAccount | None = None) -> None:
        """Anyone, once the confirmation window is over: pay every revealer not proven a liar."""
        self._send(self.coordinator, "release", round_id, sender=sender or self.owner,
                   gas=self._gas("confirm", members=members))

    def prove_mismatch(self, round_id: int, node: str, full_report: bytes, row: int,
                       sender: LocalAccount | None = None) -> None:
        """Show that `node`'s revealed sketch row `row` is not that row of the projection of its full report."""
        self._send(self.coordinator, "prove_mismatch", round_id, to_checksum_address(node), full_report, row,
                   sender=sender or self.owner, gas=self._gas("prove_mismatch", dim=len(full_report) // 4))

    def outcome(self, round_id: int, from_block: int = 0) -> Outcome:
        """A settled round read back from the chain's event logs (`from_block`: where to start looking, e.g. the
        block the round was opened in)."""
        raw = self.chain.logs(self.coordinator.address, from_block, "latest", [None, round_id.to_bytes(32, "big")])
        return outcome_of(round_id, [e for e in self.coordinator.decode_logs(raw) if e.args.get("round_id") == round_id])

    def _chunks(self, openings, members: int, spare: int) -> list[list]:
        """Openings in order, packed into transactions under the cap; the last leaves `spare` gas for more."""
        chunks, room = [[]], self.gas_cap - spare
        for o in openings:
            cost = gas_limit("reveal_many", members=members, dim=len(o[1]) // 4, items=len(chunks[-1]) + 1)
            if chunks[-1] and cost > room:
                chunks.append([])
            chunks[-1].append(o)
        return chunks

    def _gas(self, fn: str, **shape) -> int:
        """The bound, within the per-transaction cap (a bigger call is refused by the chain, not sent)."""
        return min(gas_limit(fn, **shape), self.gas_cap)


def outcome_of(round_id: int, events: Sequence[Event]) -> Outcome:
    """The Outcome of a settled round from its events (RoundOpened ... Finalized or Expired), in chain order."""
    opened = next((e.args for e in events if e.name == "RoundOpened"), None)
    end = next((e for e in events if e.name in ("Finalized", "Expired")), None)
    if opened is None or end is None:
        raise ledger_error("bad round", f"round {round_id} has not been settled")
    revealed = [e.args for e in events if e.name == "Revealed"]
    confirmed = next((e.args["confirmed"] for e in events if e.name == "Confirmed"), None)
    common = dict(round_id=round_id, members=tuple(opened["members"]), dim=opened["dim"],
                  full_dim=opened["full_dim"],
                  seed=next((e.args["seed"] for e in events if e.name == "SeedRevealed"), None),
                  reports={a["node"]: a["report"] for a in revealed},
                  digests={a["node"]: a["digest"] for a in revealed},
                  farthest={a["node"]: (a["farthest_sq"], a["farthest"]) for a in revealed},
                  paid={e.args["node"]: e.args["amount"] for e in events if e.name == "Paid"},
                  slashed={e.args["node"]: e.args["amount"] for e in events if e.name == "Slashed"},
                  disproved={e.args["node"]: e.args["amount"] for e in events if e.name == "Disproved"},
                  confirmed=confirmed)
    if end.name == "Expired":
        committed = sum(1 << opened["members"].index(e.args["node"]) for e in events if e.name == "Committed")
        return Outcome(accepted=False, count=len(revealed), committed=committed,
                       revealed=sum(1 << opened["members"].index(a["node"]) for a in revealed),
                       max_sq=max((a["farthest_sq"] for a in revealed), default=0), expired=True, **common)
    fin = end.args
    return Outcome(accepted=fin["accepted"], count=fin["count"], committed=fin["committed"],
                   revealed=fin["revealed"], max_sq=fin["max_sq"], **common)


class Opening(NamedTuple):
    """A reveal: the report (or sketch) and salt behind `node`'s commitment; in a sketched round also the digest
    of the full report the sketch is of (zero otherwise)."""

    node: Any  # an address (relayed) or the node's LocalAccount (its own transaction)
    report: bytes
    salt: bytes
    digest: bytes = bytes(32)


def _abi(openings: Sequence[tuple]) -> list[tuple]:
    """Openings in the contract's struct order (node, report, digest, salt)."""
    return [(o.node, o.report, o.digest, o.salt) for o in map(lambda t: Opening(*t), openings)]


def _dim(reports) -> int:
    """The gas model's dimension: 4-byte values (a sketch's 8-byte values count twice)."""
    return max((len(r) // 4 for r in reports), default=1)


def deploy(chain: Chain, *, min_stake: int = 2, slash_bps: int = 5_000, owner: LocalAccount | None = None,
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
    (receipt,) = chain.send([Tx(owner, None, code, 8_000_000)])
    if not receipt.ok:
        raise ledger_error(receipt.reason or "reverted", f"deploying {name}")
    return Contract(chain, name, receipt.contract_address)


# ----------------------------------------------------------------------- reads for processes that attach later
# A deployment kept in a file (protocol.deployment), and a deployment's rounds rebuilt from the chain's events:
# what a restarted DC, a node process and a run directory read. Nothing here sends a transaction.

def code_hashes(chain: Chain, token: str, coordinator: str) -> dict[str, str]:
    """keccak256 of the runtime code now at each contract's address (that of b"" where there is none)."""
    return {"reward_token": "0x" + keccak(chain.code(token)).hex(),
            "coordinator": "0x" + keccak(chain.code(coordinator)).hex()}


def artifact_hashes() -> dict[str, str]:
    """keccak256 of this checkout's creation bytecode of each contract."""
    return {name: "0x" + keccak(bytes.fromhex(artifact(name)["bytecode"][2:])).hex() for name in CONTRACTS}


def record(d: Deployment, *, rpc: str, deploy_block: int, stake: int, reward: int) -> DeploymentRecord:
    """The deployment file's record of `d`, deployed from block `deploy_block` on."""
    return DeploymentRecord(
        chain_id=d.chain.chain_id, rpc=rpc, deploy_block=deploy_block, owner=d.owner.address,
        token=d.token.address, coordinator=d.coordinator.address,
        code=code_hashes(d.chain, d.token.address, d.coordinator.address), artifacts=artifact_hashes(),
        min_stake=d.coordinator.call("min_stake"), slash_bps=d.coordinator.call("slash_bps"), stake=stake,
        reward=reward)


def open_record(chain: Chain, rec: DeploymentRecord, path, owner: LocalAccount | None = None) -> Deployment:
    """The verbs over the contracts `rec` describes, once `check` agrees that they live on `chain` (else a
    DeploymentError naming the field, before anything is sent). `owner` is the DC's key; a node passes none and
    then uses only its own verbs."""
    check(rec, path, chain.chain_id, code_hashes(chain, rec.token, rec.coordinator), artifact_hashes())
    return attach(chain, owner, rec.token, rec.coordinator)  # type: ignore[arg-type]


@dataclass
class RoundRecord:
    """One round as the chain's events record it: its opening (with block), each event in chain order, and
    where each came from (block, transaction hash)."""

    round_id: int
    opened: dict[str, Any]
    block: int
    events: list[Event] = field(default_factory=list)
    sources: list[tuple[int, bytes]] = field(default_factory=list)  # parallel to events

    @property
    def settled(self) -> bool:
        return any(e.name in ("Finalized", "Expired") for e in self.events)

    def nodes(self, name: str) -> list[str]:
        """The nodes named by this round's `name` events (Committed, Revealed, Paid, Slashed), in chain order."""
        return [e.args["node"] for e in self.events if e.name == name]

    def outcome(self) -> Outcome:
        return outcome_of(self.round_id, self.events)


class RoundBook:
    """Rounds as their events come in (read at once by `rounds`, or as a `Feed` delivers them), in round order."""

    def __init__(self, d: Deployment):
        self.d = d
        self._found: dict[int, RoundRecord] = {}

    def add(self, entries: Sequence[LogEntry]) -> None:
        for entry in entries:
            for event in self.d.coordinator.decode_logs([(entry.address, entry.topics, entry.data)]):
                rid = event.args.get("round_id")
                if event.name == "RoundOpened":
                    self._found[rid] = RoundRecord(rid, event.args, entry.block)
                if rid in self._found:
                    self._found[rid].events.append(event)
                    self._found[rid].sources.append((entry.block, entry.tx_hash))

    @property
    def records(self) -> list[RoundRecord]:
        return [self._found[r] for r in sorted(self._found)]


def rounds(d: Deployment, from_block: int, to_block: int | str = "latest") -> list[RoundRecord]:
    """Every round opened in blocks [from_block, to_block], from the coordinator's events, in round order."""
    book = RoundBook(d)
    book.add(d.chain.log_entries(d.coordinator.address, from_block, to_block))
    return book.records


def funded(d: Deployment, from_block: int) -> int:
    """Tokens put into the pool since `from_block` (the `Funded` events)."""
    raw = d.chain.logs(d.coordinator.address, from_block, "latest", [d.coordinator.topic("Funded")])
    return sum(e.args["amount"] for e in d.coordinator.decode_logs(raw))
