"""The FAR-SIGN report board on a real EVM (revm, the bytecode py-evm and anvil run) against MemoryBoard: every
refusal with its reason, random interleavings of every verb with the same answers, posts and balances on both,
the rate limit under a flood, the gas of the largest report, and a FAR-SIGN server fed from the chain's events
that a replay of the same events reproduces exactly."""
import re
from pathlib import Path

import numpy as np
import pytest

from contracts.board_client import ChainBoard, post_gas
from contracts.chain import TX_GAS_CAP
from coordinator import directions, farsign
from coordinator.board_server import replay, reports
from coordinator.memory_board import MemoryBoard
from coordinator.report_stream import consume
from protocol import board, codec
from protocol.ledger import LedgerError
from tests.chain.conftest import side_by_side

PARAMS = board.BoardParams(min_stake=2, fee=1, window_blocks=6, max_posts=3, max_staleness=2)
SOURCE = (Path(__file__).resolve().parents[2] / "contracts" / "board.vy").read_text()


def boards(nodes: int = 4, params: board.BoardParams = PARAMS, seed: int = 0):
    chain = ChainBoard("revm", params, nodes=nodes, seed=seed)
    memory = MemoryBoard(params, tick=False)

    return chain, memory, side_by_side(memory, chain, chain.chain)


def same_state(chain, memory, nodes):
    assert chain.accounts(nodes) == memory.accounts(nodes)
    assert [(p.seq, p.node, p.version, p.block_id, p.values.tolist(), p.fee, p.block) for p in chain.posts()] == \
        [(p.seq, p.node, p.version, p.block_id, p.values.tolist(), p.fee, p.block) for p in memory.posts()]
    assert chain.published() == memory.published()


def test_every_refusal_meets_the_same_reason_on_both_boards():
    chain, memory, do = boards()
    a, b, c, d = chain.nodes
    v = np.arange(3, dtype=np.int64)
    for x in (a, b, c):
        do(lambda bd: bd.grant(x, 10))
    assert do(lambda bd: bd.post(a, 0, 0, v)) == ["not registered"] * 2
    assert do(lambda bd: bd.register([a], 1)) == ["stake too small"] * 2
    assert do(lambda bd: bd.register([d], 2)) == ["stake too small"] * 2  # holds no tokens
    do(lambda bd: bd.register([a, b, c], 2))
    assert do(lambda bd: bd.register([a], 2)) == ["already registered"] * 2
    assert do(lambda bd: bd.post(a, 0, 0, v)) == ["unknown version"] * 2
    do(lambda bd: bd.publish(b"\x01" * 32, 0))
    assert do(lambda bd: bd.post(a, 0, 0, v)) == ["not assigned"] * 2
    do(lambda bd: bd.assign(a, 0, 3))
    do(lambda bd: bd.assign(b, 1, 3))
    assert do(lambda bd: bd.post(a, 0, 1, v)) == ["not assigned"] * 2  # another node's block
    assert do(lambda bd: bd.post(a, 0, 0, v[:2])) == ["bad report length"] * 2
    assert do(lambda bd: bd.assign(c, 2, board.MAX_VALUES + 1)) == ["bad report length"] * 2
    assert do(lambda bd: bd.post(a, 0, 0, v)) == ["pool empty"] * 2
    do(lambda bd: bd.fund(100))
    assert [type(x).__name__ for x in do(lambda bd: bd.post(a, 0, 0, v))] == ["Post"] * 2  # compared in full below
    for _ in range(PARAMS.max_staleness + 1):
        do(lambda bd: bd.publish(b"\x02" * 32, 5))
    assert do(lambda bd: bd.post(b, 0, 1, v)) == ["stale report"] * 2  # three versions behind, two allowed
    assert [type(x).__name__ for x in do(lambda bd: bd.post(b, 1, 1, v))] == ["Post"] * 2  # two behind: fine
    same_state(chain, memory, [a, b, c, d])


def test_a_flood_is_limited_to_its_own_quota_and_the_window_reopens():
    chain, memory, do = boards(nodes=2)
    a, b = chain.nodes
    do(lambda bd: bd.fund(1000))
    for x in (a, b):
        do(lambda bd: bd.grant(x, 100))
    do(lambda bd: bd.register([a], 2))  # rate min(2 // 2, 3) = 1 a window
    do(lambda bd: bd.register([b], 100))  # rate min(50, 3) = 3
    do(lambda bd: bd.publish(bytes(32), 0))
    do(lambda bd: bd.assign(a, 0, 2))
    do(lambda bd: bd.assign(b, 1, 2))
    v = np.array([1, -1])
    answers = [do(lambda bd: bd.post(b, 0, 1, v)) for _ in range(5)]
    assert [x[0] if isinstance(x[0], str) else "ok" for x in answers] == ["ok", "ok", "ok", "rate limited",
                                                                       "rate limited"]
    assert all(isinstance(x, board.Post) for x in do(lambda bd: bd.post(a, 0, 0, v)))  # the flood blocks nobody else
    assert do(lambda bd: bd.post(a, 0, 0, v)) == ["rate limited"] * 2  # a's own quota: one
    chain.chain.mine(PARAMS.window_blocks)
    assert all(isinstance(x, board.Post) for x in do(lambda bd: bd.post(b, 0, 1, v)))
    do(lambda bd: bd.add_stake(a, 4))  # a raises its stake: three a window
    chain.chain.mine(PARAMS.window_blocks)
    assert [isinstance(x, board.Post) for _ in range(3) for x in do(lambda bd: bd.post(a, 0, 0, v))] == [True] * 6
    same_state(chain, memory, [a, b])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_interleavings_agree(seed):
    """300 random calls of every verb, valid and not, by five nodes: the same answer each time, and the same
    posts, versions and balances after. (Arguments are drawn before the call: `do` runs it once per board.)"""
    rng = np.random.default_rng(seed)
    chain, memory, do = boards(nodes=5, seed=seed, params=board.BoardParams(min_stake=2, fee=1, window_blocks=12,
                                                                           max_posts=2, max_staleness=2))
    nodes = chain.nodes
    seen = set()
    do(lambda bd: bd.fund(60))
    for i, x in enumerate(nodes):
        do(lambda bd: bd.grant(x, 20))
        if i < 4:
            do(lambda bd: bd.assign(x, i, 1 + i))
    for _ in range(300):
        node = nodes[rng.integers(len(nodes))]
        verb = rng.choice(["post"] * 5 + ["publish", "register", "add_stake", "withdraw", "mine", "fund"])
        if verb == "post":  # mostly well formed, so that the rate limit and the pool are reached too
            j = nodes.index(node)
            version = max(len(memory.published()) - int(rng.choice([1, 1, 2, 3, 4, 0])), 0)
            block_id = j if rng.random() < 0.85 else int(rng.integers(0, 5))
            size = j + 1 if rng.random() < 0.85 else j + 2
            values = rng.integers(-2**31, 2**31, size=size)
            answers = do(lambda bd: bd.post(node, version, block_id, values))
        elif verb == "publish":
            digest, updates = rng.bytes(32), int(rng.integers(0, 1000))
            answers = do(lambda bd: bd.publish(digest, updates))
        elif verb == "register":
            stake = int(rng.integers(1, 8))
            answers = do(lambda bd: bd.register([node], stake))
        elif verb == "add_stake":
            amount = int(rng.integers(0, 4))
            answers = do(lambda bd: bd.add_stake(node, amount))
        elif verb == "withdraw":
            answers = do(lambda bd: bd.withdraw(node))
        elif verb == "fund":
            amount = int(rng.integers(0, 3))
            answers = do(lambda bd: bd.fund(amount))
        else:
            blocks = int(rng.integers(1, 8))
            chain.chain.mine(blocks)
            continue
        if isinstance(answers[0], board.Post):
            assert isinstance(answers[1], board.Post), answers
        else:
            assert answers[0] == answers[1], (verb, answers)
            if isinstance(answers[0], str):
                seen.add(answers[0])
    same_state(chain, memory, nodes)
    # the mix reaches the board often enough, and its refusals, to mean something
    assert len(memory.posts()) >= 20
    assert {"rate limited", "stale report", "not assigned", "bad report length", "not registered"} <= seen


def test_the_largest_report_fits_its_gas_bound_and_the_cap():
    chain = ChainBoard("revm", PARAMS, nodes=1)
    (a,) = chain.nodes
    chain.fund(10)
    chain.grant(a, 10)
    chain.register([a], 2)
    chain.publish(bytes(32), 0)
    chain.assign(a, 0, board.MAX_VALUES)
    values = np.random.default_rng(0).integers(-2**31, 2**31, size=board.MAX_VALUES)
    post = chain.post(a, 0, 0, values)
    assert post.values.tolist() == values.tolist()
    assert chain.last_gas <= post_gas(board.MAX_VALUES) < TX_GAS_CAP
    with pytest.raises(LedgerError, match="bad report length"):
        chain.post(a, 0, 0, np.zeros(board.MAX_VALUES + 1, dtype=np.int64))


def test_bounds_and_reasons_agree_with_the_contract():
    constants = dict(re.findall(r"^(\w+): constant\(uint256\) = ([\d_]+)", SOURCE, re.M))
    assert int(constants["MAX_VALUES"].replace("_", "")) == board.MAX_VALUES
    assert int(constants["MIN_WINDOW"]) == board.MIN_WINDOW and int(constants["MAX_WINDOW"].replace("_", "")) == \
        board.MAX_WINDOW
    assert set(re.findall(r'assert .*, "([^"]+)"', SOURCE)) == board.REASONS


def test_a_chain_fed_farsign_server_equals_the_replay_of_the_board():
    """FAR-SIGN on f = |x - 1|^2 / 2 (d = 4): four workers (one flips its signs) post reports computed at the
    latest published version; the server consumes the board's posts as they come and publishes a new version
    every four posts. A second server replaying every post from the chain's events ends at the same model, and
    the model moved towards the optimum despite the flipper."""
    d, m = 4, 4
    chain = ChainBoard("revm", board.BoardParams(min_stake=2, fee=1, window_blocks=1, max_posts=5,
                                                 max_staleness=3), nodes=m)
    design = directions.replicated_basis(d, m)
    rule = farsign.rule(farsign.params(design, a0=0.05))
    chain.fund(1000)
    for j, a in enumerate(chain.nodes):
        chain.grant(a, 10)
        chain.register([a], 10)
        chain.assign(a, j, design.size(j))
    x0 = np.zeros(d)
    state = rule.init(x0)
    chain.publish(bytes(32), 0)
    models = {0: x0}
    rng = np.random.default_rng(0)
    seen = 0
    for t in range(40):
        j = int(rng.integers(m))
        version = len(models) - 1
        grad = models[version] - 1.0 + 0.1 * rng.standard_normal(d)
        values = design.project(j, -grad if j == m - 1 else grad)
        chain.post(chain.nodes[j], version, j, codec.encode(values, 16))
        new = chain.posts(seen)
        state, _ = consume(rule, state, reports(new, chain.published(), chain.nodes, 16))
        seen += len(new)
        if seen % 4 == 0:
            models[len(models)] = state.x.copy()
            chain.publish(codec.pack(codec.encode(state.x, 16))[:32].ljust(32, b"\0"), state.n)
    replayed, trace = replay(rule, x0, chain.posts(), chain.published(), chain.nodes, 16)
    assert np.array_equal(replayed.x, state.x) and replayed.n == state.n == 40
    assert max(row.staleness for row in trace) <= 3
    assert np.linalg.norm(state.x - 1.0) < 0.8 * np.linalg.norm(x0 - 1.0)
    tokens, _, pool = chain.accounts(chain.nodes)
    assert sum(tokens) == 40 and pool == 1000 - 40  # one fee per accepted report
