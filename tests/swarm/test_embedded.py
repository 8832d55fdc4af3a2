"""The swarm on the embedded chain: the data collector's service and each node's runtime in this process, each node
with its own key, stepped in turn. The same code the processes run, fast enough to test its rules: it replays the
in-process engine bit for bit, rebuilds its state from the chain's events alone, takes over a round left in flight,
and refuses a chain whose rounds another configuration opened."""
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from eth_account import Account
from typer.testing import CliRunner

from contracts.chain import connect
from contracts.chain_ledger import ChainLedger
from contracts.client import attach, deploy, record, rounds
from coordinator.driver import announce
from coordinator.service import Clock, ReplayMismatch, Service, replay
from coordinator.store_server import ModelStore, StoreServer
from nodes.runtime import Identity, Node
from protocol.store import StoreClient
from sims.cli import app
from sims.workloads import get
from tests.swarm.conftest import reference

ROLES = ["honest"] + ["rational"] * 4


@pytest.mark.slow
def test_deml_swarm_run_on_the_embedded_chain_replays_the_in_process_engine(tmp_path):
    out = tmp_path / "swarm"
    result = CliRunner().invoke(app, ["swarm", "run", "--chain", "embedded", "--rounds", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    accepted, loss, (tokens, stakes, pool) = reference(ROLES, 6)
    r = pd.read_parquet(out / "rounds.parquet")
    assert r["accepted"].tolist() == accepted and 0 < sum(accepted) < 6  # both outcomes occur
    assert np.array_equal(r["loss"].to_numpy(), loss)
    nodes = pd.read_parquet(out / "nodes.parquet")
    assert len(nodes) == 6 * 5 and nodes["gas"].gt(0).all() and nodes["committed"].all()
    per_node = nodes.groupby("node")[["paid", "slashed"]].sum()
    assert [round(p * 10**6) * 10**12 for p in per_node["paid"]] == tokens  # tokens (floats) to wei, exactly
    assert per_node["slashed"].eq(0).all() and stakes == [10**19] * 5 and pool == 5 * 10**18 * 6 - sum(tokens)
    # the run directory is one `deml analyse` reads like any other
    analysed = CliRunner().invoke(app, ["analyse", str(out), "--out", str(tmp_path / "analysis")])
    assert analysed.exit_code == 0, analysed.output
    assert (tmp_path / "analysis" / "report.html").exists()
    assert json.loads((out / "config.json").read_text())["status"] == "complete"
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 7
    assert all((out / "keys" / f"node-{i:02d}.key").stat().st_mode & 0o077 == 0 for i in range(5))


@dataclass
class Embedded:
    """A deployment on an embedded chain, its store, and one node runtime per key, for services to drive."""

    roles: list
    seed: int = 0
    workload: str = "quad3d"
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        self.chain = connect("embedded")
        w = get(self.workload)
        honest = self.roles.count("honest")
        self.cfg = w.settings(self.settings, honest=honest, adversaries=len(self.roles) - honest, seed=self.seed,
                              rounds=8)
        owner = Account.create()
        self.chain.give_ether(owner.address, 10**21)
        self.d = deploy(self.chain, min_stake=2 * 10**18, owner=owner)
        self.rec = record(self.d, rpc="embedded", deploy_block=1, stake=10**19, reward=10**18)
        self.side = w.dc(self.cfg, "vista", self.rec)
        self.accounts = [Account.create() for _ in self.roles]
        self.members = [a.address for a in self.accounts]

    def start(self, folder):
        self.models = ModelStore(folder / "store", report_dim=self.side.report_dim)
        self.server = StoreServer(self.models)
        w = get(self.workload)
        self.nodes = []
        for i, (account, role) in enumerate(zip(self.accounts, self.roles)):
            side = w.node(self.cfg, role, shard=(i, len(self.roles)))
            self.nodes.append(Node(attach(self.chain, None, self.rec.token, self.rec.coordinator),
                                   Identity(account, i, self.seed, role != "honest"), side.report, side.announcement,
                                   StoreClient(self.server.url), stake=self.rec.stake, from_block=1,
                                   say=lambda s: None))
        return self

    def pump(self):
        for node in self.nodes:
            node.step()

    def service(self, rounds, side=None, **kw):
        side = side or self.side
        return Service(ChainLedger(self.chain, deployment=self.d), side.task, side.control, side.proto, self.members,
                       rounds=rounds, models=self.models, from_block=1, clock=Clock(grace=0, poll=0),
                       pump=self.pump, say=lambda s: None, **kw)

    def join(self, rounds: int):
        """The pool funded for `rounds` (as one uninterrupted run would), every node registered."""
        self.service(rounds).provision()
        for node in self.nodes:
            node.join(0.0)


@pytest.fixture
def embedded(tmp_path):
    e = Embedded(ROLES).start(tmp_path)
    e.join(6)
    yield e
    e.server.close()


def test_a_restarted_service_rebuilds_from_the_chain_and_takes_over_the_round_in_flight(embedded):
    logs = []
    embedded.service(3, on_round=lambda log, out: logs.append(log)).run(0)
    # a DC that opened round 4 and died after the members committed
    ledger = ChainLedger(embedded.chain, deployment=embedded.d)
    side = embedded.side
    state = replay(rounds(embedded.d, 1), ledger, side.task, side.control, side.proto, embedded.members).state
    spec, _ = announce(state, side.control, side.proto, embedded.members)
    embedded.models.put(state.theta[0])
    rid = ledger.open_round(spec)
    embedded.pump()  # every member commits (its reveal waits for the next look)
    assert len(rounds(embedded.d, 1)[rid].nodes("Committed")) == 5 and not rounds(embedded.d, 1)[rid].settled
    embedded.service(6, on_round=lambda log, out: logs.append(log)).run(0)
    accepted, loss, _ = reference(ROLES, 6)
    assert [log.round for log in logs] == [1, 2, 3, 4, 5, 6]  # round 4 settled once, by the restarted service
    assert [bool(g.accepted[0]) for g in logs] == accepted
    assert np.array_equal([g.loss[0] for g in logs], loss)
    # and the chain alone says the same: a third process replays every round from the events
    done = replay(rounds(embedded.d, 1), ChainLedger(embedded.chain, deployment=embedded.d), embedded.side.task,
                  embedded.side.control, embedded.side.proto, embedded.members)
    assert done.in_flight is None and [bool(g.accepted[0]) for g, _ in done.settled] == accepted
    assert np.array_equal([g.loss[0] for g, _ in done.settled], loss)


def test_a_service_with_other_settings_refuses_the_chains_rounds(embedded):
    embedded.service(2).run(0)
    other = get("quad3d").dc(get("quad3d").settings({"alpha0": 0.05}, honest=1, adversaries=4, seed=0), "vista",
                             embedded.rec)
    with pytest.raises(ReplayMismatch, match="round 1 on chain posted model .* give the same settings"):
        embedded.service(3, side=other).run(0)
    with pytest.raises(ReplayMismatch, match="not among the participants"):
        Service(ChainLedger(embedded.chain, deployment=embedded.d), embedded.side.task, embedded.side.control,
                embedded.side.proto, embedded.members[:4], rounds=3, models=embedded.models, from_block=1,
                say=lambda s: None).replay()


# ------------------------------------------------------------------------------------------- sketched rounds
SMALL_MLP = dict(dataset="synthetic", hidden=16, dc_sample=400, reference=200, test_size=300, sketch=16)
LEARNERS = ["honest", "honest", "rational", "rational"]


def sketched_logs(tmp_path, crash: str | None) -> tuple[list, "Embedded"]:
    """6 rounds of a sketched workload (an MLP of 506 parameters, 16-value sketches) on the embedded chain; with
    `crash`, the DC dies in round 3 just before that step (its exception stands for a SIGKILL: nothing after it
    runs) and a new service, from the chain and the store alone, finishes the run."""
    e = Embedded(LEARNERS, seed=4, workload="mnist-mlp", settings=SMALL_MLP).start(tmp_path)
    e.join(6)
    logs = []
    try:
        if crash is not None:
            target = getattr(ChainLedger, crash)
            calls = []

            def dies(self, round_id, *args):
                calls.append(round_id)
                if round_id == 2:
                    raise SystemExit(f"killed before {crash}")
                return target(self, round_id, *args)

            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(ChainLedger, crash, dies)
                with pytest.raises(SystemExit):
                    e.service(6, on_round=lambda log, out: logs.append(log)).run(0)
            assert len(logs) == 2 and 2 in calls
        e.service(6, on_round=lambda log, out: logs.append(log)).run(0)
    finally:
        e.server.close()
    return logs, e


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["reveal_seed", "finalize", "confirm"])
def test_a_sketched_run_survives_its_dc_dying_at_each_step_of_a_round(tmp_path, crash):
    """Killed before it reveals the projection seed, before it settles, or after settling and before it confirms
    (and so pays): started again, the DC takes the round over from the chain and its store, and the run ends where
    an uninterrupted one ends."""
    whole, _ = sketched_logs(tmp_path / "whole", None)
    logs, e = sketched_logs(tmp_path / "crashed", crash)
    assert [g.round for g in logs] == [1, 2, 3, 4, 5, 6]  # round 3 settled once
    assert [bool(g.accepted[0]) for g in logs] == [bool(g.accepted[0]) for g in whole]
    assert np.array_equal([g.loss[0] for g in logs], [g.loss[0] for g in whole])
    records = rounds(e.d, 1)
    assert all(r.outcome().sketched for r in records) and len(records) == 6
    assert all(r.outcome().confirmed is not None for r in records if r.outcome().accepted)  # every one paid
    # the delivered full reports are in the store under the digests revealed (colluders share one)
    revealed = {d for r in records for d in r.outcome().digests.values()}
    assert {f.stem for f in e.models.folder.glob("*.report")} == {d.hex() for d in revealed}
    assert len(revealed) == 6 * 3


def test_a_restarted_dc_gives_its_members_time_to_come_back_before_it_mines_past_a_window():
    """A member that lost the DC's store while it was gone retries after a pause of up to Patience.cap seconds: a
    restarted DC that mined past the window after its usual grace would slash a member that is only waiting (one
    way the 100-round kill -9 run can end with live members slashed, as it did once in CI)."""
    from coordinator.service import RESTART_GRACE
    from protocol.process import Patience

    clock = Clock(grace=2.0, after_start=RESTART_GRACE)
    assert RESTART_GRACE > Patience.cap + clock.grace
    started = 100.0
    assert not clock.overdue(now=103.0, quiet_since=100.0, started=started)  # quiet for 3 s, but just restarted
    assert not clock.overdue(now=107.9, quiet_since=100.0, started=started)
    assert clock.overdue(now=108.0, quiet_since=100.0, started=started)
    assert not clock.overdue(now=109.0, quiet_since=107.5, started=started)  # the grace itself still holds
    assert Clock(grace=2.0).overdue(now=102.5, quiet_since=100.0, started=started)  # in process: no such wait
