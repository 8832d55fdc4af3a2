# pragma version ~=0.4.3
"""
@title deml round coordinator
@notice Commit-reveal rounds of the deml protocol (spec/protocol.md). Nodes register with a locked stake;
        the owner (the data collector) opens rounds; participants commit to
        keccak256(abi.encode(round_id, node, report, salt)), then reveal; anyone finalizes. A round is
        accepted when at least `quorum` participants revealed and every pair of revealed reports lies within
        tau (exact integer arithmetic); each revealer of an accepted round is paid from the pool, nobody is
        paid on rejection, and a participant that committed without revealing loses part of its stake to the
        pool. coordinator/memory_ledger.py applies the same rules in process; the differential test holds
        the two together, and their revert reasons are the catalogue in coordinator/ledger.py.
        Reports are packed big-endian int32 words in `bytes` (coordinator/codec.py): several times cheaper
        than int128[] both in calldata and in storage.
"""

from ethereum.ercs import IERC20
from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator as eip712

initializes: eip712

exports: eip712.eip712Domain


# One round's participants fit one bitmask word; the same bound as MemoryLedger.MAX_PARTICIPANTS.
MAX_NODES: constant(uint256) = 64
# Registered nodes (participants of the next round plus late registrations and leavers).
MAX_REGISTRY: constant(uint256) = 1024
MAX_DIM: constant(uint256) = 256
MAX_REPORT: constant(uint256) = 4 * MAX_DIM
MAX_WORDS: constant(uint256) = MAX_DIM // 8
# The codec's int32 range. Every value is checked against it on reveal, so the unsafe_* arithmetic of the
# pairwise check below cannot overflow: |y_i - y_j| < 2**32, a squared distance stays below 2**72.
SAFE_MIN: constant(int256) = -2**31
SAFE_MAX: constant(int256) = 2**31 - 1
# min and max over no reveal at all, as coordinator.rules.aggregates reports them
EMPTY_MIN: constant(int256) = 2**63 - 1
EMPTY_MAX: constant(int256) = -2**63
BPS: constant(uint256) = 10_000
COMMIT_TYPEHASH: constant(bytes32) = keccak256("Commit(uint256 round,bytes32 commitment)")

# The round's state machine. COMMIT -> REVEAL happens when every participant has committed or the commit
# window has passed (stored at the first reveal then); REVEAL -> ACCEPTED | REJECTED at finalize.
UNOPENED: constant(uint8) = 0
COMMIT: constant(uint8) = 1
REVEAL: constant(uint8) = 2
ACCEPTED: constant(uint8) = 3
REJECTED: constant(uint8) = 4


struct Round:
    phase: uint8
    tau_fx: uint256
    dim: uint256
    reward: uint256
    quorum: uint256
    commit_deadline: uint256
    reveal_deadline: uint256
    members: uint256  # participants are nodes[0:members]: members cannot leave while the round is live
    committed: uint256  # bitmask over member indices
    revealed: uint256


struct SignedCommit:
    commitment: bytes32
    signature: Bytes[65]


struct Opening:
    node: address
    report: Bytes[MAX_REPORT]
    salt: bytes32


event Registered:
    node: indexed(address)
    stake: uint256

event Withdrawn:
    node: indexed(address)
    stake: uint256

event Funded:
    sender: indexed(address)
    amount: uint256

event RoundOpened:
    round_id: indexed(uint256)
    tau_fx: uint256
    dim: uint256
    scale_bits: uint256
    params_digest: bytes32
    reward: uint256
    quorum: uint256
    commit_deadline: uint256
    reveal_deadline: uint256
    members: uint256

event Committed:
    round_id: indexed(uint256)
    node: indexed(address)
    commitment: bytes32

event Revealed:
    round_id: indexed(uint256)
    node: indexed(address)
    report: Bytes[MAX_REPORT]

event Finalized:
    round_id: indexed(uint256)
    accepted: bool
    count: uint256
    committed: uint256
    revealed: uint256
    total: DynArray[int256, MAX_DIM]
    lo: DynArray[int256, MAX_DIM]
    hi: DynArray[int256, MAX_DIM]

event Paid:
    round_id: indexed(uint256)
    node: indexed(address)
    amount: uint256

event Slashed:
    round_id: indexed(uint256)
    node: indexed(address)
    amount: uint256


owner: public(immutable(address))
token: public(immutable(IERC20))
min_stake: public(immutable(uint256))
slash_bps: public(immutable(uint256))

pool: public(uint256)
stake: public(HashMap[address, uint256])
nodes: DynArray[address, MAX_REGISTRY]
position: HashMap[address, uint256]  # 1 + index in nodes; 0 when not registered
round_count: public(uint256)
# Only the latest round can be in flight (open_round refuses otherwise), so one record suffices; finished
# rounds live on in their events. Commitments and report words are kept by member index and overwritten
# round after round, which costs a warm rewrite instead of a fresh slot each round.
live: Round
commitments: HashMap[uint256, bytes32]
words: HashMap[uint256, HashMap[uint256, bytes32]]
accepted_bits: HashMap[uint256, uint256]  # one bit per round: a word holds 256 outcomes


@deploy
def __init__(token_: IERC20, min_stake_: uint256, slash_bps_: uint256):
    assert slash_bps_ <= BPS, "slash above 100%"
    eip712.__init__("deml coordinator", "1")
    owner = msg.sender
    token = token_
    min_stake = min_stake_
    slash_bps = slash_bps_


# ------------------------------------------------------------------------------------------------ accounts
@external
def fund(amount: uint256):
    """@notice Add `amount` tokens (approved beforehand) to the reward pool. Anyone may top it up."""
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"
    self.pool += amount
    log Funded(sender=msg.sender, amount=amount)


@external
def register(amount: uint256):
    """@notice Join as a node, locking `amount` tokens (approved beforehand) as stake."""
    assert self.position[msg.sender] == 0, "already registered"
    assert amount >= min_stake, "stake too small"
    assert staticcall token.balanceOf(msg.sender) >= amount, "stake too small"
    assert len(self.nodes) < MAX_REGISTRY, "registry full"
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"
    self.nodes.append(msg.sender)
    self.position[msg.sender] = len(self.nodes)
    self.stake[msg.sender] = amount
    log Registered(node=msg.sender, stake=amount)


@external
def withdraw():
    """@notice Leave and take the stake back; refused while the node takes part in a live round."""
    p: uint256 = self.position[msg.sender]
    assert p != 0, "not registered"
    assert not (self._in_flight() and p <= self.live.members), "round in flight"
    # remove in place, keeping registration order (the order participants are listed in)
    n: uint256 = len(self.nodes)
    for i: uint256 in range(p, n, bound=MAX_REGISTRY):
        moved: address = self.nodes[i]
        self.nodes[i - 1] = moved
        self.position[moved] = i
    self.nodes.pop()
    self.position[msg.sender] = 0
    amount: uint256 = self.stake[msg.sender]
    self.stake[msg.sender] = 0
    assert extcall token.transfer(msg.sender, amount), "transfer failed"
    log Withdrawn(node=msg.sender, stake=amount)


@external
@view
def participants() -> DynArray[address, MAX_REGISTRY]:
    """@notice Registered nodes in registration order: the participants of the next round."""
    return self.nodes


@external
@view
def accounts() -> (DynArray[uint256, MAX_REGISTRY], DynArray[uint256, MAX_REGISTRY], uint256):
    """@notice Token balances and stakes of the registered nodes (registration order), and the pool."""
    tokens: DynArray[uint256, MAX_REGISTRY] = []
    stakes: DynArray[uint256, MAX_REGISTRY] = []
    for node: address in self.nodes:
        tokens.append(staticcall token.balanceOf(node))
        stakes.append(self.stake[node])
    return tokens, stakes, self.pool


# -------------------------------------------------------------------------------------------------- rounds
@external
def open_round(tau_fx: int256, dim: uint256, scale_bits: uint256, params_digest: bytes32, reward: uint256,
               quorum: uint256, commit_blocks: uint256, reveal_blocks: uint256) -> uint256:
    """@notice Open the next round for every registered node, with acceptance radius tau_fx (fixed point)."""
    assert msg.sender == owner, "not owner"
    assert not self._in_flight(), "round in flight"
    members: uint256 = len(self.nodes)
    assert members != 0 and members <= MAX_NODES, "no participants"
    assert self.pool // members >= reward, "pool too small"  # = pool >= reward * members, without overflow
    assert tau_fx >= 0 and tau_fx <= SAFE_MAX, "value out of range"
    assert dim != 0 and dim <= MAX_DIM, "bad report length"
    round_id: uint256 = self.round_count
    self.round_count = round_id + 1
    self.live = Round(
        phase=COMMIT, tau_fx=convert(tau_fx, uint256), dim=dim, reward=reward, quorum=quorum,
        commit_deadline=block.number + commit_blocks,
        reveal_deadline=block.number + commit_blocks + reveal_blocks,
        members=members, committed=0, revealed=0,
    )
    log RoundOpened(round_id=round_id, tau_fx=convert(tau_fx, uint256), dim=dim, scale_bits=scale_bits,
                    params_digest=params_digest, reward=reward, quorum=quorum,
                    commit_deadline=self.live.commit_deadline, reveal_deadline=self.live.reveal_deadline,
                    members=members)
    return round_id


@external
def commit(round_id: uint256, commitment: bytes32):
    """@notice Commit to keccak256(abi.encode(round_id, msg.sender, report, salt))."""
    self._live_round(round_id)
    self._commit(round_id, msg.sender, commitment)


@external
def commit_signed(round_id: uint256, signed: DynArray[SignedCommit, MAX_NODES]):
    """
    @notice Relay many commitments in one transaction. Each node signs the EIP-712 message
            Commit(round, commitment) off-chain; the signer recovered here is the committing node, so a
            relayer can neither forge nor alter a commitment, and a signature by a non-participant is
            refused like a direct commit from it.
    """
    self._live_round(round_id)
    for s: SignedCommit in signed:
        digest: bytes32 = eip712._hash_typed_data_v4(keccak256(abi_encode(COMMIT_TYPEHASH, round_id, s.commitment)))
        self._commit(round_id, ecdsa._recover_sig(digest, s.signature), s.commitment)


@external
def reveal(round_id: uint256, report: Bytes[MAX_REPORT], salt: bytes32):
    """@notice Reveal the report (packed big-endian int32 words) and salt behind the sender's commitment."""
    self._live_round(round_id)
    self._reveal(round_id, Opening(node=msg.sender, report=report, salt=salt))


@external
def reveal_many(round_id: uint256, openings: DynArray[Opening, MAX_NODES]):
    """
    @notice Reveal on behalf of several nodes. No signature is needed: an opening only counts if it hashes
            to the commitment that node made, which binds the node's address.
    """
    self._live_round(round_id)
    for o: Opening in openings:
        self._reveal(round_id, o)


@external
def reveal_and_finalize(round_id: uint256, openings: DynArray[Opening, MAX_NODES]) -> bool:
    """@notice reveal_many then finalize in one transaction (the relayer's path: three transactions a round)."""
    self._live_round(round_id)
    for o: Opening in openings:
        self._reveal(round_id, o)
    return self._finalize(round_id)


@external
def finalize(round_id: uint256) -> bool:
    """@notice Settle the round; anyone may call it after the reveal window, or once everyone revealed."""
    self._live_round(round_id)
    return self._finalize(round_id)


@external
@view
def phase(round_id: uint256) -> uint8:
    """@notice The round's phase at the current block (UNOPENED for a round that was never opened)."""
    if round_id >= self.round_count:
        return UNOPENED
    if round_id + 1 < self.round_count:
        return ACCEPTED if self.accepted_bits[round_id // 256] & (1 << (round_id % 256)) != 0 else REJECTED
    p: uint8 = self.live.phase
    if p == COMMIT and self._reveal_open():
        return REVEAL
    return p


@external
@view
def domain_separator() -> bytes32:
    """@notice The EIP-712 domain (this contract on this chain) that nodes sign their relayed commits in."""
    return eip712._domain_separator_v4()


# ----------------------------------------------------------------------------------------------- internals
@internal
@view
def _in_flight() -> bool:
    return self.round_count != 0 and self.live.phase <= REVEAL


@internal
@view
def _live_round(round_id: uint256):
    assert round_id < self.round_count, "bad round"
    assert round_id + 1 == self.round_count and self.live.phase <= REVEAL, "already finalized"


@internal
@view
def _member(node: address) -> uint256:
    p: uint256 = self.position[node]
    assert p != 0 and p <= self.live.members, "not participant"
    return p - 1


@internal
@view
def _reveal_open() -> bool:
    return block.number > self.live.commit_deadline or self.live.committed == (1 << self.live.members) - 1


@internal
def _commit(round_id: uint256, node: address, commitment: bytes32):
    assert block.number <= self.live.commit_deadline, "commit window closed"
    i: uint256 = self._member(node)
    bit: uint256 = 1 << i
    committed: uint256 = self.live.committed
    assert committed & bit == 0, "already committed"
    committed |= bit
    self.live.committed = committed
    self.commitments[i] = commitment
    if committed == (1 << self.live.members) - 1:
        self.live.phase = REVEAL
    log Committed(round_id=round_id, node=node, commitment=commitment)


@internal
def _reveal(round_id: uint256, o: Opening):
    assert self._reveal_open(), "reveal window not open"
    assert block.number <= self.live.reveal_deadline, "reveal window closed"
    i: uint256 = self._member(o.node)
    bit: uint256 = 1 << i
    assert self.live.committed & bit != 0, "no commitment"
    revealed: uint256 = self.live.revealed
    assert revealed & bit == 0, "already revealed"
    dim: uint256 = self.live.dim
    assert len(o.report) == 4 * dim, "bad report length"
    # words of 8 values, the last one zero-padded, so that each is read with one extract32
    padded: Bytes[MAX_REPORT + 32] = concat(o.report, empty(bytes32))
    for q: uint256 in range(unsafe_div(dim + 7, 8), bound=MAX_WORDS):
        w: bytes32 = extract32(padded, unsafe_mul(32, q))
        x: int256 = convert(w, int256)
        for j: uint256 in range(min(8, unsafe_sub(dim, unsafe_mul(8, q))), bound=8):
            v: int256 = (x << unsafe_mul(32, j)) >> 224
            assert v >= SAFE_MIN and v <= SAFE_MAX, "value out of range"
        self.words[i][q] = w
    assert keccak256(abi_encode(round_id, o.node, o.report, o.salt)) == self.commitments[i], "commitment mismatch"
    self.live.revealed = revealed | bit
    self.live.phase = REVEAL
    log Revealed(round_id=round_id, node=o.node, report=o.report)


@internal
def _finalize(round_id: uint256) -> bool:
    r: Round = self.live
    everyone: uint256 = (1 << r.members) - 1
    assert block.number > r.reveal_deadline or r.revealed == everyone, "too early to finalize"
    revealers: DynArray[uint256, MAX_NODES] = []
    for i: uint256 in range(r.members, bound=MAX_NODES):
        if r.revealed & (1 << i) != 0:
            revealers.append(i)
    count: uint256 = len(revealers)
    accepted: bool = count >= r.quorum and self._consistent(revealers, r.dim, r.tau_fx * r.tau_fx)
    total: DynArray[int256, MAX_DIM] = []
    lo: DynArray[int256, MAX_DIM] = []
    hi: DynArray[int256, MAX_DIM] = []
    total, lo, hi = self._aggregates(revealers, r.dim)

    paid: uint256 = 0
    slashed: uint256 = 0
    for i: uint256 in range(r.members, bound=MAX_NODES):
        bit: uint256 = 1 << i
        node: address = self.nodes[i]
        if r.revealed & bit != 0:
            if accepted:
                paid += r.reward
                assert extcall token.transfer(node, r.reward), "transfer failed"
                log Paid(round_id=round_id, node=node, amount=r.reward)
        elif r.committed & bit != 0:
            cut: uint256 = self.stake[node] * slash_bps // BPS
            self.stake[node] -= cut
            slashed += cut
            log Slashed(round_id=round_id, node=node, amount=cut)
    self.pool = self.pool - paid + slashed
    self.live.phase = ACCEPTED if accepted else REJECTED
    if accepted:
        self.accepted_bits[round_id // 256] |= 1 << (round_id % 256)
    log Finalized(round_id=round_id, accepted=accepted, count=count, committed=r.committed, revealed=r.revealed,
                  total=total, lo=lo, hi=hi)
    return accepted


@internal
@view
def _consistent(revealers: DynArray[uint256, MAX_NODES], dim: uint256, tau_sq: uint256) -> bool:
    """every pair of revealed reports within tau: ||y_a - y_b||^2 <= tau^2, exact in int256"""
    limit: int256 = convert(tau_sq, int256)
    words: uint256 = unsafe_div(dim + 7, 8)
    n: uint256 = len(revealers)
    for x: uint256 in range(n, bound=MAX_NODES):
        a: uint256 = revealers[x]
        for y: uint256 in range(x + 1, n, bound=MAX_NODES):
            b: uint256 = revealers[y]
            sq: int256 = 0
            for q: uint256 in range(words, bound=MAX_WORDS):
                wa: int256 = convert(self.words[a][q], int256)
                wb: int256 = convert(self.words[b][q], int256)
                # index arithmetic below is bounded by MAX_DIM, so unchecked
                for j: uint256 in range(min(8, unsafe_sub(dim, unsafe_mul(8, q))), bound=8):
                    # value j of a word: shift it to the top; the arithmetic right shift sign-extends it
                    s: uint256 = unsafe_mul(32, j)
                    d: int256 = unsafe_sub((wa << s) >> 224, (wb << s) >> 224)
                    sq = unsafe_add(sq, unsafe_mul(d, d))
            if sq > limit:
                return False
    return True


@internal
@view
def _aggregates(revealers: DynArray[uint256, MAX_NODES], dim: uint256) -> (
        DynArray[int256, MAX_DIM], DynArray[int256, MAX_DIM], DynArray[int256, MAX_DIM]):
    """what the estimators need: the sum of the revealed reports, and their coordinate-wise min and max"""
    total: DynArray[int256, MAX_DIM] = []
    lo: DynArray[int256, MAX_DIM] = []
    hi: DynArray[int256, MAX_DIM] = []
    for c: uint256 in range(dim, bound=MAX_DIM):
        total.append(0)
        lo.append(EMPTY_MIN)
        hi.append(EMPTY_MAX)
    for a: uint256 in revealers:
        for q: uint256 in range(unsafe_div(dim + 7, 8), bound=MAX_WORDS):
            w: int256 = convert(self.words[a][q], int256)
            for j: uint256 in range(min(8, unsafe_sub(dim, unsafe_mul(8, q))), bound=8):
                c: uint256 = unsafe_add(unsafe_mul(8, q), j)
                v: int256 = (w << unsafe_mul(32, j)) >> 224
                total[c] = unsafe_add(total[c], v)
                lo[c] = min(lo[c], v)
                hi[c] = max(hi[c], v)
    return total, lo, hi
