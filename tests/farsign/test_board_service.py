"""The DC's FAR-SIGN service on the embedded chain, in process: provisioning is idempotent, a start rebuilds the
server from the board's events and publishes on its cadence, and every version it publishes, across restarts, is
the digest of the pure server's replay of the posts it reflects (board_server.replay)."""
import numpy as np

from contracts.board_client import ChainBoard
from coordinator import directions, farsign
from coordinator.board_server import replay
from coordinator.board_service import BoardService, Cadence
from coordinator.store_server import ModelStore
from protocol import board, codec, store
from protocol.digest import params_digest

PARAMS = board.BoardParams(min_stake=2, fee=1, window_blocks=1, max_posts=50, max_staleness=50)
D, M = 3, 3


def service(chain: ChainBoard, models: ModelStore, reports: int, every: int = 4) -> BoardService:
    rule = farsign.rule(farsign.params(directions.replicated_basis(D, M), a0=0.1))
    return BoardService(chain, rule, np.zeros(D), chain.nodes, [D] * M, 16, models, stake=4,
                        cadence=Cadence(every=every, reports=reports, poll=0.0, pool_reports=100), say=lambda s: None)


def test_restarts_rebuild_from_the_events_and_every_version_is_the_replay(tmp_path):
    chain = ChainBoard("embedded", PARAMS, nodes=M)
    models = ModelStore(tmp_path / "store")
    service(chain, models, reports=0).run()  # provisions and publishes version 0, nothing to apply yet
    chain.register(chain.nodes, 4)
    assert [chain.assignment(a) for a in chain.nodes] == [(j, D) for j in range(M)]
    block = chain.chain.block_number
    service(chain, models, reports=0).run()
    assert chain.chain.block_number == block  # provisioned and published already: nothing sent twice
    rng = np.random.default_rng(0)
    for r in range(11):
        j = r % M
        chain.post(chain.nodes[j], len(chain.published()) - 1, j, codec.encode(rng.normal(size=D), 16))
    state = service(chain, models, reports=11).run()  # a fresh start: the 11 posts from the events, then done
    assert state.n == 11
    assert [v.updates for v in chain.published()] == [0, 11]  # version 0, then the last (fewer than `every` apart)
    for r in range(9):  # more posts, at the latest version
        j = r % M
        chain.post(chain.nodes[j], len(chain.published()) - 1, j, codec.encode(rng.normal(size=D), 16))
    state = service(chain, models, reports=20).run()
    published = chain.published()
    assert [v.updates for v in published] == [0, 11, 20] and state.n == 20
    posts = chain.posts()
    rule = farsign.rule(farsign.params(directions.replicated_basis(D, M), a0=0.1))
    for v in published:
        expected, _ = replay(rule, np.zeros(D), posts[:v.updates], published, chain.nodes, 16)
        assert params_digest(expected.x) == v.digest
        assert np.array_equal(store.decode(models.file(v.digest).read_bytes(), v.digest, D), expected.x)
    assert not np.array_equal(published[-1].digest, published[1].digest)
