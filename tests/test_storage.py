"""Object storage against a real SeaweedFS on 127.0.0.1, and the local backend."""
from __future__ import annotations

import hashlib
import os
import threading

import pytest

from signbridge.errors import InvalidKeyError, StorageError
from signbridge.storage import open_store, sha256_file, validate_key
from signbridge.storage.local import LocalStore
from signbridge.storage.s3 import make_client


def test_put_get_list_delete(s3_bucket, s3_server):
    store = open_store(s3_bucket + "/runs/a", s3_server)
    uri = store.put_bytes("x/one.txt", b"one", content_type="text/plain")
    store.put_bytes("x/two.txt", b"two")
    store.put_bytes("y.txt", b"why")
    assert uri == f"{s3_bucket}/runs/a/x/one.txt"
    assert store.get_bytes("x/one.txt") == b"one"
    assert [o.key for o in store.list()] == ["x/one.txt", "x/two.txt", "y.txt"]
    assert [o.key for o in store.list("x/")] == ["x/one.txt", "x/two.txt"]
    assert store.exists("y.txt") and not store.exists("nope.txt")
    store.delete("y.txt")
    assert not store.exists("y.txt")
    # a sibling prefix is invisible from this root
    open_store(s3_bucket + "/runs/b", s3_server).put_bytes("z.txt", b"z")
    assert "z.txt" not in [o.key for o in store.list()]


def test_missing_object_is_a_clear_error(s3_bucket, s3_server):
    store = open_store(s3_bucket, s3_server)
    with pytest.raises(StorageError, match="NoSuchKey|404|Not Found"):
        store.get_bytes("does/not/exist")


def test_multipart_upload_used_for_large_objects(s3_bucket, s3_server, tmp_path):
    settings = s3_server.replace(s3_multipart_mb=5)
    store = open_store(s3_bucket, settings)
    data = os.urandom(12 * 1024 * 1024 + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    store.put_file("big.bin", src)
    etag = next(o.etag for o in store.list() if o.key == "big.bin")
    assert etag and "-" in etag, f"expected a multipart ETag (md5-N), got {etag!r}"
    assert etag.endswith("-3")
    back = store.get_file("big.bin", tmp_path / "back.bin")
    assert back.read_bytes() == data


def test_100mb_round_trip_with_checksums(s3_bucket, s3_server, tmp_path):
    src = tmp_path / "hundred.bin"
    chunk = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for i in range(100):
            f.write(hashlib.sha256(bytes([i])).digest() + chunk[32:])
    assert src.stat().st_size == 100 * (1 << 20)
    store = open_store(s3_bucket, s3_server)
    store.put_file("blobs/hundred.bin", src)
    dst = store.get_file("blobs/hundred.bin", tmp_path / "out" / "hundred.bin")
    assert sha256_file(dst) == sha256_file(src)
    assert not (tmp_path / "out" / "hundred.bin.part").exists()


def _overwrite_is_atomic(store, key: str, old: bytes, new: bytes) -> None:
    store.put_bytes(key, old)
    seen: set[str] = set()
    stop = threading.Event()
    errors: list[Exception] = []

    def reader():
        while not stop.is_set():
            try:
                seen.add(hashlib.sha256(store.get_bytes(key)).hexdigest())
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(3):
        store.put_bytes(key, new)
        store.put_bytes(key, old)
    store.put_bytes(key, new)
    stop.set()
    t.join()
    allowed = {hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()}
    assert not errors, errors[:1]
    assert seen and seen <= allowed, "a reader saw a partial or mixed object"
    assert store.get_bytes(key) == new


def test_atomic_overwrite_s3(s3_bucket, s3_server):
    _overwrite_is_atomic(open_store(s3_bucket, s3_server), "obj.bin", os.urandom(3 << 20), os.urandom(5 << 20))


def test_atomic_overwrite_local(tmp_path):
    store = LocalStore(tmp_path)
    _overwrite_is_atomic(store, "d/obj.bin", os.urandom(3 << 20), os.urandom(5 << 20))
    assert not [p for p in (tmp_path / "d").iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "/etc/passwd", "a/./b", "a\\b", "..", "a/\x00b", "", "  "])
def test_key_validation_rejects_traversal(bad):
    with pytest.raises(InvalidKeyError):
        validate_key(bad)


@pytest.mark.parametrize("bad", ["../escape.txt", "sub/../../escape.txt", "/abs.txt"])
def test_stores_refuse_escape(bad, tmp_path, s3_bucket, s3_server):
    local = LocalStore(tmp_path / "root")
    with pytest.raises(InvalidKeyError):
        local.put_bytes(bad, b"x")
    with pytest.raises(InvalidKeyError):
        local.child(bad)
    with pytest.raises(InvalidKeyError):
        open_store(s3_bucket + "/root", s3_server).put_bytes(bad, b"x")
    assert not (tmp_path / "escape.txt").exists()


def test_unicode_keys_round_trip(s3_bucket, s3_server, tmp_path):
    for store in (open_store(s3_bucket, s3_server), LocalStore(tmp_path)):
        store.put_bytes("vidéos/手話 clip.mp4", b"u")
        assert store.get_bytes("vidéos/手話 clip.mp4") == b"u"
        assert [o.key for o in store.list("vidéos/")] == ["vidéos/手話 clip.mp4"]


def test_wrong_credentials_give_a_specific_error(s3_bucket, s3_server):
    bad = s3_server.replace(s3_secret_key="wrong-secret", s3_retries=1)
    with pytest.raises(StorageError, match="AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID"):
        open_store(s3_bucket, bad).put_bytes("x", b"x")


def test_unreachable_endpoint_is_a_clear_error(s3_server):
    dead = s3_server.replace(s3_endpoint="http://127.0.0.1:9", s3_retries=1)
    with pytest.raises(StorageError, match="cannot reach S3 endpoint http://127.0.0.1:9"):
        open_store("s3://bucket", dead).put_bytes("x", b"x")


def test_plain_boto3_sees_the_same_objects(s3_bucket, s3_server):
    """Any S3 client works against the store: path-style, endpoint + keys only."""
    open_store(s3_bucket + "/p", s3_server).put_bytes("k.txt", b"v")
    client = make_client(s3_server)
    bucket = s3_bucket[5:]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["p/k.txt"]


def test_result_folder_is_stable_and_settings_sensitive():
    from signbridge.pipeline.layout import folder_for
    from signbridge.storage.keys import settings_fingerprint

    sha = hashlib.sha256(b"video").hexdigest()
    a = folder_for(sha, settings_fingerprint({"fps": 15, "face": "full"}))
    assert a == folder_for(sha, settings_fingerprint({"face": "full", "fps": 15}))
    assert a != folder_for(sha, settings_fingerprint({"fps": 30, "face": "full"}))
    assert a.startswith(sha[:16])
    with pytest.raises(InvalidKeyError):
        folder_for("../../etc", "x")


def test_storage_ls_put_get_commands(s3_bucket, s3_server, tmp_path, monkeypatch, capsys):
    """`signbridge storage put / ls / get` against the real server, and a missing object as one clear error."""
    from signbridge.cli import main

    for env, value in (("AWS_ENDPOINT_URL", s3_server.s3_endpoint), ("AWS_ACCESS_KEY_ID", s3_server.s3_access_key),
                       ("AWS_SECRET_ACCESS_KEY", s3_server.s3_secret_key)):
        monkeypatch.setenv(env, value)
    src = tmp_path / "clip.bin"
    src.write_bytes(os.urandom(70_000))
    home = ["--home", str(tmp_path / "h")]
    assert main(["storage", "put", str(src), f"{s3_bucket}/in/dir/clip.bin", *home]) == 0
    assert capsys.readouterr().out.strip() == f"{s3_bucket}/in/dir/clip.bin"
    open_store(s3_bucket, s3_server).put_bytes("in/other.txt", b"abc")
    assert main(["storage", "ls", f"{s3_bucket}/in", *home]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert sorted(listed) == [["3", f"{s3_bucket}/in/other.txt"], ["70000", f"{s3_bucket}/in/dir/clip.bin"]]
    back = tmp_path / "back.bin"
    assert main(["storage", "get", f"{s3_bucket}/in/dir/clip.bin", str(back), *home]) == 0
    assert back.read_bytes() == src.read_bytes()
    assert main(["storage", "get", f"{s3_bucket}/in/nope.bin", str(tmp_path / "n"), *home]) == 1
    err = capsys.readouterr().err
    assert "nope.bin" in err and "Traceback" not in err and not (tmp_path / "n").exists()
