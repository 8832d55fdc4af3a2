"""The report board's deployment file: written from a deployment, read back, attached to by the owner's side and by a
node that holds only its own key; a file that does not describe the chain (or is the round coordinator's) is
refused with one line before anything is sent."""
import numpy as np
import pytest
from eth_account import Account

from contracts.board_client import BoardNode, BoardOwner, board_record, deploy_board, open_board
from contracts.chain import connect
from contracts.keys import NODE_ETHER
from protocol.board import BoardParams
from protocol.board_deployment import BoardRecord
from protocol.deployment import DeploymentError, DeploymentRecord, load, save
from protocol.ledger import LedgerError

PARAMS = BoardParams(min_stake=2, fee=1, window_blocks=5, max_posts=2, max_staleness=1)


@pytest.fixture(scope="module")
def deployed():
    chain = connect("embedded")
    owner = deploy_board(chain, PARAMS, chain.funded[0])
    return chain, owner, board_record(owner, rpc="embedded", stake=4, store="http://127.0.0.1:1")


def test_the_record_round_trips_and_both_sides_attach_and_act(deployed, tmp_path):
    chain, deployed_owner, rec = deployed
    path = save(rec, tmp_path / "board.json")
    assert load(path, BoardRecord) == rec and rec.board_params == PARAMS and rec.store == "http://127.0.0.1:1"
    owner = open_board(chain, load(path, BoardRecord), path, owner=chain.funded[0])
    me = Account.create()
    node = open_board(chain, rec, path, account=me)
    assert isinstance(owner, BoardOwner) and isinstance(node, BoardNode) and not hasattr(node, "publish")
    chain.give_ether(me.address, NODE_ETHER)
    owner.grant(me.address, 4)
    owner.fund(10)
    node.allow()
    node.register(rec.stake)
    assert node.assignment(me.address) is None
    owner.assign(me.address, 3, 2)
    owner.publish(b"\x07" * 32, 0)
    assert node.assignment(me.address) == (3, 2) and node.registered(me.address)
    post = node.post(0, 3, np.array([5, -5]))
    assert (post.node, post.block_id, post.values.tolist()) == (me.address, 3, [5, -5])
    with pytest.raises(LedgerError, match="bad report length"):
        node.post(0, 3, np.array([1, 2, 3]))
    assert deployed_owner.posts()[-1].seq == post.seq and owner.published()[-1].digest == b"\x07" * 32


@pytest.mark.parametrize("field, value, message", [
    ("chain_id", 5, "made on chain id 5, but the chain reached has chain id"),
    ("board", "0x" + "22" * 20, "no contract at the board address"),
    ("code", {"reward_token": "0x00", "board": "0x00"}, "other code at the reward_token address"),
    ("artifacts", {"reward_token": "0x00", "board": "0x00"}, "its reward_token was built from other sources"),
])
def test_a_record_of_another_chain_or_code_is_refused_in_one_line(deployed, tmp_path, field, value, message):
    chain, _, rec = deployed
    bad = BoardRecord.model_validate({**rec.model_dump(), field: value})
    block = chain.block_number
    with pytest.raises(DeploymentError, match=message) as err:
        open_board(chain, bad, tmp_path / "board.json", account=Account.create())
    assert "\n" not in str(err.value) and chain.block_number == block


def test_the_round_coordinators_file_is_not_a_board_file(deployed, tmp_path):
    _, _, rec = deployed
    path = tmp_path / "deployment.json"
    other = {"chain_id": 1, "rpc": "x", "deploy_block": 1, "owner": "0x0", "token": "0x0", "coordinator": "0x0",
             "code": {"reward_token": "0", "coordinator": "0"}, "artifacts": {"reward_token": "0", "coordinator": "0"},
             "min_stake": 2, "slash_bps": 5000, "stake": 2, "reward": 1}
    save(DeploymentRecord.model_validate(other), path)
    with pytest.raises(DeploymentError, match="not a deployment file of this kind .* give the file `deml swarm run "
                                              "--mode farsign` wrote"):
        load(path, BoardRecord)
    with pytest.raises(DeploymentError, match="params: expected fee"):
        _load_doc(tmp_path, {**rec.model_dump(), "params": {"fee": 1}})


def _load_doc(tmp_path, doc):
    import json

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    load(path, BoardRecord)


def test_a_workload_whose_reports_exceed_the_boards_bound_is_refused_before_anything_starts():
    from sims.board_workloads import build
    from sims.config import ConfigError

    fits = build("mnist-mlp", {"dataset": "synthetic", "hidden": 16}, workers=3, adversaries=1, seed=0)
    assert max(fits.sizes()) == fits.dim == 20 * 16 + 16 + 16 * 10 + 10  # each worker reports the whole model
    with pytest.raises(ConfigError, match="31,010 values and the board takes at most 16,384"):
        build("mnist-mlp", {"dataset": "synthetic", "hidden": 1000}, workers=3, adversaries=1, seed=0)
