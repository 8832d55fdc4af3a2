# pragma version ~=0.4.3
"""
@title deml report board (FAR-SIGN's asynchronous mode)
@notice No rounds and no waiting: a registered node posts (model version, direction block, packed values) at
        any time and is paid a fixed fee per accepted report from the pool; the chain's order of the Posted
        events is the order in which the data collector's FAR-SIGN server applies them
        (coordinator/report_stream.py). The owner (the data collector) publishes model versions: the digest of
        each, and how many server updates it reflects. A report must name a published version at most
        `max_staleness` versions old: staler reports carry directional derivatives of a model the server left
        long ago, which the two-timescale averages would only have to forget again, so they are refused rather
        than paid for. Each node may post at most min(stake / min_stake, max_posts) reports per window of
        `window_blocks` blocks: a flood costs the flooder its own quota, never another node's. Nothing here
        loops: every call costs O(1) plus its report's bytes. The owner assigns each node its direction block
        and report length (only assigned nodes are paid, only for their block). coordinator/memory_board.py applies the same
        rules in process; a differential test holds the two together, and their revert reasons are the
        catalogue in protocol/board.py. What the owner is trusted with is written down in docs/trust.md.
        Values are packed big-endian int32 words in `bytes` (protocol/codec.py).
"""

from ethereum.ercs import IERC20

# A report of up to 2^14 int32 values (MNIST logistic regression, d = 7,850, fits whole): about 2.6M gas.
MAX_VALUES: constant(uint256) = 16_384
MAX_BYTES: constant(uint256) = 4 * MAX_VALUES
MIN_WINDOW: constant(uint256) = 1
MAX_WINDOW: constant(uint256) = 7_200


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

event Assigned:
    node: indexed(address)
    block_id: uint256
    size: uint256

event Published:
    version: indexed(uint256)
    digest: bytes32
    updates: uint256

event Posted:
    seq: indexed(uint256)
    node: indexed(address)
    version: uint256
    block_id: uint256
    values: Bytes[MAX_BYTES]
    fee: uint256
    block_number: uint256  # the block it was accepted in (the server's clock for staleness in blocks)


owner: public(immutable(address))
token: public(immutable(IERC20))
min_stake: public(immutable(uint256))
fee: public(immutable(uint256))
window_blocks: public(immutable(uint256))
max_posts: public(immutable(uint256))
max_staleness: public(immutable(uint256))

pool: public(uint256)
registered: public(HashMap[address, bool])
stake: public(HashMap[address, uint256])
versions: public(uint256)  # published so far; the latest is versions - 1
posts: public(uint256)  # accepted reports so far (the next report's seq)
assigned: public(HashMap[address, uint256])  # the node's direction block + 1 (0: none)
size: public(HashMap[address, uint256])  # values in a report of that block
window_start: public(HashMap[address, uint256])  # the block that opened the node's current window
window_posts: public(HashMap[address, uint256])  # reports the node posted in it


@deploy
def __init__(token_: IERC20, min_stake_: uint256, fee_: uint256, window_blocks_: uint256, max_posts_: uint256,
             max_staleness_: uint256):
    assert min_stake_ != 0, "stake too small"
    assert window_blocks_ >= MIN_WINDOW and window_blocks_ <= MAX_WINDOW, "bad window"
    assert max_posts_ != 0, "bad rate"
    owner = msg.sender
    token = token_
    min_stake = min_stake_
    fee = fee_
    window_blocks = window_blocks_
    max_posts = max_posts_
    max_staleness = max_staleness_


# ------------------------------------------------------------------------------------------------ accounts
@external
def fund(amount: uint256):
    """@notice Add `amount` tokens (approved beforehand) to the fee pool. Anyone may top it up."""
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"
    self.pool += amount
    log Funded(sender=msg.sender, amount=amount)


@external
def register(amount: uint256):
    """@notice Join as a node, locking `amount` tokens (approved beforehand): the stake sets its posting rate."""
    assert not self.registered[msg.sender], "already registered"
    assert amount >= min_stake, "stake too small"
    assert staticcall token.balanceOf(msg.sender) >= amount, "stake too small"
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"
    self.registered[msg.sender] = True
    self.stake[msg.sender] = amount
    log Registered(node=msg.sender, stake=amount)


@external
def add_stake(amount: uint256):
    """@notice Lock `amount` more tokens (approved beforehand): a higher rate, up to max_posts a window."""
    assert self.registered[msg.sender], "not registered"
    assert staticcall token.balanceOf(msg.sender) >= amount, "stake too small"
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"
    total: uint256 = self.stake[msg.sender] + amount
    self.stake[msg.sender] = total
    log Staked(node=msg.sender, amount=amount, stake=total)


@external
def withdraw():
    """@notice Leave and take the stake back, at any time: there are no rounds to wait for and nothing is slashed
            (a report cannot be judged alone; the server's sign rule bounds what a bad one moves)."""
    assert self.registered[msg.sender], "not registered"
    amount: uint256 = self.stake[msg.sender]
    self.registered[msg.sender] = False
    self.stake[msg.sender] = 0
    assert extcall token.transfer(msg.sender, amount), "transfer failed"
    log Withdrawn(node=msg.sender, stake=amount)


# ------------------------------------------------------------------------------------------------- board
@external
def assign(node: address, block_id: uint256, size: uint256):
    """@notice The owner gives `node` its direction block (FAR-SIGN's A_j) and the length of its reports. Only
            assigned nodes are paid for reports, and only for their own block at its length: a registered
            outsider cannot draw fees for reports the server has no rows for."""
    assert msg.sender == owner, "not owner"
    assert size != 0 and size <= MAX_VALUES, "bad report length"
    self.assigned[node] = block_id + 1
    self.size[node] = size
    log Assigned(node=node, block_id=block_id, size=size)


@external
def publish(digest: bytes32, updates: uint256):
    """@notice The owner publishes the next model version: its digest (the store serves the model under it) and
            the number of server updates it reflects."""
    assert msg.sender == owner, "not owner"
    version: uint256 = self.versions
    self.versions = version + 1
    log Published(version=version, digest=digest, updates=updates)


@external
def post(version: uint256, block_id: uint256, values: Bytes[MAX_BYTES]):
    """@notice Post a report computed at published model `version` for direction block `block_id`; paid `fee`."""
    assert self.registered[msg.sender], "not registered"
    stake_: uint256 = self.stake[msg.sender]
    assert stake_ >= min_stake, "stake too small"
    assert version < self.versions, "unknown version"
    assert version + max_staleness >= self.versions - 1, "stale report"
    assert self.assigned[msg.sender] == block_id + 1, "not assigned"
    assert len(values) == 4 * self.size[msg.sender], "bad report length"
    assert self.pool >= fee, "pool empty"
    if block.number >= self.window_start[msg.sender] + window_blocks:
        self.window_start[msg.sender] = block.number
        self.window_posts[msg.sender] = 0
    used: uint256 = self.window_posts[msg.sender]
    assert used < min(stake_ // min_stake, max_posts), "rate limited"
    self.window_posts[msg.sender] = used + 1
    self.pool -= fee
    seq: uint256 = self.posts
    self.posts = seq + 1
    if fee != 0:
        assert extcall token.transfer(msg.sender, fee), "transfer failed"
    log Posted(seq=seq, node=msg.sender, version=version, block_id=block_id, values=values, fee=fee,
               block_number=block.number)
