"""The protocol's actors as commands: `deml deploy`, `deml coordinator run`, `deml node run`.

Each reads what it is given (a deployment file, a key file, a participants file, a workload and its settings),
checks it against the chain before sending anything, and hands objects to the long-running parts
(`coordinator.service.Service`, `nodes.runtime.Node`). Bad input or a deployment of another chain: one line,
exit 2 (`ConfigError`); a peer that stopped answering or served a wrong model: one line, exit 3 (`Unavailable`).

Keys are files holding one hex private key, mode 0600; a node process holds its own key and no other (it
connects without the devnet's prefunded accounts).
"""
from __future__ import annotations

import json
import os
import signal
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from eth_account import Account
from eth_account.signers.local import LocalAccount

from contracts.chain import Chain, Tx, connect
from protocol.deployment import DeploymentError, DeploymentRecord, load, save
from protocol.process import Patience, Stopwatch, Unreachable
from protocol.store import StoreError
from sims import rundir
from sims.config import ConfigError, Unavailable

TOKEN = 10**18
OWNER_ETHER = 1_000 * 10**18  # gas for the DC's transactions, and for the ether it gives each node
ROLE_UNKNOWN = "unknown"


# ------------------------------------------------------------------------------------------------ key files
def new_key(path: Path) -> LocalAccount:
    """A fresh key, written to `path` (which must not exist) readable by its owner only."""
    account = Account.create()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: a key file is there already; give a new path") from None
    with os.fdopen(fd, "w") as f:
        f.write("0x" + bytes(account.key).hex() + "\n")
    return account


def read_key(path: Path, flag: str = "--key") -> LocalAccount:
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot read it ({exc.strerror}); give a key file (one hex private key)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{flag} {path}: readable by others (mode {stat.S_IMODE(mode):04o}); chmod 600 {path}")
    try:
        return Account.from_key(text)
    except (ValueError, TypeError):
        raise ConfigError(f"{flag} {path}: not a private key (expected 64 hex digits, 0x first)") from None


def read_participants(path: Path) -> tuple[list[str], list[str]]:
    """The participants file: one node a line, `ADDRESS [ROLE]` (the role only labels the tables)."""
    from eth_utils import is_address, to_checksum_address

    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    except OSError as exc:
        raise ConfigError(f"--participants {path}: cannot read it ({exc.strerror})") from None
    for n, words in enumerate(lines, 1):
        if not is_address(words[0]) or len(words) > 2:
            raise ConfigError(f"--participants {path}: line {n} is not `ADDRESS [ROLE]`: {' '.join(words)!r}")
    if len(lines) < 2:
        raise ConfigError(f"--participants {path}: {len(lines)} participants; a round needs at least 2")
    return [to_checksum_address(w[0]) for w in lines], [w[1] if len(w) > 1 else ROLE_UNKNOWN for w in lines]


def write_participants(path: Path, addresses: list[str], roles: list[str]) -> Path:
    path.write_text("".join(f"{a} {r}\n" for a, r in zip(addresses, roles)))
    return path


# ------------------------------------------------------------------------------------------------- chains
def reach(target: str, accounts: list[LocalAccount] | None = None) -> Chain:
    """connect(), with a dead or malformed target as one line (exit 2)."""
    try:
        return connect(target, accounts=accounts)
    except (ConnectionError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def opened(chain: Chain, record: DeploymentRecord, path: Path, owner: LocalAccount | None = None):
    """The Deployment the file describes, checked against the chain (exit 2 when it does not match)."""
    from contracts.client import open_record

    try:
        return open_record(chain, record, path, owner)
    except DeploymentError as exc:
        raise ConfigError(str(exc)) from None


def deploy_contracts(chain: Chain, out: Path, *, owner_key: Path | None, reward: float, stake: float,
                     min_stake: float, slash_bps: int):
    """Deploy the token and the coordinator with a fresh owner key (or the one in `owner_key`), and write the
    deployment file `out` and, for a fresh owner, its key beside it (`out` with `.owner.key`). (Deployment,
    its record)."""
    from contracts.client import deploy, record

    if out.exists():
        raise ConfigError(f"--out {out}: a file is there already; give a new path")
    amounts = {k: int(round(v * TOKEN)) for k, v in (("reward", reward), ("stake", stake), ("min_stake", min_stake))}
    if not 0 < slash_bps <= 10_000 or amounts["stake"] < amounts["min_stake"] or \
            amounts["reward"] > amounts["min_stake"] * slash_bps // 10_000:
        raise ConfigError(f"--reward {reward:g} --stake {stake:g} --min-stake {min_stake:g} --slash-bps {slash_bps}: "
                          f"need 0 < slash-bps <= 10000, stake >= min-stake and reward <= min-stake x slash-bps / "
                          f"10000 (withholding must cost more than revealing earns)")
    owner = read_key(owner_key, "--owner-key") if owner_key else None
    out.parent.mkdir(parents=True, exist_ok=True)
    if owner is None:
        owner = new_key(owner_key_path(out))
    fund_owner(chain, owner)
    first = chain.block_number + 1
    d = deploy(chain, min_stake=amounts["min_stake"], slash_bps=slash_bps, owner=owner)
    rec = record(d, rpc=chain.target, deploy_block=first, stake=amounts["stake"], reward=amounts["reward"])
    save(rec, out)
    return d, rec


def owner_key_path(deployment: Path) -> Path:
    return deployment.with_suffix(".owner.key")


def fund_owner(chain: Chain, owner: LocalAccount) -> None:
    """Ether for the owner from the devnet's first prefunded account, where it has too little."""
    if chain.balance(owner.address) >= OWNER_ETHER // 2:
        return
    if not chain.devnet or not chain.funded or chain.funded[0].address == owner.address:
        raise ConfigError(f"owner {owner.address} holds no ether for gas on {chain.target}; fund it first")
    (receipt,) = chain.send([Tx(chain.funded[0], owner.address, b"", 21_000, OWNER_ETHER)])
    if not receipt.ok:
        raise ConfigError(f"could not fund the owner {owner.address}: {receipt.reason}")


# ------------------------------------------------------------------------------------------ long runs
@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM (how `deml swarm run` stops its processes) ends this one as Ctrl-C does."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def peer_failures() -> Iterator[None]:
    """A peer that stopped answering, or served a wrong model: one line, exit 3."""
    try:
        yield
    except Unreachable as exc:
        raise Unavailable(str(exc)) from None
    except StoreError as exc:
        raise Unavailable(f"store: {exc}; refusing it (nothing was sent for that round)") from None


@dataclass(frozen=True)
class Swarmed:
    """What the coordinator and node commands share: the workload, its settings and the swarm's composition."""

    workload: str
    settings: dict
    honest: int
    adversaries: int
    seed: int

    def config(self, rounds: int = 1):
        from sims.workloads import get

        return get(self.workload).settings(self.settings, honest=self.honest, adversaries=self.adversaries,
                                           seed=self.seed, rounds=rounds)


def coordinator_run(deployment: Path, participants: Path, spec: Swarmed, *, rounds: int, method: str,
                    owner_key: Path | None, out: Path | None, force: bool, store_port: int, grace: float,
                    join_timeout: float, chain: str | None, tables: bool, stats: Path | None,
                    patience: float = 30.0, say: Callable[[str], None] = print) -> Path:
    """`deml coordinator run`: everything is checked before the first transaction; then provision the members,
    wait for them to register, and run (or resume) the rounds. Returns the run directory."""
    from contracts.chain_ledger import ChainLedger
    from coordinator.service import RESTART_GRACE, Clock, NotEnoughMembers, ReplayMismatch, Service
    from coordinator.store_server import ModelStore
    from sims.workloads import get

    rec = _load(deployment)
    cfg = spec.config(rounds)
    members, roles = read_participants(participants)
    owner = read_key(owner_key or owner_key_path(deployment), "--owner-key")
    if owner.address != rec.owner:
        raise ConfigError(f"--owner-key: key of {owner.address}, but the deployment's owner is {rec.owner}")
    if not 0 <= store_port < 65_536:
        raise ConfigError(f"--store-port {store_port}: not a port; give 0 (a free one) or 1..65535")
    side = get(spec.workload).dc(cfg, method, rec).keyed(owner.key)
    target = reach(chain or rec.rpc)
    d = opened(target, rec, deployment, owner)
    resume = {"coordinator": rec.coordinator, "chain_id": rec.chain_id, "workload": spec.workload,
              "settings": spec.settings, "honest": spec.honest, "adversaries": spec.adversaries, "seed": spec.seed,
              "method": method, "rounds": rounds, "participants": members}
    out = _coordinator_dir(out, resume, force)
    if not (out / rundir.CONFIG).is_file():
        rundir.write_config(out, "coordinator", cfg.model_dump(), {
            "resume": resume, "deployment": rec.model_dump(), "roles": dict(zip(members, roles))})
    models = ModelStore(out / "store", report_dim=side.report_dim)
    watch = Stopwatch()
    server = serve_store(models, store_port)
    say(f"coordinator {rec.coordinator} on {target.target}: {len(members)} participants, {rounds} rounds; model "
        f"store at {server.url}")
    service = Service(ChainLedger(target, deployment=d), side.task, side.control, side.proto, members, rounds=rounds,
                      models=models, from_block=rec.deploy_block, clock=Clock(grace=grace, after_start=RESTART_GRACE),
                      say=say, stopwatch=watch, patience=Patience(patience))
    try:
        with terminated_as_interrupt(), peer_failures():
            try:
                service.run(join_timeout)
            except (ReplayMismatch, NotEnoughMembers) as exc:
                raise ConfigError(str(exc)) from None
    except KeyboardInterrupt:
        _finish(out, tables, d, rec, side, members, roles, "interrupted", models, say)
        raise
    finally:
        server.close()
        watch.dump(stats)
    _finish(out, tables, d, rec, side, members, roles, "complete", models, say)
    return out


def serve_store(models, port: int):
    """The DC's store served on 127.0.0.1:`port` (0: a free one); a port it cannot take is one line."""
    from coordinator.store_server import StoreServer

    try:
        return StoreServer(models, port)
    except OSError as exc:
        raise ConfigError(f"--store-port {port}: cannot listen there ({exc.strerror}); give another, or 0") from None


def _finish(out, tables, d, rec, side, members, roles, status, models, say) -> None:
    if tables:
        from sims.chain_tables import write_run

        write_run(out, d, rec, side, members, roles, "coordinator", reports=models.report, say=say)
    rundir.mark(out, status)


def _coordinator_dir(out: Path | None, resume: dict, force: bool) -> Path:
    """A new run directory, or the one an earlier run with the same arguments left (a restart resumes it)."""
    if out is not None and (out / rundir.CONFIG).is_file() and not force:
        doc = json.loads((out / rundir.CONFIG).read_text())
        if doc.get("experiment") == "coordinator" and doc.get("resume") == json.loads(json.dumps(resume)):
            rundir.mark(out, "running")
            return out
    return rundir.prepare(out, "coordinator", force=force)


def node_run(deployment: Path, key: Path, role: str, spec: Swarmed, *, store: str, shard: tuple[int, int],
             device: str, collude: bool, join_timeout: float, chain: str | None, stats: Path | None,
             patience: float = 30.0, say: Callable[[str], None] = print,
             stop: Callable[[], bool] = lambda: False) -> None:
    """`deml node run`: check everything, join (register with the stake) and take part until stopped."""
    import numpy as np

    from nodes.runtime import Identity, Node
    from protocol.store import StoreClient
    from sims.workloads import ROLES, get

    rec = _load(deployment)
    if role not in ROLES:
        raise ConfigError(f"--role {role!r}: unknown; use one of {', '.join(ROLES)}")
    account = read_key(key)
    side = get(spec.workload).node(spec.config(), role, shard=shard, device=device)
    # one report before joining: a framework's first call (torch's) is slow, and the first round's window should
    # not pay for it
    side.report(np.zeros((1, side.dim)), np.ones(1), np.zeros(1, dtype=np.int64), np.random.default_rng(0))
    try:
        client = StoreClient(store)
    except ValueError as exc:
        raise ConfigError(f"--store: {exc}") from None
    target = reach(chain or rec.rpc, accounts=[account])
    d = opened(target, rec, deployment)
    watch = Stopwatch()
    node = Node(d, Identity(account, shard[0], spec.seed, collude), side.report, side.announcement, client,
                stake=rec.stake, from_block=rec.deploy_block, say=say, stopwatch=watch, patience=Patience(patience))
    take_part(node, join_timeout, stop, lambda: f"node {account.address} ({role}, shard {shard[0]}/{shard[1]}) on "
              f"{target.target}", say, lambda: watch.dump(stats, address=account.address))


def take_part(node, join_timeout: float, stop: Callable[[], bool], started: Callable[[], str],
              say: Callable[[str], None], finish: Callable[[], None]) -> None:
    """What every node process does once checked: join (a key granted no stake: one line, exit 2), say who it is,
    run until stopped (a peer lost for good: one line, exit 3); `finish` whatever happens."""
    from protocol.process import NotAdmitted

    try:
        with peer_failures():
            try:
                node.join(join_timeout)
            except NotAdmitted as exc:
                raise ConfigError(str(exc)) from None
            say(started())
            node.run(stop)
    finally:
        finish()


def parse_shard(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    try:
        shard = int(i), int(n)
    except ValueError:
        shard = (-1, 0)
    if not sep or not 0 <= shard[0] < shard[1]:
        raise ConfigError(f"--shard {text!r}: expected i/n with 0 <= i < n, e.g. 2/5")
    return shard


def _load(path: Path) -> DeploymentRecord:
    try:
        return load(path)
    except DeploymentError as exc:
        raise ConfigError(str(exc)) from None
