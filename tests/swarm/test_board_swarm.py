"""FAR-SIGN on a report board as real processes on anvil (issue 13): the data collector (`coordinator run --mode
farsign`) and node processes (`node run --mode farsign`, each with its own key), on the noisy 4-D Rosenbrock
workload. Every published version is held, bit for bit, to the pure server's replay of the board's events
(board_server.replay), through the faults: a node killed, the data collector killed (SIGKILL) and started again, a
flooder, a NaN reporter and a store that serves another model."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contracts import anvil
from contracts.board_client import BoardContracts, open_board
from contracts.chain import connect
from contracts.client import Contract
from coordinator import farsign
from coordinator.board_server import replay
from protocol import store
from protocol.board_deployment import BoardRecord
from protocol.deployment import load
from protocol.digest import params_digest
from protocol.ledger import LedgerError
from sims.board_processes import board_params, deploy_board_file
from sims.board_workloads import build
from sims.processes import new_key, write_participants
from sims.swarm import spawn
from tests.swarm.conftest import WAIT, _free_port, assert_all_stopped, deml, interrupted_swarm, stop_all, wrong_store

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
SEED = 5


class BoardRig:
    def __init__(self, url: str, folder: Path, roles: list[str], params=None):
        self.folder, self.roles = folder, roles
        self.params = params or board_params(window_blocks=20, max_posts=5)
        self.store_port = _free_port()
        self.deployment = folder / "board.json"
        deploy_board_file(connect(url), self.deployment, self.params, stake=self.params.max_posts *
                          self.params.min_stake, store=f"http://127.0.0.1:{self.store_port}")
        self.record = load(self.deployment, BoardRecord)
        (folder / "keys").mkdir()
        self.keys = [folder / "keys" / f"node-{i}.key" for i in range(len(roles))]
        self.addresses = [new_key(k).address for k in self.keys]
        self.participants = write_participants(folder / "participants.txt", self.addresses, roles)
        self.common = ["--mode", "farsign", "--deployment", str(self.deployment), "--workload", "rosenbrock",
                       "--honest", str(len(roles)), "--adversaries", "0", "--seed", str(SEED)]
        self.procs: list[subprocess.Popen] = []
        self.board = BoardContracts(*_contracts(connect(url), self.record))

    def coordinator(self, reports: int, *extra: str, every: int = 3, log: str = "dc.log") -> subprocess.Popen:
        return self._start(["coordinator", "run", *self.common, "--participants", str(self.participants), "--reports",
                            str(reports), "--publish-every", str(every), "--out", str(self.folder / "dc"),
                            "--store-port", str(self.store_port), *extra], log)

    def node(self, i: int, *extra: str) -> subprocess.Popen:
        return self._start(["node", "run", *self.common, "--key", str(self.keys[i]), "--role", self.roles[i],
                            "--delay", "exponential:0.05", *extra], f"node-{i}.log")

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        proc = spawn(args, self.folder / log)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.folder / name).read_text()

    def wait(self, what: str, predicate, timeout: float = WAIT):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s; logs in {self.folder}"
            time.sleep(0.2)

    def stop(self) -> None:
        stop_all(self.procs)

    def assert_every_version_is_the_replay(self) -> list:
        """Each Published digest is the digest of the pure server's replay of the first `updates` posts, and the
        store holds those very bytes. Returns the published versions."""
        posts, published = self.board.posts(), self.board.published()
        work = build("rosenbrock", {}, workers=len(self.roles), adversaries=0, seed=SEED)
        rule = farsign.rule(work.params())
        for v in published:
            state, _ = replay(rule, work.x0, posts[:v.updates], published, self.addresses, work.scale_bits)
            assert params_digest(state.x) == v.digest, f"version {v.version} ({v.updates} updates)"
            stored = (self.folder / "dc" / "store" / f"{v.digest.hex()}.npy").read_bytes()
            assert np.array_equal(store.decode(stored, v.digest, work.dim), state.x)
        return published


def _contracts(chain, rec: BoardRecord):
    return (chain, Contract(chain, "reward_token", rec.token), Contract(chain, "board", rec.board), rec.board_params,
            rec.deploy_block)


@pytest.fixture
def board_rig(devnet, tmp_path):
    made = []

    def make(roles, **kw) -> BoardRig:
        rig = BoardRig(devnet.url, tmp_path, roles, **kw)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.stop()


def test_a_run_on_anvil_is_its_replay_and_survives_a_dead_node_a_flooder_and_nan(board_rig):
    """Four nodes: two first-order workers, a flooder and a NaN reporter. One worker is killed mid-run; the rest
    go on, the flooder is rate limited while the others' posts are accepted in its windows, the NaN reports never
    reach the board, and every published version is the replay of the posts it reflects."""
    rig = board_rig(["fo", "fo", "flood", "nan"])
    dc = rig.coordinator(reports=45)
    # the nodes read the DC's store folder, which outlives the DC: on a loaded machine the flooder can fill the 45
    # reports before a slow node's first act (CI saw the worker's post after the kill, and once the NaN reporter's
    # first report, come only then), and the checks below wait for those acts rather than race the DC's end
    store = (rig.folder / "dc" / "store").as_uri()
    nodes = [rig.node(i, "--store", store) for i in range(4)]
    rig.wait("10 posts", lambda: rig.board.board.call("posts") >= 10)
    nodes[1].kill()
    nodes[1].wait()
    killed_at = rig.board.chain.block_number
    a, w = rig.addresses, rig.params.window_blocks
    assert dc.wait(WAIT) == 0, rig.log("dc.log")[-2000:]
    rig.wait("worker 0 posting after the kill",
             lambda: any(p.node == a[0] and p.block > killed_at for p in rig.board.posts()))

    def refused() -> list[int]:
        return [t.block for t in rig.board.chain.sent(rig.record.deploy_block, rig.board.chain.block_number, {a[2]})
                if not t.ok]

    # the flooder: refused as rate limited, and worker 0 accepted in a window the flooder had used up
    rig.wait("worker 0 accepted in a window the flooder used up", lambda: any(
        r - w < p.block < r for r in refused() for p in rig.board.posts() if p.node == a[0]))
    assert "post refused (rate limited); going on" in rig.log("node-2.log")
    rig.wait("the NaN reporter's first report", lambda: "report not sent: it holds NaN" in rig.log("node-3.log"))
    posts = rig.board.posts()
    assert not [p for p in posts if p.node == a[1] and p.block > killed_at]
    published = rig.assert_every_version_is_the_replay()
    # a version once at least 3 reports were applied since the last (more when posts arrive together), and the last
    # at exactly 45
    gaps = np.diff([v.updates for v in published])
    assert published[0].updates == 0 and published[-1].updates == 45 and (gaps[:-1] >= 3).all() and gaps[-1] >= 1
    # the flooder never has more than max_posts accepted in a window (a window opens at the first post after the last)
    start, used = -w, 0
    for b in sorted(p.block for p in posts if p.node == a[2]):
        start, used = (b, 1) if b >= start + w else (start, used + 1)
        assert used <= rig.params.max_posts, f"post {used} of the flooder's window from block {start}"
    # the NaN reporter: one line each, nothing posted
    assert not [p for p in posts if p.node == a[3]]
    assert all(line.count("\n") == 0 for line in rig.log("node-3.log").splitlines())


def test_the_data_collector_killed_and_started_again_ends_at_the_replay(board_rig):
    """SIGKILL the data collector between two publishes; started again with the same arguments it rebuilds its
    state from the board's events, and every version published before and after is the replay. A node whose store
    serves another model refuses it in one line and posts nothing."""
    rig = board_rig(["fo", "zo", "fo"])
    fake, fake_url = wrong_store([9.0, 9.0, 9.0, 9.0])
    try:
        dc = rig.coordinator(reports=40, every=4, log="dc-1.log")
        rig.node(0)
        rig.node(1)
        liar = rig.node(2, "--store", fake_url)
        rig.wait("2 versions", lambda: len(rig.board.published()) >= 3)
        dc.send_signal(signal.SIGKILL)
        dc.wait()
        before = rig.board.published()
        rig.wait("posts after the kill", lambda: rig.board.board.call("posts") >= before[-1].updates + 6)
        again = rig.coordinator(reports=40, every=4, log="dc-2.log")
        assert again.wait(WAIT) == 0, rig.log("dc-2.log")[-2000:]
        assert "rebuilt from the board's events" in rig.log("dc-2.log")
        published = rig.assert_every_version_is_the_replay()
        assert published[:len(before)] == before and published[-1].updates == 40
        assert liar.poll() is None  # it goes on, waiting for a model it can trust
        lines = [ln for ln in rig.log("node-2.log").splitlines() if "refused the store's model" in ln]
        assert lines and "is not the round's params_digest" in lines[0]
        assert not [p for p in rig.board.posts() if p.node == rig.addresses[2]]
        assert [p for p in rig.board.posts() if p.node == rig.addresses[1]]  # the zeroth-order worker reports too
    finally:
        fake.shutdown()


def test_wrong_length_and_bad_input_are_refused_with_their_reason(board_rig, tmp_path):
    rig = board_rig(["fo", "fo"])
    chain = connect(rig.record.rpc)
    owner = open_board(chain, rig.record, rig.deployment, owner=_owner(rig))
    dc = rig.coordinator(reports=1000)
    node = rig.node(0)
    rig.wait("a version", lambda: len(rig.board.published()) >= 1)
    rig.wait("node 0 posting", lambda: rig.board.board.call("posts") >= 1)
    node.kill()  # its key posts from here: two senders of one key race for its nonces ("nonce too low")
    node.wait(30)
    from sims.processes import read_key

    me = open_board(chain, rig.record, rig.deployment, account=read_key(rig.keys[0]))
    with pytest.raises(LedgerError, match="bad report length"):
        me.post(0, 0, np.zeros(3, dtype=np.int64))  # the block has 4 values
    assert owner.assignment(rig.addresses[0]) == (0, 4)
    done = deml("node", "run", *rig.common, "--key", str(rig.keys[1]), "--role", "fo", "--delay", "warp:1")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--delay 'warp:1'" in done.stderr
    done = deml("node", "run", *rig.common, "--key", str(rig.keys[1]), "--role", "bogus")
    assert done.returncode == 2 and "--role 'bogus': unknown for --mode farsign" in done.stderr
    dc.kill()


def _owner(rig):
    from sims.processes import owner_key_path, read_key

    return read_key(owner_key_path(rig.deployment), "--owner-key")


def test_the_rpc_endpoint_gone_is_a_bounded_retry_then_one_line(tmp_path):
    """The chain's endpoint disappears mid-run: the DC's service and each node retry for their patience, then exit
    3 with one line naming the endpoint."""
    node = anvil.start(record=False)
    try:
        rig = BoardRig(node.url, tmp_path, ["fo", "fo"])
        dc = rig.coordinator(100_000, "--patience", "3")
        workers = [rig.node(i, "--patience", "3") for i in range(2)]
        rig.wait("5 posts", lambda: rig.board.board.call("posts") >= 5)
        # and the DC at work on the chain: the nodes can post before its process has even connected (it did, once
        # in CI, and then the DC exited 2 for a chain that was never there rather than 3 for one that went away)
        rig.wait("the DC publishing", lambda: rig.board.board.call("versions") >= 2)
    finally:
        anvil.stop(node)
    try:
        for proc, log in [(dc, "dc.log"), *((w, f"node-{i}.log") for i, w in enumerate(workers))]:
            assert proc.wait(120) == 3, rig.log(log)[-2000:]
            lines = [ln for ln in rig.log(log).splitlines() if ln.strip()]
            assert f"chain {node.url}: no answer after" in lines[-1] and "Traceback" not in rig.log(log)
    finally:
        rig.stop()


def test_the_swarm_command_writes_its_run_directory_from_the_events(tmp_path):
    """`deml swarm run --mode farsign`: a managed anvil, the DC and 3 node processes; the run directory's tables
    agree with the board's events; bad input is one line."""
    out = tmp_path / "run"
    done = deml("swarm", "run", "--mode", "farsign", "--workload", "rosenbrock", "--honest", "2", "--adversaries",
                "1", "--attack", "sign-flip", "--reports", "30", "--delay", "exponential:0.05", "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    evals, nodes = pd.read_parquet(out / "evals.parquet"), pd.read_parquet(out / "nodes.parquet")
    assert evals["updates"].iloc[-1] == 30 and evals["version"].tolist() == list(range(len(evals)))
    assert evals["test_loss"].notna().all() and evals["wall_s"].is_monotonic_increasing
    assert nodes["role"].tolist() == ["fo", "fo", "sign-flip"] and nodes["accepted"].gt(0).all()
    assert (nodes["tokens_earned"] == nodes["accepted"] * 0.01).all() and nodes["gas_paid"].gt(0).all()
    assert (out / "accuracy.png").is_file() and (out / "config.json").is_file()
    # its economics in `deml analyse`: what the mode paid per unit of progress, and each role
    analysed = deml("analyse", str(out), "--out", str(tmp_path / "analysis"))
    assert analysed.returncode == 0, analysed.stderr[-2000:]
    (row,) = pd.read_parquet(tmp_path / "analysis" / "modes.parquet").to_dict("records")
    dc_gas = int(pd.read_parquet(out / "summary.parquet")["dc_gas"].iloc[0])
    # every accepted post is paid, also those after the 30th, which the DC no longer applied
    assert row["mode"] == "farsign" and row["reports_paid"] == nodes["accepted"].sum() >= 30 and row["adversaries"] == 1
    assert row["tokens"] == pytest.approx(0.01 * row["reports_paid"]) and dc_gas > 0
    assert row["gas"] == nodes["gas_paid"].sum() + dc_gas
    assert row["tokens_per_adversarial_node"] == pytest.approx(nodes["tokens_earned"].iloc[2])
    assert row["progress"] == pytest.approx(evals["test_loss"].iloc[0] - evals["test_loss"].iloc[-1])
    assert row["tokens_per_report"] == pytest.approx(0.01)
    assert "Modes: what a unit of progress costs" in (tmp_path / "analysis" / "report.html").read_text()
    bad = deml("swarm", "run", "--mode", "farsign", "--workload", "rosenbrock", "--attack", "sign-flip",
               "--out", str(tmp_path / "other"))
    assert bad.returncode == 2 and "--reports / --duration" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_ctrl_c_stops_the_board_swarm_by_pid_and_keeps_what_was_published(tmp_path):
    """Ctrl-C in `deml swarm run --mode farsign`: exit 130, the DC, every node and the managed anvil stopped, and the
    run directory written from the events so far, marked interrupted."""
    out = tmp_path / "run"
    seen = {}

    def four_versions() -> bool:
        if "board" not in seen:
            if not (out / "deployment.json").is_file():
                return False
            seen["rec"] = load(out / "deployment.json", BoardRecord)
            seen["board"] = BoardContracts(*_contracts(connect(seen["rec"].rpc), seen["rec"]))
        return len(seen["board"].published()) >= 4

    interrupted_swarm(["--mode", "farsign", "--workload", "rosenbrock", "--honest", "2", "--adversaries", "1",
                       "--attack", "sign-flip", "--reports", "100000", "--delay", "exponential:0.05", "--out", str(out)],
                      tmp_path / "swarm.log", four_versions)
    config = json.loads((out / "config.json").read_text())
    evals = pd.read_parquet(out / "evals.parquet")
    assert config["status"] == "interrupted" and len(evals) >= 4
    assert evals["version"].tolist() == list(range(len(evals))) and evals["updates"].is_monotonic_increasing
    assert pd.read_parquet(out / "nodes.parquet")["accepted"].sum() >= evals["updates"].iloc[-1]
    assert_all_stopped(out, seen["rec"].rpc)
