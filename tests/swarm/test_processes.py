"""The swarm as real processes on anvil: `deml swarm run`, and the data collector and each node started as their own
`python -m sims.cli coordinator run | node run` processes, each node with its own key. Held to the in-process engine
(same seed: same accept/reject sequence, loss curve and balances), and through the faults of issue 9: a node killed
mid-round, the data collector killed (SIGKILL) between the commits and the settlement and started again, the chain's
RPC endpoint gone, and bad input (an unregistered key, a deployment file of another chain, a store serving another
model), each one line and a non-zero exit, with nothing changed on chain."""
from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contracts import anvil
from contracts.chain import connect
from contracts.chain_ledger import ChainLedger
from contracts.client import rounds
from coordinator.service import replay
from sims.processes import new_key
from sims.workloads import get
from tests.swarm.conftest import (REWARD, STAKE, WAIT, assert_all_stopped, deml, interrupted_swarm,
                                  on_chain_balances, reference, swarm_run_is_the_engine, wrong_store)

pytestmark = pytest.mark.anvil

ROLES = ["honest"] + ["rational"] * 4


def from_chain(rig, n_rounds: int):
    """(accepted, loss, (tokens, stakes, pool)) of the rig's run, read from the chain's events alone."""
    d = rig.deployment_client()
    w = get("quad3d")
    cfg = w.settings({}, honest=rig.honest, adversaries=len(rig.roles) - rig.honest, seed=rig.seed, rounds=n_rounds)
    side = w.dc(cfg, "vista", rig.record)
    done = replay(rounds(d, rig.record.deploy_block), ChainLedger(d.chain, deployment=d), side.task, side.control,
                  side.proto, rig.addresses)
    assert done.in_flight is None
    return ([bool(log.accepted[0]) for log, _ in done.settled], np.array([log.loss[0] for log, _ in done.settled]),
            on_chain_balances(d, rig.addresses))


def wait_for(what: str, predicate, rig, timeout: float = WAIT, alive: bool = True, pause: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s; logs in {rig.folder}"
        if alive:
            rig.check_alive()
        time.sleep(pause)


def finished(proc: subprocess.Popen, timeout: float = WAIT) -> int:
    return proc.wait(timeout)


def last_line(path: Path) -> str:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def record_of(rig, round_id: int):
    found = rounds(rig.deployment_client(), rig.record.deploy_block)
    return found[round_id] if len(found) > round_id else None


# ------------------------------------------------------------------------------------------------ the swarm
@pytest.mark.slow
def test_deml_swarm_run_on_anvil_equals_the_in_process_engine(tmp_path):
    """`deml swarm run --chain anvil`: a managed anvil, the DC and 5 node processes; the run directory (built from
    the chain's events) says what the in-process engine says with the same seed; nothing is left running."""
    out, n = tmp_path / "swarm", 10
    config = swarm_run_is_the_engine(out, ROLES, n, seed=11)
    accepted = pd.read_parquet(out / "rounds.parquet")["accepted"].tolist()
    left = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(out) not in left  # the DC and every node stopped
    assert "anvil" not in left or config["deployment"]["rpc"].rsplit(":", 1)[1] not in left  # and its anvil
    again = deml("swarm", "run", "--rounds", "1", "--chain", "embedded", "--out", str(out))
    assert again.returncode == 2 and "holds an earlier run" in again.stderr and "Traceback" not in again.stderr
    forced = deml("swarm", "run", "--rounds", "1", "--chain", "embedded", "--force", "--out", str(out))
    _one_line_refusal(forced, 2, "never overwritten")
    assert pd.read_parquet(out / "rounds.parquet")["accepted"].tolist() == accepted  # the earlier run, untouched


@pytest.mark.slow
def test_processes_on_anvil_replay_the_in_process_engine_bit_for_bit(rig_factory):
    """The differential test: the DC and 5 node processes (1 honest, 4 colluding rational adversaries) on anvil,
    10 rounds, against the in-process engine on a MemoryLedger with the same seed."""
    rig, n = rig_factory(ROLES, seed=16), 10
    dc = rig.coordinator(n, "--grace", "2")
    for i in range(5):
        rig.node(i)
    assert finished(dc) == 0, (rig.folder / "coordinator.log").read_text()[-2000:]
    accepted, loss, balances = from_chain(rig, n)
    expected = reference(ROLES, n, seed=16)
    assert accepted == expected[0] and 0 < sum(accepted) < n
    assert np.array_equal(loss, expected[1])
    assert balances == expected[2]


# --------------------------------------------------------------------------------------------------- faults
def members_of(rig, k: int, name: str) -> list[str]:
    found = record_of(rig, k)
    return found.nodes(name) if found else []


def silent_participant(rig, tmp_path) -> object:
    """A sixth participant whose key registers (here, from the test) and then never commits: each round's commit
    phase stays open for the DC's grace after the nodes committed, a point a test can act at without a race."""
    silent = new_key(tmp_path / "silent.key")
    with open(rig.participants, "a") as f:
        f.write(f"{silent.address} silent\n")
    return silent


def register(rig, account) -> None:
    from contracts.client import attach

    d = attach(connect(rig.url), None, rig.record.token, rig.record.coordinator)
    wait_for("the silent key's stake and ether granted",
             lambda: d.token_balance(account.address) >= STAKE and d.chain.balance(account.address) > 0, rig)
    d.allow(account)
    d.register([account], STAKE)


@pytest.mark.slow
def test_a_node_killed_mid_round_is_slashed_and_the_next_round_goes_on(rig_factory, tmp_path):
    """Node 4 commits in round 2 and is killed (SIGKILL) before it reveals: the round settles once its reveal
    window is over, rejected (a withheld report), node 4 slashed; the next round goes on without it (slashed
    again, as a silent member). A silent sixth participant holds each commit phase open for the DC's grace."""
    rig, n, k = rig_factory(ROLES), 4, 1
    silent = silent_participant(rig, tmp_path)
    dc = rig.coordinator(n, "--grace", "4")
    nodes = [rig.node(i) for i in range(5)]
    register(rig, silent)
    wait_for(f"the nodes committed round {k + 1}", lambda: set(rig.addresses) <= set(members_of(rig, k, "Committed")),
             rig)
    killed = rig.addresses[4]
    nodes[4].send_signal(signal.SIGKILL)
    nodes[4].wait()
    rig.procs.remove(nodes[4])
    assert not members_of(rig, k, "Revealed")  # killed between its commit and its reveal
    assert finished(dc) == 0, (rig.folder / "coordinator.log").read_text()[-2000:]
    found = rounds(rig.deployment_client(), rig.record.deploy_block)
    assert len(found) == n and all(r.settled for r in found)
    withheld, after = found[k].outcome(), found[k + 1].outcome()
    assert not withheld.accepted and not withheld.paid  # a withheld committed report rejects the round
    assert withheld.slashed[killed] == STAKE // 2 and set(withheld.slashed) == {killed, silent.address}
    assert withheld.count == 4
    assert killed in after.members and after.slashed[killed] == STAKE // 4 and killed not in after.paid
    assert after.count == 4  # the live nodes took part in the next round
    assert found[k + 2].outcome().slashed[killed] == STAKE // 8  # 2.5 tokens >= the minimum: a member once more
    assert rig.deployment_client().accounts([killed])[1][0] == STAKE - STAKE // 2 - STAKE // 4 - STAKE // 8


@pytest.mark.slow
def test_the_data_collector_killed_between_commits_and_settlement_resumes_to_the_uninterrupted_result(rig_factory,
                                                                                                      tmp_path):
    """A sixth participant registers and stays silent, so each round's commit phase stays open for the DC's grace
    after the five nodes committed: the DC is killed (SIGKILL) there, after the commits and before settlement,
    and started again; it settles that round and continues. The five nodes' rounds are the in-process engine's
    (the silent member only loses stake: it never committed, so it changes no outcome)."""
    rig, n = rig_factory(ROLES, seed=16), 6
    silent = silent_participant(rig, tmp_path)
    dc = rig.coordinator(n, "--grace", "10")
    for i in range(5):
        rig.node(i)
    register(rig, silent)
    k = 1
    wait_for(f"the five nodes committed round {k + 1}",
             lambda: set(rig.addresses) <= set(members_of(rig, k, "Committed")), rig)
    dc.send_signal(signal.SIGKILL)
    dc.wait()
    rig.procs.remove(dc)
    held = record_of(rig, k)
    assert not held.settled and len(held.nodes("Committed")) == 5 and not held.nodes("Revealed")
    again = rig.coordinator(n, "--grace", "2", log="coordinator-2.log")
    assert finished(again) == 0, (rig.folder / "coordinator-2.log").read_text()[-2000:]
    log = (rig.folder / "coordinator-2.log").read_text()
    assert f"round {k + 1}: in flight since block" in log  # it took the round over
    found = rounds(rig.deployment_client(), rig.record.deploy_block)
    assert len(found) == n and all(r.settled for r in found)  # no round lost or opened twice
    accepted, loss, (tokens, stakes, _) = reference(ROLES, n, seed=16)
    chain_accepted, chain_loss, (chain_tokens, chain_stakes, _) = from_chain_members(rig, n, [*rig.addresses,
                                                                                             silent.address])
    assert chain_accepted == accepted and np.array_equal(chain_loss, loss)  # the uninterrupted run's result
    assert chain_tokens[:5] == tokens and chain_stakes[:5] == stakes
    assert [r.outcome().slashed.get(silent.address, 0) for r in found] == [5 * 10**18, 25 * 10**17, 125 * 10**16,
                                                                            0, 0, 0]  # silent while above the minimum


def from_chain_members(rig, n_rounds: int, members: list[str]):
    d = rig.deployment_client()
    w = get("quad3d")
    cfg = w.settings({}, honest=rig.honest, adversaries=len(rig.roles) - rig.honest, seed=rig.seed, rounds=n_rounds)
    side = w.dc(cfg, "vista", rig.record)
    done = replay(rounds(d, rig.record.deploy_block), ChainLedger(d.chain, deployment=d), side.task, side.control,
                  side.proto, members)
    assert done.in_flight is None
    return ([bool(log.accepted[0]) for log, _ in done.settled], np.array([log.loss[0] for log, _ in done.settled]),
            on_chain_balances(d, members))


def _equal(a, b) -> bool:
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2], (a, b)
    return True


@pytest.mark.slow
def test_the_rpc_endpoint_gone_is_a_bounded_retry_then_one_line(tmp_path):
    from tests.swarm.conftest import Rig

    node = anvil.start(record=False)
    try:
        rig = Rig(node.url, tmp_path, ROLES[:2])
        dc = rig.coordinator(50, "--grace", "1", "--patience", "3")
        workers = [rig.node(i, "--patience", "3") for i in range(2)]
        wait_for("round 1 settled", lambda: record_of(rig, 0) and record_of(rig, 0).settled, rig)
    finally:
        anvil.stop(node)
    try:
        for proc, log in [(dc, "coordinator.log"), *((w, f"node-{i}.log") for i, w in enumerate(workers))]:
            assert finished(proc, 120) == 3, (rig.folder / log).read_text()[-2000:]
            line = last_line(rig.folder / log)
            assert f"chain {node.url}: no answer after" in line and "Traceback" not in (rig.folder / log).read_text()
    finally:
        rig.stop()


# ---------------------------------------------------------------------------------------------- bad input
def _one_line_refusal(done: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == code, done.stdout[-1000:] + done.stderr[-1000:]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _chain_state(rig) -> tuple:
    chain = connect(rig.url)
    return chain.block_number, rig.deployment_client().accounts(rig.addresses)


def test_an_unregistered_key_and_another_chains_deployment_are_one_line_and_change_nothing(rig_factory, tmp_path):
    rig = rig_factory(ROLES[:2])
    before = _chain_state(rig)
    stranger = new_key(tmp_path / "stranger.key")
    done = deml("node", "run", *rig.common, "--key", str(tmp_path / "stranger.key"), "--role", "honest", "--store",
                "http://127.0.0.1:9", "--join-timeout", "1")
    _one_line_refusal(done, 2, stranger.address, "not registered")
    other = json.loads(rig.deployment.read_text())
    other["chain_id"] = 1
    (tmp_path / "other.json").write_text(json.dumps(other))
    done = deml("node", "run", "--deployment", str(tmp_path / "other.json"), "--workload", "quad3d", "--key",
                str(rig.keys[0]), "--role", "honest", "--store", "http://127.0.0.1:9")
    _one_line_refusal(done, 2, "chain id 1")
    moved = json.loads(rig.deployment.read_text())
    moved["coordinator"] = moved["token"]
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    done = deml("coordinator", "run", "--deployment", str(tmp_path / "moved.json"), "--participants",
                str(rig.participants), "--workload", "quad3d", "--rounds", "1", "--owner-key",
                str(rig.deployment.with_suffix(".owner.key")), "--out", str(tmp_path / "dc"))
    _one_line_refusal(done, 2, "coordinator")
    assert _chain_state(rig) == before


@pytest.mark.slow
def test_a_node_served_a_wrong_model_refuses_it_in_one_line_and_commits_nothing(rig_factory):
    rig = rig_factory(ROLES[:3])
    server, url = wrong_store([1.0, 2.0, 3.0])
    try:
        dc = rig.coordinator(1, "--grace", "1")
        rig.node(0), rig.node(1)
        fooled = rig.node(2, store=url)
        assert fooled.wait(WAIT) == 3
        rig.procs.remove(fooled)
        line = last_line(rig.folder / "node-2.log")
        assert "not the round's params_digest" in line and "nothing was sent" in line
        assert "Traceback" not in (rig.folder / "node-2.log").read_text()
        assert finished(dc) == 0
    finally:
        server.shutdown()
        server.server_close()
    out = record_of(rig, 0).outcome()
    assert rig.addresses[2] not in record_of(rig, 0).nodes("Committed")  # it sent nothing for the round
    assert out.slashed.get(rig.addresses[2], 0) == STAKE // 2 and rig.addresses[2] not in out.paid


# ------------------------------------------------------------------------------------------ deploy, Ctrl-C
def test_deml_deploy_writes_a_deployment_file_and_never_overwrites_one(devnet, tmp_path):
    out = tmp_path / "deployment.json"
    done = deml("deploy", "--chain", devnet.url, "--out", str(out))
    assert done.returncode == 0, done.stderr
    rec = json.loads(out.read_text())
    assert rec["chain_id"] == connect(devnet.url).chain_id and set(rec["code"]) == {"reward_token", "coordinator"}
    assert rec["deploy_block"] >= 1 and out.with_suffix(".owner.key").stat().st_mode & 0o077 == 0
    block = connect(devnet.url).block_number
    again = deml("deploy", "--chain", devnet.url, "--out", str(out))
    _one_line_refusal(again, 2, "--out", "a file is there already")
    assert connect(devnet.url).block_number == block and json.loads(out.read_text()) == rec


@pytest.mark.slow
def test_ctrl_c_stops_every_process_of_the_swarm_by_pid_and_keeps_the_finished_rounds(tmp_path):
    out = tmp_path / "swarm"
    settled = {}

    def two_rounds_settled() -> bool:
        if "d" not in settled:
            if not (out / "deployment.json").is_file() or not (out / "config.json").is_file():
                return False
            rec = json.loads((out / "deployment.json").read_text())
            from contracts.client import attach

            settled.update(rec=rec, d=attach(connect(rec["rpc"]), None, rec["token"], rec["coordinator"]))
        return sum(r.settled for r in rounds(settled["d"], settled["rec"]["deploy_block"])) >= 2

    interrupted_swarm(["--rounds", "200", "--chain", "anvil", "--out", str(out)], tmp_path / "swarm.log",
                      two_rounds_settled)
    config = json.loads((out / "config.json").read_text())
    kept = pd.read_parquet(out / "rounds.parquet")
    assert config["status"] == "interrupted" and 2 <= len(kept) < 200 and config["done"]["rounds"] == len(kept)
    assert kept["round"].tolist() == list(range(1, len(kept) + 1))
    assert_all_stopped(out, settled["rec"]["rpc"])


@pytest.mark.slow
@pytest.mark.parametrize("n", [9, 100])
def test_the_data_collector_killed_three_times_at_random_points_ends_where_an_uninterrupted_run_ends(rig_factory, n):
    """kill -9 three times in an n-round run, each a seeded draw: after which settled round (any of 1 .. n - 1) and
    how long after it; each time started again with the same arguments. The final state is the uninterrupted run's:
    the accept/reject sequence, the loss at each posted model and the balances, and every posted model is the one
    an uninterrupted data collector posts there (the replay in from_chain refuses any other digest)."""
    rig = rig_factory(ROLES, seed=16)
    draw = np.random.default_rng(2024)
    kills = sorted(int(k) for k in draw.choice(np.arange(1, n), size=3, replace=False))
    for i in range(5):
        rig.node(i)
    # nobody is silent here, so the DC's grace never ends a window in a correct run; 10 s (not 2) lets a node that
    # a loaded machine stalls for seconds still commit and reveal (CI once saw two members slashed in this test)
    grace = ("--grace", "10")
    dc = rig.coordinator(n, *grace)
    # a long run: more time to wait (against hangs, not a speed check), and rarer polls of its growing event log
    scale = 1 + n // 20
    for attempt, after in enumerate(kills):
        wait_for(f"round {after} settled", lambda: (lambda r: r is not None and r.settled)(record_of(rig, after - 1)),
                 rig, timeout=WAIT * scale, pause=0.05 * scale)
        time.sleep(draw.uniform(0.0, 0.6))  # where in the next round it dies: anywhere (not synchronisation)
        dc.send_signal(signal.SIGKILL)
        dc.wait()
        rig.procs.remove(dc)
        dc = rig.coordinator(n, *grace, log=f"coordinator-{attempt + 2}.log")
    assert finished(dc, WAIT * scale) == 0, (rig.folder / "coordinator-4.log").read_text()[-2000:]
    found = rounds(rig.deployment_client(), rig.record.deploy_block)
    assert [r.round_id for r in found] == list(range(n)) and all(r.settled for r in found)
    _equal(from_chain(rig, n), reference(ROLES, n, seed=16))


class _Proxy:
    """A TCP relay on 127.0.0.1 to the chain's port that can drop every connection and refuse new ones for a while:
    an RPC endpoint with a hiccup, for one node (the others reach the chain directly)."""

    def __init__(self, port: int):
        import socket

        self.port, self.down = port, threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.live: list = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def hiccup(self) -> None:
        """Drop every connection now and refuse new ones until `back`."""
        import socket

        self.down.set()
        with self.lock:
            for s in self.live:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.live = []

    def back(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.hiccup()
        self.server.close()


@pytest.mark.slow
def test_a_node_survives_an_rpc_hiccup_without_sending_anything_twice(rig_factory, tmp_path):
    """Node 1 reaches the chain through a relay that drops every connection for 3 s after it committed in round 2
    (a silent participant holds that commit phase open): it retries (bounded, with backoff), reads the events again
    from where it was, reveals, and takes part in every round with exactly one commit and one reveal each, no
    failed transaction, never slashed."""
    rig, n = rig_factory(ROLES[:3]), 3
    silent = silent_participant(rig, tmp_path)
    proxy = _Proxy(int(rig.url.rsplit(":", 1)[1]))
    me = rig.addresses[1]
    try:
        dc = rig.coordinator(n, "--grace", "8")
        rig.node(0), rig.node(2)
        rig.node(1, "--chain", proxy.url)
        register(rig, silent)
        wait_for("node 1 committed round 2", lambda: me in members_of(rig, 1, "Committed"), rig)
        proxy.hiccup()
        time.sleep(3.0)  # the length of the outage (not synchronisation)
        proxy.back()
        assert finished(dc) == 0, (rig.folder / "coordinator.log").read_text()[-2000:]
    finally:
        proxy.close()
    found = rounds(rig.deployment_client(), rig.record.deploy_block)
    assert len(found) == n and all(r.settled for r in found)
    for r in found:
        assert r.nodes("Committed").count(me) == 1 and r.nodes("Revealed").count(me) == 1
        assert me not in r.outcome().slashed and r.outcome().paid.get(me, 0) == (REWARD if r.outcome().accepted else 0)
    chain = connect(rig.url)
    mine = chain.sent(found[0].block, chain.block_number, senders={me})
    assert len(mine) == 2 * n and all(t.ok for t in mine)  # one commit and one reveal a round, none refused
    log = (rig.folder / "node-1.log").read_text()
    assert f"lost the chain {proxy.url}" in log and "Traceback" not in log  # the hiccup reached it
