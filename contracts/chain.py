"""Chains: where transactions go. `connect("embedded")` starts eth-tester with the py-evm backend in process;
`connect(URL)` reaches a node (anvil) through web3's HTTP provider; `connect("revm")` is a faster in-process
EVM for fuzzing (contracts/revm_chain.py). Everything above this module is the same code for all of them;
only the transport differs.

Transactions are signed locally with explicit gas (no estimation) and the sender's nonce is counted here, not
asked for. On the embedded chain a signed transaction is applied to py-evm and mined at once, and its revert
reason is read from the EVM's own result (eth-tester's receipt drops it). On an HTTP node, many transactions,
receipts or dry runs go out as one JSON-RPC batch, and a failed transaction's reason is recovered by replaying
it as a call. The requests on that path (sending, receipts, dry runs, logs, the block number) go over one
kept-alive connection as plain JSON-RPC (`_JsonRpc`): web3's provider costs about ten times the CPU per request,
which a swarm of node processes sharing a few cores pays on every look at the chain.
"""
from __future__ import annotations

import http.client
import json
import socket
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from itertools import count
from urllib.parse import urlsplit
from typing import Sequence

import coincurve
import rlp
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import ContractLogicError

from protocol.commitment import keccak  # the project's one keccak (C; eth_hash's default is 4x slower)

EMBEDDED = "embedded"
REVM = "revm"
# A real chain's per-transaction gas cap (EIP-7825, 2**24): the default deployment fits under it.
TX_GAS_CAP = 2**24
# Above eth-tester's 30M default so that one capped transaction always fits a block; experiments at large N
# and d raise it further (anvil: --gas-limit).
EMBEDDED_BLOCK_GAS = 60_000_000
PROBE_TIMEOUT = 1.0  # seconds a node has to answer the first request
MAX_FEE = 10 * 10**9  # wei per gas: base fees start at 1 gwei and only fall, as blocks here are far from full
# the mnemonic anvil (and hardhat) derive their prefunded dev accounts from
DEV_MNEMONIC = "test test test test test test test test test test test junk"
_ERROR_STRING = bytes.fromhex("08c379a0")  # selector of Error(string): how a Vyper revert reason is encoded


class Reverted(Exception):
    """A call reverted; `reason` is the contract's reason string ("" when it gave none)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason or "reverted without a reason")


@dataclass(frozen=True)
class Tx:
    sender: LocalAccount
    to: str | None  # None creates a contract
    data: bytes
    gas: int
    value: int = 0


@dataclass(frozen=True)
class Receipt:
    tx_hash: bytes
    block: int
    gas_used: int
    ok: bool
    reason: str = ""  # the revert reason of a failed transaction
    logs: tuple = ()  # (address, topics: tuple[bytes, ...], data: bytes)
    contract_address: str | None = None


class _JsonRpc:
    """JSON-RPC over one kept-alive HTTP connection. A connection the node dropped while idle is reopened once;
    a node that does not answer raises ConnectionError (an OSError)."""

    def __init__(self, url: str, timeout: float = 60.0):
        parts = urlsplit(url)
        self.url, self.timeout = url, timeout
        self._connection = (http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection)
        self._address = (parts.hostname, parts.port)
        self._path = parts.path or "/"
        self._conn: http.client.HTTPConnection | None = None
        self._ids = count(1)

    def __call__(self, payload):
        body = json.dumps(payload)
        for attempt in (0, 1):
            fresh = self._conn is None
            if fresh:
                self._conn = self._connection(*self._address, timeout=self.timeout)
            try:
                self._conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                return json.loads(self._conn.getresponse().read())
            except (OSError, http.client.HTTPException) as exc:
                self._conn.close()
                self._conn = None
                if fresh or attempt:
                    raise ConnectionError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    def request(self, method: str, params: list) -> dict:
        return self({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})

    def batch(self, requests: list[tuple[str, list]]) -> list[dict] | dict:
        first = next(self._ids)
        answers = self([{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p}
                        for i, (m, p) in enumerate(requests)])
        for _ in requests[1:]:
            next(self._ids)
        return sorted(answers, key=lambda a: a.get("id", 0)) if isinstance(answers, list) else answers


@dataclass(frozen=True)
class LogEntry:
    """A log with where it came from: its block and its transaction."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block: int
    tx_hash: bytes


@dataclass(frozen=True)
class SentTx:
    """A mined transaction as its receipt records it: who paid, how much gas, whether it succeeded."""

    block: int
    tx_hash: bytes
    sender: str
    gas_used: int
    ok: bool


DEVNETS = ("anvil", "hardhat", "ganache", "ethereumtester")  # web3_clientVersion prefixes of local test chains


@dataclass
class Chain:
    w3: Web3
    target: str  # "embedded" or the node's URL
    funded: list[LocalAccount]  # prefunded accounts; [0] deploys and owns the contracts
    chain_id: int = 0
    _nonces: dict[str, int] = field(default_factory=dict)
    _keys: dict[str, coincurve.PrivateKey] = field(default_factory=dict)  # the senders' signing keys, loaded once
    _http: _JsonRpc | None = None  # set for a node reached over HTTP
    _sync: bool | None = None  # does the node answer eth_sendRawTransactionSync? (None: not asked yet)
    _block_receipts: bool | None = None  # and eth_getBlockReceipts?
    # the embedded chain's logs and transactions as applied here (every one goes through `_apply`): eth-tester's
    # own get_logs reads every receipt of the range, each call, which a process that waits on the chain pays often
    _journal: list = field(default_factory=list)
    _applied: list = field(default_factory=list)
    _marks: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.target.startswith(("http://", "https://")) and self._http is None:
            self._http = _JsonRpc(self.target)
        self.chain_id = int(self._rpc("eth_chainId", []), 16) if self._http else self.w3.eth.chain_id

    @property
    def embedded(self) -> bool:
        return self.target == EMBEDDED

    @property
    def block_number(self) -> int:
        return int(self._rpc("eth_blockNumber", []), 16) if self._http else self.w3.eth.block_number

    # ------------------------------------------------------------------------------------------ sending
    def sign(self, tx: Tx) -> bytes:
        address = tx.sender.address
        if address not in self._nonces:
            self._nonces[address] = (int(self._rpc("eth_getTransactionCount", [address, "pending"]), 16) if self._http
                                     else self.w3.eth.get_transaction_count(address, "pending"))
        if address not in self._keys:
            self._keys[address] = coincurve.PrivateKey(bytes(tx.sender.key))
        raw = signed_1559(self._keys[address], chain_id=self.chain_id, nonce=self._nonces[address], gas=tx.gas,
                          to=bytes.fromhex(tx.to[2:]) if tx.to is not None else b"", value=tx.value, data=tx.data)
        self._nonces[address] += 1
        return raw

    def send(self, txs: Sequence[Tx], *, ordered: bool = True) -> list[Receipt]:
        """Sign, send and mine the transactions, one block each; a failed one comes back with ok=False and
        its reason (it still used its nonce and its gas). `ordered=False` lets an HTTP node take them in one
        batch, in whatever order it processes a batch."""
        raws = [self.sign(tx) for tx in txs]
        try:
            if self.embedded:
                return [self._apply(raw) for raw in raws]
            receipts = self._send_sync(raws, ordered) if self._sync is not False else None
            if receipts is None:
                if ordered or len(raws) == 1:
                    hashes = [self._rpc("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws]
                else:
                    hashes = self._batch([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws])
                receipts = self._receipts(hashes)
        except Exception:
            self._nonces.clear()  # a transaction the node refused outright did not use its nonce
            raise
        return [r if r.ok else replace(r, reason=self._replay(tx)) for r, tx in zip(receipts, txs)]

    def _send_sync(self, raws: list[bytes], ordered: bool) -> list[Receipt] | None:
        """eth_sendRawTransactionSync (EIP-7966: the node answers with the receipt once the transaction is mined),
        saving the receipt polls; None (and never again on this chain) where the node does not know it."""
        calls = [("eth_sendRawTransactionSync", ["0x" + r.hex()]) for r in raws]
        answers = [self._http.request(*c) for c in calls] if ordered or len(raws) == 1 else self._http.batch(calls)
        unknown = [a for a in answers if "error" in a and a["error"].get("code") == -32601]
        if unknown:
            if len(unknown) != len(answers):  # some went out under the method after all: never seen here
                raise RuntimeError(f"{self.target}: eth_sendRawTransactionSync answered for some transactions only")
            self._sync = False
            return None
        for a in answers:
            if "error" in a:
                raise RuntimeError(f"{self.target}: eth_sendRawTransactionSync: {a['error'].get('message')}")
        self._sync = True
        return [_rpc_receipt(a["result"]) for a in answers]

    def _receipts(self, hashes: list[str], timeout: float = 30.0) -> list[Receipt]:
        """Receipts of sent transactions, polled until mined (an automining node mines a batch in moments)."""
        found: dict[str, Receipt] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(hashes):
            missing = [h for h in hashes if h not in found]
            for h, rec in zip(missing, self._batch([("eth_getTransactionReceipt", [h]) for h in missing])):
                if rec is not None:
                    found[h] = _rpc_receipt(rec)
            if len(found) < len(hashes):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.target}: {len(hashes) - len(found)} transactions not mined")
                time.sleep(0.002)
        return [found[h] for h in hashes]

    def _apply(self, raw: bytes) -> Receipt:
        backend = self.w3.provider.ethereum_tester.backend
        chain = backend.chain
        evm_tx = chain.get_vm().get_transaction_builder().decode(raw)
        block, receipt, computation = chain.apply_transaction(evm_tx)
        backend.mine_blocks()
        reason = ""
        if computation.is_error:
            reason = _decode_reason(computation.output) or type(computation.error).__name__
        created = (to_checksum_address(computation.msg.storage_address)
                   if evm_tx.to == b"" and not computation.is_error else None)
        logs = tuple((to_checksum_address(a), tuple(t.to_bytes(32, "big") for t in topics), data)
                     for a, topics, data in computation.get_log_entries())
        self._journal += [LogEntry(a, t, d, block.number, evm_tx.hash) for a, t, d in logs]
        self._applied.append(SentTx(block.number, evm_tx.hash, to_checksum_address(evm_tx.sender), receipt.gas_used,
                                    not computation.is_error))
        return Receipt(evm_tx.hash, block.number, receipt.gas_used, not computation.is_error, reason, logs, created)

    def _replay(self, tx: Tx) -> str:
        try:
            self.call(tx.sender.address, tx.to, tx.data)
        except Reverted as exc:
            return exc.reason
        return ""  # the state it failed on has moved on

    # ----------------------------------------------------------------------------------------- dry runs
    def call(self, sender: str, to: str, data: bytes) -> bytes:
        """eth_call in the context the next transaction will see (the pending block); raises `Reverted`."""
        if self._http:
            (answer,) = self.calls([(sender, to, data)])
            if isinstance(answer, Reverted):
                raise answer
            return answer
        try:
            return bytes(self.w3.eth.call({"from": sender, "to": to, "data": data}, "pending"))
        except ContractLogicError as exc:
            raise Reverted(_reason(exc.data, exc.message)) from None
        except Exception as exc:  # eth-tester raises its own TransactionFailed("execution reverted: ...")
            if type(exc).__name__ != "TransactionFailed":
                raise
            raise Reverted(_reason(None, str(exc))) from None

    def calls(self, requests: Sequence[tuple[str, str, bytes]]) -> list[bytes | Reverted]:
        """Several dry runs (sender, to, data); each answer is the output, or the `Reverted` it raised."""
        if not self._http:
            out: list[bytes | Reverted] = []
            for sender, to, data in requests:
                try:
                    out.append(self.call(sender, to, data))
                except Reverted as exc:
                    out.append(exc)
            return out
        answers = self._batch([("eth_call", [{"from": s, "to": t, "data": "0x" + d.hex()}, "pending"])
                               for s, t, d in requests], errors=True)
        return [Reverted(_reason(a["error"].get("data"), a["error"].get("message"))) if "error" in a
                else bytes(HexBytes(a["result"])) for a in answers]

    # --------------------------------------------------------------------------------------------- logs
    def logs(self, address: str, from_block: int, to_block: int | str = "latest",
             topics: Sequence[bytes | None] = ()) -> list[tuple[str, tuple[bytes, ...], bytes]]:
        """Every log of `address` in blocks [from_block, to_block] whose topics match `topics` (None matches
        anything), in block and log order, as (address, topics, data)."""
        return [(e.address, e.topics, e.data) for e in self.log_entries(address, from_block, to_block, topics)]

    def log_entries(self, address: str, from_block: int, to_block: int | str = "latest",
                    topics: Sequence[bytes | Sequence[bytes] | None] = ()) -> list[LogEntry]:
        """`logs`, each with its block number and transaction hash; a list in `topics` matches any of its topics."""
        hex_topics = _hex_topics(topics)
        if self.embedded:
            last = self.block_number if to_block == "latest" else to_block
            return [e for e in self._journal if e.address == to_checksum_address(address)
                    and from_block <= e.block <= last and _matches(e.topics, topics)]
        if self._http:
            block = lambda b: b if isinstance(b, str) else hex(b)  # noqa: E731
            found = self._rpc("eth_getLogs", [{"address": address, "fromBlock": block(from_block),
                                               "toBlock": block(to_block), "topics": hex_topics}])
            return [LogEntry(to_checksum_address(lg["address"]), tuple(bytes.fromhex(t[2:]) for t in lg["topics"]),
                             bytes.fromhex(lg["data"][2:]), int(lg["blockNumber"], 16),
                             bytes.fromhex(lg["transactionHash"][2:])) for lg in found]
        query = {"address": address, "fromBlock": from_block, "toBlock": to_block, "topics": hex_topics}
        return [LogEntry(to_checksum_address(lg["address"]), tuple(bytes(t) for t in lg["topics"]), bytes(lg["data"]),
                         int(lg["blockNumber"]), bytes(lg["transactionHash"]))
                for lg in self.w3.eth.get_logs(query)]

    def sent(self, from_block: int, to_block: int, senders: set[str] | None = None) -> list[SentTx]:
        """Every transaction mined in blocks [from_block, to_block] (those of `senders` only, when given), with
        its receipt's gas; over HTTP in batches of blocks and receipts."""
        if self.embedded:
            return [t for t in self._applied if from_block <= t.block <= to_block
                    and (senders is None or t.sender in senders)]
        numbers = list(range(from_block, to_block + 1))
        out = []
        for lo in range(0, len(numbers), 200):
            out += self._sent_in(numbers[lo:lo + 200])
        return [t for t in out if senders is None or t.sender in senders]

    def _sent_in(self, numbers: list[int]) -> list[SentTx]:
        """The transactions of these blocks: one eth_getBlockReceipts per block, where the node knows it (anvil
        answers a round's 22 blocks for about 0.2 ms of its CPU, against 4.8 ms for the blocks and then each
        receipt, which a swarm's live table asks for every round); else the blocks, then each receipt."""
        if self._block_receipts is not False:
            answers = self._batch([("eth_getBlockReceipts", [hex(n)]) for n in numbers], errors=True)
            if not any("error" in a and a["error"].get("code") == -32601 for a in answers):
                self._block_receipts = True
                for a in answers:
                    if "error" in a:
                        raise RuntimeError(f"{self.target}: eth_getBlockReceipts: {a['error'].get('message')}")
                return [SentTx(int(r["blockNumber"], 16), bytes(HexBytes(r["transactionHash"])),
                               to_checksum_address(r["from"]), int(r["gasUsed"], 16), int(r["status"], 16) == 1)
                        for a in answers for r in a["result"] or ()]
            self._block_receipts = False
        blocks = self._batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
        txs = [(int(b["number"], 16), bytes(HexBytes(t["hash"])), to_checksum_address(t["from"]))
               for b in blocks for t in b["transactions"]]
        receipts = self._batch([("eth_getTransactionReceipt", ["0x" + h.hex()]) for _, h, _ in txs]) if txs else []
        return [SentTx(b, h, a, int(r["gasUsed"], 16), int(r["status"], 16) == 1)
                for (b, h, a), r in zip(txs, receipts)]

    def balance(self, address: str) -> int:
        """Ether (wei) held by `address`."""
        return self.w3.eth.get_balance(to_checksum_address(address))

    def code(self, address: str) -> bytes:
        """The runtime code at `address` (empty where no contract lives)."""
        return bytes(self.w3.eth.get_code(to_checksum_address(address)))

    def feed(self, address: str, start: int, events: Sequence[bytes] = (),
             live: Sequence[bytes] | None = None) -> "Feed":
        """`address`'s logs (those whose first topic is among `events`, when given) from block `start` on, and the
        chain's head, as they come (see Feed); once caught up, only the `live` events are pushed (default: all)."""
        return Feed(self, address, start, events, live)

    @property
    def devnet(self) -> bool:
        """A local test chain whose blocks may be mined at will (the embedded chain, anvil, hardhat)."""
        if self.embedded:
            return True
        return self.w3.client_version.lower().replace("-", "").startswith(DEVNETS)

    # ------------------------------------------------------------------------------------------- blocks
    def mine(self, blocks: int) -> None:
        if blocks <= 0:
            return
        if self.embedded:
            self.w3.provider.ethereum_tester.backend.mine_blocks(blocks)
        else:
            self._rpc("anvil_mine", [hex(blocks)])

    def snapshot(self):
        snap = self._rpc("evm_snapshot", [])
        self._marks[snap] = (len(self._journal), len(self._applied))
        return snap

    def revert(self, snapshot) -> None:
        self._rpc("evm_revert", [snapshot])
        self._nonces.clear()
        if snapshot in self._marks:
            logs, applied = self._marks[snapshot]
            del self._journal[logs:], self._applied[applied:]

    def give_ether(self, address: str, wei: int) -> None:
        """Ether for gas, from the first prefunded account."""
        (receipt,) = self.send([Tx(self.funded[0], to_checksum_address(address), b"", 21_000, wei)])
        if not receipt.ok:
            raise RuntimeError(f"could not fund {address} with {wei} wei: {receipt.reason}")

    # -------------------------------------------------------------------------------------------- rpc
    def _rpc(self, method: str, params: list):
        answer = self._http.request(method, params) if self._http else self.w3.provider.make_request(method, params)
        if "error" in answer:
            raise RuntimeError(f"{self.target}: {method}: {answer['error']}")
        return answer["result"]

    def _batch(self, requests: list[tuple[str, list]], *, errors: bool = False) -> list:
        answers = self._http.batch(requests) if self._http else self.w3.provider.make_batch_request(requests)
        if not isinstance(answers, list):
            raise RuntimeError(f"{self.target}: batch refused: {answers.get('error')}")
        if errors:
            return answers
        for a in answers:
            if "error" in a:
                raise RuntimeError(f"{self.target}: {a['error'].get('message')}")
        return [a["result"] for a in answers]


def _matches(have: tuple[bytes, ...], want: Sequence[bytes | Sequence[bytes] | None]) -> bool:
    """eth_getLogs' topic filter: position by position, None matches anything, a list any of its topics."""
    return len(have) >= len(want) and all(
        w is None or (have[i] == w if isinstance(w, bytes) else have[i] in w) for i, w in enumerate(want))


def _hex_topics(topics: Sequence[bytes | Sequence[bytes] | None]) -> list:
    hexed = lambda t: "0x" + t.hex()  # noqa: E731
    return [None if t is None else hexed(t) if isinstance(t, bytes) else [hexed(x) for x in t] for t in topics]


def _decode_reason(output: bytes) -> str:
    if output[:4] == _ERROR_STRING:
        return abi_decode(["string"], output[4:])[0]
    return ""


def _reason(data, message: str | None) -> str:
    """The reason of a revert, from its Error(string) payload or, failing that, the node's message."""
    if isinstance(data, str) and data.startswith("0x"):
        reason = _decode_reason(bytes.fromhex(data[2:]))
        if reason:
            return reason
    message = message or ""
    return message.split("execution reverted: ", 1)[1] if "execution reverted: " in message else ""


def signed_1559(key: coincurve.PrivateKey, *, chain_id: int, nonce: int, gas: int, to: bytes, value: int,
                data: bytes) -> bytes:
    """The raw EIP-1559 transaction (type 2, no access list, fees MAX_FEE and no tip) signed with `key`:
    0x02 || rlp([chain_id, nonce, tip, max_fee, gas, to, value, data, [], y_parity, r, s]), the signature over
    keccak(0x02 || rlp(the first nine)). The same bytes as eth_account's `sign_transaction` (both sign with
    libsecp256k1, deterministic RFC 6979 nonces and low s; `tests/chain/test_signing.py` holds them equal), at a
    quarter of its CPU: 0.12 against 0.53 ms, which each node process pays for every transaction it sends."""
    fields = [chain_id, nonce, 0, MAX_FEE, gas, to, value, data, []]
    sig = key.sign_recoverable(keccak(b"\x02" + rlp.encode(fields)), hasher=None)  # r || s || recovery id
    return b"\x02" + rlp.encode([*fields, sig[64], int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")])


def _rpc_receipt(rec: dict) -> Receipt:
    logs = tuple((to_checksum_address(lg["address"]), tuple(bytes(HexBytes(t)) for t in lg["topics"]),
                  bytes(HexBytes(lg["data"]))) for lg in rec["logs"])
    created = rec.get("contractAddress")
    return Receipt(bytes(HexBytes(rec["transactionHash"])), int(rec["blockNumber"], 16), int(rec["gasUsed"], 16),
                   int(rec["status"], 16) == 1, "", logs, to_checksum_address(created) if created else None)


def connect(target: str = EMBEDDED, *, block_gas_limit: int = EMBEDDED_BLOCK_GAS,
            accounts: list[LocalAccount] | None = None) -> Chain:
    """A chain: "embedded" (eth-tester + py-evm, in process), "revm" (the same, faster, for fuzzing) or the
    URL of a node such as anvil.

    `block_gas_limit` applies to the in-process chains (a genesis override); start anvil with --gas-limit.
    `accounts` replaces a node's prefunded dev accounts as `funded` (a node process that should hold no key but
    its own passes just that one).
    """
    if target == EMBEDDED:
        from eth_tester import EthereumTester, PyEVMBackend

        params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": block_gas_limit})
        backend = PyEVMBackend(genesis_parameters=params)
        w3 = Web3(EthereumTesterProvider(EthereumTester(backend, auto_mine_transactions=True)))
        return Chain(w3, EMBEDDED, [Account.from_key(k.to_bytes()) for k in backend.account_keys])
    if target == REVM:
        from contracts.revm_chain import RevmChain  # pyrevm is loaded only where it is used

        return RevmChain(block_gas_limit)
    if not target.startswith(("http://", "https://")):
        raise ValueError(f"chain: expected 'embedded', 'revm' or an http(s) URL, got {target!r}")
    # a short probe first, so a dead or unroutable URL fails in about a second rather than the request timeout
    if not Web3(HTTPProvider(target, request_kwargs={"timeout": PROBE_TIMEOUT}, exception_retry_configuration=None)
                ).is_connected():
        raise ConnectionError(f"chain: no node answers at {target}; start one with `deml chain up`")
    w3 = Web3(HTTPProvider(target, request_kwargs={"timeout": 60}))
    if accounts is None:
        Account.enable_unaudited_hdwallet_features()
        accounts = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]
    return Chain(w3, target, list(accounts))


class Feed:
    """A contract's logs from a block on, in chain order, and the chain's head block, for a process that waits on
    the chain. Over HTTP the logs are pushed on the node's websocket (eth_subscribe "logs", which anvil serves on
    its HTTP port), so a look at the chain costs no request while they flow; the logs before the subscription are
    read once, and the head is asked for only after a wait in which none came (the block numbers of the logs
    keep it current otherwise; subscribing to every new head too costs the node more than those few requests).
    On the embedded chain (or a node without a websocket) each look reads the new blocks' logs instead.

    `live` narrows what is pushed after the catch-up: an event a process needs only when it starts again (a node's
    own reveal, which its receipt already told it) need not be pushed to it every round. Each push costs the chain
    and the process (10-node swarm: pushing every reveal to every node was a sixth of the swarm's CPU).

        feed = chain.feed(coordinator, start)
        entries, head = feed.next(timeout)      # what arrived since the last call (waits up to timeout for it)
    """

    def __init__(self, chain: Chain, address: str, start: int, events: Sequence[bytes] = (),
                 live: Sequence[bytes] | None = None):
        self.chain, self.address, self.cursor = chain, to_checksum_address(address), start
        self.topics = [list(events)] if events else []  # the events a process needs: fewer to push and to decode
        self.live = self.topics if live is None else [list(live)]
        self.head = start - 1
        self._pending: list[LogEntry] = []
        self._ws = None
        self._stack = ExitStack()
        if chain._http is not None:
            self._subscribe()

    def _subscribe(self) -> None:
        from websockets.sync.client import connect as ws_connect  # only the processes that wait load it

        try:
            self._ws = self._stack.enter_context(ws_connect("ws" + self.chain.target[len("http"):], open_timeout=5,
                                                            max_queue=None))
            self._ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                      "params": ["logs", {"address": self.address,
                                                          "topics": _hex_topics(self.live)}]}))
            _ack_at_once(self._ws.socket)
            if "result" not in json.loads(self._ws.recv(timeout=5)):
                raise ConnectionError(f"{self.chain.target}: eth_subscribe logs refused")
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ConnectionError(f"{self.chain.target}: no websocket subscription ({exc})") from None
        except Exception:  # websockets' handshake errors: the node offers no websocket; read by polling instead
            self.close()
            return
        self._catch_up()

    def _catch_up(self) -> None:
        """The logs up to the head, read once; what the subscription pushes afterwards starts after them."""
        head = self.chain.block_number
        if head >= self.cursor:
            self._pending += self.chain.log_entries(self.address, self.cursor, head, self.topics)
        self.cursor, self.head = head + 1, max(self.head, head)

    def next(self, timeout: float = 0.0) -> tuple[list[LogEntry], int]:
        """The logs that arrived since the last call, and the head; waits up to `timeout` seconds when none did."""
        if self._ws is None:
            self._catch_up()
            if not self._pending and timeout > 0:
                time.sleep(timeout)
                self._catch_up()
        elif not self._pending:
            self._receive(timeout)
        out, self._pending = self._pending, []
        return out, self.head

    def _receive(self, timeout: float) -> None:
        wait = timeout
        while True:
            try:
                message = self._ws.recv(timeout=wait)
                _ack_at_once(self._ws.socket)  # the next push
            except TimeoutError:
                if wait:  # nothing came: blocks may have passed without a log (a devnet mined forward)
                    self.head = max(self.head, self.chain.block_number)
                return
            except Exception as exc:  # the socket closed: the node went away
                raise ConnectionError(f"{self.chain.target}: websocket closed ({type(exc).__name__})") from None
            item = json.loads(message).get("params", {}).get("result", {})
            if "topics" in item and not item.get("removed"):
                block = int(item["blockNumber"], 16)
                self.head = max(self.head, block)
                if block >= self.cursor:
                    self._pending.append(LogEntry(
                        to_checksum_address(item["address"]), tuple(bytes.fromhex(t[2:]) for t in item["topics"]),
                        bytes.fromhex(item["data"][2:]), block, bytes.fromhex(item["transactionHash"][2:])))
            wait = 0  # take whatever else has arrived, without waiting

    def close(self) -> None:
        self._stack.close()
        self._ws = None


def _ack_at_once(sock: socket.socket) -> None:
    """Acknowledge what arrives on `sock` at once (TCP_QUICKACK; Linux only, and not sticky: set again before each
    wait). Linux delays an ACK up to 40 ms, and anvil sends with Nagle's algorithm on: what it writes while earlier
    bytes are unacknowledged waits for their ACK, so a push arrived up to 40 ms late. A round is a chain of pushes
    (opened, each commit, each reveal, settled); a 2-node swarm on anvil went from 16.6 to 35.3 rounds/s with it
    (`bench/bench_swarm.py --nodes 2`, one pair of runs). Anvil's HTTP answers show no such stall (400 calls, none
    above 2 ms), and the DC's store sends with Nagle off."""
    if hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:  # the socket closed: the next recv says so
            pass
