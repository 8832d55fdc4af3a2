"""anvil, the local devnet: installed from npm into the project's ignored `.deml/anvil`, started on 127.0.0.1 on a
free port, stopped by PID.

    python -m contracts.anvil install     # idempotent; what CI runs before the tests
    python -m contracts.anvil up | down   # the same as `deml chain up` / `deml chain down`

anvil runs with --prune-history and its cache under .deml (left alone it keeps a state file per block under the
user's home and slows as blocks accumulate), and with the Prague hardfork, the EVM of the embedded py-evm chain,
so that gas figures agree between the two.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "@foundry-rs/anvil-linux-amd64"
HOME = Path(os.environ.get("DEML_HOME", Path(__file__).resolve().parents[1] / ".deml")) / "anvil"
PID_FILE = HOME / "anvil.json"
HARDFORK = "prague"
BLOCK_GAS = 60_000_000  # as the embedded chain's; raise for experiments at large N and d


@dataclass(frozen=True)
class Anvil:
    url: str
    pid: int
    log: Path


def binary() -> Path:
    return HOME / "node_modules" / PACKAGE / "bin" / "anvil"


def install() -> Path:
    """Install the anvil npm package under .deml/anvil unless it is there already; its binary's path."""
    if binary().exists():
        return binary()
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"anvil: npm not found; install Node.js, or put the anvil binary at {binary()}")
    HOME.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--prefix", str(HOME), "--no-save", "--no-audit", "--no-fund", PACKAGE],
                   check=True, stdout=subprocess.DEVNULL)
    if not binary().exists():
        raise RuntimeError(f"anvil: npm installed {PACKAGE} but {binary()} is missing")
    return binary()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str) -> bool:
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1) as answer:
            return b"result" in answer.read()
    except OSError:
        return False


def start(*, gas_limit: int = BLOCK_GAS, record: bool = True, timeout: float = 30.0) -> Anvil:
    """Start anvil on a free port of 127.0.0.1 and wait until it answers; `record` it in PID_FILE for `running`
    and `stop` in later processes (tests that own their anvil do not)."""
    exe = install()
    port = _free_port()
    run_dir = HOME / f"run-{port}"
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "anvil.log"
    args = [str(exe), "--host", "127.0.0.1", "--port", str(port), "--prune-history", "--cache-path",
            str(run_dir / "cache"), "--hardfork", HARDFORK, "--gas-limit", str(gas_limit)]
    with open(log, "w") as out:
        # its own session, so that stopping it never signals us; HOME inside .deml so nothing lands in ~/.foundry
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "HOME": str(run_dir)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not _ready(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"anvil did not start at {url}; see {log}:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    anvil = Anvil(url, proc.pid, log)
    if record:
        PID_FILE.parent.mkdir(parents=True, exist_ok=True)
        PID_FILE.write_text(json.dumps({"url": url, "pid": proc.pid, "log": str(log)}))
    return anvil


def running() -> Anvil | None:
    """The anvil recorded in PID_FILE, if it is still alive."""
    if not PID_FILE.exists():
        return None
    info = json.loads(PID_FILE.read_text())
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        PID_FILE.unlink()
        return None
    return Anvil(info["url"], info["pid"], Path(info["log"]))


def stop(anvil: Anvil | None = None, *, timeout: float = 10.0) -> bool:
    """Stop `anvil` (default: the one recorded in PID_FILE) by its PID; False when there was none."""
    anvil = anvil or running()
    if anvil is None:
        return False
    try:
        os.kill(anvil.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.waitpid(anvil.pid, os.WNOHANG)[0] != 0:
                    break
            except ChildProcessError:  # started by another process: poll for it instead
                try:
                    os.kill(anvil.pid, 0)
                except ProcessLookupError:
                    break
            time.sleep(0.05)
        else:
            os.kill(anvil.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if PID_FILE.exists() and json.loads(PID_FILE.read_text())["pid"] == anvil.pid:
        PID_FILE.unlink()
    shutil.rmtree(anvil.log.parent, ignore_errors=True)
    return True


if __name__ == "__main__":
    verb = sys.argv[1] if len(sys.argv) > 1 else ""
    if verb == "install":
        print(install())
    elif verb == "up":
        live = running()
        print((live or start()).url)
    elif verb == "down":
        print("stopped" if stop() else "no anvil recorded as running")
    else:
        sys.exit("usage: python -m contracts.anvil install | up | down")
