"""The model store: content-addressed by the round's params_digest, .npy read without unpickling, size-limited,
and a node's client refuses anything but the model asked for."""
import io
import pickle

import numpy as np
import pytest

from coordinator.store_server import ModelStore, StoreServer
from protocol import store
from protocol.digest import params_digest
from protocol.store import StoreClient, StoreError


def test_the_key_is_the_rounds_params_digest_and_a_model_round_trips():
    theta = np.array([10.0, -2.5, 3.0])
    key, payload = store.encode(theta)
    assert key == params_digest(theta)  # what the DC posts is what the store is asked for
    assert np.array_equal(store.decode(payload, key, 3), theta)


def test_another_model_under_the_key_is_refused():
    key, _ = store.encode(np.array([1.0, 2.0, 3.0]))
    _, other = store.encode(np.array([1.0, 2.0, 3.0 + 1e-12]))
    with pytest.raises(StoreError, match="not the round's params_digest"):
        store.decode(other, key, 3)


@pytest.mark.parametrize("payload", [
    b"not a numpy file",
    pickle.dumps(np.array([1.0, 2.0, 3.0])),
])
def test_what_is_not_a_npy_vector_is_refused(payload):
    with pytest.raises(StoreError, match="not a .npy array"):
        store.decode(payload, bytes(32))


def test_a_pickled_object_array_is_never_unpickled(monkeypatch):
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, lambda *a, **k: pytest.fail("unpickled a peer's bytes"))
    with pytest.raises(StoreError):
        store.decode(buf.getvalue(), bytes(32))


def test_wrong_shape_or_dtype_is_refused():
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 2)))
    with pytest.raises(StoreError, match="not a vector"):
        store.decode(buf.getvalue(), params_digest(np.zeros((2, 2))))
    key, payload = store.encode(np.zeros(4))
    with pytest.raises(StoreError, match="4 parameters where the round has 3"):
        store.decode(payload, key, 3)


def test_the_server_serves_by_digest_and_the_client_checks(tmp_path):
    models = ModelStore(tmp_path / "store")
    server = StoreServer(models)
    try:
        client = StoreClient(server.url)
        key = models.put(np.arange(5.0))
        assert models.put(np.arange(5.0)) == key  # idempotent
        assert np.array_equal(client.get(key, 5), np.arange(5.0))
        with pytest.raises(StoreError, match="has no model"):
            client.get(params_digest(np.ones(5)))
        # a store that serves a wrong model under the key (here: its file swapped), to a node that has not fetched it
        models.file(key).write_bytes(store.encode(np.ones(5))[1])
        with pytest.raises(StoreError, match="not the round's params_digest"):
            StoreClient(server.url).get(key, 5)
        # a node that has keeps the model it checked (a rejected round posts it again): no second request
        mine = client.get(key, 5)
        mine[0] = 99.0  # the caller's own copy
        assert np.array_equal(client.get(key, 5), np.arange(5.0))
        with pytest.raises(StoreError, match="5 parameters where the round has 4"):
            client.get(key, 4)
        small = StoreClient(server.url, max_bytes=64)
        with pytest.raises(StoreError, match="more than 64 bytes"):
            small.get(key)
    finally:
        server.close()


def test_a_store_that_is_gone_is_a_connection_error(tmp_path):
    server = StoreServer(ModelStore(tmp_path))
    url = server.url
    server.close()
    with pytest.raises(ConnectionError, match="store: no answer"):
        StoreClient(url, timeout=1).get(bytes(32))


def test_a_full_report_is_taken_only_under_its_own_digest_and_at_the_models_size(tmp_path):
    """Sketched rounds: a node delivers its packed report; nobody can replace one, or send anything but a report."""
    from protocol import codec
    from protocol.commitment import report_digests

    models = ModelStore(tmp_path / "store", report_dim=6)
    server = StoreServer(models)
    try:
        client = StoreClient(server.url)
        report = np.array([3, -7, 0, 2**31 - 1, -(2**31), 12])
        packed = codec.pack(report)
        key = client.put_report(packed)
        assert key == report_digests(report[None])[0]  # the digest the node revealed with its sketch
        assert client.put_report(packed) == key  # delivered again: nothing changes
        assert np.array_equal(client.get_report(key, 6), report)
        assert np.array_equal(models.report(key), report)
        other = codec.pack(report + 1)
        with pytest.raises(StoreError, match="digest is not"):  # another report under this one's key
            client._fetch(store.report_path(key), upload=other)
        assert np.array_equal(models.report(key), report)
        with pytest.raises(StoreError, match="exactly 24 bytes"):  # not the model's size
            client.put_report(codec.pack(report[:5]))
        with pytest.raises(StoreError, match="has no report"):
            client.get_report(report_digests((report + 1)[None])[0], 6)
        assert models.report(report_digests((report + 1)[None])[0]) is None
    finally:
        server.close()


def test_a_store_of_unsketched_rounds_takes_no_report(tmp_path):
    from protocol import codec

    server = StoreServer(ModelStore(tmp_path))
    try:
        with pytest.raises(StoreError, match="exactly 0 bytes"):
            StoreClient(server.url).put_report(codec.pack(np.arange(4)))
    finally:
        server.close()


def test_an_answer_cut_short_is_a_connection_error_not_a_wrong_model():
    """A DC killed between a response's headers and its body: the node retries (a lost store) instead of
    refusing the round's model as a wrong one and exiting (this failed a 100-round kill -9 run)."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    key, payload = store.encode(np.arange(5.0))

    def serve_headers_only():
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload[:10])
        conn.close()

    server = threading.Thread(target=serve_headers_only, daemon=True)
    server.start()
    try:
        with pytest.raises(ConnectionError, match=f"stopped after 10 of {len(payload)} bytes"):
            StoreClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=5).get(key, 5)
    finally:
        server.join(5)
        listener.close()


def test_the_store_folder_read_on_this_machine_answers_as_the_server_does(tmp_path):
    """`file:///path`: the nodes of a local swarm read the DC's folder with the same checks, and a report written
    there is read back by the DC only if it is one under its own digest."""
    from protocol import codec
    from protocol.commitment import report_digests

    folder = tmp_path / "store"
    client = StoreClient(folder.as_uri())
    with pytest.raises(StoreError, match="no such folder"):  # before the DC has made it
        client.get(bytes(32))
    models = ModelStore(folder, report_dim=3)
    key = models.put(np.arange(3.0))
    assert np.array_equal(client.get(key, 3), np.arange(3.0))
    with pytest.raises(StoreError, match="has no model"):
        client.get(params_digest(np.ones(3)))
    models.file(key).write_bytes(store.encode(np.ones(3))[1])  # a wrong model under the key
    with pytest.raises(StoreError, match="not the round's params_digest"):
        StoreClient(folder.as_uri()).get(key, 3)
    with pytest.raises(StoreError, match="more than 64 bytes"):
        StoreClient(folder.as_uri(), max_bytes=64).get(key)

    report = np.array([5, -1, 2**31 - 1])
    digest = client.put_report(codec.pack(report))
    assert digest == report_digests(report[None])[0]
    assert np.array_equal(models.report(digest), report) and np.array_equal(client.get_report(digest, 3), report)
    # what a node writes beside the server's checks: a file that is not a report of the model's size under its own
    # digest is no delivery (the DC reads None, it does not fail)
    models.file(digest, "report").write_bytes(codec.pack(report + 1))
    assert models.report(digest) is None
    short = codec.pack(report[:2])
    models.file(report_digests(report[None, :2])[0], "report").write_bytes(short)
    assert models.report(report_digests(report[None, :2])[0]) is None
    # a file the folder cannot give (here a folder in its place) is a lost store, retried, not a wrong model
    models.file(params_digest(np.zeros(3))).mkdir()
    with pytest.raises(ConnectionError, match="^store: cannot use"):
        client.get(params_digest(np.zeros(3)))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:1", "file:relative/store", "127.0.0.1:8000"])
def test_a_store_url_that_is_neither_http_nor_a_folder_is_refused(url):
    with pytest.raises(ValueError, match="expected http://HOST:PORT or file:///PATH"):
        StoreClient(url)
