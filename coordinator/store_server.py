"""The DC's model store: content-addressed `.npy` files in a folder, served over HTTP on 127.0.0.1.

`ModelStore.put` writes a model under its digest (`protocol.store`: the key is the round's params_digest) and
is idempotent; the folder outlives the process, so a restarted DC serves every model it posted before. The
server answers `GET /model/<digest>` from the folder, and for sketched rounds takes the nodes' full reports
(`PUT /report/<digest>`: exactly `report_dim` packed values whose keccak256 is the digest, else 400) and serves
them back (`GET /report/<digest>`), so that anyone may check a sketch against its report.

What an uploader can do: add a well-formed report of the model's size under its own digest. It cannot replace
one (the key is the content's hash) and it cannot send more than one report's bytes a request; what it can do
is fill the disk with many such reports. On 127.0.0.1 the uploaders are this machine's own processes; a store
facing other machines would admit only digests revealed on chain.
"""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from protocol import store

_KEY = re.compile(r"^/(model|report)/([0-9a-f]{64})$")


def read_report(folder: Path, key: bytes, dim: int) -> np.ndarray | None:
    """The full report [dim] int64 delivered under `key` to the store in `folder` (None if none was): for readers
    beside the DC, such as a swarm's run directory. A file there that is not such a report (nodes on this machine
    may write the folder directly) is no delivery either."""
    file = Path(folder) / f"{key.hex()}{store.SUFFIX['report']}"
    try:
        return store.decode_report(file.read_bytes(), key, dim)
    except (FileNotFoundError, store.StoreError):
        return None


class ModelStore:
    """`report_dim`: the values of a full report it takes (the model's size); None takes none."""

    def __init__(self, folder: Path, report_dim: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.report_dim = report_dim

    def file(self, key: bytes, kind: str = "model") -> Path:
        return self.folder / f"{key.hex()}{store.SUFFIX[kind]}"

    def put(self, theta: np.ndarray) -> bytes:
        """Store one model; its key."""
        key, payload = store.encode(theta)
        store.write_once(self.file(key), payload)
        return key

    def put_report(self, key: bytes, payload: bytes) -> None:
        """Store a delivered full report under its digest (StoreError if it is not one of the model's size)."""
        if self.report_dim is None:
            raise store.StoreError("this store takes no reports (its rounds are not sketched)")
        store.decode_report(payload, key, self.report_dim)
        store.write_once(self.file(key, "report"), payload)

    def report(self, key: bytes) -> np.ndarray | None:
        """A delivered full report [report_dim] int64, or None if none was delivered under `key`."""
        return read_report(self.folder, key, self.report_dim)


class StoreServer:
    """A threaded HTTP server over a ModelStore on 127.0.0.1:`port` (0: a free port), in a daemon thread."""

    def __init__(self, models: ModelStore, port: int = 0):
        folder = models.folder

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a node fetches every round's model on one connection
            # the headers and the body go out as two writes: with Nagle's algorithm the body waits for the client's
            # delayed ACK of the headers, 40 ms a fetch on Linux (measured: 45 ms -> well under 1 ms a model)
            disable_nagle_algorithm = True

            def do_GET(self):  # noqa: N802 (http.server's name)
                match = _KEY.match(self.path)
                file = folder / f"{match.group(2)}{store.SUFFIX[match.group(1)]}" if match else None
                data = file.read_bytes() if file is not None and file.is_file() else b""
                self._answer(200 if data else 404, data)

            def do_PUT(self):  # noqa: N802
                match = _KEY.match(self.path)
                length = int(self.headers.get("Content-Length") or -1)
                expected = 4 * (models.report_dim or 0)
                if not match or match.group(1) != "report" or length != expected:
                    self.close_connection = True  # the body, if any, is not read: the connection cannot go on
                    return self._answer(400, f"PUT /report/<digest> with exactly {expected} bytes".encode())
                try:
                    models.put_report(bytes.fromhex(match.group(2)), self.rfile.read(length))
                except store.StoreError as exc:
                    return self._answer(400, str(exc).encode())
                self._answer(201, b"")

            def _answer(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet: one line per fetch would drown the DC's own log
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="model-store", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
