"""`deml swarm run --ray ADDRESS`: the nodes as actors of a local Ray head that listens on 127.0.0.1 only. The head
is started as docs/cli.md says (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ray start --head --node-ip-address=127.0.0.1`),
every listening socket of every Ray process and of the swarm is watched while the swarm runs, and the run
directory is held to the in-process engine as the process swarm is."""
from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.swarm.conftest import _free_port, swarm_run_is_the_engine

pytest.importorskip("ray")  # the `ray` extra; .ci/run installs it, so CI runs this
pytestmark = [pytest.mark.anvil, pytest.mark.slow]

ROLES = ["honest", "rational", "rational"]


# ------------------------------------------------------------------------------------ processes and sockets
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # the command name may hold spaces and parentheses: the ppid is the 2nd field after the last ")"
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def ray_processes(temp_dir: str) -> set[int]:
    """The head's processes: those naming its temp dir (GCS, raylet, monitors, which are reparented to init) and
    every descendant of them (the agents and the workers, renamed `ray::...`)."""
    kids = _children()
    found = {pid for pids in kids.values() for pid in pids if temp_dir in _cmdline(pid)}
    return found | {d for pid in found for d in _descendants(pid, kids)}


def _descendants(pid: int, kids: dict[int, list[int]]) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _listening() -> dict[int, str]:
    """Socket inode -> "address:port" for every listening TCP socket (IPv4 and IPv6) of this network namespace."""
    out = {}
    for table, width in (("tcp", 4), ("tcp6", 16)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            raw, port = fields[1].split(":")
            packed = bytes.fromhex(raw)
            # the kernel prints the address as 32-bit words in host (little-endian) order
            packed = b"".join(packed[i:i + 4][::-1] for i in range(0, width, 4))
            out[int(fields[9])] = f"{ipaddress.ip_address(packed)}:{int(port, 16)}"
    return out


def listeners(pids: set[int]) -> set[tuple[str, str]]:
    """(process command line, "address:port") of each listening TCP socket the processes hold."""
    table, out = _listening(), set()
    for pid in pids:
        try:
            links = [os.readlink(f) for f in (Path("/proc") / str(pid) / "fd").iterdir()]
        except OSError:  # gone, or a file descriptor closed while listed
            continue
        for link in links:
            if link.startswith("socket:[") and int(link[8:-1]) in table:
                out.add((_cmdline(pid), table[int(link[8:-1])]))  # whole: install paths vary in length
    return out


def loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


class Watch(threading.Thread):
    """Samples, until stopped, the listening sockets of the head's processes and of this test's descendants (the
    swarm: its driver, anvil, the data collector)."""

    def __init__(self, temp_dir: str):
        super().__init__(daemon=True)
        self.temp_dir, self.seen, self.done = temp_dir, set(), threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            mine = _descendants(os.getpid(), _children())
            self.seen |= listeners(ray_processes(self.temp_dir) | mine)
            self.done.wait(0.2)

    def stop(self) -> set[tuple[str, str]]:
        self.done.set()
        self.join()
        return self.seen


# ----------------------------------------------------------------------------------------------- the head
def _stop(pids: set[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.1)


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on 127.0.0.1 and a free port, in its own temp dir; stopped by PID (not `ray stop`, which stops
    every Ray on the machine), checked gone."""
    temp_dir = tempfile.mkdtemp(prefix="deml-ray-")  # short: Ray's unix sockets live under it
    port = _free_port()
    ray_cli = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keep 127.0.0.1 (docs/cli.md)
    started = subprocess.run([str(ray_cli), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                              "--include-dashboard=false", "--disable-usage-stats", "--num-cpus=1",
                              "--object-store-memory=100000000", f"--temp-dir={temp_dir}"],
                             capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield f"127.0.0.1:{port}", temp_dir
    finally:
        _stop(ray_processes(temp_dir))
        left = ray_processes(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left running: {sorted(left)}"


# ---------------------------------------------------------------------------------------------- the test
def test_deml_swarm_run_on_a_loopback_ray_head_listens_on_loopback_only_and_equals_the_engine(ray_head, tmp_path):
    """1 honest + 2 rational nodes as Ray actors, 8 rounds: the run directory is the in-process engine's with the
    same seed, and no socket of Ray (GCS, raylet, agents, the actors' workers, the driver) or of the swarm listened
    on anything but loopback at any time sampled."""
    address, temp_dir = ray_head
    watch = Watch(temp_dir)
    watch.start()
    try:
        config = swarm_run_is_the_engine(tmp_path / "swarm", ROLES, 8, 11, "--ray", address)
    finally:
        seen = watch.stop()
    assert config["ray"] == address and config["node_store"] == config["store"]  # Ray's nodes fetch over HTTP
    assert {a for _, a in seen if not loopback(a)} == set(), sorted(seen)
    owners = " ".join(cmd for cmd, _ in seen)
    # the watch saw the head and the actors' workers listening, so the check above covered them
    assert "gcs_server" in owners and "raylet" in owners and "ray::NodeActor" in owners, sorted(seen)
