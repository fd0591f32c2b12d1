"""S3 backend over boto3: any S3-compatible endpoint (AWS, MinIO, Ceph, SeaweedFS).

boto3 is imported lazily so that importing :mod:`signbridge.storage` (e.g. from
a DAG file) stays cheap.
"""
from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from signbridge.errors import StorageError
from signbridge.storage.base import ObjectInfo, Store

if TYPE_CHECKING:
    from signbridge.settings import Settings


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise StorageError(f"not an s3:// URI: {uri!r}")
    rest = uri[5:]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StorageError(f"no bucket in {uri!r}", hint="use s3://bucket/prefix", permanent=True)
    from signbridge.errors import InvalidKeyError
    from signbridge.storage.keys import validate_key

    try:
        validate_key(prefix.strip("/"), allow_empty=True)
    except InvalidKeyError as e:
        raise InvalidKeyError(f"the prefix of {uri!r} is not usable: {e.message}",
                              hint="give a plain s3://bucket/prefix (no '.', '..', backslashes)") from None
    return bucket, prefix.strip("/")


def _session():
    """A boto3 session for the current AWS_* environment. ``boto3.client`` keeps one default session for the
    life of the process, so a profile, config file or region changed later (a long-lived process, the tests)
    was never seen; one session per distinct AWS environment keeps boto3's caches and sees every change."""
    return _session_for(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))


@functools.lru_cache(maxsize=8)
def _session_for(_aws_env: tuple) -> Any:
    import boto3

    return boto3.session.Session()


def make_client(settings: "Settings", connect_timeout: float = 10, read_timeout: float = 120):
    """A boto3 S3 client for resolved settings (:func:`signbridge.storage.resolve_s3_settings`).

    The region is passed only when set, so a profile's region holds; without an endpoint boto3 resolves
    AWS's own, with its credential chain (profile, SSO, instance role). Addressing: path-style for an
    endpoint, virtual-hosted on AWS (:func:`signbridge.storage.target.addressing_style`)."""
    from botocore.config import Config

    from signbridge.storage.target import addressing_style

    aws = not settings.s3_endpoint
    cfg = Config(
        region_name=settings.s3_region or None,
        retries={"max_attempts": max(1, settings.s3_retries), "mode": "standard"},  # exponential backoff + jitter
        s3={"addressing_style": addressing_style(settings)},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # AWS: uploads carry a CRC32 flexible checksum that downloads verify (storage/integrity.py);
        # SeaweedFS/MinIO/Ceph may not support botocore's default checksum trailers, so only when required.
        request_checksum_calculation="when_supported" if aws else "when_required",
        response_checksum_validation="when_required",  # downloads are verified whole, by storage/integrity.py
    )
    kwargs: dict[str, Any] = {"config": cfg}
    if settings.s3_endpoint:
        kwargs["endpoint_url"] = settings.s3_endpoint
    if settings.s3_access_key:
        kwargs["aws_access_key_id"] = settings.s3_access_key
        kwargs["aws_secret_access_key"] = settings.s3_secret_key
    return _session().client("s3", **kwargs)


@contextlib.contextmanager
def _s3_errors(what: str, endpoint: str | None):
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise StorageError(f"{what}: no S3 credentials", permanent=True,
                           hint="give boto3 credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                                "SSO, an instance role), or SIGNBRIDGE_STORE=embedded for the embedded store "
                                "(`signbridge info` says which store is used and why)") from None
    except EndpointConnectionError:
        raise StorageError(f"{what}: cannot reach S3 endpoint {endpoint or '(AWS default)'}",
                           hint="is the store running? `signbridge storage status`") from None
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "?")
        msg = e.response.get("Error", {}).get("Message", "")
        hint = {
            "NoSuchBucket": "create the bucket or check SIGNBRIDGE_OUTPUT / SIGNBRIDGE_UPLOADS",
            "NoSuchKey": None,
            "404": None,
            "AccessDenied": "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
            "InvalidAccessKeyId": "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
            "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY",
        }.get(code)
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        transient = status >= 500 or status in (408, 429) or code in ("SlowDown", "RequestTimeout", "Throttling")
        raise StorageError(f"{what}: S3 said {code} {msg}".rstrip(), hint=hint, permanent=not transient) from None
    except BotoCoreError as e:
        raise StorageError(f"{what}: {e}") from None


class S3Store(Store):
    def __init__(self, uri: str, settings: "Settings", client=None, ensure_bucket: bool = False):
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.settings = settings
        self.client = client or make_client(settings)
        self.root_uri = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        if ensure_bucket:
            self.ensure_bucket()

    # helpers
    def _k(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _transfer_config(self):
        from boto3.s3.transfer import TransferConfig

        part = max(5, self.settings.s3_multipart_mb) * 1024 * 1024
        return TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)

    def _err(self, what: str):
        return _s3_errors(what, self.settings.s3_endpoint)

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        with self._err(f"bucket s3://{self.bucket}"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                    self.client.create_bucket(Bucket=self.bucket)
                else:
                    raise

    # Store API
    def _put_file(self, key: str, path: Path, content_type: str | None) -> None:
        if not path.is_file():
            raise StorageError(f"cannot upload {path}: not a file")
        extra = {"ContentType": content_type} if content_type else None
        with self._err(f"upload {path} to {self.uri(key)}"):
            self.client.upload_file(str(path), self.bucket, self._k(key), ExtraArgs=extra,
                                    Config=self._transfer_config())

    def _put_bytes(self, key: str, data: bytes, content_type: str | None) -> None:
        if len(data) > self.settings.s3_multipart_mb * 1024 * 1024:
            import io

            extra = {"ContentType": content_type} if content_type else None
            with self._err(f"upload to {self.uri(key)}"):
                self.client.upload_fileobj(io.BytesIO(data), self.bucket, self._k(key), ExtraArgs=extra,
                                           Config=self._transfer_config())
            return
        kwargs = {"ContentType": content_type} if content_type else {}
        with self._err(f"upload to {self.uri(key)}"):
            self.client.put_object(Bucket=self.bucket, Key=self._k(key), Body=data, **kwargs)

    def _get_file(self, key: str, path: Path) -> None:
        tmp = path.with_name(path.name + ".part")
        try:
            with self._err(f"download {self.uri(key)}"):
                self.client.download_file(self.bucket, self._k(key), str(tmp), Config=self._transfer_config())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def _get_bytes(self, key: str) -> bytes:
        with self._err(f"read {self.uri(key)}"):
            return self.client.get_object(Bucket=self.bucket, Key=self._k(key))["Body"].read()

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with self._err(f"stat {self.uri(key)}"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._k(key))
                return True
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        full = self._k(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        with self._err(f"list {self.uri(prefix)}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
            out = []
            for page in pages:
                for obj in page.get("Contents", []):
                    k = obj["Key"][strip:]
                    if k and not k.endswith("/"):
                        out.append(ObjectInfo(key=k, size=obj["Size"], etag=obj.get("ETag", "").strip('"')))
        return iter(out)

    def integrity(self, info: ObjectInfo):
        """One HEAD (with ``ChecksumMode``): size, ETag, flexible checksum and encryption; a multipart object's
        part sizes are asked for only when a check needs them."""
        from signbridge.storage.integrity import Integrity, hasher

        with self._err(f"stat {self.uri(info.key)}"):
            head = self.client.head_object(Bucket=self.bucket, Key=self._k(info.key), ChecksumMode="ENABLED")
        found = [(alg.lower(), head[f"Checksum{alg}"]) for alg in ("CRC32", "SHA256", "SHA1", "CRC32C", "CRC64NVME")
                 if head.get(f"Checksum{alg}")]
        checksum = next((c for c in found if hasher(c[0])), found[0] if found else None)
        etag = (head.get("ETag") or "").strip('"')
        parts = next((int(v.rsplit("-", 1)[1]) for v in (etag, checksum[1] if checksum else "")
                      if "-" in v and v.rsplit("-", 1)[1].isdigit()), 0)
        return Integrity(size=int(head["ContentLength"]), etag=etag or None, checksum=checksum,
                         encryption="SSE-C" if head.get("SSECustomerAlgorithm") else head.get("ServerSideEncryption"),
                         part_sizes=lambda: self._part_sizes(info.key, parts) if parts else None)

    def _part_sizes(self, key: str, n: int) -> list[int] | None:
        """The sizes of a multipart object's ``n`` parts: GetObjectAttributes (one call per 1,000 parts), else
        a HEAD per part (GetObjectAttributes needs its own permission and AWS lists parts only for objects
        uploaded with checksums). None when the store gives neither."""
        from botocore.exceptions import BotoCoreError, ClientError

        sizes: list[int] = []
        try:
            marker = 0
            while True:
                doc = self.client.get_object_attributes(Bucket=self.bucket, Key=self._k(key), MaxParts=1000,
                                                        PartNumberMarker=marker, ObjectAttributes=["ObjectParts"])
                parts = doc.get("ObjectParts") or {}
                sizes += [int(p["Size"]) for p in parts.get("Parts") or [] if "Size" in p]
                if not parts.get("IsTruncated"):
                    break
                marker = int(parts["NextPartNumberMarker"])
            if len(sizes) == n:
                return sizes
        except (ClientError, BotoCoreError):
            pass
        try:
            return [int(self.client.head_object(Bucket=self.bucket, Key=self._k(key), PartNumber=i)["ContentLength"])
                    for i in range(1, n + 1)]
        except (ClientError, BotoCoreError):
            return None

    def _presigned_url(self, key: str, expires_s: int) -> str:
        with self._err(f"presign {self.uri(key)}"):
            return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self._k(key)},
                                                      ExpiresIn=expires_s)

    def _delete(self, key: str) -> None:
        with self._err(f"delete {self.uri(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._k(key))

    def _child(self, prefix: str) -> "S3Store":
        return S3Store(f"{self.root_uri}/{prefix}", self.settings, client=self.client)
