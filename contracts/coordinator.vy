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
        A model larger than a report (full_dim > dim) is checked through sketches: every member commits to the
        digest of its full report; after the commit phase the owner reveals the projection's seed (committed
        at opening); members reveal the k-value sketch S y of their full report (protocol/sketch.py), checked
        pairwise against k tau^2; an accepted sketched round pays only the revealers the owner confirms it
        received and verified the full reports of, or everyone if it has not confirmed in time, and anyone
        holding a full report can prove on chain that its revealed sketch lies (one row, recomputed here).
        coordinator/memory_ledger.py applies the same rules in process; the differential tests hold the two
        together, and their revert reasons are the catalogue in protocol/ledger.py. What the owner is trusted
        with is written down in docs/trust.md.
        Reports are packed big-endian int32 words in `bytes` (protocol/codec.py); sketches int64 words.
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
# the revealed vector: a report of int32 values, or a sketch of int64 values (wider: a sketch sums d values)
MAX_REPORT: constant(uint256) = 8 * MAX_DIM
MAX_WORDS: constant(uint256) = MAX_DIM // 4
# a full report, as a mismatch proof carries it: int32 values, up to 2^16 of them (LeNet-5 has 61,706)
MAX_FULL_DIM: constant(uint256) = 65_536
MAX_FULL_REPORT: constant(uint256) = 4 * MAX_FULL_DIM
# Windows in blocks: long enough that every member can act, short enough that stakes are never frozen for long.
MIN_WINDOW: constant(uint256) = 4
MAX_WINDOW: constant(uint256) = 7_200
# After the reveal window, a round nobody settled for this many blocks can be closed by anyone (paying nothing).
EXPIRY_BLOCKS: constant(uint256) = 256
# After an accepted sketched round settles, the owner has this many blocks to confirm whom it pays; then anyone
# may release the rewards to every revealer not proven a liar.
CONFIRM_BLOCKS: constant(uint256) = 256
# The codec's int32 range: tau_fx is checked against it; report words are int32 by construction.
SAFE_MAX: constant(int256) = 2**31 - 1
BPS: constant(uint256) = 10_000
COMMIT_TYPEHASH: constant(bytes32) = keccak256("Commit(uint256 round,bytes32 commitment)")

# The round's state machine. COMMIT -> REVEAL happens when every member has committed or the commit window has
# passed (stored at the first reveal then); REVEAL -> ACCEPTED | REJECTED at settlement (or expiry); a sketched
# round goes REVEAL -> CONFIRMING -> ACCEPTED when accepted.
UNOPENED: constant(uint8) = 0
COMMIT: constant(uint8) = 1
REVEAL: constant(uint8) = 2
ACCEPTED: constant(uint8) = 3
REJECTED: constant(uint8) = 4
CONFIRMING: constant(uint8) = 5  # an accepted sketched round whose rewards wait for confirmation


struct Round:
    phase: uint8
    tau_fx: uint256
    dim: uint256  # values revealed and checked: the report, or its sketch when full_dim > dim
    full_dim: uint256
    seed_hash: bytes32  # keccak256 of the projection's seed (sketched rounds)
    seed: bytes32  # revealed by the owner once the commit phase is over
    reward: uint256
    quorum: uint256
    commit_deadline: uint256
    reveal_deadline: uint256
    members: DynArray[address, MAX_MEMBERS]
    committed: uint256  # bitmask over member indices
    revealed: uint256
    max_sq: uint256  # the largest squared distance between two revealed reports so far
    confirm_deadline: uint256
    disproved: uint256  # revealers proven to have revealed a sketch that is not their full report's


struct SignedCommit:
    commitment: bytes32
    signature: Bytes[65]


struct Opening:
    node: address
    report: Bytes[MAX_REPORT]  # the report, or its sketch
    digest: bytes32  # keccak256 of the full packed report (ignored when the report is revealed whole)
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
    full_dim: uint256
    seed_hash: bytes32
    reward: uint256
    quorum: uint256
    commit_deadline: uint256
    reveal_deadline: uint256
    members: DynArray[address, MAX_MEMBERS]

event SeedRevealed:
    round_id: indexed(uint256)
    seed: bytes32

event Committed:
    round_id: indexed(uint256)
    node: indexed(address)
    commitment: bytes32

event AllCommitted:  # the last member committed: the reveal window is open (one event a node waits for, not N)
    round_id: indexed(uint256)

event Revealed:
    round_id: indexed(uint256)
    node: indexed(address)
    report: Bytes[MAX_REPORT]
    digest: bytes32
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

event Confirmed:
    round_id: indexed(uint256)
    confirmed: uint256  # bitmask over the members: those paid
    by_owner: bool  # False: released by anyone after the confirmation window

event Disproved:
    round_id: indexed(uint256)
    node: indexed(address)
    row: uint256
    claimed: int256
    actual: int256
    challenger: address
    amount: uint256

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
digests: HashMap[uint256, bytes32]  # of the revealed full reports, by member index
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
def open_round(candidates: DynArray[address, MAX_MEMBERS], tau_fx: int256, dim: uint256, full_dim: uint256,
               scale_bits: uint256, params_digest: bytes32, seed_hash: bytes32, reward: uint256, quorum: uint256,
               commit_blocks: uint256, reveal_blocks: uint256) -> uint256:
    """
    @notice Open the next round with acceptance radius tau_fx (fixed point). Its members are the candidates that
            are registered and hold at least the minimum stake, in the given order (a duplicate counts once);
            the others sit it out, so a node that just withdrew or fell below the minimum cannot block the round.
            A model of full_dim > dim values is checked through dim-value sketches, under the projection whose
            seed hashes to seed_hash (the owner reveals it once the commit phase is over).
    """
    assert msg.sender == owner, "not owner"
    assert not self._in_flight(), "round in flight"
    assert quorum >= 2 and quorum <= len(candidates), "bad quorum"
    assert commit_blocks >= MIN_WINDOW and commit_blocks <= MAX_WINDOW, "bad window"
    assert reveal_blocks >= MIN_WINDOW and reveal_blocks <= MAX_WINDOW, "bad window"
    assert reward <= min_penalty, "reward above penalty"
    assert tau_fx >= 0 and tau_fx <= SAFE_MAX, "value out of range"
    assert dim != 0 and dim <= MAX_DIM, "bad report length"
    assert full_dim >= dim and full_dim <= MAX_FULL_DIM, "bad report length"
    assert (full_dim == dim) == (seed_hash == empty(bytes32)), "bad seed"
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
        phase=COMMIT, tau_fx=convert(tau_fx, uint256), dim=dim, full_dim=full_dim, seed_hash=seed_hash,
        seed=empty(bytes32), reward=reward, quorum=quorum,
        commit_deadline=block.number + commit_blocks,
        reveal_deadline=block.number + commit_blocks + reveal_blocks,
        members=members, committed=0, revealed=0, max_sq=0, confirm_deadline=0, disproved=0,
    )
    log RoundOpened(round_id=round_id, tau_fx=convert(tau_fx, uint256), dim=dim, scale_bits=scale_bits,
                    params_digest=params_digest, full_dim=full_dim, seed_hash=seed_hash, reward=reward,
                    quorum=quorum, commit_deadline=self.live.commit_deadline,
                    reveal_deadline=self.live.reveal_deadline, members=members)
    return round_id


@external
def commit(round_id: uint256, commitment: bytes32):
    """@notice Commit to keccak256(abi.encode(round_id, msg.sender, keccak256(full packed report), salt))."""
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
def reveal_seed(round_id: uint256, seed: bytes32):
    """@notice The owner reveals the sketch projection's seed, once the commit phase is over (every member
            committed or the window lapsed): no report can be shaped to the projection it did not know."""
    assert msg.sender == owner, "not owner"
    self._live_round(round_id)
    assert self.live.seed_hash != empty(bytes32), "not sketched"
    assert self.live.seed == empty(bytes32), "already revealed"
    assert self._reveal_open(), "reveal window not open"
    assert block.number <= self.live.reveal_deadline, "reveal window closed"
    assert keccak256(abi_encode(seed)) == self.live.seed_hash, "seed mismatch"
    self.live.seed = seed
    log SeedRevealed(round_id=round_id, seed=seed)


@external
def reveal(round_id: uint256, report: Bytes[MAX_REPORT], digest: bytes32, salt: bytes32):
    """@notice Reveal the report (packed big-endian int32 words) and salt behind the sender's commitment; in a
            sketched round, the sketch of the full report (int64 words) and the full report's digest."""
    self._live_round(round_id)
    i: uint256 = self._member(msg.sender)
    assert self.live.revealed & (1 << i) == 0, "already revealed"
    self._reveal(round_id, i, Opening(node=msg.sender, report=report, digest=digest, salt=salt))


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
def confirm(round_id: uint256, confirmed: uint256):
    """
    @notice The owner pays the revealers of an accepted sketched round whose full reports it received and checked
            against their sketches (a bitmask over the members), within CONFIRM_BLOCKS of settlement. The others
            are not paid; their rewards stay in the pool. It cannot pay a node that did not reveal or was proven
            a liar.
    """
    assert msg.sender == owner, "not owner"
    self._confirming(round_id)
    assert block.number <= self.live.confirm_deadline, "confirm window closed"
    assert confirmed & ~self.live.revealed == 0, "not participant"
    self._pay(round_id, confirmed & ~self.live.disproved, True)


@external
def release(round_id: uint256):
    """@notice Anyone: once the owner has let the confirmation window pass, pay every revealer of the accepted
            sketched round that was not proven a liar."""
    self._confirming(round_id)
    assert block.number > self.live.confirm_deadline, "too early to release"
    self._pay(round_id, self.live.revealed & ~self.live.disproved, False)


@external
def prove_mismatch(round_id: uint256, node: address, full_report: Bytes[MAX_FULL_REPORT], row: uint256):
    """
    @notice Anyone holding a member's full report (packed int32, hashing to the digest it revealed) can show that
            row `row` of its revealed sketch is not that row of the projection applied to the full report. The
            liar is not paid and loses the slash fraction of its stake to the prover. One row costs
            ceil(full_dim / 256) hashes and full_dim additions (about 10M gas at 61,706 values, calldata included).
    """
    self._confirming(round_id)
    assert block.number <= self.live.confirm_deadline, "confirm window closed"
    i: uint256 = self._member(node)
    bit: uint256 = 1 << i
    assert self.live.revealed & bit != 0, "no commitment"
    assert self.live.disproved & bit == 0, "already revealed"
    full_dim: uint256 = self.live.full_dim
    assert len(full_report) == 4 * full_dim, "bad report length"
    assert keccak256(full_report) == self.digests[i], "commitment mismatch"
    assert row < self.live.dim, "bad report length"
    # row `row` of S y (protocol/sketch.py): S[row, c] = -1 where bit c % 256 of keccak256(abi.encode(seed, row,
    # c // 256)) is set, else +1. Inline, over the report in place: a copy of it would cost more memory than the
    # transaction's cap allows at this size. Values are read 8 to a word; the last partial word value by value.
    seed: bytes32 = self.live.seed
    whole: uint256 = unsafe_div(full_dim, 8)  # whole 8-value words
    actual: int256 = 0
    signs: uint256 = 0
    for q: uint256 in range(whole, bound=MAX_FULL_DIM // 8):
        if q % 32 == 0:  # a new block of 256 columns: its hash
            signs = convert(keccak256(abi_encode(seed, row, unsafe_div(q, 32))), uint256)
        w: int256 = convert(extract32(full_report, unsafe_mul(32, q)), int256)
        base: uint256 = unsafe_mul(8, q % 32)
        for j: uint256 in range(8):
            v: int256 = (w << unsafe_mul(32, j)) >> 224
            if (signs >> unsafe_add(base, j)) & 1 == 0:
                actual = unsafe_add(actual, v)
            else:
                actual = unsafe_sub(actual, v)
    for c: uint256 in range(unsafe_mul(8, whole), full_dim, bound=8):
        if c % 256 == 0:
            signs = convert(keccak256(abi_encode(seed, row, unsafe_div(c, 256))), uint256)
        v: int256 = convert(convert(slice(full_report, unsafe_mul(4, c), 4), bytes4), int256)  # sign-extended
        if (signs >> (c % 256)) & 1 == 0:
            actual = unsafe_add(actual, v)
        else:
            actual = unsafe_sub(actual, v)
    # the revealed sketch value: int64 word `row`, 4 to a stored word
    claimed: int256 = (convert(self.words[i][row // 4], int256) << (64 * (row % 4))) >> 192
    assert actual != claimed, "no mismatch"
    self.live.disproved |= bit
    cut: uint256 = self.stake[node] * slash_bps // BPS
    self.stake[node] -= cut
    assert extcall token.transfer(msg.sender, cut), "transfer failed"
    log Disproved(round_id=round_id, node=node, row=row, claimed=claimed, actual=actual, challenger=msg.sender,
                  amount=cut)


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
    return self.round_count != 0 and (self.live.phase <= REVEAL or self.live.phase == CONFIRMING)


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
    log Committed(round_id=round_id, node=node, commitment=commitment)
    if committed == self._everyone():
        self.live.phase = REVEAL
        log AllCommitted(round_id=round_id)


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
    sketched: bool = self.live.full_dim != dim
    bits: uint256 = 32  # int32 report values, 8 to a word
    digest: bytes32 = keccak256(o.report)
    if sketched:  # int64 sketch values, 4 to a word; the commitment binds the full report's digest
        assert self.live.seed != empty(bytes32), "seed not revealed"
        bits = 64
        digest = o.digest
    assert len(o.report) == unsafe_div(bits, 8) * dim, "bad report length"
    assert keccak256(abi_encode(round_id, o.node, digest, o.salt)) == self.commitments[i], "commitment mismatch"
    if sketched:
        self.digests[i] = digest
    # whole words, the last one zero-padded, so that each is read with one extract32
    padded: Bytes[MAX_REPORT + 32] = concat(o.report, empty(bytes32))
    per: uint256 = unsafe_div(256, bits)
    words: uint256 = unsafe_div(dim + per - 1, per)
    for q: uint256 in range(words, bound=MAX_WORDS):
        self.words[i][q] = extract32(padded, unsafe_mul(32, q))
    # the pairwise check, spread over the reveals: this report against every earlier one of the round
    revealed: uint256 = self.live.revealed
    farthest_sq: uint256 = 0
    farthest: address = empty(address)
    for j: uint256 in range(len(self.live.members), bound=MAX_MEMBERS):
        if revealed & (1 << j) != 0:
            sq: uint256 = self._sq_dist(i, j, dim, words, bits)
            if sq > farthest_sq or farthest == empty(address):
                farthest_sq = sq
                farthest = self.live.members[j]
    self.live.max_sq = max(self.live.max_sq, farthest_sq)
    self.live.revealed = revealed | bit
    self.live.phase = REVEAL
    log Revealed(round_id=round_id, node=o.node, report=o.report, digest=digest, farthest_sq=farthest_sq,
                 farthest=farthest)


@internal
@view
def _confirming(round_id: uint256):
    assert round_id + 1 == self.round_count and self.live.phase == CONFIRMING, "not confirming"


@internal
def _pay(round_id: uint256, payees: uint256, by_owner: bool):
    r: Round = self.live
    paid: uint256 = 0
    for i: uint256 in range(len(r.members), bound=MAX_MEMBERS):
        if payees & (1 << i) != 0:
            paid += r.reward
            assert extcall token.transfer(r.members[i], r.reward), "transfer failed"
            log Paid(round_id=round_id, node=r.members[i], amount=r.reward)
    self.pool -= paid
    self.live.phase = ACCEPTED
    self.accepted_bits[round_id // 256] |= 1 << (round_id % 256)
    log Confirmed(round_id=round_id, confirmed=payees, by_owner=by_owner)


@internal
@view
def _sq_dist(a: uint256, b: uint256, dim: uint256, words: uint256, bits: uint256) -> uint256:
    """||y_a - y_b||^2 of two stored vectors of `bits`-bit values, exact: a difference is below 2**65, so a sum of
    256 squares stays below 2**138 and the unchecked int256 arithmetic cannot overflow"""
    sq: int256 = 0
    per: uint256 = unsafe_div(256, bits)
    drop: uint256 = unsafe_sub(256, bits)
    for q: uint256 in range(words, bound=MAX_WORDS):
        wa: int256 = convert(self.words[a][q], int256)
        wb: int256 = convert(self.words[b][q], int256)
        for j: uint256 in range(min(per, unsafe_sub(dim, unsafe_mul(per, q))), bound=8):
            # value j of a word: shift it to the top; the arithmetic right shift sign-extends it
            s: uint256 = unsafe_mul(bits, j)
            d: int256 = unsafe_sub((wa << s) >> drop, (wb << s) >> drop)
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
    sketched: bool = r.full_dim != r.dim
    # E||S x||^2 = k ||x||^2 for the unscaled sign projection: sketches are compared against k tau^2
    limit: uint256 = r.tau_fx * r.tau_fx * (r.dim if sketched else 1)
    # a withheld reveal rejects the round: choosing which of several committed reports to reveal gains nothing
    accepted: bool = count >= r.quorum and r.committed == r.revealed and r.max_sq <= limit
    # without the owner's seed nobody could reveal a sketch: a committed member is not to blame for that
    excused: uint256 = r.committed if sketched and r.seed == empty(bytes32) else 0
    paid: uint256 = 0
    slashed: uint256 = 0
    for i: uint256 in range(len(r.members), bound=MAX_MEMBERS):
        node: address = r.members[i]
        bit: uint256 = 1 << i
        if r.revealed & bit != 0:
            if accepted and not sketched:
                paid += r.reward
                assert extcall token.transfer(node, r.reward), "transfer failed"
                log Paid(round_id=round_id, node=node, amount=r.reward)
        elif excused & bit == 0:
            # committed and withheld, or never committed: either stalls the round, neither is free
            cut: uint256 = self.stake[node] * slash_bps // BPS
            self.stake[node] -= cut
            slashed += cut
            log Slashed(round_id=round_id, node=node, amount=cut)
    self.pool = self.pool - paid + slashed
    if accepted and sketched:  # the rewards wait for the owner's confirmation (or the window's end)
        self.live.phase = CONFIRMING
        self.live.confirm_deadline = block.number + CONFIRM_BLOCKS
    else:
        self.live.phase = ACCEPTED if accepted else REJECTED
        if accepted:
            self.accepted_bits[round_id // 256] |= 1 << (round_id % 256)
    log Finalized(round_id=round_id, accepted=accepted, count=count, committed=r.committed, revealed=r.revealed,
                  max_sq=r.max_sq)
    return accepted
