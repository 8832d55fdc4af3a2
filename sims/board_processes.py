"""FAR-SIGN's actors as commands on a report board: deploying it (with its deployment file), `deml coordinator run
--mode farsign` (coordinator.board_service.BoardService) and `deml node run --mode farsign`
(nodes.board_runtime.BoardNodeProcess). As sims/processes.py does for the round coordinator: everything given is
checked before the first transaction; bad input or a deployment of another chain is one line, exit 2
(ConfigError); a peer that stopped answering is one line, exit 3 (Unavailable). A node process holds its own key
and no other.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from contracts.chain import Chain
from protocol.board import BoardParams
from protocol.board_deployment import BoardRecord
from protocol.deployment import DeploymentError, load, save
from protocol.process import Patience, Stopwatch
from sims.config import ConfigError
from sims.processes import (TOKEN, Swarmed, fund_owner, new_key, owner_key_path, peer_failures, reach, read_key,
                            read_participants, serve_store, take_part, terminated_as_interrupt)


def board_params(min_stake: float = 1.0, fee: float = 0.01, window_blocks: int = 20, max_posts: int = 5,
                 max_staleness: int = 8) -> BoardParams:
    """The swarm's board: amounts in tokens; a node staking `max_posts` x min_stake posts up to max_posts reports
    per window of blocks."""
    return BoardParams(int(min_stake * TOKEN), int(fee * TOKEN), window_blocks, max_posts, max_staleness)


def deploy_board_file(chain: Chain, out: Path, params: BoardParams, *, stake: int, store: str | None = None):
    """Deploy the token and the board with a fresh owner key (written beside `out`, mode 0600) and write the
    deployment file `out`. (The owner's side of the board, its record.)"""
    from contracts.board_client import board_record, deploy_board

    if out.exists():
        raise ConfigError(f"--out {out}: a file is there already; give a new path")
    owner = new_key(owner_key_path(out))
    fund_owner(chain, owner)
    board = deploy_board(chain, params, owner)
    rec = board_record(board, rpc=chain.target, stake=stake, store=store)
    save(rec, out)
    return board, rec


def load_board(path: Path) -> BoardRecord:
    try:
        return load(path, BoardRecord)
    except DeploymentError as exc:
        raise ConfigError(str(exc)) from None


def open_side(chain: Chain, rec: BoardRecord, path: Path, **key):
    """The owner's side (owner=KEY) or one node's (account=KEY), checked against the chain (exit 2 otherwise)."""
    from contracts.board_client import open_board

    try:
        return open_board(chain, rec, path, **key)
    except DeploymentError as exc:
        raise ConfigError(str(exc)) from None


def workload_of(spec: Swarmed):
    from sims.board_workloads import build

    return build(spec.workload, spec.settings, workers=spec.honest + spec.adversaries, adversaries=spec.adversaries,
                 seed=spec.seed)


def coordinator_run(deployment: Path, participants: Path, spec: Swarmed, *, reports: int | None,
                    duration: float | None, every: int, owner_key: Path | None, out: Path, store_port: int,
                    chain: str | None, patience: float = 30.0, stats: Path | None = None,
                    say: Callable[[str], None] = print) -> None:
    """`deml coordinator run --mode farsign`: serve the board until `reports` posts are applied (or `duration`
    seconds); started again with the same arguments it rebuilds its state from the board's events and goes on."""
    from coordinator import farsign
    from coordinator.board_service import BoardService, Cadence
    from coordinator.store_server import ModelStore

    rec = load_board(deployment)
    members, _ = read_participants(participants)
    if len(members) != spec.honest + spec.adversaries:
        raise ConfigError(f"--participants {participants}: {len(members)} nodes, but --honest {spec.honest} "
                          f"--adversaries {spec.adversaries} make {spec.honest + spec.adversaries}; list each once")
    if reports is None and duration is None:
        raise ConfigError("--reports / --duration: give at least one, e.g. --reports 500")
    if every < 1:
        raise ConfigError(f"--publish-every {every}: give 1 or more reports per published version")
    owner = read_key(owner_key or owner_key_path(deployment), "--owner-key")
    if owner.address != rec.owner:
        raise ConfigError(f"--owner-key: key of {owner.address}, but the board's owner is {rec.owner}")
    work = workload_of(spec)
    target = reach(chain or rec.rpc)
    board = open_side(target, rec, deployment, owner=owner)
    out.mkdir(parents=True, exist_ok=True)
    models = ModelStore(out / "store")
    server = serve_store(models, store_port)
    say(f"data collector of board {rec.board} on {target.target}: {len(members)} nodes, {spec.workload} "
        f"(d = {work.dim}); model store at {server.url}")
    watch = Stopwatch()
    service = BoardService(board, farsign.rule(work.params()), work.x0, members, work.sizes(), work.scale_bits,
                           models, stake=rec.stake, cadence=Cadence(every, reports, duration), say=say,
                           stopwatch=watch, patience=Patience(patience))
    try:
        with terminated_as_interrupt(), peer_failures():
            state = service.run()
        say(f"done: {state.n} reports applied")
    finally:
        server.close()
        watch.dump(stats)


def node_run(deployment: Path, key: Path, role: str, spec: Swarmed, *, store: str | None, delay: str,
             join_timeout: float, chain: str | None, patience: float = 30.0, stats: Path | None = None,
             say: Callable[[str], None] = print, stop: Callable[[], bool] = lambda: False) -> None:
    """`deml node run --mode farsign`: register, then report at the latest version until stopped."""
    from nodes.board_runtime import BoardNodeProcess
    from protocol.store import StoreClient
    from sims.board_workloads import ROLES, delay_law

    rec = load_board(deployment)
    if role not in ROLES:
        raise ConfigError(f"--role {role!r}: unknown for --mode farsign; use one of {', '.join(ROLES)}")
    pause = (lambda rng: 0.0) if role == "flood" else delay_law(delay)
    account = read_key(key)
    url = store or rec.store
    if url is None:
        raise ConfigError(f"--store: not given, and {deployment} names no store; give http://127.0.0.1:PORT")
    try:
        client = StoreClient(url)
    except ValueError as exc:
        raise ConfigError(f"--store: {exc}") from None
    work = workload_of(spec)
    target = reach(chain or rec.rpc, accounts=[account])
    board = open_side(target, rec, deployment, account=account)
    watch = Stopwatch()
    node = BoardNodeProcess(board, work.respond(role), client, dim=work.dim, scale_bits=work.scale_bits,
                            stake=rec.stake, seed=spec.seed, pause=pause, backoff=role != "flood", say=say, stopwatch=watch,
                            patience=Patience(patience))
    take_part(node, join_timeout, stop, lambda: f"node {account.address} ({role}, block {node.block}, {node.size} "
              f"values) on {target.target}", say,
              lambda: watch.dump(stats, address=account.address, posted=node.posted, refused=node.refused))
