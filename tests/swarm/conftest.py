"""Swarm fixtures: a fresh anvil with the contracts deployed through `deml deploy`'s code, participants' key files,
and the actors started as real processes (`python -m sims.cli coordinator run | node run`), each stopped by PID
at the end; and the in-process engine's run of the same swarm, to hold the processes to."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contracts import anvil
from contracts.chain import connect
from contracts.client import attach, rounds
from coordinator.memory_ledger import MemoryLedger
from nodes.swarm import Swarm, node_addresses
from protocol import store
from sims.processes import deploy_contracts, new_key, write_participants
from sims.swarm import REPO, spawn
from sims.vista_experiments import Record, play
from sims.workloads import get

WAIT = 240.0  # seconds allowed for anything a test awaits: generous, the machine may be loaded
STAKE, REWARD = 10 * 10**18, 10**18


@dataclass
class Rig:
    url: str
    folder: Path
    roles: list[str]
    seed: int = 0
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self):
        self.deployment = self.folder / "deployment.json"
        _, self.record = deploy_contracts(connect(self.url), self.deployment, owner_key=None, reward=1.0, stake=10.0,
                                          min_stake=2.0, slash_bps=5_000)
        (self.folder / "keys").mkdir()
        self.keys = [self.folder / "keys" / f"node-{i}.key" for i in range(len(self.roles))]
        self.addresses = [new_key(k).address for k in self.keys]
        self.participants = write_participants(self.folder / "participants.txt", self.addresses, self.roles)
        self.store_port = _free_port()
        self.honest = self.roles.count("honest")

    @property
    def common(self) -> list[str]:
        return ["--deployment", str(self.deployment), "--workload", "quad3d", "--honest", str(self.honest),
                "--adversaries", str(len(self.roles) - self.honest), "--seed", str(self.seed)]

    def coordinator(self, rounds: int, *extra: str, log: str = "coordinator.log") -> subprocess.Popen:
        return self._start(["coordinator", "run", *self.common, "--participants", str(self.participants), "--rounds",
                            str(rounds), "--out", str(self.folder / "dc"), "--store-port", str(self.store_port),
                            "--no-tables", *extra], log)

    def node(self, i: int, *extra: str, store: str | None = None, key: Path | None = None) -> subprocess.Popen:
        role = self.roles[i]
        return self._start(["node", "run", *self.common, "--key", str(key or self.keys[i]), "--role", role,
                            "--shard", f"{i}/{len(self.roles)}", "--store",
                            store or f"http://127.0.0.1:{self.store_port}",
                            *(["--collude"] if role != "honest" else []), *extra], f"node-{i}.log")

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        proc = spawn(args, self.folder / log)
        self.procs.append(proc)
        return proc

    def deployment_client(self):
        return attach(connect(self.url), None, self.record.token, self.record.coordinator)

    def settled(self) -> int:
        return sum(r.settled for r in rounds(self.deployment_client(), self.record.deploy_block))

    def wait_settled(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.settled() < n:
            assert time.monotonic() < deadline, f"{n} rounds did not settle; logs in {self.folder}"
            self.check_alive()
            time.sleep(0.1)

    def check_alive(self) -> None:
        for p in self.procs:
            if p.poll() not in (None, 0):
                raise AssertionError(f"{p.args[3:5]} exited with {p.returncode}: "
                                     f"{_tail(self.folder, p)}")

    def stop(self) -> None:
        stop_all(self.procs)


def _tail(folder: Path, proc: subprocess.Popen) -> str:
    logs = sorted(folder.glob("*.log"))
    return " | ".join(f"{p.name}: {p.read_text()[-300:]}" for p in logs)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def devnet():
    node = anvil.start(record=False)
    try:
        yield node
    finally:
        anvil.stop(node)


@pytest.fixture
def rig_factory(devnet, tmp_path):
    made = []

    def make(roles: list[str], seed: int = 0) -> Rig:
        rig = Rig(devnet.url, tmp_path, roles, seed)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.stop()


def reference(roles: list[str], rounds: int, seed: int = 0):
    """The in-process engine on a MemoryLedger with the same swarm (honest first, then one attack, colluding):
    the accept/reject sequence, the loss curve and the final (tokens, stakes, pool)."""
    workload = get("quad3d")
    honest = roles.count("honest")
    cfg = workload.settings({}, honest=honest, adversaries=len(roles) - honest, seed=seed, rounds=rounds)
    side = workload.dc(cfg, "vista")
    attack = roles[-1] if len(roles) > honest else None
    swarm = Swarm(honest, len(roles) - honest, workload.strategy(cfg, "honest"),
                  workload.strategy(cfg, attack) if attack else None, collude=True, seed=seed)
    ledger = MemoryLedger(min_stake=side.proto.min_stake, slash_bps=side.proto.slash_bps)
    addresses = node_addresses(len(roles), seed)
    record = Record([], [])
    play(ledger, addresses, side.task, replace(side.setup, swarm=swarm), rounds, seed, record)
    b = ledger.balances(addresses)
    return ([bool(g.accepted[0]) for g in record.logs], np.array([g.loss[0] for g in record.logs]),
            (b.tokens[0].tolist(), b.stakes[0].tolist(), int(b.pool[0])))


def on_chain_balances(d, addresses: list[str]):
    tokens, stakes, pool = d.accounts(addresses)
    return list(tokens), list(stakes), pool


def deml(*args: str, timeout: float = WAIT) -> subprocess.CompletedProcess:
    """`python -m sims.cli ARGS` from the repository, output captured."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "sims.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env, stdin=subprocess.DEVNULL)


def swarm_run_is_the_engine(out: Path, roles: list[str], n: int, seed: int, *extra: str) -> dict:
    """`deml swarm run --chain anvil` (1 honest, the rest `rational` colluding) with `extra` options: its run
    directory (built from the chain's events) says what the in-process engine says with the same seed; returns
    its config.json."""
    done = deml("swarm", "run", "--workload", "quad3d", "--honest", "1", "--adversaries", str(len(roles) - 1),
                "--rounds", str(n), "--chain", "anvil", "--seed", str(seed), "--grace", "2", "--out", str(out), *extra)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    accepted, loss, (tokens, stakes, pool) = reference(roles, n, seed=seed)
    r = pd.read_parquet(out / "rounds.parquet")
    assert r["accepted"].tolist() == accepted and 0 < sum(accepted) < n  # both outcomes occur
    assert np.array_equal(r["loss"].to_numpy(), loss)
    nodes = pd.read_parquet(out / "nodes.parquet")
    assert len(nodes) == n * len(roles) and set(nodes.columns) >= {"round", "address", "role", "committed",
                                                                   "revealed", "paid", "slashed", "gas"}
    assert nodes["gas"].gt(0).all() and nodes["committed"].all() and nodes["revealed"].all()
    assert nodes.groupby("round")["attack"].apply(list).tolist() == [roles] * n
    per_node = nodes.groupby("node")[["paid", "slashed"]].sum()
    assert [round(p * 10**6) * 10**12 for p in per_node["paid"]] == tokens  # tokens (floats) to wei, exactly
    assert per_node["slashed"].eq(0).all() and stakes == [STAKE] * len(roles)
    assert pool == len(roles) * REWARD * n - sum(tokens)
    config = json.loads((out / "config.json").read_text())
    assert config["status"] == "complete" and config["deployment"]["coordinator"].startswith("0x")
    assert [x["role"] for x in config["nodes"]] == roles
    return config


def stop_all(procs) -> None:
    """SIGTERM to every process still running (by its PID), then SIGKILL to any not gone within 10 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wrong_store(values) -> tuple[ThreadingHTTPServer, str]:
    """A store on 127.0.0.1 that answers every request with a well-formed model that is not the one asked for (the
    parameters `values`): (the server, to shut down; its URL)."""
    _, payload = store.encode(np.asarray(values, dtype=np.float64))

    class Lying(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Lying)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def interrupted_swarm(args: list[str], log: Path, ready) -> None:
    """`deml swarm run ARGS` in its own session, interrupted as a terminal's Ctrl-C would (SIGINT) once `ready()`
    holds: it must exit 130. Killed if anything goes wrong, so that no test leaves it running."""
    with open(log, "w") as f:
        swarm = subprocess.Popen([sys.executable, "-m", "sims.cli", "swarm", "run", *args], stdout=f,
                                 stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                 start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT
        while not ready():
            assert swarm.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        swarm.send_signal(signal.SIGINT)
        assert swarm.wait(120) == 130, log.read_text()[-2000:]
    finally:
        if swarm.poll() is None:
            swarm.kill()
            swarm.wait()


def assert_all_stopped(out: Path, rpc: str) -> None:
    """No process of the swarm in `out` is left (the DC, the nodes), nor its managed anvil at `rpc`."""
    left = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(out) not in left
    with pytest.raises(ConnectionError):
        connect(rpc)
