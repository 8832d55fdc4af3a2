"""The deployment file: written from a deployment, read back, and checked against the chain before anything is
sent: another chain id, no contract or other code at its addresses, or another build are each one clear line."""
import json

import pytest

from contracts.chain import connect
from contracts.client import deploy, open_record, record
from protocol.deployment import DeploymentError, DeploymentRecord, load, save


@pytest.fixture(scope="module")
def deployed():
    chain = connect("embedded")
    d = deploy(chain, min_stake=200)
    return chain, d, record(d, rpc="embedded", deploy_block=1, stake=1_000, reward=100)


def test_a_record_round_trips_and_attaches(deployed, tmp_path):
    chain, d, rec = deployed
    path = save(rec, tmp_path / "deployment.json")
    assert load(path) == rec
    assert rec.min_stake == 200 and rec.slash_bps == 5_000 and rec.owner == d.owner.address
    again = open_record(chain, load(path), path)
    assert again.coordinator.address == d.coordinator.address and again.owner is None


@pytest.mark.parametrize("field, value, message", [
    ("chain_id", 1, "made on chain id 1, but the chain reached has chain id"),
    ("coordinator", "0x" + "11" * 20, "no contract at the coordinator address"),
    ("code", {"reward_token": "0x00", "coordinator": "0x00"}, "other code at the reward_token address"),
    ("artifacts", {"reward_token": "0x00", "coordinator": "0x00"}, "built from other sources"),
])
def test_a_record_that_does_not_describe_the_chain_is_refused(deployed, tmp_path, field, value, message):
    chain, _, rec = deployed
    bad = DeploymentRecord.model_validate({**rec.model_dump(), field: value})
    block = chain.block_number
    with pytest.raises(DeploymentError, match=message):
        open_record(chain, bad, tmp_path / "deployment.json")
    assert chain.block_number == block


def test_another_chain_has_no_contract_there(deployed, tmp_path):
    _, _, rec = deployed
    with pytest.raises(DeploymentError, match="no contract at the reward_token address"):
        open_record(connect("embedded"), rec, tmp_path / "d.json")


@pytest.mark.parametrize("text, message", [
    ("{", "not a deployment file"),
    ('{"version": 1}', "not a deployment file"),
])
def test_an_unreadable_file_is_one_line(tmp_path, text, message):
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(DeploymentError, match=message):
        load(path)
    with pytest.raises(DeploymentError, match="cannot read it"):
        load(tmp_path / "missing.json")


def test_a_reward_above_the_smallest_slash_is_refused(deployed):
    _, _, rec = deployed
    with pytest.raises(ValueError, match="exceeds the smallest slash"):
        DeploymentRecord.model_validate({**json.loads(rec.model_dump_json()), "reward": 101})
