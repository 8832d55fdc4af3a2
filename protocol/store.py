"""The model store's format, and the small client a node fetches a round's model with.

A model travels as a `.npy` file holding one 1-D array of little-endian float64 (`<f8`) parameters: numpy's
documented format, read back with `allow_pickle=False`, so nothing a peer sends is ever unpickled. Its key is
the keccak256 of the array's raw bytes (the `.npy` data after its header), which is exactly the digest a round
posts (`protocol.digest.params_digest` of the float64 parameters): a node asks the store for the round's
`params_digest`, recomputes the digest of what it got, and refuses anything else. The header is checked too
(dtype, one dimension, the round's dimension), and a response is refused beyond `max_bytes`.

    GET /model/<64 hex digits of the digest>  ->  200, the .npy bytes   (404: the store has no such model)

A sketched round's full reports travel the other way (docs/sketch.md): a node uploads its report before it reveals
the sketch, as the packed big-endian int32 words the contract hashes (`codec.pack`), keyed by their keccak256,
which is the digest it revealed. The DC's store takes a report only of the size it expects and only under its own
digest, so an upload can neither replace another node's report nor be anything but a report.

    PUT /report/<64 hex digits of the digest>, body the packed report  ->  201 (400: wrong size or digest)
    GET /report/<64 hex digits of the digest>  ->  200, the packed report  (404: none delivered)

On disk the store is a folder of `<64 hex digits>.npy` models and `<64 hex digits>.report` reports, each written
whole (to a temporary name, then renamed) and never changed. A process on the DC's machine may read that folder
directly (`file:///path/to/store`): the same checks, without the HTTP round trip through the DC's process, which
a swarm's ten nodes otherwise all make at once as a round opens.
"""
from __future__ import annotations

import http.client
import io
import os
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

from protocol import codec
from protocol.commitment import keccak
from protocol.digest import params_digest

MAX_BYTES = 64 * 2**20  # 8M parameters; the coordinator's reports stop at 256 values, so any model fits
DTYPE = np.dtype("<f8")


class StoreError(Exception):
    """The store answered, but not with the model asked for (or not with a model at all)."""


def encode(theta: np.ndarray) -> tuple[bytes, bytes]:
    """(key, .npy bytes) of one model's parameters, flattened in C order."""
    arr = np.ascontiguousarray(np.asarray(theta, dtype=DTYPE).reshape(-1))
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return params_digest(arr), buf.getvalue()


def decode(payload: bytes, key: bytes, dim: int | None = None) -> np.ndarray:
    """The parameters in `payload`, if it is a float64 vector (of `dim` values, when given) whose digest is
    `key`; StoreError otherwise."""
    try:
        arr = np.load(io.BytesIO(payload), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise StoreError(f"not a .npy array of parameters ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype != DTYPE or arr.ndim != 1:
        raise StoreError(f"a {getattr(arr, 'dtype', type(arr).__name__)} array of shape "
                         f"{getattr(arr, 'shape', '?')}, not a vector of little-endian float64")
    if dim is not None and arr.shape[0] != dim:
        raise StoreError(f"{arr.shape[0]} parameters where the round has {dim}")
    got = params_digest(arr)
    if got != key:
        raise StoreError(f"a model whose digest 0x{got.hex()} is not the round's params_digest 0x{key.hex()}")
    return arr


SUFFIX = {"model": ".npy", "report": ".report"}  # a stored file's name: the key's hex digits, then the kind's suffix


def path(key: bytes) -> str:
    return f"/model/{key.hex()}"


def report_path(key: bytes) -> str:
    return f"/report/{key.hex()}"


def write_once(target: Path, payload: bytes) -> None:
    """Write a stored file atomically (a reader never sees half of it) and once (its name is its content's hash)."""
    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(payload)
        tmp.replace(target)


def decode_report(payload: bytes, key: bytes, dim: int) -> np.ndarray:
    """The fixed-point report [dim] int64 in `payload`, if it is `dim` packed words whose keccak256 is `key`."""
    if len(payload) != 4 * dim:
        raise StoreError(f"a report of {len(payload)} bytes where the round's reports have {4 * dim}")
    if keccak(payload) != key:
        raise StoreError(f"a report whose digest is not 0x{key.hex()[:16]}..")
    return codec.unpack(payload)


class StoreClient:
    """Fetches models over one kept-alive HTTP connection (`http://HOST:PORT`), or reads them from the store's
    folder on this machine (`file:///path`). Connection failures raise OSError (the caller retries those); a wrong
    answer raises StoreError. The last model fetched is kept: a rejected round posts the same model again, and a
    FAR-SIGN node reads one version for many posts (a LeNet model is 494 KB)."""

    def __init__(self, url: str, *, timeout: float = 10.0, max_bytes: int = MAX_BYTES):
        parts = urlsplit(url)
        local = parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/")
        self.folder = Path(unquote(parts.path)) if local else None
        if self.folder is None and (parts.scheme != "http" or not parts.hostname or not parts.port):
            raise ValueError(f"store: expected http://HOST:PORT or file:///PATH, got {url!r}")
        self.url, self.host, self.port = url, parts.hostname, parts.port
        self.timeout, self.max_bytes = timeout, max_bytes
        self._conn: http.client.HTTPConnection | None = None
        self._last: tuple[bytes, np.ndarray] | None = None  # (key, parameters) of the last model fetched

    def get(self, key: bytes, dim: int | None = None) -> np.ndarray:
        """The model under `key` (its digest checked), of `dim` parameters when given: the caller's own copy."""
        if self._last is None or self._last[0] != key or dim not in (None, self._last[1].shape[0]):
            self._last = (key, decode(self._fetch(path(key)), key, dim))
        return self._last[1].copy()

    def get_report(self, key: bytes, dim: int) -> np.ndarray:
        """A delivered full report [dim] int64, checked against its digest."""
        return decode_report(self._fetch(report_path(key)), key, dim)

    def put_report(self, packed: bytes) -> bytes:
        """Deliver a full report (packed words); its key. Delivering it again changes nothing."""
        key = keccak(packed)
        self._fetch(report_path(key), upload=packed)
        return key

    def _fetch(self, target: str, upload: bytes | None = None) -> bytes:
        if self.folder is not None:
            return self._file(target, upload)
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self._conn.request("GET" if upload is None else "PUT", target, body=upload)
            answer = self._conn.getresponse()
            length = int(answer.headers.get("Content-Length") or self.max_bytes + 1)
            body = answer.read(min(length, self.max_bytes + 1))
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ConnectionError(f"store: no answer at {self.url} ({exc})") from None
        if answer.status == 404:
            what = target.split("/")[1]
            raise StoreError(f"the store at {self.url} has no {what} {target.rsplit('/', 1)[-1][:16]}...")
        if answer.status == 400:
            self.close()  # the store may not have read the upload: the connection cannot carry another request
            raise StoreError(f"the store at {self.url} refused the upload: {body.decode(errors='replace')[:200]}")
        if answer.status not in (200, 201):
            self.close()
            raise StoreError(f"the store at {self.url} answered HTTP {answer.status}")
        if length > self.max_bytes or len(body) > self.max_bytes:
            self.close()
            raise StoreError(f"the store at {self.url} sent more than {self.max_bytes} bytes")
        if len(body) < length:  # the store died mid-answer (read(n) returns what came, raising nothing): retry
            self.close()
            raise ConnectionError(f"store: the answer from {self.url} stopped after {len(body)} of {length} bytes")
        return body

    def _file(self, target: str, upload: bytes | None) -> bytes:
        """`_fetch` from the store's folder. An upload is written under its name as it is: the server's checks are
        not needed there, as the DC reads a report only if it is one of the model's size under its own digest."""
        _, kind, hexkey = target.split("/")
        file = self.folder / f"{hexkey}{SUFFIX[kind]}"
        try:
            if upload is not None:
                write_once(file, upload)
                return b""
            if file.stat().st_size > self.max_bytes:
                raise StoreError(f"the store at {self.url} holds more than {self.max_bytes} bytes under "
                                 f"{hexkey[:16]}...")
            return file.read_bytes()
        except FileNotFoundError:
            if not self.folder.is_dir():  # not made yet: the DC makes it before it opens its first round
                raise StoreError(f"the store at {self.url}: no such folder") from None
            raise StoreError(f"the store at {self.url} has no {kind} {hexkey[:16]}...") from None
        except OSError as exc:  # a full disk, a file being replaced: a lost store, which the caller retries
            raise ConnectionError(f"store: cannot use {file} ({exc.strerror or type(exc).__name__})") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
