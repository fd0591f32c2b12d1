"""Which object store ``s3://`` URIs mean, and why: a configured endpoint, AWS S3, or the embedded SeaweedFS.

Before, an unset ``AWS_ENDPOINT_URL`` meant the embedded store, which then stood in for every ``s3://`` URI:
a real bucket reached through a profile, SSO or an instance role needed an explicit endpoint. Now the
embedded store is used (and started) only when nothing names another S3 (``SIGNBRIDGE_STORE``, in order):

* ``embedded``: always the embedded store;
* an endpoint (``--s3-endpoint``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``): that endpoint, path-style;
* ``s3``, or ``auto`` with an AWS identity in the environment (:data:`AWS_IDENTITY`): AWS S3 through boto3's
  own credential chain and region (profile, SSO, instance role), virtual-hosted addressing;
* otherwise (zero configuration): the embedded store, as always.

An instance role or a default profile leaves no trace in the environment, so with those ``SIGNBRIDGE_STORE=s3``
says "AWS": the zero-configuration default must stay the embedded store, whatever ``~/.aws`` holds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from signbridge.settings import Settings

EMBEDDED, ENDPOINT, AWS = "embedded", "endpoint", "aws"
# variables that name an AWS identity for this shell; boto3 reads each of them itself
AWS_IDENTITY = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@dataclass(frozen=True)
class StoreChoice:
    kind: str  # EMBEDDED, ENDPOINT or AWS
    reason: str
    endpoint: str | None = None  # the configured endpoint (ENDPOINT only)

    @property
    def label(self) -> str:
        return {EMBEDDED: "embedded SeaweedFS", ENDPOINT: f"S3 endpoint {self.endpoint}", AWS: "AWS S3"}[self.kind]


def _endpoint_source(env: Mapping[str, str]) -> str:
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if env.get(var):
            return var
    return "--s3-endpoint"


def choose_store(settings: "Settings", env: Mapping[str, str] | None = None) -> StoreChoice:
    """The store ``settings`` (and the environment ``env``, default ``os.environ``) point at, with the reason."""
    env = os.environ if env is None else env
    if settings.store == "embedded":
        return StoreChoice(EMBEDDED, "SIGNBRIDGE_STORE=embedded")
    if settings.s3_endpoint:
        return StoreChoice(ENDPOINT, f"{_endpoint_source(env)} is set", settings.s3_endpoint)
    if settings.store == "s3":
        return StoreChoice(AWS, "SIGNBRIDGE_STORE=s3 and no endpoint is set: boto3's credential chain and region")
    named = [v for v in AWS_IDENTITY if env.get(v)]
    if named or settings.s3_access_key:
        return StoreChoice(AWS, f"{', '.join(named) or 'an access key'} set and no endpoint: boto3's credential "
                                f"chain and region (SIGNBRIDGE_STORE=embedded keeps the embedded store)")
    return StoreChoice(EMBEDDED, "no endpoint, no AWS identity in the environment and SIGNBRIDGE_STORE=auto "
                                 "(SIGNBRIDGE_STORE=s3 uses AWS S3 through an instance role or the default profile)")


ADDRESSING = {"path": "path-style (ENDPOINT/BUCKET/KEY)", "virtual": "virtual-hosted (BUCKET.ENDPOINT/KEY)",
              "auto": "virtual-hosted (BUCKET.ENDPOINT/KEY; boto3's 'auto': path-style only for names DNS cannot carry)"}


def addressing_style(settings: "Settings") -> str:
    """Path-style for an endpoint (SeaweedFS, MinIO and Ceph need it), virtual-hosted on AWS; the setting wins.

    ``auto`` on AWS is boto3's virtual-hosted addressing for every DNS-compatible bucket name (the others,
    e.g. dotted names over HTTPS, cannot be virtual-hosted at all)."""
    if settings.s3_path_style is not None:
        return "path" if settings.s3_path_style else "virtual"
    return "path" if settings.s3_endpoint else "auto"
