"""A chain on revm (through pyrevm), for fuzzing: the same bytecode as the embedded py-evm chain at a small
fraction of its cost a transaction. `connect("revm")` returns it; tests/chain/test_revm.py holds it to py-evm.

It offers what `contracts.client` and `contracts.chain_ledger` use of `contracts.chain.Chain`, with the embedded
chain's semantics: eth-tester's chain id and prefunded accounts (keys 1..10, a million ether each), one
transaction a block, EIP-1559 base fees (1 gwei at genesis, then the usual rule) charged to the sender and
burned, nonces, creation addresses as the EVM computes them, and the Prague gas schedule: revm's Cancun rules
plus the EIP-7623 calldata floor, which is all Prague changed for a transaction without blobs or delegations.
What differs: transactions are not signed (`tx_hash` is the hash of sender and nonce, not of a signed
envelope), and the TIMESTAMP, PREVRANDAO and BASEFEE opcodes read constants (the contracts read none of them).

Why state is kept in revm's database rather than in its journal: pyrevm never closes a transaction, so an
account or slot touched once would stay warm and SSTORE would price against the value before the first
transaction, for ever. So each transaction runs inside a journal checkpoint; its changes are read from the
journal's debug text (pyrevm exposes no state diff), the checkpoint is reverted, which leaves the journal empty
and everything cold, and the changes are written to the database below it. A chain snapshot is a position in
the log of those writes, which `revert` undoes.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache
from typing import Sequence

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import ValidationError, to_checksum_address
from pyrevm import EVM, AccountInfo, BlockEnv, CfgEnv, Env

from contracts.chain import EMBEDDED_BLOCK_GAS, MAX_FEE, REVM, Chain, LogEntry, Receipt, Reverted, Tx, _decode_reason
from protocol.commitment import keccak

CHAIN_ID = 131277322940537  # eth-tester's
PREFUNDED = 10**24
GENESIS_BASE_FEE = 10**9
CALL_GAS_PRICE = 10**9  # eth-tester prices a dry run's gas (the block's) at 1 gwei: its sender must afford it
TX_GAS, FLOOR_PER_TOKEN = 21_000, 10  # EIP-7623: a transaction pays at least 21000 + 10 per calldata token
SPEC = "Cancun"  # revm 8 has no Prague rules; Prague's only change to plain transactions is the floor above
# py-evm's name for the error that halted a transaction, by revm's (reasons of a failed receipt)
_HALTS = {"OutOfGas": "OutOfGas", "OpcodeNotFound": "InvalidInstruction", "InvalidFEOpcode": "InvalidInstruction",
          "InvalidJump": "InvalidJumpDestination", "StackUnderflow": "InsufficientStack",
          "StackOverflow": "FullStack", "OutOfOffset": "OutOfBoundsRead", "CallTooDeep": "StackDepthLimit",
          "CreateCollision": "ContractCreationCollision", "StateChangeDuringStaticCall": "WriteProtection"}
_EMPTY = (0, 0, None)  # (balance, nonce, code) of an account never written

# markers in revm 8's debug text of a `JournaledState`, around the accounts and slots a transaction touched
_ACCOUNT = ": Account { info: AccountInfo { balance: "
_SLOT = re.compile(r"(\d+): StorageSlot \{ previous_or_original_value: (\d+), present_value: (\d+) \}")
_CODE = re.compile(r"Some\(Bytecode \{ bytecode: 0x([0-9a-f]*), state: (?:Raw|(?:Analysed|Checked) \{ len: (\d+))")
_OUTPUT = re.compile(r"output: 0x([0-9a-f]*)")


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    return to_checksum_address(address)


def _floor(data: bytes) -> int:
    zeros = data.count(0)
    return TX_GAS + FLOOR_PER_TOKEN * (zeros + 4 * (len(data) - zeros))


def next_base_fee(base_fee: int, gas_used: int, gas_limit: int) -> int:
    """EIP-1559: the base fee of the block after one with `base_fee` that used `gas_used` of `gas_limit`."""
    target = gas_limit // 2
    if gas_used > target:
        return base_fee + max(base_fee * (gas_used - target) // target // 8, 1)
    return max(base_fee - base_fee * (target - gas_used) // target // 8, 0)


def _changes(journal: str) -> list[tuple[str, int, int, str, list[tuple[int, int, int]]]]:
    """(address, balance, nonce, code text, [(slot, value before, value after)]) of every account in the
    journal's state (found with str.find: a regex would crawl through every contract's code)."""
    out = []
    end = journal.index("}, transient_storage: ")
    at = journal.find(_ACCOUNT)
    while 0 <= at < end:
        nonce = journal.index(", nonce: ", at)
        code_hash = journal.index(", code_hash: ", nonce)
        storage = journal.index(" }, storage: {", code_hash)
        status = journal.index("}, status: AccountStatus(", storage)
        slots = journal[storage + 14:status]
        out.append((journal[at - 42:at], int(journal[at + len(_ACCOUNT):nonce]), int(journal[nonce + 9:code_hash]),
                    journal[code_hash + 87:storage],
                    [(int(k), int(old), int(new)) for k, old, new in _SLOT.findall(slots)] if slots else []))
        at = journal.find(_ACCOUNT, status)
    return out


def _code(text: str) -> bytes | None:
    """The code of a debug-printed revm `Bytecode` (analysed code is padded: `len` is its true length)."""
    found = _CODE.match(text)
    if found is None:
        return None
    code = bytes.fromhex(found[1])
    return code[:int(found[2] or len(code))] or None


class RevmChain:
    """The chain API of `contracts.chain.Chain` over an in-process revm (see the module docstring)."""

    target = REVM
    embedded = True  # in process: nothing travels over a network
    chain_id = CHAIN_ID
    _http = None  # Chain's methods it borrows (calls) take the in-process path

    def __init__(self, block_gas_limit: int = EMBEDDED_BLOCK_GAS):
        self.gas_limit = block_gas_limit
        self._evm = EVM(env=Env(cfg=CfgEnv(chain_id=CHAIN_ID)), gas_limit=block_gas_limit, spec_id=SPEC)
        self._block = 0
        self._base_fee = next_base_fee(GENESIS_BASE_FEE, 0, block_gas_limit)  # of the pending block
        self._info: dict[str, tuple[int, int, bytes | None]] = {}  # what was written, by lower-case address
        self._undo: list[tuple[str, int | None, object]] = []  # (address, slot or None for the account, old)
        self._snapshots: list[tuple[int, int, int, int]] = []
        self._logs: list[tuple[int, str, tuple[bytes, ...], bytes]] = []  # (block, address, topics, data)
        self.funded: list[LocalAccount] = [Account.from_key(i.to_bytes(32, "big")) for i in range(1, 11)]
        for account in self.funded:
            self._set_info(account.address.lower(), (PREFUNDED, 0, None))
        self._undo.clear()  # genesis is not undone

    @property
    def block_number(self) -> int:
        return self._block

    def balance(self, address: str) -> int:
        """Ether held by `address`, in wei."""
        return self._info.get(address.lower(), _EMPTY)[0]

    # ------------------------------------------------------------------------------------------ sending
    def send(self, txs: Sequence[Tx], *, ordered: bool = True) -> list[Receipt]:
        """Apply the transactions in order (always: `ordered` only matters to a node), one block each; a
        failed one comes back with ok=False and its reason (it still used its nonce and its gas). One that
        py-evm refuses outright (the sender cannot pay, too little gas) raises its ValidationError, unsent
        with those after it."""
        return [self._apply(tx) for tx in txs]

    def _apply(self, tx: Tx) -> Receipt:
        sender = tx.sender.address.lower()
        balance, nonce, _ = self._info.get(sender, _EMPTY)
        if balance < tx.gas * self._base_fee + tx.value or self._base_fee > MAX_FEE:  # as py-evm checks
            raise ValidationError(f"{tx.sender.address}: balance {balance} wei cannot pay {tx.gas} gas at the "
                                  f"base fee {self._base_fee} wei plus the value {tx.value}, or that base fee "
                                  f"is above the fee cap {MAX_FEE}")
        tx_id = bytes.fromhex(sender[2:]) + nonce.to_bytes(8, "big")
        evm = self._evm
        self._enter_block(self._block + 1)
        checkpoint = evm.snapshot()
        output, created = b"", None
        try:
            if tx.to is None:
                created = _checksum(evm.deploy(sender, tx.data, tx.value, tx.gas))
            else:
                evm.message_call(sender, tx.to, tx.data, tx.value, tx.gas)
        except RuntimeError as exc:
            if evm.result is None:  # refused before running (e.g. less gas than the intrinsic cost)
                evm.revert(checkpoint)
                raise ValidationError(f"{tx.sender.address}: transaction refused: {exc}") from None
            found = _OUTPUT.search(str(exc))
            output = bytes.fromhex(found[1]) if found else b""
        result = evm.result
        journal = evm.journal_str
        evm.revert(checkpoint)

        gas = max(result.gas_used, _floor(tx.data))
        for address, wei, count, code, slots in _changes(journal):
            old = self._info.get(address, _EMPTY)
            if address == sender:  # revm bumps a creator's nonce but charges a message call nothing
                wei -= gas * self._base_fee
                count += tx.to is not None
            info = (wei, count, old[2] if old[2] is not None else _code(code))  # code, once there, stays
            if info != old:
                self._set_info(address, info)
            for slot, before, after in slots:
                if after != before:
                    self._set_slot(address, slot, after, before)
        block = self._mine(gas)
        reason = ""
        if result.is_halt:
            reason = _HALTS.get(result.reason.split("(")[0], result.reason)
        elif not result.is_success:
            reason = _decode_reason(output) or "Revert"
        logs = tuple((_checksum(log.address), tuple(log.data[0]), log.data[1]) for log in result.logs)
        self._logs += [(block, *log) for log in logs]
        return Receipt(keccak(tx_id), block, gas, result.is_success, reason, logs,
                       created if result.is_success else None)

    # ----------------------------------------------------------------------------------------- dry runs
    def call(self, sender: str, to: str, data: bytes) -> bytes:
        """Run a call in the context of the pending block and undo it; raises `Reverted`."""
        if self.balance(sender) < self.gas_limit * CALL_GAS_PRICE:
            raise ValidationError(f"{sender}: cannot afford a dry run's {self.gas_limit} gas at {CALL_GAS_PRICE} wei")
        evm = self._evm
        self._enter_block(self._block + 1)
        checkpoint = evm.snapshot()
        try:
            return bytes(evm.message_call(sender, to, data))
        except RuntimeError as exc:
            if evm.result is None:
                raise
            found = _OUTPUT.search(str(exc))
            raise Reverted(_decode_reason(bytes.fromhex(found[1])) if found else "") from None
        finally:
            evm.revert(checkpoint)

    calls = Chain.calls  # one call after another, as on the embedded chain
    give_ether = Chain.give_ether

    # ------------------------------------------------------------------------------------------- blocks
    def mine(self, blocks: int) -> None:
        """`blocks` empty blocks."""
        end = self._block + max(blocks, 0)
        while self._block < end and self._base_fee >= 8:  # an empty block takes an eighth off, if it can
            self._mine(0)
        self._block = end

    def logs(self, address: str, from_block: int, to_block: int | str = "latest",
             topics: Sequence[bytes | None] = ()) -> list[tuple[str, tuple[bytes, ...], bytes]]:
        """Every log of `address` in blocks [from_block, to_block] ("latest": the last block) whose topics
        match `topics` (None matches anything; a log with fewer topics than `topics` does not match), in block
        and log order."""
        return [(e.address, e.topics, e.data) for e in self.log_entries(address, from_block, to_block, topics)]

    def log_entries(self, address: str, from_block: int, to_block: int | str = "latest",
                    topics: Sequence[bytes | None] = ()) -> list[LogEntry]:
        """`logs` with each one's block (one transaction a block here: the block number stands for the
        transaction's hash)."""
        to_block = self._block if to_block == "latest" else to_block
        address = _checksum(address.lower())
        start = bisect_left(self._logs, from_block, key=lambda entry: entry[0])
        out = []
        for block, addr, log_topics, data in self._logs[start:]:
            if block > to_block:
                break
            if addr == address and len(log_topics) >= len(topics) and all(
                    t is None or t == lt for t, lt in zip(topics, log_topics)):
                out.append(LogEntry(addr, log_topics, data, block, block.to_bytes(32, "big")))
        return out

    def snapshot(self) -> int:
        self._snapshots.append((len(self._undo), self._block, self._base_fee, len(self._logs)))
        return len(self._snapshots) - 1

    def revert(self, snapshot: int) -> None:
        """Back to the state at `snapshot`; the snapshots taken after it are gone."""
        undo_len, self._block, self._base_fee, logs_len = self._snapshots[snapshot]
        del self._snapshots[snapshot + 1:], self._logs[logs_len:]
        while len(self._undo) > undo_len:
            address, slot, old = self._undo.pop()
            if slot is None:
                self._write_info(address, old)
            else:
                self._write_slot(address, slot, old)

    # ------------------------------------------------------------------------------------------ internals
    def _enter_block(self, number: int) -> None:
        self._evm.set_block_env(BlockEnv(number=number, gas_limit=self.gas_limit))

    def _mine(self, gas_used: int) -> int:
        """Close the pending block; its number."""
        self._block += 1
        self._base_fee = next_base_fee(self._base_fee, gas_used, self.gas_limit)
        return self._block

    def _set_info(self, address: str, info: tuple[int, int, bytes | None]) -> None:
        self._undo.append((address, None, self._info.get(address, _EMPTY)))
        self._write_info(address, info)

    def _set_slot(self, address: str, slot: int, value: int, old: int) -> None:
        self._undo.append((address, slot, old))
        self._write_slot(address, slot, value)

    def _write_info(self, address: str, info: tuple[int, int, bytes | None]) -> None:
        balance, nonce, code = info
        self._info[address] = info
        # the journal is empty, so this goes to the database underneath
        self._evm.insert_account_info(address, AccountInfo(balance, nonce, None, code))

    def _write_slot(self, address: str, slot: int, value: int) -> None:
        # inserting a slot also loads its account into the journal, warm: the checkpoint takes it out again
        checkpoint = self._evm.snapshot()
        self._evm.insert_account_storage(address, slot, value)
        self._evm.revert(checkpoint)
