"""`storage get` / `results` check every copy by the object's size and the best checksum the store gives
(storage/integrity.py), on a real SeaweedFS: multipart objects uploaded by another tool with another part size
(and with unequal parts), S3 flexible checksums (composite CRC32, whole-object SHA-256), a damaged local copy
of the right size replaced. SSE-KMS objects (whose ETag is not an MD5) cannot be made on SeaweedFS here: that
case is checked on check_file with the fields a HEAD of such an object returns.
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signbridge.storage import open_store
from signbridge.storage.download import copy_object
from signbridge.storage.integrity import Integrity, check_file

MIB = 1 << 20
SB = [sys.executable, "-m", "signbridge"]


def _other_tool(settings, checksums: bool):
    """A boto3 client as another tool would use it (not SignBridge's settings): checksums on request only."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=settings.s3_endpoint, aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        config=Config(region_name="us-east-1", s3={"addressing_style": "path"},
                      request_checksum_calculation="when_supported" if checksums else "when_required"))


def _upload(client, bucket: str, key: str, data: bytes, part_mb: int, **extra) -> None:
    from boto3.s3.transfer import TransferConfig

    client.upload_fileobj(io.BytesIO(data), bucket, key, ExtraArgs=extra or None,
                          Config=TransferConfig(multipart_threshold=part_mb * MIB, multipart_chunksize=part_mb * MIB))


@pytest.fixture(scope="module")
def objects(s3_server, tmp_path_factory):
    """Objects as other tools leave them, under one bucket: name -> (bytes, what checks them)."""
    import uuid

    bucket = f"sums-{uuid.uuid4().hex[:10]}"
    open_store(f"s3://{bucket}", s3_server, create=True)
    plain, crc = _other_tool(s3_server, False), _other_tool(s3_server, True)
    made = {}
    # 6 MiB parts, 13 MiB: part sizes the old guesses (16 MiB, 8 MiB, size/3 and its MiB round-up) all miss
    data = os.urandom(13 * MIB)
    _upload(plain, bucket, "in/six-mib-parts.bin", data, 6)
    made["six-mib-parts.bin"] = (data, "multipart md5 (3 parts)")
    data = os.urandom(12 * MIB + 5)
    _upload(crc, bucket, "in/crc32-parts.bin", data, 5, ChecksumAlgorithm="CRC32")
    made["crc32-parts.bin"] = (data, "crc32 of 3 parts")
    data = os.urandom(3000)
    crc.put_object(Bucket=bucket, Key="in/sha256.bin", Body=data, ChecksumAlgorithm="SHA256")
    made["sha256.bin"] = (data, "sha256")
    # unequal parts (5, 7 and 2 MiB), as a streaming uploader may leave them: the real layout is asked for
    parts = [os.urandom(5 * MIB), os.urandom(7 * MIB), os.urandom(2 * MIB)]
    up = plain.create_multipart_upload(Bucket=bucket, Key="in/unequal.bin")
    etags = [plain.upload_part(Bucket=bucket, Key="in/unequal.bin", UploadId=up["UploadId"], PartNumber=i,
                               Body=p)["ETag"] for i, p in enumerate(parts, 1)]
    plain.complete_multipart_upload(Bucket=bucket, Key="in/unequal.bin", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"ETag": e, "PartNumber": i} for i, e in enumerate(etags, 1)]})
    made["unequal.bin"] = (b"".join(parts), "multipart md5 (3 parts)")
    data = os.urandom(2000)
    plain.put_object(Bucket=bucket, Key="in/plain.bin", Body=data)
    made["plain.bin"] = (data, "md5")
    return f"s3://{bucket}", made


def test_each_object_is_checked_by_its_own_checksum(objects, s3_server, tmp_path):
    uri, made = objects
    store = open_store(uri, s3_server)
    for name, (data, how) in made.items():
        info = next(o for o in store.list(f"in/{name}") if o.key == f"in/{name}")
        got = copy_object(store, info, tmp_path / name)
        assert got.fresh and got.checked == how and got.warning is None, (name, got)
        assert (tmp_path / name).read_bytes() == data
        # a damaged copy of the right size is found by the same checksum and replaced
        damaged = bytearray(data)
        damaged[len(data) // 2] ^= 0xFF
        (tmp_path / name).write_bytes(bytes(damaged))
        again = copy_object(store, info, tmp_path / name)
        assert again.fresh and (tmp_path / name).read_bytes() == data, name
        assert not copy_object(store, info, tmp_path / name).fresh  # intact now: kept


def test_storage_get_and_results_of_a_prefix(objects, s3_server, tmp_path):
    uri, made = objects
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SIGNBRIDGE_"))}
    env.update({"SIGNBRIDGE_HOME": str(tmp_path / "home"), "AWS_ENDPOINT_URL": s3_server.s3_endpoint,
                "AWS_ACCESS_KEY_ID": s3_server.s3_access_key, "AWS_SECRET_ACCESS_KEY": s3_server.s3_secret_key})
    for cmd in (["storage", "get", f"{uri}/in/", str(tmp_path / "get")], ["results", f"{uri}/in", "--to",
                                                                           str(tmp_path / "results")]):
        res = subprocess.run(SB + cmd, env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert "does not match" not in res.stderr and "only its size" not in res.stderr, res.stderr
        dest = Path(cmd[-1])
        for name, (data, _) in made.items():
            assert hashlib.sha256((dest / name).read_bytes()).digest() == hashlib.sha256(data).digest(), name


def test_what_cannot_be_checked_beyond_the_size_is_kept_with_a_warning(tmp_path):
    """The fields a HEAD of an SSE-KMS object returns: an ETag of 32 hex digits that is not the MD5."""
    f = tmp_path / "f.bin"
    data = os.urandom(5000)
    f.write_bytes(data)
    md5 = hashlib.md5(data).hexdigest()
    kms = check_file(f, Integrity(size=5000, etag="0" * 32, encryption="aws:kms"))
    assert kms.ok and kms.how == "size" and "aws:kms object is not an MD5" in kms.warning
    assert not check_file(f, Integrity(size=5001, etag="0" * 32, encryption="aws:kms")).ok  # the size still counts
    no_parts = check_file(f, Integrity(size=5000, etag="0" * 32 + "-2"))
    assert no_parts.ok and "part sizes" in no_parts.warning
    # a plain (unencrypted) ETag is an MD5: a wrong one is a damaged copy
    assert not check_file(f, Integrity(size=5000, etag="0" * 32)).ok
    assert check_file(f, Integrity(size=5000, etag=md5, encryption="AES256")).how == "md5"
    # a checksum this machine cannot compute (CRC64NVME without awscrt) leaves the ETag to decide
    v = check_file(f, Integrity(size=5000, etag=md5, checksum=("crc64nvme", "AAAAAAAAAAA=")))
    try:  # awscrt is optional; with it the CRC decides (and this made-up one fails)
        import awscrt  # noqa: F401
    except ImportError:
        assert v.ok and v.how == "md5"
    else:
        assert not v.ok and v.how == "crc64nvme"
