"""The DC's model store: content-addressed `.npy` files in a folder, served over HTTP on 127.0.0.1.

`ModelStore.put` writes a model under its digest (`protocol.store`: the key is the round's params_digest) and
is idempotent; the folder outlives the process, so a restarted DC serves every model it posted before. The
server answers `GET /model/<digest>` from the folder and nothing else.
"""
from __future__ import annotations

import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from protocol import store

_KEY = re.compile(r"^/model/([0-9a-f]{64})$")


class ModelStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def file(self, key: bytes) -> Path:
        return self.folder / f"{key.hex()}.npy"

    def put(self, theta: np.ndarray) -> bytes:
        """Store one model (atomically: a reader never sees half a file); its key."""
        key, payload = store.encode(theta)
        target = self.file(key)
        if not target.exists():
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(payload)
            tmp.replace(target)
        return key


class StoreServer:
    """A threaded HTTP server over a ModelStore on 127.0.0.1:`port` (0: a free port), in a daemon thread."""

    def __init__(self, models: ModelStore, port: int = 0):
        folder = models.folder

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a node fetches every round's model on one connection

            def do_GET(self):  # noqa: N802 (http.server's name)
                match = _KEY.match(self.path)
                file = folder / f"{match.group(1)}.npy" if match else None
                data = file.read_bytes() if file is not None and file.is_file() else b""
                self.send_response(200 if data else 404)
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
