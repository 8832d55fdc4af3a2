# pragma version ~=0.4.3
"""
@title deml round coordinator
@notice Commit-reveal rounds of the deml protocol (docs/protocol.md). Nodes register with a locked stake; the
        owner (the data collector) opens each round for an explicit, bounded list of candidates, of which the
        registered ones holding at least the minimum stake become its members; members commit to
        keccak256(abi.encode(round_id, node, report, salt)), then reveal; anyone settles. Each reveal is checked
        against every earlier reveal of the round at once, so the pairwise check is spread over the reveals'
        own transactions and settling costs O(members). A round is accepted when at least `quorum` members
        revealed, no member withheld a committed report, and every pair of revealed reports lies within tau
        (exact integer arithmetic); each revealer of an accepted round is paid from the pool, nobody is paid on
        rejection, and every member that committed without revealing, or never committed, loses part of its
        stake to the pool. A round nobody settles is closed by anyone after a grace period, paying nothing.
        coordinator/memory_ledger.py applies the same rules in process; the differential tests hold the two
        together, and their revert reasons are the catalogue in protocol/ledger.py. What the owner is trusted
        with is written down in docs/trust.md.
        Reports are packed big-endian int32 words in `bytes` (protocol/codec.py).
"""

from ethereum.ercs import IERC20
from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator as eip712

initializes: eip712

exports: eip712.eip712Domain


# A round's members fit one bitmask word; the same bound as MemoryLedger.MAX_MEMBERS. Every loop below is bounded
# by it or by the report size: nothing iterates over a set that anyone can grow (registration is a mapping).
MAX_MEMBERS: constant(uint256) = 64
MAX_DIM: constant(uint256) = 256
MAX_REPORT: constant(uint256) = 4 * MAX_DIM
MAX_WORDS: constant(uint256) = MAX_DIM // 8
# Windows in blocks: long enough that every member can act, short enough that stakes are never frozen for long.
MIN_WINDOW: constant(uint256) = 4
MAX_WINDOW: constant(uint256) = 7_200
# After the reveal window, a round nobody settled for this many blocks can be closed by anyone (paying nothing).
EXPIRY_BLOCKS: constant(uint256) = 256
# The codec's int32 range: tau_fx is checked against it; report words are int32 by construction.
SAFE_MAX: constant(int256) = 2**31 - 1
BPS: constant(uint256) = 10_000
COMMIT_TYPEHASH: constant(bytes32) = keccak256("Commit(uint256 round,bytes32 commitment)")

# The round's state machine. COMMIT -> REVEAL happens when every member has committed or the commit window has
# passed (stored at the first reveal then); REVEAL -> ACCEPTED | REJECTED at settlement (or expiry).
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
    members: DynArray[address, MAX_MEMBERS]
    committed: uint256  # bitmask over member indices
    revealed: uint256
    max_sq: uint256  # the largest squared distance between two revealed reports so far


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

event Staked:
    node: indexed(address)
    amount: uint256
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
    members: DynArray[address, MAX_MEMBERS]

event Committed:
    round_id: indexed(uint256)
    node: indexed(address)
    commitment: bytes32

event Revealed:
    round_id: indexed(uint256)
    node: indexed(address)
    report: Bytes[MAX_REPORT]
    farthest_sq: uint256  # squared distance to the farthest earlier reveal of the round (0 for the first)
    farthest: address  # that reveal's node (empty for the first)

event Finalized:
    round_id: indexed(uint256)
    accepted: bool
    count: uint256
    committed: uint256
    revealed: uint256
    max_sq: uint256

event Expired:
    round_id: indexed(uint256)

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
# the smallest slash a member can meet (its stake is at least min_stake): a round's reward may not exceed it, so
# withholding a committed report always costs more than revealing it could earn
min_penalty: public(immutable(uint256))

pool: public(uint256)
stake: public(HashMap[address, uint256])
registered: public(HashMap[address, bool])
# (round_id + 1) << 8 | member index, for the last round the node was a member of
membership: HashMap[address, uint256]
round_count: public(uint256)
# Only the latest round can be in flight (open_round refuses otherwise), so one record suffices; finished rounds
# live on in their events. Commitments and report words are kept by member index and overwritten round after
# round, which costs a warm rewrite instead of a fresh slot each round.
live: Round
commitments: HashMap[uint256, bytes32]
words: HashMap[uint256, HashMap[uint256, bytes32]]
accepted_bits: HashMap[uint256, uint256]  # one bit per round: a word holds 256 outcomes


@deploy
def __init__(token_: IERC20, min_stake_: uint256, slash_bps_: uint256):
    assert slash_bps_ != 0 and slash_bps_ <= BPS, "bad slash"
    assert min_stake_ * slash_bps_ // BPS != 0, "penalty rounds to zero"
    eip712.__init__("deml coordinator", "1")
    owner = msg.sender
    token = token_
    min_stake = min_stake_
    slash_bps = slash_bps_
    min_penalty = min_stake_ * slash_bps_ // BPS


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
    assert not self.registered[msg.sender], "already registered"
    assert amount >= min_stake, "stake too small"
    assert staticcall token.balanceOf(msg.sender) >= amount, "stake too small"
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"
    self.registered[msg.sender] = True
    self.stake[msg.sender] = amount
    log Registered(node=msg.sender, stake=amount)


@external
def add_stake(amount: uint256):
    """@notice Lock `amount` more tokens (approved beforehand), e.g. to rise back above the minimum after a slash."""
    assert self.registered[msg.sender], "not registered"
    assert staticcall token.balanceOf(msg.sender) >= amount, "stake too small"
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"
    total: uint256 = self.stake[msg.sender] + amount
    self.stake[msg.sender] = total
    log Staked(node=msg.sender, amount=amount, stake=total)


@external
def withdraw():
    """@notice Leave and take the stake back; refused while the node is a member of a round in flight."""
    assert self.registered[msg.sender], "not registered"
    assert not self._in_flight() or self.membership[msg.sender] >> 8 != self.round_count, "round in flight"
    amount: uint256 = self.stake[msg.sender]
    self.registered[msg.sender] = False
    self.stake[msg.sender] = 0
    assert extcall token.transfer(msg.sender, amount), "transfer failed"
    log Withdrawn(node=msg.sender, stake=amount)


@external
@view
def accounts(nodes: DynArray[address, MAX_MEMBERS]) -> (DynArray[uint256, MAX_MEMBERS], DynArray[uint256, MAX_MEMBERS],
                                                          uint256):
    """@notice Token balances and stakes of the given nodes, and the pool."""
    tokens: DynArray[uint256, MAX_MEMBERS] = []
    stakes: DynArray[uint256, MAX_MEMBERS] = []
    for node: address in nodes:
        tokens.append(staticcall token.balanceOf(node))
        stakes.append(self.stake[node])
    return tokens, stakes, self.pool


# -------------------------------------------------------------------------------------------------- rounds
@external
def open_round(candidates: DynArray[address, MAX_MEMBERS], tau_fx: int256, dim: uint256, scale_bits: uint256,
               params_digest: bytes32, reward: uint256, quorum: uint256, commit_blocks: uint256,
               reveal_blocks: uint256) -> uint256:
    """
    @notice Open the next round with acceptance radius tau_fx (fixed point). Its members are the candidates that
            are registered and hold at least the minimum stake, in the given order (a duplicate counts once);
            the others sit it out, so a node that just withdrew or fell below the minimum cannot block the round.
    """
    assert msg.sender == owner, "not owner"
    assert not self._in_flight(), "round in flight"
    assert quorum >= 2 and quorum <= len(candidates), "bad quorum"
    assert commit_blocks >= MIN_WINDOW and commit_blocks <= MAX_WINDOW, "bad window"
    assert reveal_blocks >= MIN_WINDOW and reveal_blocks <= MAX_WINDOW, "bad window"
    assert reward <= min_penalty, "reward above penalty"
    assert tau_fx >= 0 and tau_fx <= SAFE_MAX, "value out of range"
    assert dim != 0 and dim <= MAX_DIM, "bad report length"
    round_id: uint256 = self.round_count
    tag: uint256 = (round_id + 1) << 8
    members: DynArray[address, MAX_MEMBERS] = []
    for node: address in candidates:
        if self.registered[node] and self.stake[node] >= min_stake and self.membership[node] >> 8 != round_id + 1:
            self.membership[node] = tag | len(members)
            members.append(node)
    assert self.pool // max(len(members), 1) >= reward, "pool too small"  # pool >= reward * members
    self.round_count = round_id + 1
    self.live = Round(
        phase=COMMIT, tau_fx=convert(tau_fx, uint256), dim=dim, reward=reward, quorum=quorum,
        commit_deadline=block.number + commit_blocks,
        reveal_deadline=block.number + commit_blocks + reveal_blocks,
        members=members, committed=0, revealed=0, max_sq=0,
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
    i: uint256 = self._member(msg.sender)
    assert self.live.committed & (1 << i) == 0, "already committed"
    self._commit(round_id, msg.sender, i, commitment)


@external
def commit_signed(round_id: uint256, signed: DynArray[SignedCommit, MAX_MEMBERS]):
    """
    @notice Relay many commitments in one transaction. Each node signs the EIP-712 message
            Commit(round, commitment) off-chain; the signer recovered here is the committing node, so a relayer
            can neither forge nor alter a commitment, and a signature by a non-member is refused like a direct
            commit from it. An entry whose node has already committed (say, by itself) is skipped, so one
            front-running node cannot make the relayer's whole batch fail.
    """
    self._live_round(round_id)
    for s: SignedCommit in signed:
        digest: bytes32 = eip712._hash_typed_data_v4(keccak256(abi_encode(COMMIT_TYPEHASH, round_id, s.commitment)))
        node: address = ecdsa._recover_sig(digest, s.signature)
        i: uint256 = self._member(node)
        if self.live.committed & (1 << i) == 0:
            self._commit(round_id, node, i, s.commitment)


@external
def reveal(round_id: uint256, report: Bytes[MAX_REPORT], salt: bytes32):
    """@notice Reveal the report (packed big-endian int32 words) and salt behind the sender's commitment."""
    self._live_round(round_id)
    i: uint256 = self._member(msg.sender)
    assert self.live.revealed & (1 << i) == 0, "already revealed"
    self._reveal(round_id, i, Opening(node=msg.sender, report=report, salt=salt))


@external
def reveal_many(round_id: uint256, openings: DynArray[Opening, MAX_MEMBERS]):
    """
    @notice Reveal on behalf of several nodes. No signature is needed: an opening only counts if it hashes to
            the commitment that node made, which binds the node's address. Openings already revealed are
            skipped.
    """
    self._live_round(round_id)
    self._reveal_each(round_id, openings)


@external
def reveal_and_finalize(round_id: uint256, openings: DynArray[Opening, MAX_MEMBERS]) -> bool:
    """@notice reveal_many then finalize in one transaction (the relayer's path: three transactions a round
            while the reveals fit one transaction; more reveal_many transactions before it otherwise)."""
    self._live_round(round_id)
    self._reveal_each(round_id, openings)
    return self._finalize(round_id)


@external
def finalize(round_id: uint256) -> bool:
    """@notice Settle the round; anyone may call it after the reveal window, or once every committed member
            revealed and no further commit can come."""
    self._live_round(round_id)
    return self._finalize(round_id)


@external
def expire(round_id: uint256):
    """@notice Close a round that nobody settled within EXPIRY_BLOCKS after its reveal window: rejected, nobody
            paid or slashed, every member free to withdraw. Anyone may call it."""
    self._live_round(round_id)
    assert block.number > self.live.reveal_deadline + EXPIRY_BLOCKS, "too early to expire"
    self.live.phase = REJECTED
    log Expired(round_id=round_id)


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
    """the node's index among the live round's members"""
    m: uint256 = self.membership[node]
    assert m >> 8 == self.round_count, "not participant"
    return m & 255


@internal
@view
def _everyone() -> uint256:
    return (1 << len(self.live.members)) - 1


@internal
@view
def _reveal_open() -> bool:
    return block.number > self.live.commit_deadline or self.live.committed == self._everyone()


@internal
def _commit(round_id: uint256, node: address, i: uint256, commitment: bytes32):
    assert block.number <= self.live.commit_deadline, "commit window closed"
    committed: uint256 = self.live.committed | (1 << i)
    self.live.committed = committed
    self.commitments[i] = commitment
    if committed == self._everyone():
        self.live.phase = REVEAL
    log Committed(round_id=round_id, node=node, commitment=commitment)


@internal
def _reveal_each(round_id: uint256, openings: DynArray[Opening, MAX_MEMBERS]):
    for o: Opening in openings:
        i: uint256 = self._member(o.node)
        if self.live.revealed & (1 << i) == 0:
            self._reveal(round_id, i, o)


@internal
def _reveal(round_id: uint256, i: uint256, o: Opening):
    assert self._reveal_open(), "reveal window not open"
    assert block.number <= self.live.reveal_deadline, "reveal window closed"
    bit: uint256 = 1 << i
    assert self.live.committed & bit != 0, "no commitment"
    dim: uint256 = self.live.dim
    assert len(o.report) == 4 * dim, "bad report length"
    assert keccak256(abi_encode(round_id, o.node, o.report, o.salt)) == self.commitments[i], "commitment mismatch"
    # words of 8 values, the last one zero-padded, so that each is read with one extract32
    padded: Bytes[MAX_REPORT + 32] = concat(o.report, empty(bytes32))
    words: uint256 = unsafe_div(dim + 7, 8)
    for q: uint256 in range(words, bound=MAX_WORDS):
        self.words[i][q] = extract32(padded, unsafe_mul(32, q))
    # the pairwise check, spread over the reveals: this report against every earlier one of the round
    revealed: uint256 = self.live.revealed
    farthest_sq: uint256 = 0
    farthest: address = empty(address)
    for j: uint256 in range(len(self.live.members), bound=MAX_MEMBERS):
        if revealed & (1 << j) != 0:
            sq: uint256 = self._sq_dist(i, j, dim, words)
            if sq > farthest_sq or farthest == empty(address):
                farthest_sq = sq
                farthest = self.live.members[j]
    self.live.max_sq = max(self.live.max_sq, farthest_sq)
    self.live.revealed = revealed | bit
    self.live.phase = REVEAL
    log Revealed(round_id=round_id, node=o.node, report=o.report, farthest_sq=farthest_sq, farthest=farthest)


@internal
@view
def _sq_dist(a: uint256, b: uint256, dim: uint256, words: uint256) -> uint256:
    """||y_a - y_b||^2 of two stored reports, exact: |y_a - y_b| < 2**32 per value, so a sum of 256 squares stays
    below 2**72 and the unchecked arithmetic cannot overflow"""
    sq: int256 = 0
    for q: uint256 in range(words, bound=MAX_WORDS):
        wa: int256 = convert(self.words[a][q], int256)
        wb: int256 = convert(self.words[b][q], int256)
        for j: uint256 in range(min(8, unsafe_sub(dim, unsafe_mul(8, q))), bound=8):
            # value j of a word: shift it to the top; the arithmetic right shift sign-extends it
            s: uint256 = unsafe_mul(32, j)
            d: int256 = unsafe_sub((wa << s) >> 224, (wb << s) >> 224)
            sq = unsafe_add(sq, unsafe_mul(d, d))
    return convert(sq, uint256)


@internal
def _finalize(round_id: uint256) -> bool:
    r: Round = self.live
    # nothing more can happen once the reveal window is over, or once the commit phase is over (every member
    # committed, or its window lapsed) and every committed member has revealed
    quiet: bool = self._reveal_open() and r.revealed == r.committed
    assert block.number > r.reveal_deadline or quiet, "too early to finalize"
    count: uint256 = 0
    for i: uint256 in range(len(r.members), bound=MAX_MEMBERS):
        if r.revealed & (1 << i) != 0:
            count += 1
    # a withheld reveal rejects the round: choosing which of several committed reports to reveal gains nothing
    accepted: bool = count >= r.quorum and r.committed == r.revealed and r.max_sq <= r.tau_fx * r.tau_fx
    paid: uint256 = 0
    slashed: uint256 = 0
    for i: uint256 in range(len(r.members), bound=MAX_MEMBERS):
        node: address = r.members[i]
        if r.revealed & (1 << i) != 0:
            if accepted:
                paid += r.reward
                assert extcall token.transfer(node, r.reward), "transfer failed"
                log Paid(round_id=round_id, node=node, amount=r.reward)
        else:
            # committed and withheld, or never committed: either stalls the round, neither is free
            cut: uint256 = self.stake[node] * slash_bps // BPS
            self.stake[node] -= cut
            slashed += cut
            log Slashed(round_id=round_id, node=node, amount=cut)
    self.pool = self.pool - paid + slashed
    self.live.phase = ACCEPTED if accepted else REJECTED
    if accepted:
        self.accepted_bits[round_id // 256] |= 1 << (round_id % 256)
    log Finalized(round_id=round_id, accepted=accepted, count=count, committed=r.committed, revealed=r.revealed,
                  max_sq=r.max_sq)
    return accepted
